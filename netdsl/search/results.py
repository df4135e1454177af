"""A study's results: the table of trials, the best trial as a plain program (``best.net``,
every choice resolved, ``netdsl run best.net`` reproduces it), and the plots people expect
(optimisation history; each parameter against the objective)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import NetdslTuneError
from ..lang import ir
from ..lang.formatter import format as format_program
from ..lang.space import Space, resolve
from .study import FOLDER, INTERRUPTED, REFUSED, SKIPPED, point_of

__all__ = ["best_program", "plot_study", "trial_rows", "trials_table"]


def _state(t: Any) -> str:
    attrs = t.user_attrs
    if REFUSED in attrs:
        return "refused"
    if INTERRUPTED in attrs:
        return "interrupted"
    return str(t.state.name).lower()


def trial_rows(study: Any, space: Space) -> list[dict[str, Any]]:
    """One row per trial that was started or refused (budget skips and queued ones left out)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if SKIPPED in t.user_attrs or t.state.name == "WAITING":
            continue
        point = point_of(dict(t.params), space)
        rows.append(
            {
                "number": t.number,
                "state": _state(t),
                "value": t.value,
                "last_report": max(t.intermediate_values.items())[1]
                if t.intermediate_values
                else None,
                "epochs": len(t.intermediate_values),
                "seconds": t.user_attrs.get("seconds"),
                "params": {
                    p.name: p.value_text(point[p.name]) for p in space.params if p.name in point
                },
                "folder": t.user_attrs.get(FOLDER),
                "why": t.user_attrs.get(REFUSED) or t.user_attrs.get("error"),
            }
        )
    return rows


def trials_table(study: Any, space: Space, metric: str) -> str:
    """The trials as a text table: number, state, metric, epochs, time, parameters."""
    rows = trial_rows(study, space)
    names = [p.name for p in space.params]
    head = ["#", "state", metric, "epochs", "seconds", *names]
    body = []
    for r in rows:
        value = r["value"] if r["value"] is not None else r["last_report"]
        body.append(
            [
                str(r["number"]),
                r["state"],
                "" if value is None else f"{value:.4f}",
                str(r["epochs"]),
                "" if r["seconds"] is None else f"{r['seconds']:.1f}",
                *[_short(r["params"].get(n, "-")) for n in names],
            ]
        )
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in (head, *body)]
    best = _best(study)
    if best is not None:
        lines.append(f"best: trial {best.number}, {metric}={best.value:.4f}")
    return "\n".join(lines)


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def best_program(study: Any, space: Space, metric: str) -> str:
    """The best trial's program, every choice resolved, with the seed it trained with."""
    best = _best(study)
    if best is None:
        raise NetdslTuneError(
            "the study has no finished trial yet",
            code="NDL330",
            help="run `netdsl tune` (again) to finish some",
        )
    program = resolve(space, point_of(dict(best.params), space))
    if program.setting("seed") is None:
        program = replace(
            program, settings=(*program.settings, ir.Setting("seed", ir.Int(best.number)))
        )
    program = replace(program, comments=())
    head = f"# best trial {best.number} of study `{study.study_name}`: {metric}={best.value:.6g}\n"
    return head + format_program(program)


def plot_study(study: Any, space: Space, metric: str, out: Path) -> list[Path]:
    """``history.png`` (each finished trial's value and the best so far) and ``params.png``
    (each parameter against the value); matplotlib as ``netdsl plot`` uses it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise NetdslTuneError(
            "plots need matplotlib", code="NDL330", help="pip install 'netdsl[plot]'"
        ) from None
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not done:
        raise NetdslTuneError("the study has no finished trial to plot", code="NDL330")
    maximize = study.direction.name == "MAXIMIZE"
    paths = [_history_plot(plt, done, metric, maximize, out / "history.png")]
    paths.append(_params_plot(plt, done, space, metric, out / "params.png"))
    return paths


def _history_plot(plt: Any, done: Sequence[Any], metric: str, maximize: bool, path: Path) -> Path:
    xs = [t.number for t in done]
    ys = [float(t.value) for t in done]
    best, running = [], -math.inf if maximize else math.inf
    for y in ys:
        running = max(running, y) if maximize else min(running, y)
        best.append(running)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(xs, ys, "o", label="trial", alpha=0.7)
    ax.step(xs, best, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("optimisation history")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _params_plot(plt: Any, done: Sequence[Any], space: Space, metric: str, path: Path) -> Path:
    params = [p for p in space.params if any(p.name in t.params for t in done)] or []
    n = max(len(params), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(params) :]:
        ax.set_visible(False)
    for ax, p in zip(axes.flat, params):
        pts = [(t.params[p.name], float(t.value)) for t in done if p.name in t.params]
        xs, ys = zip(*pts)
        if p.options and not all(isinstance(x, (int, float)) for x in xs):
            labels = [p.option_text(i) for i in range(len(p.options))]
            ax.scatter([labels.index(x) if x in labels else -1 for x in xs], ys, alpha=0.7)
            ax.set_xticks(
                range(len(labels)), [_short(x, 16) for x in labels], rotation=20, fontsize=7
            )
        else:
            ax.scatter(xs, ys, alpha=0.7)
            if p.log:
                ax.set_xscale("log")
        ax.set_title(p.name, fontsize=9)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle("each parameter against the objective")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
