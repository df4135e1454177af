"""Remake docs/images/studio.png: the studio with its example trained and a mistake typed.

Starts ``netdsl studio`` in an empty temporary folder (so the page opens with its example),
runs the example, then types ``relux`` for ``relu`` and hovers the squiggle. Needs the
`playwright` package and Chromium (/usr/bin/chromium or $NETDSL_CHROMIUM).

    python editors/studio/screenshot.py [OUTPUT.png]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "images" / "studio.png")
    chromium = os.environ.get("NETDSL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
        proc = subprocess.Popen([sys.executable, "-m", "netdsl", "studio", "--port", "0"],
                                cwd=tmp, stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stderr is not None
        url = next(line.split()[2] for line in proc.stderr if "netdsl studio: http://" in line)
        try:
            with sync_playwright() as p:
                context = p.chromium.launch_persistent_context(
                    str(Path(tmp) / "profile"), executable_path=chromium, args=ARGS,
                    headless=True, viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.goto(url)
                expect(page.locator("#problems")).to_contain_text("No problems", timeout=30_000)
                page.click("#run")
                expect(page.locator("#run-state")).to_have_text("done", timeout=300_000)
                page.evaluate(  # the cursor just after `dense 32 relu`
                    """() => { const v = window.studio.view, text = v.state.doc.toString();
                    const at = text.indexOf("dense 32 relu") + "dense 32 relu".length;
                    v.dispatch({selection: {anchor: at}}); v.focus(); }"""
                )
                page.keyboard.type("x")
                page.keyboard.press("Escape")
                squiggle = page.locator(".cm-lintRange-error")
                expect(squiggle).to_have_count(1, timeout=30_000)
                squiggle.hover()
                expect(page.locator(".cm-tooltip-lint")).to_be_visible()
                page.screenshot(path=str(out))
                context.close()
        finally:
            proc.terminate()
            proc.wait(60)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
