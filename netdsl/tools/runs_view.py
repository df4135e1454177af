"""``netdsl runs``: the table of run folders, filtered and sorted (no TensorFlow)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["METRIC_HEADERS", "SORT_KEYS", "filter_sort", "runs_table"]


def _metric(r: dict[str, Any], name: str, missing: float) -> float:
    m = r.get("metric")
    return float(m["value"]) if m and m["name"] == name else missing


#: sort name -> (key of a row, newest/best first)
SORT_KEYS: dict[str, tuple[Any, bool]] = {
    "date": (lambda r: (r["started"], r["name"]), True),
    "name": (lambda r: r["name"], False),
    "accuracy": (lambda r: _metric(r, "accuracy", float("-inf")), True),
    "mae": (lambda r: _metric(r, "mae", float("inf")), False),
    "loss": (lambda r: r["test"].get("loss", float("inf")), False),
    "wall": (lambda r: r["wall_seconds"] if r["wall_seconds"] is not None else float("inf"), False),
}

#: the main metric's column: its header by the metrics the rows show, and how a value is written
METRIC_HEADERS = {frozenset({"accuracy"}): "TEST ACC", frozenset({"mae"}): "TEST MAE"}
_FORMAT = {"accuracy": lambda v: f"{100 * v:.2f}%", "mae": lambda v: f"{v:.4g}"}


def filter_sort(
    rows: Sequence[dict[str, Any]], status: str | None, sort: str
) -> list[dict[str, Any]]:
    """Rows with ``status`` (``resumed``: resumed at least once), in ``sort`` order."""
    if status == "resumed":
        rows = [r for r in rows if r["resumed"]]
    elif status:
        rows = [r for r in rows if r["status"] == status]
    key, reverse = SORT_KEYS[sort]
    return sorted(rows, key=key, reverse=reverse)


def _metric_column(rows: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """The main metric's header and cells: ``TEST ACC`` or ``TEST MAE`` when every run reports
    the same one; with both, ``TEST METRIC`` and each cell naming its metric. A graph's run
    shows each output's, by name (``digit 98.00% · odd 98.48%``)."""
    metrics = [m for r in rows for m in _metrics_of(r)]
    names = frozenset(m["name"] for m in metrics if m)
    header = METRIC_HEADERS.get(names, "TEST METRIC" if names else "TEST ACC")
    cells = []
    for r in rows:
        parts = []
        for m, output in zip(_metrics_of(r), _outputs_of(r)):
            text = _FORMAT[m["name"]](m["value"]) if m else "-"
            text = f"{m['name']} {text}" if m and len(names) > 1 else text
            parts.append(f"{output} {text}" if output else text)
        cells.append(" · ".join(parts))
    return header, cells


def _outputs_of(r: dict[str, Any]) -> list[str]:
    """The names a row's metric cell shows: a graph run's outputs, else one unnamed."""
    return [o["output"] for o in r["outputs"]] if r.get("outputs") else [""]


def _metrics_of(r: dict[str, Any]) -> list[Any]:
    return [o["metric"] for o in r["outputs"]] if r.get("outputs") else [r.get("metric")]


def runs_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: name, date, spec, epochs, status, test loss (a graph's: the total),
    the main test metric (accuracy for classifiers, MAE for regression; the header says which;
    a graph's: each output's), wall time."""
    metric_header, metric_cells = _metric_column(rows)
    header = ("NAME", "STARTED", "SPEC", "EPOCHS", "STATUS", "TEST LOSS", metric_header, "WALL")
    lines = [header]
    for r, metric in zip(rows, metric_cells):
        test = r["test"] or {}
        status = r["status"] + (f" (resumed x{r['resumed']})" if r["resumed"] else "")
        planned = r["epochs_planned"]
        lines.append(
            (
                r["name"],
                (r["started"] or "")[:19].replace("T", " "),
                r["file"] or "-",
                f"{r['epochs']}/{planned}" if planned else str(r["epochs"]),
                status,
                f"{test['loss']:.4f}" if "loss" in test else "-",
                metric,
                f"{r['wall_seconds']:.1f} s" if r["wall_seconds"] is not None else "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)
