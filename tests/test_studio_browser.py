"""``netdsl studio`` in a real browser: Playwright drives the distribution's Chromium.

The server is the real command (``python -m netdsl studio --port 0``) in a temporary folder, on
loopback; the browser types a mistake, sees the squiggle and the message, fixes it with the
quick fix, trains two epochs on synthetic data and sees the curves. Screenshots go to the test's
temporary folder (and to ``$NETDSL_STUDIO_SHOTS`` when set, to look at them). Skipped, saying
why, when Chromium or the ``playwright`` package is missing; Playwright's own browser download
is never used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

CHROMIUM = os.environ.get("NETDSL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(
        "Chromium is not installed (apt-get install chromium; .ci/run does)",
        allow_module_level=True,
    )
pytest.importorskip("playwright", reason="the playwright package is not installed (netdsl[test])")
pytest.importorskip("starlette", reason="the studio needs netdsl[web]")
pytest.importorskip("uvicorn", reason="the studio needs netdsl[web]")

from playwright.sync_api import Page, expect, sync_playwright

#: Chromium's switches: headless, no sandbox (containers), nothing fetched from the network
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
PROGRAM = (
    "dataset: synthetic(classes, classes=3, train_size=256, test_size=64)\n"
    "input: 8x8x1\n"
    "validation_split: 0.25\n"
    "\n"
    "conv2d 4 3 relu same -> maxpool 2 -> dense 16 relu -> dense 3 softmax\n"
)


@pytest.fixture()
def studio(tmp_path: Path) -> Iterator[str]:
    """A studio server started in an empty folder (``tmp_path/work``) on a free loopback
    port; its URL."""
    folder = tmp_path / "work"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "netdsl", "studio", "--port", "0"],
        cwd=folder,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    url = None
    for line in proc.stderr:
        if "netdsl studio: http://" in line:
            url = line.split()[2]
            break
    try:
        assert url is not None and url.startswith("http://127.0.0.1:"), "the studio did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(60)


@pytest.fixture()
def page(tmp_path: Path) -> Iterator[Page]:
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield page
        context.close()
        assert errors == [], f"the page logged errors: {errors}"


def shoot(page: Page, tmp_path: Path, name: str) -> None:
    """A screenshot in the test's folder, and a copy in $NETDSL_STUDIO_SHOTS if set."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("NETDSL_STUDIO_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def editor_text(page: Page) -> Any:
    return page.evaluate("window.studio.view.state.doc.toString()")


@pytest.mark.slow
def test_type_a_mistake_fix_it_and_watch_a_two_epoch_run(
    studio: str, page: Page, tmp_path: Path
) -> None:
    page.goto(studio)
    # a newcomer first sees the example, checked, drawn and summarised
    expect(page.locator("#problems")).to_contain_text("No problems", timeout=20_000)
    expect(page.locator("#summary")).to_contain_text("(implicit)")
    expect(page.locator("#summary .implicit")).to_have_count(1)
    expect(page.locator("#diagram svg, #diagram .message")).to_have_count(1, timeout=20_000)
    assert "synthetic" in editor_text(page)
    # highlighted as the Pygments lexer does: layer names, setting keys, comments apart
    colours = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.cm-line span')]
        .map((e) => [e.textContent, getComputedStyle(e).color]))"""
    )
    assert colours["conv2d"] == colours["dense"] == "rgb(179, 29, 40)"
    assert colours["dataset"] == colours["epochs"] != colours["conv2d"]
    assert colours["->"] != colours["dense"]
    shoot(page, tmp_path, "1-example")

    # replace it with a small program, then type a mistake: `relu` becomes `relux`
    page.click(".cm-content")
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(PROGRAM)
    expect(page.locator("#problems")).to_contain_text("No problems", timeout=20_000)
    line = page.locator(".cm-line", has_text="dense 16 relu")
    line.click()
    page.keyboard.press("End")
    for _ in range(len(" -> dense 3 softmax")):
        page.keyboard.press("ArrowLeft")
    page.keyboard.type("x")
    page.keyboard.press("Escape")  # close the completion list, if it opened

    squiggle = page.locator(".cm-lintRange-error")
    expect(squiggle).to_have_count(1, timeout=20_000)
    problem = page.locator("#problems li.sev-error")
    expect(problem).to_contain_text("unknown name `relux`")
    expect(problem).to_contain_text("did you mean `relu`?")
    expect(page.locator("#check-state")).to_have_text("1 error")
    expect(page.locator("#run")).to_be_disabled()
    squiggle.hover()
    expect(page.locator(".cm-tooltip-lint")).to_contain_text("unknown name `relux`")
    shoot(page, tmp_path, "2-mistake")

    # the fix is one click away
    page.locator("#problems button.fix", has_text="Replace `relux` with `relu`").click()
    expect(page.locator("#problems")).to_contain_text("No problems", timeout=20_000)
    expect(squiggle).to_have_count(0)
    assert "dense 16 relu -> dense 3 softmax" in editor_text(page)

    # hover: the layer's output shape and parameters
    page.locator(".cm-line", has_text="dense 16 relu").get_by_text("dense").first.hover()
    expect(page.locator(".cm-tooltip-hover")).to_contain_text("(None, 16)", timeout=10_000)

    # completion after an arrow offers layers, with their help
    page.locator(".cm-line", has_text="dense 3 softmax").click()
    page.keyboard.press("End")
    page.keyboard.type(" -> dro")
    options = page.locator(".cm-tooltip-autocomplete .cm-completionLabel")
    expect(options.get_by_text("dropout", exact=True)).to_have_count(1, timeout=10_000)
    shoot(page, tmp_path, "3-completion")
    page.keyboard.press("Escape")
    for _ in range(len(" -> dro")):
        page.keyboard.press("Backspace")
    expect(page.locator("#problems")).to_contain_text("No problems", timeout=20_000)

    # name the file and save it (Ctrl-S): the run is then named after it
    page.fill("#file-name", "first.net")
    page.locator("#file-name").press("Tab")
    expect(page.locator("#check-state")).to_have_text("first.net is new: Save creates it")
    page.locator(".cm-content").focus()
    page.keyboard.press("Control+s")
    expect(page.locator("#check-state")).to_have_text("saved first.net", timeout=10_000)
    assert (tmp_path / "work" / "first.net").read_text() == editor_text(page)

    # train two epochs and watch the curves grow
    page.fill("#epochs", "2")
    page.click("#run")
    loss = page.locator('#charts svg[data-title="loss"]')
    expect(loss).to_have_count(1, timeout=180_000)
    expect(loss.locator("circle")).to_have_count(4, timeout=180_000)  # training + validation
    expect(page.locator("#runs tbody tr").first).to_contain_text("finished", timeout=180_000)
    expect(page.locator("#runs tbody tr").first).to_contain_text("first-")
    expect(page.locator('#charts svg[data-title="accuracy"]')).to_have_count(1)
    expect(page.locator("#confusion table")).to_be_visible(timeout=20_000)
    expect(page.locator("#run-state")).to_have_text("done", timeout=20_000)
    shoot(page, tmp_path, "4-trained")
