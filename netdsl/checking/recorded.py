"""A run folder read back without its training data: what ``predict``, ``export`` and ``emit``
know of a finished run comes from the files the run wrote, never from the dataset again.

``data.json`` records what the dataset said of itself when the run checked it (``info``: the
input shape, the target, the class names, the vocabulary) and where the data was found
(``source``); ``labels.json`` the label encoding (:data:`LABELS_FORMAT`). :func:`check_run`
checks the folder's ``model.net`` with that recorded description standing in for the
dataset's own, so the data may have moved, been deleted, or come from ``--data``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NetdslTrainingError
from ..vocab.columns import Column
from ..vocab.components import DataInfo, Dataset, InputInfo, Target, TargetInfo

if TYPE_CHECKING:  # pragma: no cover
    from ..vocab.registry import Registry
    from .plan import CheckedModel

__all__ = [
    "LABELS_FORMAT",
    "check_run",
    "data_source",
    "is_run_folder",
    "labels_record",
    "read_labels",
    "recorded_data_path",
    "recorded_info",
    "run_folder_of",
]

#: the one format of ``labels.json``: the class names in the order of the network's outputs,
#: and how the labels were encoded for the loss (``categorical``: one-hot rows, ``sparse``:
#: integer ids, ``binary``: one 0/1 output, ``classes[1]`` the positive class)
LABELS_FORMAT = "netdsl.labels/1"


def is_run_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder ``netdsl run`` made (it holds ``model.net`` and ``data.json``)."""
    p = Path(path)
    return p.is_dir() and (p / "model.net").is_file() and (p / "data.json").is_file()


def run_folder_of(path: str | os.PathLike[str]) -> Path | None:
    """The run folder ``path`` is (or whose ``model.net`` it is), else None."""
    p = Path(path)
    if is_run_folder(p):
        return p
    if p.name == "model.net" and is_run_folder(p.parent):
        return p.parent
    return None


def recorded_data_path(folder: str | os.PathLike[str]) -> str | None:
    """Where the run found its data, as an absolute path, when it was a file or folder."""
    return _recorded_path(Path(folder))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise NetdslTrainingError(
            f"{path}: not readable JSON ({exc})",
            code="NDL311",
            help="the run folder is damaged; run the program again",
        ) from None


def recorded_info(folder: str | os.PathLike[str]) -> DataInfo | None:
    """What the dataset said of itself when the run was checked (``data.json``'s ``info``,
    a graph's named inputs and targets included); None for a run folder written before netdsl
    recorded it."""
    path = Path(folder) / "data.json"
    if not path.is_file():
        return None
    info = _read_json(path).get("info")
    if info is None:
        return None
    try:
        return DataInfo(
            tuple(info["input_shape"]),
            _target(info["target"]),
            info.get("train_size"),
            tuple(str(c) for c in info.get("class_names", ())),
            info.get("vocabulary"),
            inputs=tuple(_input_info(i) for i in info.get("inputs", ())),
            targets=tuple(_target_info(t) for t in info.get("targets", ())),
            columns=tuple(Column.from_json(c) for c in info.get("columns", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NetdslTrainingError(
            f"{path}: its `info` is not a dataset description ({exc})", code="NDL311"
        ) from None


def _input_info(data: Any) -> InputInfo:
    """One named input as ``DataInfo.to_json`` wrote it (a graph's run)."""
    return InputInfo(
        str(data["name"]),
        tuple(int(d) for d in data["shape"]),
        str(data.get("dtype", "float32")),
        str(data.get("kind", "numeric")),
    )


def _target_info(data: Any) -> TargetInfo:
    """One named target as ``DataInfo.to_json`` wrote it (a graph's run)."""
    target = _target(data["target"])
    return TargetInfo(str(data["name"]), target, tuple(str(c) for c in data["class_names"]))


def _target(target: Mapping[str, Any]) -> Target:
    return Target(target["kind"], int(target["num_classes"]), tuple(target["shape"]))


def check_run(folder: str | os.PathLike[str], registry: Registry | None = None) -> CheckedModel:
    """The run folder's ``model.net``, checked with the recorded description of its dataset in
    place of the dataset's own (so no data is read). A folder from before that record is
    checked against the data where the run found it."""
    from ..lang.parser import parse
    from ..vocab.registry import default_registry
    from ..vocab.settings import TABLE
    from .checker import check

    path = Path(folder)
    spec = path / "model.net"
    if not path.is_dir() or not spec.is_file():
        raise NetdslTrainingError(
            f"{folder}: not a run folder (it has no model.net)",
            code="NDL311",
            help="give the folder `netdsl run` made, e.g. runs/mnist-20250101-120000/",
        )
    registry = registry if registry is not None else default_registry()
    program = parse(spec.read_bytes(), str(spec), setting_names=TABLE)
    info = recorded_info(path)
    if info is None:
        return check(program, registry, data=_recorded_path(path))
    return check(program, _describing(registry, program, info))


def _recorded_path(folder: Path) -> str | None:
    """Where an older run read its data (``data.json``'s ``data_path``), if it says."""
    data = folder / "data.json"
    return _read_json(data).get("data_path") if data.is_file() else None


def _describing(registry: Registry, program: Any, info: DataInfo) -> Registry:
    """A copy of ``registry`` whose dataset (the one ``program`` names) answers ``info``."""
    from ..lang import ir
    from ..vocab.settings import TABLE

    setting = program.setting("dataset")
    value = setting.value if setting is not None else None
    name = (
        value.value
        if isinstance(value, ir.Name)
        else value.name
        if isinstance(value, ir.Call)
        else TABLE["dataset"].default
        if value is None
        else None
    )
    entry = registry.entry("dataset", name) if isinstance(name, str) else None
    if entry is None or not isinstance(entry.component, Dataset):
        return registry  # the checker reports the unknown dataset
    view = registry.copy()
    recorded = dataclasses.replace(entry.component, describe=lambda request: info)
    view.add(recorded, entry.provider, override=True)
    return view


def labels_record(class_names: Sequence[str], encoding: str) -> dict[str, Any]:
    """``labels.json``'s content (:data:`LABELS_FORMAT`)."""
    return {"format": LABELS_FORMAT, "classes": list(class_names), "encoding": encoding}


def read_labels(folder: str | os.PathLike[str]) -> list[str] | None:
    """Class names from ``labels.json`` (None when there is none). Reads :data:`LABELS_FORMAT`
    and the older forms: a list of names, ``{"0": "name", ...}`` and ``{"name": 0, ...}``."""
    path = Path(folder) / "labels.json"
    if not path.is_file():
        return None
    data = _read_json(path)
    if isinstance(data, dict) and isinstance(data.get("classes"), list):
        data = data["classes"]
    if isinstance(data, list):
        return [str(x) for x in data]
    if isinstance(data, dict) and data:
        if all(str(k).isdigit() for k in data):  # id -> name
            return _by_id({int(k): str(v) for k, v in data.items()})
        if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in data.values()):
            return _by_id({int(v): str(k) for k, v in data.items()})  # name -> id (before 0.2)
    raise NetdslTrainingError(
        f"{path}: not a list of class names",
        code="NDL311",
        help=f'expected {{"format": "{LABELS_FORMAT}", "classes": ["name", ...], "encoding": ...}}',
    )


def _by_id(names: Mapping[int, str]) -> list[str]:
    return [names.get(i, str(i)) for i in range(max(names) + 1)]


def data_source(
    path: str | os.PathLike[str] | None, given_by: str, env: str | None
) -> dict[str, Any]:
    """Where a run's data was found, for ``data.json``: an absolute path and what gave it (the
    dataset's ``path`` argument or ``--data``), or the dataset's environment variable, or the
    dataset's own default (a download cache, generated data)."""
    if path is not None:
        return {"path": os.path.abspath(os.fspath(path)), "given_by": given_by}
    if env and os.environ.get(env):
        return {"path": os.path.abspath(os.environ[env]), "given_by": f"${env}"}
    return {"path": None, "given_by": "the dataset's default (generated, or Keras's cache)"}
