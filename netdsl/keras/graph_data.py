"""A graph's data for Keras: the dataset's arrays as :class:`~.named.NamedArrays` by input and
output name, each target encoded as its output's loss wants (one-hot rows, class ids, values)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..checking.plan import CheckedModel
from ..errors import NetdslDataError, NetdslPluginError
from ..vocab.components import DEFAULT_INPUT, DEFAULT_TARGET
from .named import NamedArrays

if TYPE_CHECKING:  # pragma: no cover
    from .training import Data

__all__ = ["graph_data"]


def _by_name(value: Any, default: str) -> dict[str, np.ndarray]:
    """A loader's x or y as arrays by name (a bare array is the sole ``x`` or ``y``)."""
    if isinstance(value, dict):
        return {str(k): np.asarray(v) for k, v in value.items()}
    return {default: np.asarray(value)}


def graph_data(model: CheckedModel, name: str, who: str, arrays: Any) -> Data:
    """``Data`` of named arrays for a graph's inputs and outputs; an error naming the dataset
    when an input or target is missing or the rows do not match."""
    from .training import Data, _check_values, _shape

    if not isinstance(arrays, (tuple, list)) or len(arrays) != 4:
        raise NetdslPluginError(
            f"dataset `{name}` ({who}) returned {type(arrays).__name__}, not "
            "(x_train, y_train, x_test, y_test)",
            code="NDL205",
        )
    parts = []
    for value, side in zip(arrays, ("x", "y", "x", "y")):
        parts.append(_by_name(value, DEFAULT_INPUT if side == "x" else DEFAULT_TARGET))
    x_train, y_train, x_test, y_test = parts
    xs, ys = [], []
    for x, y, split in ((x_train, y_train, "training"), (x_test, y_test, "test")):
        xs.append(
            NamedArrays({i.name: _shape(_get(x, i.name, name), i.shape) for i in model.inputs})
        )
        ys.append(NamedArrays({o.name: _target(_get(y, o.name, name), o) for o in model.outputs}))
        rows = {len(a) for a in (*xs[-1].values(), *ys[-1].values())}
        if len(rows) != 1:
            raise NetdslPluginError(
                f"dataset `{name}` ({who}) returned {split} arrays of different lengths",
                code="NDL205",
            )
        for k in xs[-1]:
            _check_values(name, who, split, xs[-1][k], next(iter(ys[-1].values())))
    return Data(*(cast(Any, a) for a in (xs[0], ys[0], xs[1], ys[1])))


def _get(arrays: dict[str, np.ndarray], key: str, name: str) -> np.ndarray:
    if key not in arrays:
        raise NetdslDataError(
            f"dataset `{name}` gave no array `{key}` (it gave {', '.join(sorted(arrays))})"
        )
    return arrays[key]


def _target(y: np.ndarray, output: Any) -> np.ndarray:
    """One output's labels, encoded for its loss; one value per example as a column."""
    from .training import encode_labels

    encoded = encode_labels(y, output.target.num_classes, output.labels)
    if output.target.kind != "classes" and encoded.ndim == 1:
        encoded = encoded.reshape((len(encoded), *output.target.output_shape))
    return encoded
