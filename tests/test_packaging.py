"""The wheel carries what `pip install netdsl` users need: the grammar, its tables, the built-ins."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once (pip, no build isolation) for every test here."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("netdsl-*.whl")
    return built


def test_wheel_ships_grammar_tables_and_builtin_plugins(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "netdsl/grammar/netdsl.lark" in names
    assert "netdsl/lang/_grammar_tables.json" in names
    assert {
        f"netdsl_builtins/{m}.py" for m in ("layers", "conv", "activations", "datasets")
    } <= names
    packaged = zipfile.ZipFile(wheel).read("netdsl/grammar/netdsl.lark").decode()
    assert packaged == (ROOT / "grammar" / "netdsl.lark").read_text()
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "netdsl = netdsl.tools.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_wheel_ships_the_studio_page_and_its_assets(wheel: Path) -> None:
    """`netdsl studio` works offline: its page, script, styles, editor bundle and example are
    package data (nothing comes from a CDN)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    static = "netdsl/tools/studio/static/"
    assert {f"{static}{f}" for f in ("index.html", "studio.js", "studio.css", "editor.js")} <= names
    assert "netdsl/tools/studio/example.net" in names
    page = zipfile.ZipFile(wheel).read(f"{static}index.html").decode()
    assert "http" not in page.replace('xmlns="http', "")  # every asset is local
