"""A graph's data: arrays by name (its inputs, its targets) that slice and count like one
array, so the training code that splits, trims and batches arrays takes them unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NamedArrays", "plain"]


class NamedArrays(dict[str, np.ndarray]):
    """``{name: array}`` whose ``len`` is the examples (rows) and whose ``[slice]`` or
    ``[indices]`` takes those rows of every array; ``["name"]`` is the array itself."""

    def __len__(self) -> int:
        return len(next(iter(self.values()))) if dict.__len__(self) else 0

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return dict.__getitem__(self, key)
        return NamedArrays({k: v[key] for k, v in self.items()})

    @property
    def names(self) -> list[str]:
        return list(self.keys())


def plain(value: Any) -> Any:
    """What Keras takes: a plain dict for named arrays, anything else as it is."""
    return dict(value.items()) if isinstance(value, NamedArrays) else value
