"""Real mixed data on any Debian machine: the package index apt keeps, as a CSV and text files.

    python examples/data/debian_packages.py OUT_DIR [--per-section N]

Reads ``/var/lib/apt/lists/*_Packages.lz4`` (written by ``apt-get update``; decompressed with the
``lz4`` program, or the ``lz4`` Python package when it is installed: ``pip install
'netdsl[bench]'``) and writes, for the :data:`SECTIONS` that hold the most packages (at most
``--per-section`` packages each, the first by name):

* ``OUT_DIR/packages.csv``: ``section`` (the label) and the features ``architecture`` (amd64 or
  all: a binary column), ``priority`` (a category), ``installed_kb`` (a number), ``depends`` (the
  number of dependencies; empty for a package with none: a missing cell), ``maintainer`` (the
  maintainer's name: a category of many values) and ``description`` (the one-line synopsis:
  text). The package's name is left out: ``python3-…`` or ``lib…-dev`` would give the answer.
* ``OUT_DIR/package_text/<section>/<package>.txt``: the synopsis alone, one file per package,
  for ``text_files``.

The examples ``packages.net`` and ``package_text.net`` train on them; ``bench/typed_twin.py``
trains their hand-written Keras twins.
"""

from __future__ import annotations

import argparse
import csv
import glob
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

#: the sections read (the largest of bookworm's main index)
SECTIONS = ("libs", "libdevel", "python", "doc", "perl", "devel", "utils", "net")
LISTS = "/var/lib/apt/lists/*_Packages.lz4"
FIELDS = (
    "Package",
    "Section",
    "Architecture",
    "Priority",
    "Installed-Size",
    "Depends",
    "Maintainer",
    "Description",
)


def _decompressed(path: str) -> str:
    """The index's text: by the ``lz4`` Python package if installed, else the ``lz4`` program."""
    try:
        import lz4.frame  # type: ignore[import-not-found]

        with lz4.frame.open(path, "rt", encoding="utf-8") as f:
            return str(f.read())
    except ImportError:
        pass
    if shutil.which("lz4") is None:
        raise SystemExit("needs the `lz4` program (apt-get install lz4) or `pip install lz4`")
    out = subprocess.run(["lz4", "-dc", path], check=True, capture_output=True)
    return out.stdout.decode("utf-8", errors="replace")


def stanzas(text: str) -> Iterator[dict[str, str]]:
    """Each package's fields (continuation lines dropped: only the first line of each)."""
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            yield fields


def _row(p: dict[str, str]) -> dict[str, str]:
    depends = p.get("Depends", "")
    return {
        "architecture": p.get("Architecture", ""),
        "priority": p.get("Priority", ""),
        "installed_kb": p.get("Installed-Size", ""),
        "depends": str(len(depends.split(","))) if depends else "",
        "maintainer": re.sub(r"\s*<.*", "", p.get("Maintainer", "")).replace(",", " "),
        "description": p.get("Description", "").replace(",", " ").replace('"', "'"),
        "section": p.get("Section", "").split("/")[-1],
    }


def packages(per_section: int) -> list[dict[str, str]]:
    """The rows: the first ``per_section`` packages by name of each of :data:`SECTIONS`."""
    paths = sorted(glob.glob(LISTS))
    if not paths:
        raise SystemExit(f"no package index at {LISTS}: run `apt-get update`")
    seen: set[str] = set()
    by_section: dict[str, list[dict[str, str]]] = defaultdict(list)
    for path in paths:
        for p in stanzas(_decompressed(path)):
            row = _row(p)
            if row["section"] in SECTIONS and p["Package"] not in seen:
                seen.add(p["Package"])
                by_section[row["section"]].append({"package": p["Package"], **row})
    out = []
    for section in SECTIONS:
        out += sorted(by_section[section], key=lambda r: r["package"])[:per_section]
    return out


def write(out: Path, per_section: int) -> Counter[str]:
    rows = packages(per_section)
    out.mkdir(parents=True, exist_ok=True)
    columns = [
        "architecture",
        "priority",
        "installed_kb",
        "depends",
        "maintainer",
        "description",
        "section",
    ]
    order = sorted(rows, key=lambda r: hash_key(r["package"]))  # classes mixed through the file
    with open(out / "packages.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for r in order:
            writer.writerow([r[c] for c in columns])
    text = out / "package_text"
    for r in rows:
        folder = text / r["section"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{r['package']}.txt").write_text(r["description"] + "\n", encoding="utf-8")
    return Counter(r["section"] for r in rows)


def hash_key(name: str) -> str:
    """A fixed pseudo-random order (the same on every machine, unlike ``hash``)."""
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-section", type=int, default=1500)
    args = parser.parse_args()
    counts = write(args.out, args.per_section)
    print(f"{sum(counts.values()):,} packages in {args.out}: {dict(counts)}")
