"""Data benchmark: ``netdsl check`` latency on a big CSV and a big image folder, training
throughput from streamed CSV / image folders against the same data as in-memory NumPy arrays,
and peak memory when training from CSVs of growing size.

    python bench/data_bench.py [--csv-mb 1024] [--images 100000] [--mem-mb 10,100,1024]
        [--rows 200000] [--repeats 3] [--throughput-data csv,images] [--output BENCHMARKS.md] [--smoke]

Every file is generated under a temporary folder (``$TMPDIR``) and deleted at the end. Every
measured thing runs in a child process of its own (wall time from fork to exit; peak RSS from
``wait4``). The rows are written into BENCHMARKS.md between the ``data-bench`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import PYTHON, ROOT, Stats, machine, quiet_env, ratio_stats, run_proc

BEGIN, END = "<!-- data-bench:begin -->", "<!-- data-bench:end -->"
MLP = "dense 64 relu -> dense 3 softmax"
CNN = "conv2d 8 3 relu -> maxpool2d 2 -> flatten -> dense 3 softmax"


def env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), str(ROOT / "plugins"), str(ROOT / "tests")])
    return quiet_env(PYTHONPATH=path)


def big_csv(path: Path, mb: int) -> Path:
    """A CSV of about ``mb`` MB: a 10 MB block of random rows (4 features, 3 species) repeated."""
    from datafiles import write_csv

    block = path.with_suffix(".block")
    write_csv(block, max(1000, min(mb, 10) * 1024 * 1024 // 40), features=4)
    head, body = block.read_text().split("\n", 1)
    with open(path, "w") as f:
        f.write(head + "\n")
        written = 0
        while written < mb * 1024 * 1024:
            f.write(body)
            written += len(body)
    block.unlink()
    return path


def image_folder(root: Path, n: int, size: int = 8) -> Path:
    """``n`` tiny PNGs in three class folders (one encoded picture per class, copied)."""
    import numpy as np
    from datafiles import png

    for k, name in enumerate(("dark", "mid", "light")):
        (root / name).mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(k)
        pictures = [
            png(np.clip(rng.normal(40 + 80 * k, 25, (size, size, 3)), 0, 255).astype(np.uint8))
            for _ in range(50)
        ]
        for i in range(k, n, 3):
            (root / name / f"{i:06d}.png").write_bytes(pictures[i % 50])
    return root


# --- worker: one training measurement in its own process ---------------------------------------


def worker(args: argparse.Namespace) -> None:
    """Train the program; print its last (steady) epoch's examples per second."""
    import numpy as np

    import netdsl

    if args.in_process:  # `netdsl check`'s work without the interpreter's start-up
        text = Path(args.program).read_text()
        netdsl.check(text, filename=args.program)  # warm: imports, the registry
        calls = []
        for _ in range(args.in_process):
            start = time.perf_counter()
            netdsl.check(text, filename=args.program)
            calls.append(time.perf_counter() - start)
        print(json.dumps({"check_s": calls}))
        return
    from netdsl.keras.training import Data, StreamData, load_data, train

    if args.mode in ("file", "text"):  # the path of data over the memory budget
        from netdsl_builtins import images, tabular

        tabular.CACHE_BYTES = images.CACHE_BYTES = 0  # a CSV spills to disk (its program says
        # `spill=false` for mode "text": decoded from the text every epoch); images are decoded each epoch
    model = netdsl.check(Path(args.program).read_text(), filename=args.program)
    data = load_data(model)
    if args.mode == "numpy" and isinstance(data, StreamData):  # the same rows, held in memory
        xs, ys = [], []
        for x, y in data.train(4096, 0):
            xs.append(x.numpy())
            ys.append(y.numpy())
        tx, ty = [], []
        for x, y in data.test(4096):
            tx.append(x.numpy())
            ty.append(y.numpy())
        data = Data(np.concatenate(xs), np.concatenate(ys), np.concatenate(tx), np.concatenate(ty))
    if args.pipeline:  # the data pipeline alone, no model: one warm epoch, then one timed
        assert isinstance(data, StreamData), "--pipeline measures a streamed dataset"
        from netdsl.keras.training import EpochClock

        clock, laps = EpochClock(), []
        for epoch in range(2):
            clock.epoch = epoch
            start, c = time.perf_counter(), time.process_time()
            for _ in data.train(model.settings.batch_size, 0, clock):
                pass
            laps.append((time.perf_counter() - start, time.process_time() - c))
        wall, used = laps[-1]
        print(
            json.dumps(
                {
                    "examples_per_s": data.train_size / wall,
                    "cpu_us_per_example": used / data.train_size * 1e6,
                }
            )
        )
        return
    if args.steps:
        from netdsl.keras.compiler import build

        net = build(model)
        assert isinstance(data, StreamData), "--steps measures a streamed dataset"
        ds = data.train(model.settings.batch_size, 0)
        start = time.perf_counter()
        net.fit(ds.take(args.steps), epochs=1, verbose=0)
        net.evaluate(data.test(256).take(args.steps), verbose=0)
        print(
            json.dumps(
                {
                    "steps": args.steps,
                    "seconds": time.perf_counter() - start,
                    "train_size": data.train_size,
                }
            )
        )
        return
    times: list[float] = []
    cpu: list[
        float
    ] = []  # the process's CPU time (all threads): what an epoch costs a shared machine

    import keras

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            times.append(time.perf_counter() - self.t)
            cpu.append(time.process_time() - self.c)

    train(model, data, verbose=0, callbacks=[Clock()])
    print(
        json.dumps(
            {
                "examples_per_s": data.train_size / times[-1],
                "train_size": data.train_size,
                "epoch_s": times,
                "cpu_us_per_example": cpu[-1] / data.train_size * 1e6,
            }
        )
    )


def write_program(folder: Path, name: str, dataset: str, net: str, epochs: int = 2) -> Path:
    path = folder / f"{name}.net"
    path.write_text(f"dataset: {dataset}\nepochs: {epochs}\nbatch_size: 64\nseed: 0\n{net}\n")
    return path


def throughput(program: Path, mode: str) -> tuple[float, float]:
    """Examples per second and CPU microseconds per example of the steady epoch."""
    out = run_proc(
        [PYTHON, __file__, "worker", str(program), "--mode", mode], env=env(), timeout=3600
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return float(got["examples_per_s"]), float(got["cpu_us_per_example"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cmd", nargs="?", default="all", choices=("all", "worker"))
    ap.add_argument("program", nargs="?")
    ap.add_argument(
        "--mode",
        default="stream",
        choices=("stream", "file", "text", "numpy"),
        help="stream: as netdsl reads it (held in memory when it fits the budget); "
        "file: over the budget (CACHE_BYTES=0): a CSV spilled to a binary file, images "
        "decoded every epoch; text: a CSV over the budget with spill=false, decoded "
        "from its text every epoch; numpy: the same rows as arrays",
    )
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument(
        "--pipeline", action="store_true", help="time the training pipeline alone (no model)"
    )
    ap.add_argument(
        "--in-process", type=int, default=0, help="time N in-process netdsl.check calls"
    )
    ap.add_argument("--csv-mb", type=int, default=1024)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--mem-mb", default="10,100,1024")
    ap.add_argument("--rows", type=int, default=200_000, help="CSV rows for the throughput runs")
    ap.add_argument("--pictures", type=int, default=6000, help="images for the throughput runs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--throughput-data", default="csv,images", help="throughput cases: csv,images")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs")
    ap.add_argument("--skip", default="", help="parts not to measure: check,throughput,memory")
    args = ap.parse_args()
    if args.cmd == "worker":
        worker(args)
        return
    if args.smoke:
        args.csv_mb, args.images, args.mem_mb, args.rows, args.pictures, args.repeats = (
            2,
            300,
            "1,2",
            3000,
            300,
            1,
        )
    tmp = Path(tempfile.mkdtemp(prefix="netdsl-data-bench-"))
    rows: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    raw = ROOT / "bench" / "results" / f"data-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw.parent.mkdir(exist_ok=True)
    try:  # the report is rewritten after each part, so a long run that is stopped keeps what it measured
        for part, measure in (
            ("check", measure_check),
            ("throughput", measure_throughput),
            ("pipeline", measure_pipeline),
            ("memory", measure_memory),
        ):
            if part in args.skip.split(","):
                continue
            rows[part] = measure(tmp, args)
            raw.write_text(json.dumps(rows, indent=1, default=str))
            write_report(Path(args.output), rows, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure_check(tmp: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Whole-process `netdsl check` on the big CSV, the big folder and no file, alternated round
    by round (so all three see the same machine load), with the ratio to the baseline."""
    csv = big_csv(tmp / "big.csv", args.csv_mb)
    folder = image_folder(tmp / "photos", args.images)
    base = tmp / "base.net"
    base.write_text("dataset: synthetic(classes=3)\ninput: 4\n" + MLP + "\n")
    cases = [
        ("baseline: `dataset: synthetic` (no file)", base),
        (
            f"CSV of {csv.stat().st_size / 2**20:,.0f} MB",
            write_program(tmp, "csvcheck", f'csv("{csv}", label="species")', MLP),
        ),
        (
            f"image folder of {args.images:,} files",
            write_program(tmp, "imgcheck", f'images("{folder}", size=8x8)', "flatten -> " + MLP),
        ),
    ]
    times: dict[str, list[float]] = {what: [] for what, _ in cases}
    commands = {
        what: [PYTHON, "-m", "netdsl.tools.cli", "check", str(prog)] for what, prog in cases
    }
    for cmd in commands.values():
        run_proc(cmd, env=env())  # warm the page cache and .pyc files (a failure raises)
    for _ in range(args.repeats):
        for what, cmd in commands.items():
            times[what].append(run_proc(cmd, env=env()).wall)
    inside = {}
    for what, prog in cases:
        got = run_proc([PYTHON, __file__, "worker", str(prog), "--in-process", "5"], env=env())
        inside[what] = json.loads(got.stdout.strip().splitlines()[-1])["check_s"]
    csv.unlink()
    shutil.rmtree(folder)
    baseline = times[cases[0][0]]
    return [
        {
            "what": what,
            "s": Stats(t).to_dict(),
            "vs_baseline": ratio_stats(t, baseline).to_dict(),
            "in_process_s": Stats(inside[what]).to_dict(),
        }
        for what, t in times.items()
    ]


def measure_throughput(tmp: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from datafiles import write_csv, write_image_folder

    out = []
    csv = write_csv(tmp / "rows.csv", args.rows)
    folder = write_image_folder(
        tmp / "pics", classes=("dark", "mid", "light"), per_class=args.pictures // 3, size=16
    )
    csv_text = write_program(
        tmp, "csvtext", f'csv("{csv}", label="species", spill=false)', MLP, epochs=3
    )
    cases = [
        (
            "CSV",
            "csv",
            write_program(tmp, "csvtrain", f'csv("{csv}", label="species")', MLP, epochs=3),
            csv_text,
        ),
        (
            "image folder",
            "images",
            write_program(tmp, "imgtrain", f'images("{folder}", size=16x16)', CNN, epochs=3),
            None,
        ),
    ]
    for what, key, prog, text_prog in cases:
        if key not in args.throughput_data.split(","):
            continue
        got: dict[str, list[float]] = {"stream": [], "file": [], "text": [], "numpy": []}
        cpu: dict[str, list[float]] = {mode: [] for mode in got}
        for _ in range(args.repeats):  # alternated, so all the modes see the same machine load
            for mode in got:
                if mode == "text" and text_prog is None:
                    continue
                speed, us = throughput(text_prog if mode == "text" and text_prog else prog, mode)
                got[mode].append(speed)
                cpu[mode].append(us)
        row: dict[str, Any] = {
            "what": what,
            "ratio": ratio_stats(got["stream"], got["numpy"]).to_dict(),
            "file_ratio": ratio_stats(got["file"], got["numpy"]).to_dict(),
        }
        row.update({mode: Stats(v).to_dict() for mode, v in got.items() if v})
        row.update({f"{mode}_cpu": Stats(v).to_dict() for mode, v in cpu.items() if v})
        if got["text"]:
            row["text_ratio"] = ratio_stats(got["text"], got["numpy"]).to_dict()
        out.append(row)
    return out


def measure_pipeline(tmp: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The CSV training pipeline alone (no model) over the budget: spilled vs text decoded each
    epoch, alternated, with the in-budget (in memory) pipeline beside them."""
    from datafiles import write_csv

    csv = write_csv(tmp / "pipe.csv", args.rows)
    progs = {
        "stream": write_program(tmp, "pipe", f'csv("{csv}", label="species")', MLP),
        "file": write_program(tmp, "pipe", f'csv("{csv}", label="species")', MLP),
        "text": write_program(tmp, "pipetext", f'csv("{csv}", label="species", spill=false)', MLP),
    }
    speed: dict[str, list[float]] = {m: [] for m in progs}
    cpu: dict[str, list[float]] = {m: [] for m in progs}
    for _ in range(args.repeats):
        for mode, prog in progs.items():
            out = run_proc(
                [PYTHON, __file__, "worker", str(prog), "--mode", mode, "--pipeline"],
                env=env(),
                timeout=3600,
            )
            got = json.loads(out.stdout.strip().splitlines()[-1])
            speed[mode].append(float(got["examples_per_s"]))
            cpu[mode].append(float(got["cpu_us_per_example"]))
    return [
        {
            "mode": m,
            "speed": Stats(speed[m]).to_dict(),
            "cpu": Stats(cpu[m]).to_dict(),
            "vs_text": ratio_stats(speed[m], speed["text"]).to_dict(),
        }
        for m in progs
    ]


def measure_memory(tmp: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    for mb in (int(m) for m in args.mem_mb.split(",")):
        csv = big_csv(tmp / f"mem{mb}.csv", mb)
        prog = write_program(tmp, f"mem{mb}", f'csv("{csv}", label="species")', MLP, epochs=1)
        start = time.perf_counter()
        proc = run_proc(
            [PYTHON, __file__, "worker", str(prog), "--steps", "300"], env=env(), timeout=7200
        )
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        out.append(
            {
                "mb": csv.stat().st_size / 2**20,
                "peak_mb": proc.peak_mb,
                "wall_s": time.perf_counter() - start,
                "rows": got["train_size"],
            }
        )
        csv.unlink()
    return out


def write_report(path: Path, rows: dict[str, Any], args: argparse.Namespace) -> None:
    def med(d: dict[str, Any], unit: str = "", k: float = 1.0, digits: int = 2) -> str:
        return f"{d['median'] * k:,.{digits}f}{unit} ({d['min'] * k:,.{digits}f}–{d['max'] * k:,.{digits}f})"

    m = rows["machine"]
    lines = [
        BEGIN,
        "",
        "## Data: `netdsl check` on big files, streaming throughput, memory",
        "",
        f"Written by `python bench/data_bench.py{' --smoke' if args.smoke else ''}` on "
        f"{m.get('cpu', 'this machine')} — a CPU shared with several other engineers' jobs, so "
        "absolute times are noisy; the ratios were measured side by side, alternating runs. "
        "Median (min–max) of the runs. All files were generated under /tmp and deleted.",
        "",
        "**`netdsl check` latency** (whole process, warm page cache; the three commands "
        "alternate, round by round):",
        "",
        "| data | wall time | ratio to the no-file baseline | in-process `netdsl.check` (5 calls) |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['what']} | {med(r['s'], ' s', digits=3)} | "
        f"{med(r['vs_baseline']) if 'vs_baseline' in r else '—'} | "
        f"{med(r['in_process_s'], ' ms', k=1000, digits=1) if 'in_process_s' in r else '—'} |"
        for r in rows.get("check", [])
    ]
    lines += [
        "",
        "**Training throughput**, examples per second of the third (steady) epoch of 3, "
        "batch 64: the dataset as netdsl reads it (`tf.data`; held in memory after the first "
        "pass when within budget — CSV 32 MiB, images 256 MiB — as here); the same dataset "
        "over the budget (forced with `CACHE_BYTES = 0`): a CSV's decoded training rows spilled "
        "to a temporary binary file and read a window at a time each epoch, images decoded from "
        "their files each epoch; a CSV over the budget with `spill=false`, decoded from its text "
        "each epoch; and the same rows as in-memory NumPy arrays (CSV: "
        f"{args.rows:,} rows, `{MLP}`; images: {args.pictures:,} 16x16 PNGs, `{CNN}`); the "
        "modes alternate, run by run:",
        "",
        "| data | as read (in budget) | over budget: spilled (CSV) / decoded (images) | "
        "over budget, text each epoch (`spill=false`) | in-memory NumPy | ratio as read / NumPy "
        "(goal ≥ 0.8) | ratio over budget / NumPy (goal ≥ 0.8) | ratio text / NumPy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def cell(r: dict[str, Any], key: str, digits: int = 0) -> str:
        return med(r[key], digits=digits) if key in r else "—"

    lines += [
        f"| {r['what']} | {cell(r, 'stream')} | {cell(r, 'file')} | {cell(r, 'text')} | "
        f"{cell(r, 'numpy')} | {cell(r, 'ratio', 2)} | {cell(r, 'file_ratio', 2)} | "
        f"{cell(r, 'text_ratio', 2)} |"
        for r in rows.get("throughput", [])
    ]
    if any("numpy_cpu" in r for r in rows.get("throughput", [])):
        lines += [
            "",
            "CPU time of the same steady epochs (the process's user + system time, all threads, "
            "per training example: what an epoch costs a shared machine, less sensitive to "
            "the other jobs than wall time):",
            "",
            "| data | as read (in budget) | over budget: spilled / decoded | text each epoch | "
            "in-memory NumPy |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['what']} | "
            + " | ".join(
                med(r[f"{m}_cpu"], " µs", digits=1) if f"{m}_cpu" in r else "—"
                for m in ("stream", "file", "text", "numpy")
            )
            + " |"
            for r in rows.get("throughput", [])
        ]
    names = {
        "stream": "in budget: held in memory",
        "file": "over budget: spilled to disk",
        "text": "over budget: text decoded each epoch (`spill=false`)",
    }
    lines += [
        "",
        f"**The CSV pipeline alone** (no model: one epoch of batches of 64 after a warm one, "
        f"{args.rows:,} rows; the modes alternate, run by run):",
        "",
        "| training rows | examples/s | CPU per example | speed vs text each epoch |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {names[r['mode']]} | {med(r['speed'], digits=0)} | {med(r['cpu'], ' µs', digits=1)} | "
        f"{med(r['vs_text'])} |"
        for r in rows.get("pipeline", [])
    ]
    lines += [
        "",
        "**Peak memory** (resident, whole process) of `load_data` — which reads the whole CSV once "
        "to count and check it, keeping the training rows if they fit in 32 MiB, else writing them "
        "to a spill file — then 300 training steps and 300 test batches:",
        "",
        "| CSV size | rows | peak RSS | wall time |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['mb']:,.0f} MB | {r['rows']:,} train | {r['peak_mb']:,.0f} MB | {r['wall_s']:,.0f} s |"
        for r in rows.get("memory", [])
    ]
    text = path.read_text() if path.exists() else ""
    old = text[text.index(BEGIN) : text.index(END)] if BEGIN in text and END in text else ""
    for part, heading in (
        ("check", "**`netdsl check` latency**"),
        ("throughput", "**Training throughput**"),
        ("pipeline", "**The CSV pipeline alone**"),
        ("memory", "**Peak memory**"),
    ):
        if (
            part not in rows and heading in old
        ):  # not measured this time: the figures written before stay
            start = old.index(heading)
            stop = min([i for i in (old.find("\n\n**", start + 1), len(old)) if i > 0])
            kept = old[start:stop].split("\n\n")
            lines = _replace_section(lines, heading, kept)
    lines += ["", END]
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def _replace_section(lines: list[str], heading: str, kept: list[str]) -> list[str]:
    """``lines`` with the section that starts with ``heading`` (up to the next blank-line-led
    heading) replaced by ``kept``'s paragraphs: the figures of a part skipped this run."""
    at = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(at + 1, len(lines)) if lines[i].startswith("**")), len(lines))
    body: list[str] = []
    for para in kept:
        body += [*para.split("\n"), ""]
    return lines[:at] + body + lines[end:]


if __name__ == "__main__":
    main()
