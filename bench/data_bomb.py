"""Peak memory of reading a gzip bomb as an MNIST IDX file: netdsl's bounded reader against the
whole-file ``gzip.decompress`` it replaced, side by side.

The bomb is a valid IDX header declaring 60,000 28x28 images (47 MB) followed by SIZE MiB of
zeros, gzip-compressed (about 1 MB per GiB). Each reader runs in a fresh Python process (so one's
peak cannot hide the other's) and reports the growth of its peak resident memory
(``ru_maxrss``) over the process's state just before the read, and the wall time. Runs alternate
(netdsl, baseline, netdsl, …).

    python bench/data_bomb.py [--mib 1024] [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

READ = {
    "netdsl": "from netdsl_builtins.mnist_files import read_idx\n"
    "try:\n    read_idx(path, ndim=3)\nexcept Exception as e:\n    outcome = type(e).__name__\n",
    "gzip.decompress (before)": "import gzip\n"
    "data = gzip.decompress(open(path, 'rb').read())\noutcome = f'{len(data)} bytes'\n",
}

PROBE = """
import resource, sys, time
path = sys.argv[1]
outcome = "read"
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
{read}
seconds = time.perf_counter() - start
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({{"kib": grown, "seconds": seconds, "outcome": outcome}}))
"""


def make_bomb(path: Path, mib: int) -> None:
    """An IDX header declaring 60,000 images, then ``mib`` MiB of zeros, gzip-compressed."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(2**20)
    with open(path, "wb") as f:
        f.write(
            c.compress(b"\0\0\x08\x03" + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
        )
        for _ in range(mib):
            f.write(c.compress(zeros))
        f.write(c.flush())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB of zeros after the header")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    with tempfile.TemporaryDirectory() as tmp:
        bomb = Path(tmp) / "train-images-idx3-ubyte.gz"
        make_bomb(bomb, args.mib)
        runs: dict[str, list[dict[str, object]]] = {name: [] for name in READ}
        for _ in range(args.pairs):
            for name, read in READ.items():
                code = "import json\n" + PROBE.format(read=read)
                done = subprocess.run(
                    [sys.executable, "-c", code, str(bomb)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[name].append(json.loads(done.stdout))
        print(
            f"bomb: {bomb.stat().st_size:,} bytes on disk, {args.mib:,} MiB of zeros after a "
            f"header declaring 47,040,000 bytes; {args.pairs} pairs, alternating\n"
        )
        print("| reader | peak memory growth (median, min–max) | wall (median) | outcome |")
        print("| --- | --- | --- | --- |")
        for name, rows in runs.items():
            mib = [int(r["kib"]) / 1024 for r in rows]  # type: ignore[call-overload]
            secs = [float(r["seconds"]) for r in rows]  # type: ignore[arg-type]
            print(
                f"| {name} | {statistics.median(mib):,.0f} MiB ({min(mib):,.0f}–{max(mib):,.0f}) | "
                f"{statistics.median(secs):.2f} s | {rows[0]['outcome']} |"
            )


if __name__ == "__main__":
    main()
