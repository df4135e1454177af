"""parse, check, fmt, summary (--flops), emit, diagram, plugins and --help never import TensorFlow or Keras.

The paths run in fresh interpreters (this test process may well have imported TensorFlow
already): one interpreter runs the library paths one after the other, one runs the CLI paths
through ``netdsl.tools.cli.main``, and after every path each reports the heavy modules it has loaded so
far, so a failure names the first path that pulled one in. ``python -m netdsl.tools.cli`` is watched
with ``-X importtime``. ``netdsl check`` of the seed model, as a real process, must also stay
fast (it is about 0.2 s; the bound is generous).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, ROOT, SEED

HEAVY = ("tensorflow", "keras", "tf_keras", "jax", "torch")
SEED_FILE = str(EXAMPLES / "mnist.net")
REPORT = "@@HEAVY@@"

LIBRARY_PATHS = {
    "import": "import netdsl",
    "parse": f"netdsl.parse({SEED!r})",
    "parse-bytes": f"netdsl.parse({SEED.encode()!r})",
    "check": f"assert netdsl.check({SEED!r}).total_params == 50890",
    "format": f"netdsl.format(netdsl.parse({SEED!r}))",
    "summary": f"from netdsl.tools.summary import summary_text; summary_text(netdsl.check({SEED!r}))",
    "errors": "\n".join(
        [
            "try:",
            "    netdsl.check('epochz: 1\\ndense 64 relu6x -> dense 10 softmax')",
            "except netdsl.NetdslError as e:",
            "    netdsl.render(e, color=True); e.to_dict()",
        ]
    ),
    "json": f"import json; json.dumps(netdsl.check({SEED!r}).to_dict())",
    "registry": "r = netdsl.load_registry(); r.names('layer'); netdsl.default_registry()",
    # the language server: build it, and run every feature on a document
    "lsp": "\n".join(
        [
            "from netdsl.tools.lsp import create_server",
            "from netdsl.tools.lsp_features import analyze",
            "from lsprotocol.types import Position, Range",
            "create_server()",
            "a = analyze('file:///m.net', 'input: 28x28x1\\nconv2d 8 3 relux -> flatten -> dense 10 softmax', netdsl.default_registry())",
            "a.diagnostics(); a.completion(Position(1, 9)); a.hover(Position(1, 1)); a.symbols(); a.formatting()",
            "a.code_actions(Range(Position(1, 0), Position(1, 20))); a.definition(Position(1, 1))",
            # a keystroke: the edited step re-parsed on its own (netdsl.lang.reparse)
            "analyze('file:///m.net', a.text.replace('relux', 'relu'), netdsl.default_registry(), previous=a.program)",
        ]
    ),
    "highlight": "from netdsl.tools.highlight import NetdslLexer; list(NetdslLexer().get_tokens('dense 10 softmax'))",
    "emit": f"from netdsl.keras.emit import emit_program; emit_program(netdsl.check({SEED!r}))",
    "diagram": f"from netdsl.tools.diagram import to_dot, to_mermaid; m = netdsl.check({SEED!r}); to_dot(m); to_mermaid(m)",
    "flops": f"from netdsl.tools.flops import model_macs; model_macs(netdsl.check({SEED!r}))",
    # the data sets: check reads a CSV header, lists an image folder, reads npz headers
    "check-data": "\n".join(
        [
            "import tempfile, pathlib, numpy",
            "d = pathlib.Path(tempfile.mkdtemp())",
            "(d / 't.csv').write_text('a,b,y\\n' + '1,2,x\\n3,4,z\\n' * 5)",
            "(d / 'p' / 'cats').mkdir(parents=True); (d / 'p' / 'dogs').mkdir()",
            "numpy.savez(d / 'a.npz', x=numpy.zeros((4, 3)), y=numpy.arange(4))",
            "netdsl.check(f'dataset: csv(\"{d}/t.csv\")\\ndense 2 softmax')",
            "netdsl.check(f'dataset: images(\"{d}/p\", size=8x8)\\nflatten -> dense 2 softmax')",
            "netdsl.check(f'dataset: npz(\"{d}/a.npz\")\\ndense 4 softmax')",
            "for name in ('fashion_mnist', 'cifar10', 'cifar100', 'reuters'):",
            "    netdsl.check(f'dataset: {name}\\nflatten -> dense 256 relu -> dense ' + ('46' if name == 'reuters' else '100' if name == 'cifar100' else '10') + ' softmax')",
            "netdsl.check('dataset: imdb\\nembedding 10000 8 -> flatten -> dense 1 sigmoid')",
            "netdsl.check('dataset: boston_housing\\ndense 1')",
        ]
    ),
}

CLI_PATHS = {
    "help": ["--help"],
    "version": ["--version"],
    "check": ["check", SEED_FILE],
    "check-json": ["check", "--json", SEED_FILE],
    "check-error": ["check", str(ROOT / "tests" / "golden" / "three_errors.net")],
    "fmt": ["fmt", SEED_FILE],
    "fmt-check": ["fmt", "--check", SEED_FILE],
    "summary": ["summary", SEED_FILE],
    "summary-json": ["summary", "--json", SEED_FILE],
    "plugins": ["plugins", "--all"],
    "plugins-one": ["plugins", "dense"],
    "check-schedules": ["check", str(ROOT / "examples" / "cnn_fast.net")],
    "runs": ["runs", str(ROOT / "examples")],
    "runs-json": ["runs", "--json", str(ROOT / "examples")],
    "summary-flops": ["summary", "--flops", "--json", SEED_FILE],
    "emit": ["emit", str(EXAMPLES / "inception.net")],
    "emit-residual": ["emit", str(EXAMPLES / "residual.net")],
    "diagram-dot": ["diagram", str(EXAMPLES / "inception.net")],
    "diagram-mmd": ["diagram", "--format", "mmd", str(EXAMPLES / "residual.net")],
    "diagram-svg": [
        "diagram",
        "--format",
        "svg",
        SEED_FILE,
    ],  # exits 1 without Graphviz: still no TF
    "check-backend": ["check", "--backend", "jax", SEED_FILE],
    **{
        f"{verb}-help": [verb, "--help"]
        for verb in (
            "check",
            "fmt",
            "summary",
            "plugins",
            "run",
            "runs",
            "plot",
            "export",
            "predict",
            "emit",
            "diagram",
            "launch",
        )
    },
}

M_PATHS = {
    "help": ["--help"],
    "check": ["check", SEED_FILE],
    "summary": ["summary", SEED_FILE],
    "fmt": ["fmt", SEED_FILE],
    "emit": ["emit", SEED_FILE],
    "diagram": ["diagram", SEED_FILE],
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
    env.update(extra)
    return env


def _report(name: str) -> str:
    """Code that writes the heavy modules loaded so far, tagged with the path's name."""
    return textwrap.dedent(f"""
        sys.stderr.write("\\n" + {REPORT!r} + json.dumps([{name!r}, sorted(
            m for m in sys.modules if m.split(".")[0] in {HEAVY!r})]) + "\\n")
    """)


def _start(steps: dict[str, str], *, pythonpath: str | None = None) -> subprocess.Popen[str]:
    script = "import sys, json\n" + "".join(
        textwrap.dedent(code) + "\n" + _report(name) for name, code in steps.items()
    )
    env = _env(**({"PYTHONPATH": pythonpath} if pythonpath else {}))
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _collect(proc: subprocess.Popen[str]) -> dict[str, list[str]]:
    """Path name -> heavy modules loaded once that path had run."""
    _, err = proc.communicate(timeout=120)
    out = {}
    for line in err.splitlines():
        if line.startswith(REPORT):
            name, modules = json.loads(line[len(REPORT) :])
            out[name] = modules
    assert out, err[-3000:]
    return out


def _cli_step(args: list[str]) -> str:
    return textwrap.dedent(f"""
        try:
            main({args!r}, prog_name="netdsl")
        except SystemExit as e:
            assert e.code in (0, 1, None), e.code
    """)


@pytest.fixture(scope="module")
def reports() -> Iterator[dict[str, Any]]:
    """Start every interpreter at once (they run in parallel), then gather their reports."""
    lib = _start(
        {"import": "import netdsl", **{k: v for k, v in LIBRARY_PATHS.items() if k != "import"}}
    )
    cli = _start(
        {
            "import-cli": "from netdsl.tools.cli import main",
            **{k: _cli_step(v) for k, v in CLI_PATHS.items()},
        }
    )
    mods = {
        k: subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "netdsl.tools.cli", *v],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=_env(),
        )
        for k, v in M_PATHS.items()
    }
    try:
        out: dict[str, Any] = {"lib": _collect(lib), "cli": _collect(cli)}
        for k, p in mods.items():
            _, err = p.communicate(timeout=120)
            out[f"m:{k}"] = (p.returncode, err)
        yield out
    finally:
        for p in (lib, cli, *mods.values()):
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.mark.parametrize("name", LIBRARY_PATHS)
def test_library_paths_do_not_import_tensorflow(name: str, reports: dict[str, Any]) -> None:
    assert name in reports["lib"], f"the {name} path did not finish"
    assert reports["lib"][name] == []


@pytest.mark.parametrize("name", CLI_PATHS)
def test_cli_paths_do_not_import_tensorflow(name: str, reports: dict[str, Any]) -> None:
    assert name in reports["cli"], f"the {name} path did not finish"
    assert reports["cli"][name] == []


@pytest.mark.parametrize("name", M_PATHS)
def test_python_m_netdsl_cli_does_not_import_tensorflow(name: str, reports: dict[str, Any]) -> None:
    """The real module entry point, watched with ``-X importtime`` (every import is listed)."""
    returncode, err = reports[f"m:{name}"]
    assert returncode == 0, err[-2000:]
    imported = [
        line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if "import time:" in line
    ]
    assert "netdsl" in imported  # (netdsl.tools.cli itself runs as __main__)
    assert [m for m in imported if m.split(".")[0] in HEAVY] == []


def test_the_guard_notices_a_heavy_import(tmp_path: Path) -> None:
    """The checks above can fail: a (fake, instant) ``keras`` module is seen once imported."""
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text("")
    seen = _collect(
        _start({"before": "import netdsl", "after": "import keras"}, pythonpath=str(tmp_path))
    )
    assert seen == {"before": [], "after": ["keras"]}


def _netdsl_script() -> list[str]:
    script = Path(sys.executable).parent / "netdsl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "netdsl.tools.cli"]


def test_the_installed_command_checks_the_seed() -> None:
    """The `netdsl` script itself runs a check (its latency is measured in bench/, not here)."""
    proc = subprocess.run(
        [*_netdsl_script(), "check", SEED_FILE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "50,890 parameters" in proc.stdout
