"""Data fuzz harness: hostile data files through every reader that does not train — ``netdsl
check`` (the datasets' ``describe``), the NumPy loaders (``npz``), the pre-decode gates (CSV
line scan, image headers) and ``netdsl predict``'s input reader.

    python bench/fuzz_data.py [--files N] [--seed S] [--timeout SECONDS]
                              [--out results.json] [--report BENCHMARKS.md]

Files come from a seed corpus of known attacks (``bench/hostile_files.py``: image headers
declaring 20000x20000 or 65535x65535, zip bombs, object arrays, corrupt deflate, unknown
compression, 0-d arrays, 2 GB sparse CSVs, Unicode digits, CR-only lines, FIFOs ...) and from
seeded generators: CSV tables of random shape whose cells are drawn from a pool of hostile
tokens, ``.npz``/``.npy`` files of random dtypes and shapes, then mutated (bytes flipped,
truncated, header sizes patched), and valid small pictures in every format, then truncated,
flipped or given huge dimensions. Each file goes through each reader that takes its kind.

An *escape* is any exception that is not a ``NetdslError`` (goal 0); a *hang* a reader over the
time limit (SIGALRM). Peak memory is ``tracemalloc``'s peak per reader call (NumPy's buffers are
traced; nothing here imports TensorFlow), reported against the file's honest size — the bytes it
occupies on disk (``st_blocks``), so a sparse 2 GB file honestly holds a few KB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import signal
import struct
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT), str(ROOT / "plugins"), str(Path(__file__).resolve().parent)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import hostile_files as hf  # noqa: E402

__all__ = ["Stats", "generate", "main", "report", "run", "write_report"]

MARK_START = "<!-- fuzz-data:start -->"
MARK_END = "<!-- fuzz-data:end -->"
#: cell tokens the CSV generator draws from: numbers TensorFlow reads and ones it does not
TOKENS = (
    "1",
    "-2.5",
    ".5",
    "5.",
    "1e5",
    "nan",
    "inf",
    "1e39",
    "\u0661",
    "1_0",
    "0x10",
    "",
    " ",
    '"3"',
    '"a,b"',
    '"',
    "\x00",
    "abc",
    "1" * 300,
    "\u00a0",
    "7\r",
    "\ufeff1",
    "1,2",
)


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang()


@dataclass
class Stats:
    """Counts and the worst cases of one run."""

    files: int = 0
    calls: int = 0
    refused: int = 0
    accepted: int = 0
    escapes: list[dict[str, Any]] = field(default_factory=list)
    hangs: list[dict[str, Any]] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    worst_peak: dict[str, Any] = field(default_factory=dict)
    worst_ratio: dict[str, Any] = field(default_factory=dict)
    worst_time: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --- generation --------------------------------------------------------------------------------


def _png_bytes(rng: random.Random) -> tuple[str, bytes]:
    from PIL import Image

    fmt = rng.choice(["PNG", "GIF", "BMP", "JPEG"])
    mode = (
        "RGB" if fmt == "JPEG" else rng.choice(["L", "RGB", "RGBA", "P"]) if fmt == "PNG" else "RGB"
    )
    img = Image.new(mode, (rng.randint(1, 40), rng.randint(1, 40)))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return "." + fmt.lower().replace("jpeg", "jpg"), buf.getvalue()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    """Flip, cut, or patch a size field of ``data``."""
    raw = bytearray(data)
    how = rng.choice(["flip", "cut", "size", "flip", "keep"])
    if how == "flip" and raw:
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    elif how == "cut" and raw:
        del raw[rng.randrange(len(raw)) :]
    elif how == "size" and len(raw) > 30:
        at = rng.randrange(0, min(len(raw) - 4, 64))
        raw[at : at + 4] = struct.pack("<I", rng.choice([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
    return bytes(raw)


def _image(rng: random.Random, path: Path) -> Path:
    suffix, data = _png_bytes(rng)
    path = path.with_suffix(suffix)
    path.write_bytes(_mutate(rng, data))
    return path


def _csv(rng: random.Random, path: Path) -> Path:
    cols = rng.choice([2, 3, 5, 40])
    header = ",".join(f"c{i}" for i in range(cols))
    lines = [header]
    for _ in range(rng.randint(0, 60)):
        cells = [
            rng.choice(TOKENS) if rng.random() < 0.15 else f"{rng.random():.3f}"
            for _ in range(cols - 1)
        ]
        cells.append(rng.choice(["a", "b", "0", "1", "2.5", rng.choice(TOKENS)]))
        lines.append(",".join(cells[: rng.choice([cols, cols, cols, cols - 1, cols + 1])]))
    end = rng.choice(["\n", "\n", "\r\n", "\r"])
    path = path.with_suffix(".csv")
    path.write_bytes(
        _mutate(rng, (end.join(lines) + end).encode("utf-8"))
        if rng.random() < 0.2
        else (end.join(lines) + end).encode("utf-8")
    )
    return path


_DTYPES = ("<f4", "<f8", "|u1", "<i8", "|b1", "<c8", "<U3", "|S2", "<f2", "|O")


def _array(rng: random.Random, rows: int) -> np.ndarray:
    """An array of a random dtype (objects, text, complex, half floats included) and shape."""
    dtype = rng.choice(_DTYPES)
    shape = rng.choice([(rows,), (rows, 3), (rows, 8, 8), (), (rows, 1), (0,)])
    if dtype == "|O":
        return np.array([{"k": i} for i in range(max(rows, 1))], dtype=object)
    if dtype[1] in "US":
        return np.full(shape, "a", dtype=dtype)
    return np.ones(shape, dtype=dtype)


def _npz(rng: random.Random, path: Path) -> Path:
    rows = rng.randint(1, 40)
    keys = rng.choice([("x", "y"), ("x_train", "y_train", "x_test", "y_test"), ("x",), ("a", "y")])
    arrays = {
        k: _array(rng, rows)
        if rng.random() < 0.3
        else (
            np.random.default_rng(rows).random((rows, 4)).astype(np.float32)
            if k.startswith("x")
            else np.arange(rows) % 3
        )
        for k in keys
    }
    path = path.with_suffix(".npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            (np.savez_compressed if rng.random() < 0.5 else np.savez)(path, **arrays)
        except ValueError:  # object arrays need pickling: write them as NumPy would with it allowed
            np.savez(path, **arrays)
    if rng.random() < 0.4:
        path.write_bytes(_mutate(rng, path.read_bytes()))
    return path


def _npy(rng: random.Random, path: Path) -> Path:
    path = path.with_suffix(".npy")
    a = _array(rng, rng.randint(1, 20))
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    path.write_bytes(_mutate(rng, buf.getvalue()))
    return path


GENERATORS: dict[str, Callable[[random.Random, Path], Path]] = {
    "csv": _csv,
    "npz": _npz,
    "npy": _npy,
    "image": _image,
}


def generate(
    n: int, seed: int, folder: Path, seeds: Iterable[str] | None = None
) -> Iterator[tuple[str, Path]]:
    """The seed corpus (``seeds``: the names of :data:`hostile_files.MAKERS` to use, and
    ``fifo``; None: all), then generated files up to ``n`` in all, as (kind, path)."""
    chosen = [*list(hf.MAKERS), "fifo"] if seeds is None else list(seeds)
    for name in chosen:
        if name == "fifo":
            path = folder / "seed-fifo.csv"
            os.mkfifo(path)
        else:
            suffix, make = hf.MAKERS[name]
            path = folder / f"seed-{name}{suffix}"
            make(path)
        yield f"seed:{name}", path
    rng = random.Random(seed)
    for i in range(max(0, n - len(chosen))):
        kind = rng.choice(list(GENERATORS))
        yield kind, GENERATORS[kind](rng, folder / f"gen-{i:05d}")


# --- readers -----------------------------------------------------------------------------------


def _registry() -> Any:
    from netdsl.vocab.registry import load_registry

    return load_registry(third_party=False)


def readers(path: Path, registry: Any) -> list[tuple[str, Callable[[], object]]]:
    """The readers that take a file of this kind, each a zero-argument call."""
    import netdsl
    from netdsl.keras import datafiles
    from netdsl.keras.predict import read_inputs
    from netdsl.vocab.components import DataRequest
    from netdsl_builtins import tabular

    suffix = path.suffix
    out: list[tuple[str, Callable[[], object]]] = []
    if suffix == ".csv":
        out.append(
            ("check csv", lambda: netdsl.check("dataset: csv\ndense 1\n", registry, data=str(path)))
        )
        out.append(("scan lines", lambda: datafiles.scan_lines(path)))
        out.append(("predict csv", lambda: read_inputs([str(path)], (2,))))
    elif suffix == ".npz":

        def load() -> object:
            request = DataRequest("npz", {"task": "auto", "test_split": 0.2, "seed": 1}, str(path))
            return tabular.load_npz(request, tabular.describe_npz(request))

        out.append(
            ("check npz", lambda: netdsl.check("dataset: npz\ndense 1\n", registry, data=str(path)))
        )
        out.append(("load npz", load))
        out.append(("predict npz", lambda: read_inputs([str(path)], (4,))))
    elif suffix == ".npy":
        out.append(("predict npy", lambda: read_inputs([str(path)], (3,))))
    else:
        out.append(("image header", lambda: datafiles.image_size(path)))
        out.append(("predict image", lambda: read_inputs([str(path)], (8, 8, 1))))
    return out


def honest_size(path: Path) -> int:
    """What the file honestly holds: the bytes it occupies on disk (a sparse file: its blocks)."""
    st = path.stat()
    return min(st.st_size, st.st_blocks * 512) if hasattr(st, "st_blocks") else st.st_size


def _one(
    stats: Stats, kind: str, path: Path, name: str, call: Callable[[], object], timeout: float
) -> None:
    from netdsl.errors import NetdslError

    honest = honest_size(path)
    what = {"file": path.name, "kind": kind, "reader": name, "honest_bytes": honest}
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]  # what the process already holds is not this call's
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
        stats.accepted += 1
    except NetdslError:
        stats.refused += 1
    except _Hang:
        stats.hangs.append(what)
    except Exception as exc:  # noqa: BLE001 - an escape is what the harness looks for
        stats.escapes.append({**what, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - before
    stats.calls += 1
    if peak > stats.worst_peak.get("peak_bytes", -1):
        stats.worst_peak = {**what, "peak_bytes": peak}
    ratio = peak / max(honest, 4096)
    if ratio > stats.worst_ratio.get("ratio", -1):
        stats.worst_ratio = {**what, "peak_bytes": peak, "ratio": round(ratio, 1)}
    if seconds > stats.worst_time.get("seconds", -1):
        stats.worst_time = {**what, "seconds": round(seconds, 3)}


def _warm_up(registry: Any) -> None:
    """Put one valid file of each kind through its readers, unmeasured."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="netdsl-fuzz-warm-") as tmp:
        d = Path(tmp)
        rows = "".join(f"{i},{i + 0.5}\n" for i in range(40))  # enough for a train and a test side
        (d / "w.csv").write_text("a,b\n" + rows)
        np.savez(d / "w.npz", x=np.ones((4, 4), np.float32), y=np.arange(4) % 2)
        np.save(d / "w.npy", np.ones(3, np.float32))
        Image.new("L", (8, 8)).save(d / "w.png")
        for path in d.iterdir():
            for _, call in readers(path, registry):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    call()


def run(files: int, seed: int, timeout: float = 20.0, seeds: Iterable[str] | None = None) -> Stats:
    """Generate ``files`` files in a temporary folder and put each through its readers."""
    stats = Stats()
    registry = _registry()
    signal.signal(signal.SIGALRM, _alarm)
    started = time.perf_counter()
    _warm_up(registry)  # lazy imports are the process's, not a file's cost
    tracemalloc.start()
    try:
        with tempfile.TemporaryDirectory(prefix="netdsl-fuzz-data-") as tmp:
            for kind, path in generate(files, seed, Path(tmp), seeds):
                stats.files += 1
                family = kind.split(":")[0]
                stats.kinds[family] = stats.kinds.get(family, 0) + 1
                for name, call in readers(path, registry):
                    _one(stats, kind, path, name, call, timeout)
                if path.exists():
                    path.unlink()
    finally:
        tracemalloc.stop()
    stats.seconds = round(time.perf_counter() - started, 1)
    return stats


# --- report ------------------------------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def report(stats: Stats, args: argparse.Namespace) -> str:
    """The BENCHMARKS.md section for this run."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(stats.kinds.items()))
    wp, wr, wt = stats.worst_peak, stats.worst_ratio, stats.worst_time
    lines = [
        MARK_START,
        "## Reliability: hostile data files (`bench/fuzz_data.py`)",
        "",
        f"`python bench/fuzz_data.py --files {args.files} --seed {args.seed} "
        f"--timeout {args.timeout:g}` ({args.how or 'niced, on the 2-core development machine'}): "
        "every file through `netdsl check` (the dataset's `describe`), the NumPy `npz` loader, "
        "the CSV line scan run before TensorFlow, the image header gate and `netdsl predict`'s "
        "input reader. Peak memory: `tracemalloc`'s peak per reader call over what the process "
        "held before it (NumPy buffers are traced); honest size: the bytes the file occupies on "
        "disk (a sparse file's blocks).",
        "",
        "| measure | result |",
        "| --- | --- |",
        f"| files tried (seed corpus of {len(hf.MAKERS) + 1} attacks, then generated) | "
        f"{stats.files} ({kinds}) |",
        f"| reader calls | {stats.calls} ({stats.refused} refused with a `NetdslError`, "
        f"{stats.accepted} accepted) |",
        f"| escapes (not a `NetdslError`; goal 0) | {len(stats.escapes)} |",
        f"| hangs (over {args.timeout:g} s; goal 0) | {len(stats.hangs)} |",
        f"| largest peak memory of one call | {_mib(wp.get('peak_bytes', 0))} "
        f"({wp.get('kind')}, {wp.get('reader')}; the file holds "
        f"{wp.get('honest_bytes', 0):,} bytes) |",
        f"| largest peak / honest size | {wr.get('ratio')}x ({wr.get('kind')}, {wr.get('reader')}: "
        f"{_mib(wr.get('peak_bytes', 0))} for {wr.get('honest_bytes', 0):,} bytes) |",
        f"| slowest call | {wt.get('seconds')} s ({wt.get('kind')}, {wt.get('reader')}) |",
        f"| whole run | {stats.seconds} s, process peak RSS {_mib(rss)} |",
        "",
    ]
    for title, rows in (("Escapes", stats.escapes), ("Hangs", stats.hangs)):
        if rows:
            lines += (
                [f"{title}:", ""]
                + [f"- {r['kind']} via {r['reader']}: {r.get('error', '')}" for r in rows[:20]]
                + [""]
            )
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


def write_report(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + section.rstrip("\n") + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per reader call")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--report", type=Path, help="write the section into this Markdown file")
    parser.add_argument("--how", help="how it was run (machine, load), for the report")
    args = parser.parse_args(argv)
    stats = run(args.files, args.seed, args.timeout)
    if args.out:
        args.out.write_text(json.dumps(stats.to_json(), indent=2))
    section = report(stats, args)
    print(section)
    if args.report:
        write_report(args.report, section)
    return 1 if stats.escapes or stats.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
