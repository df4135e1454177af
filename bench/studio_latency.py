"""Re-check latency in the studio page: from the page's request to the diagnostics rendered.

Starts the real ``netdsl studio`` (a subprocess, loopback, a free port) in a temporary folder
holding the language server bench's 200-line program (``bench/lsp_latency.py``'s ``program``),
opens it in Chromium driven by Playwright, and types: each edit is a real keystroke in the
editor (``relu`` -> ``relux`` and back on one line, so half of the checks end with an error and
a quick fix). The page stamps each check with ``performance.now()`` (``window.studio.timings``):
``answered`` when the response's JSON is parsed, ``rendered`` when the squiggles, the problems
list and the summary are in the DOM (CodeMirror updates it synchronously on dispatch), and
``frame`` when the next frame is painted (``requestAnimationFrame``); and the server's own
share, from its ``Server-Timing`` header: ``server`` (wall time in the handler) and
``serverCpu`` (the server process's CPU time meanwhile; on a shared machine, what the check
costs without the time other processes held the cores). The 90 ms debounce
before the request is by design and not counted. After each check lands the bench waits
``--pause`` ms before the next keystroke, so the diagram request (250 ms after a check) runs
between some of them, as when someone types and stops.

    python bench/studio_latency.py [--edits N] [--warmup N] [--pause MS] [--json]

Needs the `playwright` package and Chromium at /usr/bin/chromium (or $NETDSL_CHROMIUM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench")]

from lsp_latency import program  # noqa: E402  (the same 200-line program as the LSP bench)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGET_LINE = 150  # 0-based: a `-> dense N relu l2(0.0001)` line three quarters down


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 1),
        "p90": round(_pct(values, 90), 1),
        "p99": round(_pct(values, 99), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


def _start(folder: Path) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"), *sys.path]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "netdsl", "studio", "model.net", "--port", "0"],
        cwd=folder,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "netdsl studio: http://" in line:
            return proc, line.split()[2]
    raise SystemExit("the studio did not start")


def measure(edits: int, warmup: int, pause_ms: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("NETDSL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    text = program(200)
    line = text.split("\n")[TARGET_LINE]
    assert "relu" in line, line
    column = line.index("relu") + len("relu")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "model.net").write_text(text)
        proc, url = _start(folder)
        load_before = os.getloadavg()
        try:
            with sync_playwright() as p:
                context = p.chromium.launch_persistent_context(
                    str(folder / "profile"), executable_path=chromium, args=ARGS, headless=True
                )
                page = context.new_page()
                page.goto(url)
                page.wait_for_function("window.studio && window.studio.timings.length >= 1")
                # the cursor after `relu` on the target line
                page.evaluate(
                    f"""() => {{ const v = window.studio.view;
                    const at = v.state.doc.line({TARGET_LINE + 1}).from + {column};
                    v.dispatch({{selection: {{anchor: at}}}}); v.focus(); }}"""
                )
                for i in range(warmup + edits):
                    done = page.evaluate("window.studio.timings.length")
                    page.keyboard.press("x" if i % 2 == 0 else "Backspace")
                    page.wait_for_function(f"window.studio.timings.length > {done}")
                    page.keyboard.press("Escape")  # a completion list, if one opened
                    page.wait_for_timeout(pause_ms)
                timings = page.evaluate("window.studio.timings")[1 + warmup :]
                context.close()
        finally:
            proc.terminate()
            proc.wait(30)
        load_after = os.getloadavg()
    return {
        "program_lines": 200,
        "edits": len(timings),
        "pause_ms": pause_ms,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        **{
            k: _summary([t[k] for t in timings if k in t])
            for k in ("server", "serverCpu", "answered", "rendered", "frame")
        },
        # the same, apart: the keystrokes that made the mistake, and those that fixed it
        "rendered_with_error": _summary([t["rendered"] for t in timings if t["problems"]]),
        "rendered_valid": _summary([t["rendered"] for t in timings if not t["problems"]]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--pause", type=int, default=100, help="ms after each check lands")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    started = time.time()
    r = measure(a.edits, a.warmup, a.pause)
    r["seconds"] = round(time.time() - started, 1)
    if a.json:
        print(json.dumps(r))
        return
    print(f"{r['edits']} edits of a {r['program_lines']}-line program, load {r['load_before']}")
    print("ms           p50    p90    p99    max")
    for k in (
        "server",
        "serverCpu",
        "answered",
        "rendered",
        "frame",
        "rendered_with_error",
        "rendered_valid",
    ):
        s = r[k]
        print(f"{k:<11} {s['p50']:>6} {s['p90']:>6} {s['p99']:>6} {s['max']:>6}")


if __name__ == "__main__":
    main()
