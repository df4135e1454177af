"""Make a two-class text task from the Debian package descriptions apt keeps on this machine.

Each package of section ``python`` (class 1) or ``perl`` (class 0) is one example: its one-line
description (the lists hold no long ones), lowercased and split into words, with the words that
give the answer away
(``python``, ``perl``, ``py``, ``pl``, ``cpan``, ``pypi``, ``python3``, ...) removed. Words become
ids by frequency in the training split (0 = padding, 1 = out of vocabulary, the 19,998 most
frequent words 2..19,999), each example cut or padded at the end to ``maxlen`` 200 — the
vocabulary and length of the Keras "Text classification with Transformer" example. Written as
an ``.npz`` of ``x_train, y_train, x_test, y_test`` (int32; the labels as one-hot rows, which
netdsl reads as two classes, as the example's ``dense 2 softmax`` wants, rather than as a binary
0/1 target), 20% held out with a fixed seed.

    python examples/text/debian_text.py debian_text.npz
    netdsl run examples/text/text_transformer.net --data debian_text.npz

Reads ``/var/lib/apt/lists/*_Packages.lz4`` (decompressed with the ``lz4`` command) or
``*_Packages`` files, or the files given with ``--packages``.
"""

from __future__ import annotations

import argparse
import glob
import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

VOCABULARY = 20_000
MAXLEN = 200
SECTIONS = {"perl": 0, "python": 1}
#: words that name the language: removed so the task is the rest of the description
GIVEAWAYS = re.compile(r"^(python\d*|perl\d*|py\w*|pl|cpan\w*|pypi|libperl|pip|pm)$")
WORD = re.compile(r"[a-z0-9]+(?:['+.-][a-z0-9]+)*")


def package_texts(paths: Iterable[Path]) -> Iterator[str]:
    """Every stanza of the Packages files (``.lz4`` decompressed by the ``lz4`` command)."""
    for path in paths:
        if path.suffix == ".lz4":
            text = subprocess.run(
                ["lz4", "-dc", str(path)], check=True, capture_output=True
            ).stdout.decode("utf-8", "replace")
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
        yield from text.split("\n\n")


def examples(stanzas: Iterable[str]) -> list[tuple[str, int]]:
    """(description, class) of each package in one of :data:`SECTIONS`, each package once."""
    seen: set[str] = set()
    out = []
    for stanza in stanzas:
        fields = dict(re.findall(r"^(Package|Section|Description): ?(.*)$", stanza, re.M))
        label = SECTIONS.get(fields.get("Section", ""))
        name = fields.get("Package")
        if label is None or name is None or name in seen:
            continue
        seen.add(name)
        out.append((fields.get("Description", ""), label))
    return out


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if not GIVEAWAYS.match(w)]


def encode(texts: list[list[str]], index: dict[str, int]) -> np.ndarray:
    """Word lists to ids, cut or zero-padded at the end to MAXLEN."""
    x = np.zeros((len(texts), MAXLEN), dtype="int32")
    for i, ws in enumerate(texts):
        ids = [index.get(w, 1) for w in ws[:MAXLEN]]
        x[i, : len(ids)] = ids
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .npz to write")
    parser.add_argument("--packages", nargs="*", type=Path, help="Packages files to read")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    paths = args.packages or [Path(p) for p in sorted(glob.glob("/var/lib/apt/lists/*_Packages*"))]
    data = examples(package_texts(paths))
    if not data:
        raise SystemExit(f"no {'/'.join(SECTIONS)} packages in {', '.join(map(str, paths))}")
    order = np.random.default_rng(args.seed).permutation(len(data))
    split = int(len(data) * 0.8)
    texts = [words(data[i][0]) for i in order]
    labels = np.array([data[i][1] for i in order], dtype="int32")
    counts = Counter(w for ws in texts[:split] for w in ws)
    index = {w: i + 2 for i, (w, _) in enumerate(counts.most_common(VOCABULARY - 2))}
    x = encode(texts, index)
    onehot = np.eye(2, dtype="int32")[labels]  # rows: netdsl reads them as 2 classes, not 0/1
    np.savez_compressed(
        args.out, x_train=x[:split], y_train=onehot[:split], x_test=x[split:], y_test=onehot[split:]
    )
    lengths = [len(ws) for ws in texts]
    print(
        f"{args.out}: {split} training and {len(data) - split} test examples, "
        f"{len(index) + 2} ids, {np.mean(labels):.1%} python, "
        f"median {int(np.median(lengths))} words ({np.mean(np.array(lengths) > MAXLEN):.1%} cut)"
    )


if __name__ == "__main__":
    main()
