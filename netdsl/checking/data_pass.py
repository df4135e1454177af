"""The data pass: the dataset's answers (its ``describe``, from metadata only, never its data),
and the settings that must fit them: ``input:`` and ``validation_split``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Mapping
from typing import Any

from ..errors import NetdslArgumentError, NetdslError, NetdslPluginError, NetdslSettingError
from ..lang import ir
from ..vocab.components import DataInfo, DataRequest, Dataset, Ref, Target
from .collector import Collector
from .context import same_size, size
from .graph import Shape
from .plan import split_sizes

__all__ = ["anchored", "check_data_settings", "describe"]


def anchored(dataset: Any, program: ir.Program, overridden: Collection[str]) -> Any:
    """The dataset with its own ``path`` made absolute: a path written in the program is
    relative to the program's folder (a program read from standard input, or a ``dataset``
    given on the command line, is relative to the current directory, as its user means it).
    Every later stage (describe, load, emit, the run folder's ``model.net``) reads this one."""
    given = dataset.kwargs.get("path") if isinstance(dataset, Ref) else None
    if not isinstance(given, str) or "://" in given:  # a URL is a plugin's to read
        return dataset
    name = program.filename
    from_file = "dataset" not in overridden and name and not name.startswith("<") and name != "-"
    base = os.path.dirname(os.path.abspath(name)) if from_file and name else os.getcwd()
    path = os.path.join(base, os.path.expanduser(given))
    args = tuple((k, os.path.normpath(path) if k == "path" else v) for k, v in dataset.args)
    return dataclasses.replace(dataset, args=args)


def describe(
    dataset: Any,
    input_shape: Shape | None,
    data_path: str | None,
    program: ir.Program,
    collector: Collector,
) -> DataInfo | None:
    """The dataset's answers (input shape, target), or None after reporting why not."""
    if dataset is None or not isinstance(dataset.component, Dataset):
        return None
    component: Dataset = dataset.component
    args = dataset.kwargs
    given = os.path.abspath(os.path.expanduser(data_path)) if data_path else None
    path = args.get("path") or given  # --data: relative to the current directory
    request = DataRequest(component.name, args, path, component.env, input_shape)
    where = program.setting("dataset")
    at = where.value.span if where else None
    who = dataset.provider or "unknown plugin"
    try:
        info = component.describe(request)
    except NetdslError as e:
        if e.span is None and at is not None:
            e.span = at
        collector.error(e)
        return None
    # a plugin's bug is reported, never a traceback
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        collector.error(
            NetdslPluginError(
                f"dataset `{component.name}` ({who}) failed to describe its data: "
                f"{type(exc).__name__}: {exc}",
                at,
                code="NDL205",
            )
        )
        return None
    if not _is_info(info):
        collector.error(
            NetdslPluginError(
                f"dataset `{component.name}` ({who}) answered {info!r}, not a DataInfo with an "
                "input "
                "shape of positive sizes and a Target",
                at,
                code="NDL205",
                help="this is a bug in the plugin that provides the dataset; report it there",
            )
        )
        return None
    return info


def _is_info(info: Any) -> bool:
    return (
        isinstance(info, DataInfo)
        and isinstance(info.input_shape, tuple)
        and bool(info.input_shape)
        and all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
            for d in info.input_shape
        )
        and isinstance(info.target, Target)
    )


def check_data_settings(
    values: Mapping[str, Any],
    info: DataInfo,
    program: ir.Program,
    overridden: Collection[str],
    collector: Collector,
) -> None:
    """``input:`` must hold as many values as the dataset's examples; the validation split
    must leave examples on both sides (an overridden setting has no line to point at)."""
    given = values.get("input")
    if given and not same_size(given, info.input_shape):
        where = program.setting("input")
        collector.error(
            NetdslArgumentError(
                f"`input: {'x'.join(map(str, given))}` does not fit `{values['dataset'].name}`, "
                f"whose examples are {'x'.join(map(str, info.input_shape))}",
                where.value.span if where else None,
                label="not the dataset's size",
                code="NDL005",
                help=f"remove the line, or give a shape of {size(info.input_shape):,} values",
            )
        )
    if info.columns and values.get("normalize"):
        where = None if "normalize" in overridden else program.setting("normalize")
        collector.error(
            NetdslSettingError(
                "`normalize: true` normalizes one array input, and this table's columns are "
                "encoded inside the model (its numbers normalized by their own layers)",
                where.value.span if where else None,
                label="not for a typed table",
                code="NDL004",
                help="remove `normalize:`",
            )
        )
    split = values.get("validation_split")
    where = None if "validation_split" in overridden else program.setting("validation_split")
    at = where.value.span if where else None
    if split and info.streamed:
        collector.error(
            NetdslSettingError(
                f"`validation_split` needs the data in memory, and `{values['dataset'].name}` "
                "streams it",
                at,
                label="not for streamed data",
                code="NDL004",
                help="remove `validation_split:`; the dataset's test split is evaluated after "
                "training",
            )
        )
        return
    n = info.train_size
    if not split or not n:
        return
    keep, held = split_sizes(n, split)
    if keep and held:
        return
    side = "training" if keep == 0 else "validation"
    collector.error(
        NetdslArgumentError(
            f"`validation_split: {split:g}` of the {n:,} training examples leaves none for {side}",
            at,
            label=f"no {side} examples",
            code="NDL005",
            help="use a split that keeps at least one example on each side"
            + (f", e.g. {max(1, n // 5) / n:.2g}" if n > 1 else ""),
        )
    )
