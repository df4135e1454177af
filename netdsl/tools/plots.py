"""``netdsl plot``: training curves of one or more runs, and a classifier's confusion matrix.

Needs matplotlib (``pip install 'netdsl[plot]'``); reads only the run folders' JSON files
(``history.json``, ``confusion.json``, and a graph run's ``data.json`` for its outputs' names),
never TensorFlow. A graph's curves are laid out by output: the total loss on the first row,
then a row per output with its own loss and metrics (Keras's ``<output>_<metric>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt

from ..errors import NetdslTrainingError
from ..run.runs import read_json, recorded_outputs

__all__ = ["plot_confusion", "plot_curves", "plot_runs"]


def _history(folder: Path) -> list[dict[str, float]]:
    data = read_json(folder / "history.json")
    if not isinstance(data, dict) or not isinstance(data.get("epochs"), list):
        raise NetdslTrainingError(
            f"{folder} is not a run folder with a history.json",
            code="NDL307",
            help="give folders made by `netdsl run` (see `netdsl runs`)",
        )
    return [row for row in data["epochs"] if isinstance(row, dict)]


def _quantities(histories: Sequence[list[dict[str, float]]]) -> list[str]:
    """Quantities to plot, one panel each: loss first, then metrics, then the learning rate."""
    names: list[str] = []
    for history in histories:
        for row in history:
            for key in row:
                base = key[4:] if key.startswith("val_") else key
                if base not in names:
                    names.append(base)
    order = {"loss": 0, "learning_rate": 2}
    return sorted(names, key=lambda n: (order.get(n, 1), names.index(n)))


def _outputs(folders: Sequence[Path]) -> list[str]:
    """The graph outputs of the runs (in order, each once); empty when none is a graph's."""
    names: list[str] = []
    for folder in folders:
        for name, _ in recorded_outputs(read_json(folder / "data.json")):
            if name not in names:
                names.append(name)
    return names


def _layout(names: list[str], outputs: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Panels by row, each ``(quantity, title)``: one row for a chain's runs; for a graph's,
    the total loss (and the learning rate) first, then a row per output (its loss first)."""
    if not outputs:
        return [[(n, n.replace("_", " ")) for n in names]]
    owner: dict[str, str] = {}
    for n in names:
        owner[n] = next(
            (o for o in sorted(outputs, key=len, reverse=True) if n.startswith(o + "_")), ""
        )
    rows = [
        [(n, "total loss" if n == "loss" else n.replace("_", " ")) for n in names if not owner[n]]
    ]
    for o in outputs:
        mine = sorted((n for n in names if owner[n] == o), key=lambda n: n != f"{o}_loss")
        if mine:
            rows.append([(n, f"{o}: {n[len(o) + 1 :].replace('_', ' ')}") for n in mine])
    return [r for r in rows if r]


def plot_curves(folders: Sequence[Path], output: Path) -> Path:
    """One panel per quantity; each run one colour, training solid and validation dashed."""
    histories = [_history(f) for f in folders]
    names = _quantities(histories)
    if not names:
        raise NetdslTrainingError(
            "no finished epochs to plot in " + ", ".join(map(str, folders)), code="NDL307"
        )
    layout = _layout(names, _outputs(folders))
    cols = max(len(r) for r in layout)
    fig, axes = plt.subplots(
        len(layout), cols, figsize=(5.2 * cols, 4.2 * len(layout)), squeeze=False
    )
    for r, row in enumerate(layout):
        for ax in axes[r][len(row) :]:
            ax.set_visible(False)  # a shorter row leaves its last panels empty
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    panels = [
        (axes[r][c], name, title)
        for r, row in enumerate(layout)
        for c, (name, title) in enumerate(row)
    ]
    for ax, name, title in panels:
        for i, (folder, history) in enumerate(zip(folders, histories)):
            colour = colours[i % len(colours)]
            label = folder.name if len(folders) > 1 else ""
            for key, style, part in ((name, "-", "training"), (f"val_{name}", "--", "validation")):
                points = [(e, row[key]) for e, row in enumerate(history, 1) if key in row]
                if not points:
                    continue
                xs, ys = zip(*points)
                ax.plot(
                    xs,
                    ys,
                    style,
                    marker="o",
                    markersize=3,
                    color=colour,
                    label=f"{label} {part}".strip()
                    if name != "learning_rate"
                    else label or "learning rate",
                )
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(title.split(": ")[-1])
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if name == "learning_rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.legend(fontsize=8)
    fig.suptitle("training curves: " + ", ".join(f.name for f in folders), fontsize=10)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output


def plot_confusion(folder: Path, output: Path) -> Path | None:
    """The run's test-set confusion matrix (``confusion.json``), counts in each cell; None if
    the run has none (not a classifier, or not finished)."""
    data: Any = read_json(folder / "confusion.json")
    if not isinstance(data, dict) or "matrix" not in data:
        return None
    matrix = data["matrix"]
    classes = [str(c) for c in data.get("classes") or range(len(matrix))]
    k = len(classes)
    size = min(12.0, 2.5 + 0.55 * k)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="test examples")
    ax.set_xticks(range(k), classes, rotation=45 if max(map(len, classes)) > 3 else 0)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = sum(map(sum, matrix)) or 1
    correct = sum(matrix[i][i] for i in range(k))
    ax.set_title(
        f"{folder.name}: test confusion matrix ({100 * correct / total:.2f}% correct)", fontsize=10
    )
    if k <= 20:
        peak = max(max(row) for row in matrix) or 1
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    str(matrix[i][j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if matrix[i][j] > peak / 2 else "black",
                )
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output


def plot_runs(folders: Sequence[Path], output: Path) -> list[Path]:
    """The curves of ``folders`` in ``output``, and ``<output stem>-<run>-confusion.png`` beside
    it for each classifier run."""
    written = [plot_curves(folders, output)]
    for folder in folders:
        out = output.with_name(f"{output.stem}-{folder.name}-confusion.png")
        if plot_confusion(folder, out) is not None:
            written.append(out)
    return written
