"""``netdsl runs``: the table of run folders, filtered and sorted (no TensorFlow)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["SORT_KEYS", "filter_sort", "runs_table"]

#: sort name -> (key of a row, newest/best first)
SORT_KEYS: dict[str, tuple[Any, bool]] = {
    "date": (lambda r: (r["started"], r["name"]), True),
    "name": (lambda r: r["name"], False),
    "accuracy": (lambda r: r["test"].get("accuracy", float("-inf")), True),
    "loss": (lambda r: r["test"].get("loss", float("inf")), False),
    "wall": (lambda r: r["wall_seconds"] if r["wall_seconds"] is not None else float("inf"), False),
}


def filter_sort(rows: Sequence[dict[str, Any]], status: str | None, sort: str) -> list[dict[str, Any]]:
    """Rows with ``status`` (``resumed``: resumed at least once), in ``sort`` order."""
    if status == "resumed":
        rows = [r for r in rows if r["resumed"]]
    elif status:
        rows = [r for r in rows if r["status"] == status]
    key, reverse = SORT_KEYS[sort]
    return sorted(rows, key=key, reverse=reverse)


def runs_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: name, date, spec, epochs, status, test loss/accuracy, wall time."""
    header = ("NAME", "STARTED", "SPEC", "EPOCHS", "STATUS", "TEST LOSS", "TEST ACC", "WALL")
    lines = [header]
    for r in rows:
        test = r["test"] or {}
        status = r["status"] + (f" (resumed x{r['resumed']})" if r["resumed"] else "")
        planned = r["epochs_planned"]
        lines.append((
            r["name"], (r["started"] or "")[:19].replace("T", " "), r["file"] or "-",
            f"{r['epochs']}/{planned}" if planned else str(r["epochs"]), status,
            f"{test['loss']:.4f}" if "loss" in test else "-",
            f"{100 * test['accuracy']:.2f}%" if "accuracy" in test else "-",
            f"{r['wall_seconds']:.1f} s" if r["wall_seconds"] is not None else "-",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)
