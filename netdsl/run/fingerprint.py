"""What a run was started on, so that ``run --resume`` can tell it finishes the same run.

``fingerprint.json`` in the run folder records the **program** (every effective setting, and the
network with its blocks in canonical form) and the **data** (a digest of what was read: the
arrays themselves when the data is held in memory; for data streamed from files, each file's
path and size and the bytes of the first :data:`FULL_HASH_BYTES`, a bigger file sampled). A resume compares both
with what it is about to run and refuses a change unless told to accept it; an accepted change
is appended to the file's ``changes``, never written over.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..checking.libraries import inlined
from ..checking.plan import CheckedModel
from ..keras.training import Data, StreamData
from ..lang import ir
from ..lang.formatter import format as format_program
from .runs import write_json

__all__ = [
    "FILE",
    "FULL_HASH_BYTES",
    "accept",
    "data_print",
    "differences",
    "program_print",
    "record",
]

#: the file in the run folder
FILE = "fingerprint.json"
#: bytes of streamed files hashed whole; past them, files count by their path and size (a bigger
#: single file: its size and 16 samples of 1 MiB from head to tail)
FULL_HASH_BYTES = 64 << 20
_SAMPLE = 1 << 20
_SAMPLES = 16


def _network_text(model: CheckedModel) -> str:
    """The blocks and the network in canonical form, without settings or comments."""
    program, imported = inlined(model.program)  # a library's blocks count as the program's
    bare = ir.Program(blocks=program.blocks, network=program.network)
    return imported + format_program(bare)


def program_print(model: CheckedModel) -> dict[str, Any]:
    """The program as it runs: its effective settings (as JSON) and its network's text."""
    settings = json.loads(json.dumps(model.settings.to_dict(), sort_keys=True, default=str))
    network = _network_text(model)
    digest = hashlib.sha256(json.dumps([settings, network], sort_keys=True).encode("utf-8"))
    return {"sha256": digest.hexdigest(), "settings": settings, "network": network}


def _hash_arrays(arrays: Data) -> str:
    """SHA-256 of the four arrays' shapes, types and bytes (measured: 0.55 s for 188 MB, MNIST
    as float32, on the project's busy 2-core machine)."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode("ascii"))
        digest.update(repr(a.tolist()).encode("utf-8") if a.dtype.hasobject else a.data.cast("B"))
    return digest.hexdigest()


def _hash_file(path: Path, digest: Any, budget: int) -> int:
    """Feed ``path``'s size and up to ``budget`` bytes of it (whole when it fits, else a head,
    a tail and samples between); the bytes fed."""
    size = path.stat().st_size
    digest.update(f"{size}:".encode("ascii"))
    if budget <= 0:
        return 0
    with open(path, "rb") as f:
        if size <= budget:
            for chunk in iter(lambda: f.read(_SAMPLE), b""):
                digest.update(chunk)
            return size
        samples, span = max(2, min(_SAMPLES, budget // _SAMPLE)), max(0, size - _SAMPLE)
        for i in range(samples):
            f.seek(span * i // (samples - 1))
            digest.update(f.read(min(_SAMPLE, budget)))
        return samples * min(_SAMPLE, budget)


def _files(root: Path) -> Iterator[Path]:
    """Every regular file under ``root`` (itself if a file), in a fixed order."""
    if root.is_file():
        yield root
        return
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file():
                yield path


def _hash_files(source: Path) -> str:
    """A digest of a file or a folder: every file's path (relative) and size, and the bytes of
    the first :data:`FULL_HASH_BYTES` of them (so a folder of a million pictures costs a walk
    and 64 MB of reading, not a pass over all of it)."""
    digest = hashlib.sha256()
    budget = FULL_HASH_BYTES
    for path in _files(source):
        digest.update(os.fsencode(path.relative_to(source) if path != source else path.name))
        budget -= _hash_file(path, digest, budget)
    return digest.hexdigest()


def data_print(arrays: Data | StreamData, path: str | None) -> dict[str, Any]:
    """The data as read: where (``path``, or the stream's source), how many examples, and a
    digest of the arrays, or of the files a stream reads."""
    out: dict[str, Any] = {
        "path": path,
        "train_size": arrays.train_size,
        "test_size": arrays.test_size,
    }
    if isinstance(arrays, StreamData):
        source = arrays.streams.record.get("source")
        out["source"] = os.path.abspath(source) if source else None
        out["sha256"] = _hash_files(Path(source)) if source and os.path.exists(source) else None
        out["digest_of"] = "files"
    else:
        out["sha256"] = _hash_arrays(arrays)
        out["digest_of"] = "arrays"
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:59] + "…"


def _data_words(d: Mapping[str, Any]) -> str:
    where = d.get("source") or d.get("path") or "found by the dataset"
    return f"{where} ({d.get('train_size', '?'):,} train / {d.get('test_size', '?'):,} test)"


def differences(
    before: Mapping[str, Any], program: Mapping[str, Any], data: Mapping[str, Any] | None
) -> list[str]:
    """What differs between the recorded fingerprint and the program and data now, one line
    each (``data`` None: not compared)."""
    out = []
    old = before.get("program") or {}
    if old.get("sha256") != program["sha256"]:
        a, b = old.get("settings") or {}, program["settings"]
        for key in sorted(set(a) | set(b), key=lambda k: (k not in b, k)):
            if a.get(key) != b.get(key):
                out.append(f"setting `{key}`: {_short(a.get(key))} then, {_short(b.get(key))} now")
        if old.get("network") != program["network"]:
            out.append("the network (or a block) is not the one the run started with")
        if not out:
            out.append("the program is not the one the run started with")
    was = before.get("data") or {}
    if data is not None and was.get("sha256") != data["sha256"]:
        if (was.get("train_size"), was.get("test_size")) != (data["train_size"], data["test_size"]):
            out.append(f"the data: {_data_words(was)} then, {_data_words(data)} now")
        else:
            out.append(
                f"the data: the same sizes, different contents (read from {_data_words(data)})"
            )
    return out


def record(folder: Path, program: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Write ``fingerprint.json`` for a new run."""
    write_json(folder / FILE, {"program": dict(program), "data": dict(data), "changes": []})


def accept(
    folder: Path,
    before: Mapping[str, Any],
    program: Mapping[str, Any],
    data: Mapping[str, Any],
    changed: list[str],
) -> None:
    """A resume that accepted ``changed``: the new fingerprint becomes current, and the change
    (what it was, what it became, when) is appended to ``changes``."""
    entry = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "changed": changed,
        "program_before": before.get("program"),
        "data_before": before.get("data"),
    }
    write_json(
        folder / FILE,
        {
            "program": dict(program),
            "data": dict(data),
            "changes": [*before.get("changes", []), entry],
        },
    )
