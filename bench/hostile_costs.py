"""What the hostile data files of issue 27 cost: wall time and peak memory growth of one
``netdsl check``, ``predict`` input read or dataset load of each, in a fresh process.

    python bench/hostile_costs.py [--root PATH] [--cases "a;b"] [--timeout SECONDS]

``--root`` runs another checkout's code (e.g. the commit before the fix) on the same files. Each
case runs in its own Python process; the figure is the growth of its peak resident memory
(``ru_maxrss``) over the process's state just before the call (imports done), and the call's wall
time. A case over ``--timeout`` is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: case -> (maker of the file in a folder -> path, the call on ``path``)
CASES: dict[str, tuple[str, str]] = {
    "check csv, 10,000-column header": (
        "p = d / 'w.csv'; n = 10_000\n"
        "p.write_text(','.join(f'c{i}' for i in range(n)) + '\\n' + ','.join(['1'] * (n - 1) + ['0.5']) + '\\n')",
        "check('dataset: csv\\ndense 1\\n', p)",
    ),
    "check csv, 30,000-column header": (
        "p = d / 'w.csv'; n = 30_000\n"
        "p.write_text(','.join(f'c{i}' for i in range(n)) + '\\n' + ','.join(['1'] * (n - 1) + ['0.5']) + '\\n')",
        "check('dataset: csv\\ndense 1\\n', p)",
    ),
    "check csv, 100,000-column header": (
        "p = d / 'w.csv'; n = 100_000\n"
        "p.write_text(','.join(f'c{i}' for i in range(n)) + '\\n' + ','.join(['1'] * (n - 1) + ['0.5']) + '\\n')",
        "check('dataset: csv\\ndense 1\\n', p)",
    ),
    "check csv, 2 GB sparse file": (
        "p = d / 's.csv'; p.write_text('a,b,label\\n'); os.truncate(p, 2 << 30)",
        "check('dataset: csv\\ndense 2 softmax\\n', p)",
    ),
    "check npz, 2 x 1.5 GB of deflated zeros": (
        "p = hf.npz_of_zeros(d / 'z.npz', 1_500_000_000)",
        "check('dataset: npz\\ndense 1\\n', p)",
    ),
    "predict, npz declaring 10^9 bytes in deflated zeros": (
        "p = d / 'z.npz'\n"
        "import zipfile\n"
        "with zipfile.ZipFile(p, 'w', zipfile.ZIP_DEFLATED) as z:\n"
        "    with z.open('x.npy', 'w', force_zip64=True) as f:\n"
        "        f.write(hf.npy_declaring((125_000_000,)))\n"
        "        for _ in range(1000): f.write(bytes(1_000_000))",
        "predict(p, (4,))",
    ),
    "predict, 20000x20000 PNG (389 KB)": (
        "p = d / 'big.png'; p.write_bytes(hf.zero_png(20000, 20000))",
        "predict(p, (28, 28, 1))",
    ),
    "predict, 29-byte GIF declaring 65535x65535": (
        "p = d / 'bomb.gif'; p.write_bytes(hf.gif_declaring(65535, 65535))",
        "predict(p, (28, 28, 1))",
    ),
    "images load, a folder with one 20000x20000 PNG (389 KB)": (
        "from PIL import Image\n"
        "for c in ('a', 'b'):\n"
        "    (d / 'p' / c).mkdir(parents=True)\n"
        "    for i in range(4): Image.new('L', (8, 8), 40 * i).save(d / 'p' / c / f'{i}.png')\n"
        "(d / 'p' / 'a' / 'big.png').write_bytes(hf.zero_png(20000, 20000))",
        'load(check(f\'dataset: images("{d / "p"}", size=8x8, color=grayscale)\\n\'\n'
        "           'flatten -> dense 2 softmax\\n', None))",
    ),
}

PROBE = """
import json, os, resource, sys, time
from pathlib import Path
sys.path[:0] = [{root!r}, {plugins!r}, {bench!r}]
import hostile_files as hf
d = Path(sys.argv[1])
{make}
import netdsl
try:
    from netdsl.vocab.registry import load_registry
except ImportError:
    from netdsl.registry import load_registry
try:
    from netdsl.keras.predict import read_inputs
except ImportError:
    from netdsl.predict import read_inputs
try:
    from netdsl.keras.training import load_data as load
except ImportError:
    from netdsl.training import load_data as load
registry = load_registry(third_party=False)
def check(program, path):
    return netdsl.check(program, registry, data=str(path) if path else None)
def predict(path, shape):
    return read_inputs([str(path)], shape)
import numpy, PIL.Image
if "load(" in {call!r}:
    import tensorflow, keras  # imported before the measure: their cost is not the file's
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    {call}
    outcome = "accepted"
except Exception as e:
    outcome = f"{{type(e).__name__}}: {{str(getattr(e, 'message', e)).splitlines()[0][:90]}}"
seconds = time.perf_counter() - start
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({{"kib": grown, "seconds": seconds, "outcome": outcome}}))
"""


def run_case(name: str, root: Path, timeout: float) -> dict[str, object]:
    make, call = CASES[name]
    code = PROBE.format(
        root=str(root), plugins=str(root / "plugins"), bench=str(HERE), make=make, call=call
    )
    with tempfile.TemporaryDirectory(prefix="netdsl-hostile-") as tmp:
        try:
            done = subprocess.run(
                [sys.executable, "-c", code, tmp],
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "PYTHONPATH": ""},
            )
        except subprocess.TimeoutExpired:
            return {"outcome": f"over {timeout:g} s (stopped)"}
    if done.returncode:
        return {"outcome": f"process failed: {done.stderr.strip().splitlines()[-1][:120]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code runs")
    parser.add_argument("--cases", help="case names separated by semicolons (default: all)")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    names = args.cases.split(";") if args.cases else list(CASES)
    print(f"code: {args.root}\n")
    print("| case | wall | peak memory growth | outcome |")
    print("| --- | --- | --- | --- |")
    for name in names:
        r = run_case(name, args.root.resolve(), args.timeout)
        wall = f"{r['seconds']:.2f} s" if "seconds" in r else "–"
        mem = f"{int(r['kib']) / 1024:,.0f} MiB" if "kib" in r else "–"  # type: ignore[call-overload]
        print(f"| {name} | {wall} | {mem} | {r['outcome']} |", flush=True)


if __name__ == "__main__":
    main()
