"""Plugin discovery through real entry-point metadata, failure isolation, and ``netdsl plugins``.

Each test writes fake installed distributions (``NAME-VERSION.dist-info`` with METADATA and
``entry_points.txt``, plus the plugin module) into a folder put on ``sys.path``; importlib.metadata
finds them exactly as it finds pip-installed ones, so nothing is registered by hand.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from netdsl.checking.checker import check
from netdsl.errors import NetdslError, NetdslPluginError
from netdsl.lang.diagnostics import render
from netdsl.tools.cli import main
from netdsl.vocab.components import ShapeProblem
from netdsl.vocab.registry import PluginWarning, Registry, load_registry
from netdsl_builtins import BUILTIN_MODULES

ROOT = Path(__file__).resolve().parents[1]
EXTRAS_EXAMPLE = ROOT / "plugins" / "netdsl-extras" / "example.net"
HAS_EXTRAS = find_spec("netdsl_extras") is not None
needs_extras = pytest.mark.skipif(
    not HAS_EXTRAS, reason="netdsl-extras is not installed (pip install -e plugins/netdsl-extras)"
)

# --- plugin sources -------------------------------------------------------------------------------

HEADER = """\
from netdsl.vocab import types as T
from netdsl.vocab.components import Activation, Layer, Param
from netdsl.vocab.hookspecs import hookimpl


def same(shape, args):
    return shape, 0


def build(**kwargs):
    import keras

    return keras.layers.Identity()

"""

GOOD = (
    HEADER
    + """
@hookimpl
def register_activations(register):
    register(Activation(name="good_act", description="a good activation", build=lambda: "relu"))


@hookimpl
def register_layers(register):
    register(Layer(name="good_layer", description="a good layer", infer=same, build=build,
                   params=(Param("units", T.Int(min=1), 1, positional=True, help="outputs"),)))
"""
)


def layers_plugin(*names: str, override: bool = False, aliases: tuple[str, ...] = ()) -> str:
    """Source of a plugin whose ``register_layers`` registers a shape-preserving layer per name."""
    body = "".join(
        f"    register(Layer(name={n!r}, aliases={aliases!r}, infer=same, build=build), "
        f"override={override})\n"
        for n in names
    )
    return HEADER + f"@hookimpl\ndef register_layers(register):\n{body}"


def hook_body(hook: str, body: str, arg: str = "register") -> str:
    """Source of a plugin with one hook implementation ``hook(arg)`` running ``body``."""
    return HEADER + f"@hookimpl\ndef {hook}({arg}):\n    {body}\n"


#: name -> (source of a broken plugin, fragments its one problem message must contain)
BROKEN: dict[str, tuple[str, tuple[str, ...]]] = {
    "import error": (
        "raise RuntimeError('boom at import')\n",
        ("failed to import", "RuntimeError: boom at import"),
    ),
    "raises in hook": (
        hook_body("register_layers", "raise ValueError('boom in hook')"),
        ("raised in register_layers", "ValueError: boom in hook"),
    ),
    "misspelled hook": (
        hook_body("register_layer", "pass"),
        ("`register_layer`", "not a netdsl hook", "did you mean `register_layers`?"),
    ),
    "wrong argument name": (
        hook_body("register_layers", "pass", arg="reg"),
        ("could not be registered", "PluginValidationError", "'reg'"),
    ),
    "not a declaration": (
        hook_body("register_layers", "register('dense')"),
        ("register_layers must register Layer declarations",),
    ),
    "bad name": (
        hook_body("register_layers", "register(Layer(name='Bad-Name', infer=same, build=build))"),
        ("layer name `Bad-Name` must be lowercase",),
    ),
}


# --- fake installed distributions -----------------------------------------------------------------


@dataclass
class Site:
    """A folder on ``sys.path`` holding fake installed distributions and their plugin modules."""

    root: Path
    modules: list[str] = field(default_factory=list)

    def add(
        self,
        dist: str,
        source: str,
        *,
        version: str = "1.0",
        entry: str | None = None,
        named: bool = True,
    ) -> str:
        """Install ``dist`` with one ``netdsl`` entry point to a module holding ``source``."""
        module = dist.replace("-", "_") + "_plugin"
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        name = f"Name: {dist}\n" if named else ""
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\n{name}Version: {version}\n")
        (info / "entry_points.txt").write_text(f"[netdsl]\n{entry or dist} = {module}\n")
        (self.root / f"{module}.py").write_text(source)
        self.modules.append(module)
        importlib.invalidate_caches()
        return module


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin environment variables are unset unless a test sets them."""
    monkeypatch.delenv("NETDSL_PLUGINS", raising=False)
    monkeypatch.delenv("NETDSL_STRICT_PLUGINS", raising=False)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """An empty fake site folder on ``sys.path``; its plugin modules are forgotten afterwards."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    s = Site(root)
    yield s
    for module in s.modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


def load(**kwargs: Any) -> tuple[Registry, list[NetdslPluginError]]:
    """``load_registry`` with problems collected instead of warned."""
    problems: list[NetdslPluginError] = []
    return load_registry(on_problem=problems.append, **kwargs), problems


def third_party(registry: Registry) -> set[str]:
    """Distributions of the third-party plugins that loaded."""
    return {p.provider.distribution for p in registry.plugins if not p.provider.builtin}


# --- discovery -----------------------------------------------------------------------------------


def test_good_plugin_adds_names_with_its_provider(site: Site) -> None:
    site.add("good-dist", GOOD, version="1.2.3", entry="good")
    registry, problems = load()
    assert problems == []
    for kind, name in (("activation", "good_act"), ("layer", "good_layer")):
        entry = registry.entry(kind, name)
        assert entry is not None, f"{kind} {name} not registered"
        assert (entry.provider.distribution, entry.provider.version) == ("good-dist", "1.2.3")
        assert entry.provider.plugin == "good_dist_plugin" and not entry.provider.builtin
    info = next(p for p in registry.plugins if p.provider.distribution == "good-dist")
    assert sorted(info.hooks) == ["register_activations", "register_layers"]
    assert info.names == {"activation": ["good_act"], "layer": ["good_layer"]}
    assert registry.entry("layer", "dense").provider.builtin  # type: ignore[union-attr]


def test_discovered_layer_is_usable_in_a_program(site: Site) -> None:
    site.add("good-dist", GOOD)
    registry, _ = load()
    model = check("good_layer -> flatten -> dense 16 good_act -> dense 10 softmax", registry)
    assert [n.layer for n in model.nodes][-4:] == ["good_layer", "flatten", "dense", "dense"]
    assert model.nodes[-2].kwargs["activation"].name == "good_act"


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_plugin_is_one_problem_and_the_rest_works(site: Site, case: str) -> None:
    source, fragments = BROKEN[case]
    site.add("good-dist", GOOD, entry="a")
    site.add("bad-dist", source, entry="b")
    registry, problems = load()
    assert len(problems) == 1, [p.message for p in problems]
    message = problems[0].message
    for fragment in ("bad-dist 1.0", *fragments):
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message
    assert registry.problems == problems
    assert registry.get("layer", "good_layer") is not None
    assert (
        registry.get("layer", "dense") is not None
        and registry.get("activation", "relu") is not None
    )


@pytest.mark.parametrize("case", list(BROKEN))
@pytest.mark.parametrize("how", ["argument", "environment"])
def test_strict_mode_raises(
    site: Site, monkeypatch: pytest.MonkeyPatch, case: str, how: str
) -> None:
    source, fragments = BROKEN[case]
    site.add("bad-dist", source)
    kwargs: dict[str, Any] = {}
    if how == "argument":
        kwargs["strict"] = True
    else:
        monkeypatch.setenv("NETDSL_STRICT_PLUGINS", "1")
    with pytest.raises(NetdslPluginError) as info:
        load_registry(**kwargs)
    assert "bad-dist 1.0" in info.value.message and fragments[0] in info.value.message


def test_problem_without_a_handler_is_a_warning(site: Site) -> None:
    site.add("bad-dist", BROKEN["import error"][0])
    with pytest.warns(PluginWarning, match="bad-dist 1.0 failed to import"):
        registry = load_registry()
    assert len(registry.problems) == 1


def test_a_traceback_is_kept_for_verbose_output(site: Site) -> None:
    site.add("bad-dist", BROKEN["raises in hook"][0])
    _, problems = load()
    assert "Traceback" in problems[0].traceback and "boom in hook" in problems[0].traceback  # type: ignore[attr-defined]


# --- duplicates and override ---------------------------------------------------------------------

#: id -> (dist-a source, dist-b source, (kind, name) looked up, expected provider, fragments of
#: the one expected problem, or None for no problem)
DUPLICATES: dict[str, tuple[str, str, str, str, tuple[str, ...] | None]] = {
    "two plugins, one name": (
        layers_plugin("shared"),
        layers_plugin("shared"),
        "shared",
        "dist-a 1.0",
        ("dist-b 2.0 registers layer `shared`", "already provided by dist-a 1.0"),
    ),
    "a plugin takes a built-in name": (
        layers_plugin("dense"),
        layers_plugin("other"),
        "dense",
        "netdsl",
        ("dist-a 1.0 registers layer `dense`", "already provided by netdsl", "(built-in)"),
    ),
    "an alias takes a built-in name": (
        layers_plugin("mine", aliases=("dropout",)),
        layers_plugin("other"),
        "dropout",
        "netdsl",
        ("dist-a 1.0 registers layer `dropout`",),
    ),
    "override replaces another plugin's name": (
        layers_plugin("shared"),
        layers_plugin("shared", override=True),
        "shared",
        "dist-b 2.0",
        None,
    ),
    "override replaces a built-in": (
        layers_plugin("other"),
        layers_plugin("dense", override=True),
        "dense",
        "dist-b 2.0",
        None,
    ),
}


@pytest.mark.parametrize("case", list(DUPLICATES))
def test_duplicates_are_refused_unless_overridden(site: Site, case: str) -> None:
    a, b, name, provider, fragments = DUPLICATES[case]
    site.add("dist-a", a, entry="a")
    site.add("dist-b", b, version="2.0", entry="b")
    registry, problems = load()
    entry = registry.entry("layer", name)
    assert entry is not None
    assert str(entry.provider).startswith(provider), str(entry.provider)
    if fragments is None:
        assert problems == []
    else:
        assert len(problems) == 1, [p.message for p in problems]
        for fragment in fragments:
            assert fragment in problems[0].message, problems[0].message
        assert problems[0].code == "NDL201"


def test_an_overridden_name_is_listed_under_its_new_provider_only(site: Site) -> None:
    site.add("dist-b", layers_plugin("dense", override=True), version="2.0", entry="b")
    registry, problems = load()
    owners = [
        info.provider.distribution
        for info in registry.plugins
        if "dense" in info.names.get("layer", [])
    ]
    assert (owners, problems) == (["dist-b"], [])


def test_duplicate_in_strict_mode_raises(site: Site) -> None:
    site.add("dist-a", layers_plugin("shared"), entry="a")
    site.add("dist-b", layers_plugin("shared"), entry="b")
    with pytest.raises(NetdslPluginError, match="already provided by dist-a 1.0"):
        load_registry(strict=True)


# --- which plugins load ----------------------------------------------------------------------------

#: id -> (NETDSL_PLUGINS or None for unset, plugins=, third_party=, fake distributions loaded)
SELECTIONS: dict[str, tuple[str | None, list[str] | None, bool, set[str]]] = {
    "everything by default": (None, None, True, {"dist-a", "dist-b"}),
    "env allow-list": ("dist-a", None, True, {"dist-a"}),
    "env allow-list, normalised names": (" Dist_A , dist.b", None, True, {"dist-a", "dist-b"}),
    "empty env loads none": ("", None, True, set()),
    "plugins= wins over env": ("dist-a", ["dist-b"], True, {"dist-b"}),
    "plugins=[] loads none": (None, [], True, set()),
    "third_party=False loads none": (None, None, False, set()),
    "third_party=False ignores env": ("dist-a", None, False, set()),
}


@pytest.mark.parametrize("case", list(SELECTIONS))
def test_allow_list(site: Site, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    env, only, third, expected = SELECTIONS[case]
    site.add("dist-a", layers_plugin("from_a"), entry="a")
    site.add("dist-b", layers_plugin("from_b"), entry="b")
    if env is not None:
        monkeypatch.setenv("NETDSL_PLUGINS", env)
    registry, problems = load(plugins=only, third_party=third)
    assert problems == []
    assert third_party(registry) & {"dist-a", "dist-b"} == expected
    assert (registry.get("layer", "from_a") is not None) == ("dist-a" in expected)
    assert (registry.get("layer", "from_b") is not None) == ("dist-b" in expected)
    if not expected:
        assert third_party(registry) == set()
    assert registry.get("layer", "dense") is not None  # built-ins always load


@pytest.mark.parametrize(
    "env, loaded", [(None, True), ("dist-a", False), ("nameless_plugin", True)]
)
def test_distribution_without_a_name_is_known_by_its_module(
    site: Site, monkeypatch: pytest.MonkeyPatch, env: str | None, loaded: bool
) -> None:
    site.add("dist-a", layers_plugin("from_a"), entry="a")
    site.add("nameless", layers_plugin("from_nameless"), entry="b", named=False)
    if env is not None:
        monkeypatch.setenv("NETDSL_PLUGINS", env)
    registry, problems = load()
    assert problems == []
    entry = registry.entry("layer", "from_nameless")
    assert (entry is not None) == loaded
    if entry is not None:
        assert (entry.provider.distribution, entry.provider.version) == ("nameless_plugin", "1.0")


def test_allow_list_skips_a_broken_plugin_without_importing_it(site: Site) -> None:
    site.add("good-dist", GOOD, entry="a")
    site.add("bad-dist", BROKEN["import error"][0], entry="b")
    registry, problems = load(plugins=["good-dist"])
    assert problems == [] and third_party(registry) == {"good-dist"}


# --- the CLI ---------------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``netdsl ARGS`` in-process; stdout and stderr stay separate."""
    return CliRunner().invoke(main, list(args), env=env)


def test_cli_lists_third_party_plugins(site: Site) -> None:
    site.add("good-dist", GOOD, version="1.2.3")
    result = cli("plugins")
    assert result.exit_code == 0, result.output
    assert "good-dist 1.2.3  (good_dist_plugin)" in result.stdout
    assert "layer: good_layer" in result.stdout and "activation: good_act" in result.stdout
    assert "[built-in]" not in result.stdout


def test_cli_all_includes_builtins(site: Site) -> None:
    site.add("good-dist", GOOD)
    result = cli("plugins", "--all")
    assert result.exit_code == 0, result.output
    assert "netdsl 0.1.0  (netdsl_builtins.layers)  [built-in]" in result.stdout
    assert "good-dist 1.0" in result.stdout


@pytest.mark.parametrize("show_all", [False, True])
def test_cli_json_parses(site: Site, show_all: bool) -> None:
    site.add("good-dist", GOOD)
    result = cli("plugins", "--json", *(["--all"] if show_all else []))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    good = next(r for r in rows if r["distribution"] == "good-dist")
    assert good["names"] == {"activation": ["good_act"], "layer": ["good_layer"]}
    assert any(r["builtin"] for r in rows) == show_all


def test_cli_shows_one_component() -> None:
    result = cli("plugins", "dense")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("dense (layer) — ")
    assert "provided by netdsl 0.1.0 (built-in)" in out
    assert "units" in out and "an integer >= 1, required positional" in out


def test_cli_shows_a_third_party_component_as_json(site: Site) -> None:
    site.add("good-dist", GOOD, version="1.2.3")
    result = cli("plugins", "good_layer", "--json")
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    assert (item["kind"], item["name"]) == ("layer", "good_layer")
    assert item["provider"] == {"distribution": "good-dist", "version": "1.2.3", "builtin": False}
    assert item["params"][0] | {"help": "outputs"} == item["params"][0]


@pytest.mark.parametrize(
    "name, suggestion", [("nope", None), ("denze", "dense"), ("reluu", "relu")]
)
def test_cli_unknown_component_exits_1(name: str, suggestion: str | None) -> None:
    result = cli("plugins", name)
    assert result.exit_code == 1
    assert f"error: no component named `{name}`" in result.stderr
    if suggestion:
        assert f"did you mean `{suggestion}`?" in result.stderr


@pytest.mark.parametrize("case", list(BROKEN))
def test_cli_broken_plugin_is_a_one_line_warning(site: Site, case: str) -> None:
    site.add("good-dist", GOOD, entry="a")
    site.add("bad-dist", BROKEN[case][0], entry="b")
    result = cli("plugins")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: "), lines
    assert "bad-dist 1.0" in lines[0] and BROKEN[case][1][0] in lines[0]
    assert "good-dist" in result.stdout


def test_cli_verbose_shows_the_traceback(site: Site) -> None:
    site.add("bad-dist", BROKEN["raises in hook"][0])
    quiet, verbose = cli("plugins"), cli("-v", "plugins")
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in verbose.stderr and "ValueError: boom in hook" in verbose.stderr


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_cli_strict_plugins_fails(site: Site, how: str) -> None:
    site.add("bad-dist", BROKEN["import error"][0])
    result = (
        cli("--strict-plugins", "plugins")
        if how == "flag"
        else cli("plugins", env={"NETDSL_STRICT_PLUGINS": "1"})
    )
    assert result.exit_code != 0
    assert "bad-dist 1.0 failed to import" in result.stderr


def test_cli_no_plugins_hides_third_party(site: Site) -> None:
    site.add("good-dist", GOOD)
    listed = cli("--no-plugins", "plugins", "--all")
    assert (
        listed.exit_code == 0
        and "good-dist" not in listed.stdout
        and "netdsl 0.1.0" in listed.stdout
    )
    shown = cli("--no-plugins", "plugins", "good_layer")
    assert shown.exit_code == 1


def test_cli_check_uses_a_plugin_name(site: Site, tmp_path: Path) -> None:
    site.add("good-dist", GOOD)
    program = tmp_path / "m.net"
    program.write_text("good_layer 3 -> dense 10 softmax\n")
    assert cli("check", str(program)).exit_code == 0
    assert cli("--no-plugins", "check", str(program)).exit_code == 1


# --- the installed example plugin, netdsl-extras ---------------------------------------------------


@needs_extras
def test_extras_has_a_real_entry_point() -> None:
    [ep] = [ep for ep in metadata.entry_points(group="netdsl") if ep.value == "netdsl_extras"]
    assert ep.name == "extras" and ep.dist is not None
    assert (ep.dist.metadata["Name"], ep.dist.version) == ("netdsl-extras", "0.1.0")


@needs_extras
def test_extras_is_discovered() -> None:
    registry, problems = load(plugins=["netdsl-extras"])
    assert problems == []
    for kind, name in (("layer", "max_norm_dense"), ("regularizer", "weight_decay")):
        entry = registry.entry(kind, name)
        assert entry is not None
        assert (entry.provider.distribution, entry.provider.version) == ("netdsl-extras", "0.1.0")


@needs_extras
def test_extras_example_checks_and_summarises() -> None:
    expected = (784 * 512 + 512) + (512 * 256 + 256) + (256 * 10 + 10)
    result = cli("check", str(EXTRAS_EXAMPLE))
    assert result.exit_code == 0, result.output
    assert f"ok (6 layers, {expected:,} parameters)" in result.stdout
    summary = cli("summary", str(EXTRAS_EXAMPLE))
    assert summary.exit_code == 0 and "max_norm_dense 256 relu max_value=3.5" in summary.stdout


@needs_extras
@pytest.mark.parametrize(
    "shape, units, use_bias, expected",
    [
        ((784,), 10, True, ((10,), 7850)),
        ((784,), 10, False, ((10,), 7840)),
        ((5, 8), 4, True, ((5, 4), 36)),
    ],
)
def test_extras_max_norm_dense_shape_rule(
    shape: tuple, units: int, use_bias: bool, expected: tuple
) -> None:
    from netdsl_extras import MAX_NORM_DENSE

    assert MAX_NORM_DENSE.infer(shape, {"units": units, "use_bias": use_bias}) == expected


@needs_extras
def test_extras_max_norm_dense_needs_a_known_size() -> None:
    from netdsl_extras import MAX_NORM_DENSE

    with pytest.raises(ShapeProblem, match="known input size"):
        MAX_NORM_DENSE.infer((None,), {"units": 3, "use_bias": True})


@needs_extras
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_extras_builds_standard_keras_objects_that_reload(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    from netdsl.keras.compiler import build
    from netdsl.keras.runtime import import_keras

    keras = import_keras()
    registry, _ = load(plugins=["netdsl-extras"])
    model = check(EXTRAS_EXAMPLE.read_text(), registry, filename=str(EXTRAS_EXAMPLE))
    net = build(model, compile=False)
    assert net.count_params() == model.total_params
    dense = [layer for layer in net.layers if type(layer).__name__ == "Dense"]
    assert dense[0].kernel_constraint.get_config() == {"max_value": 3.0, "axis": 0}
    assert dense[1].kernel_constraint.get_config()["max_value"] == 3.5
    assert dense[0].kernel_regularizer.get_config() == {"l2": pytest.approx(1e-4 / 2)}
    path = tmp_path / "model.keras"
    net.save(path)
    again = keras.models.load_model(path)
    assert again.count_params() == model.total_params


# --- no TensorFlow at import ------------------------------------------------------------------------

NO_TF_SCRIPT = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from netdsl.vocab.registry import load_registry
load_registry()
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras"})
print(" ".join(heavy))
sys.exit(1 if heavy else 0)
"""


def test_plugin_modules_do_not_import_tensorflow() -> None:
    modules = [f"netdsl_builtins.{m}" for m in BUILTIN_MODULES]
    modules += ["netdsl_extras"] if HAS_EXTRAS else []
    done = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT, *modules], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"imported: {done.stdout} {done.stderr}"


# --- isolation: what a plugin raises and writes (issue 27) -----------------------------------------


def raising_layer(statement: str, rule: bool = False) -> str:
    """A plugin with layer `boom` whose shape rule (or, with ``rule``, an argument rule) runs
    ``statement``."""
    body = (
        f"def infer(shape, args):\n    {statement}\n\n\ndef check(args):\n    yield from ()\n"
        if not rule
        else f"def infer(shape, args):\n    return shape, 0\n\n\ndef check(args):\n    {statement}\n"
        "    yield from ()\n"
    )
    return (
        HEADER
        + body
        + (
            "\n\n@hookimpl\ndef register_layers(register):\n"
            "    register(Layer(name='boom', infer=infer, build=build, rules=(check,)))\n"
        )
    )


#: id -> (what the plugin runs, in its shape rule or an argument rule, and what is reported)
ABORTS = {
    "KeyboardInterrupt in the shape rule": ("raise KeyboardInterrupt", False, "KeyboardInterrupt"),
    "SystemExit in the shape rule": ("raise SystemExit(3)", False, "SystemExit: 3"),
    "sys.exit in an argument rule": ("import sys; sys.exit('bye')", True, "SystemExit: bye"),
    "KeyboardInterrupt in an argument rule": (
        "raise KeyboardInterrupt('mine')",
        True,
        "KeyboardInterrupt: mine",
    ),
}


@pytest.mark.parametrize("case", list(ABORTS))
def test_a_plugin_raising_keyboard_interrupt_is_a_json_error_naming_plugin_and_layer(
    site: Site, tmp_path: Path, case: str
) -> None:
    """`check --json` printed `Aborted!` (no JSON, neither plugin nor layer named)."""
    statement, rule, raised = ABORTS[case]
    site.add("bad-dist", raising_layer(statement, rule))
    program = tmp_path / "m.net"
    program.write_text("boom -> dense 10 softmax\n")
    result = cli("check", "--json", str(program))
    assert result.exit_code == 1, result.output
    [error] = json.loads(result.stdout)["files"][0]["errors"]
    assert error["code"] == "NDL206", error
    for fragment in ("`boom`", "bad-dist 1.0", raised, "not by Ctrl-C"):
        assert fragment in error["message"], error["message"]


def test_the_users_own_ctrl_c_still_stops_netdsl(site: Site, tmp_path: Path) -> None:
    """A real SIGINT while a plugin runs is the user's: it is not turned into a plugin error."""
    site.add(
        "slow-dist",
        raising_layer(
            "import os, signal, time; os.kill(os.getpid(), signal.SIGINT); time.sleep(5)"
        ),
    )
    program = tmp_path / "m.net"
    program.write_text("boom -> dense 10 softmax\n")
    result = cli("check", "--json", str(program))
    assert result.exit_code == 1 and "Aborted!" in result.output and "NDL206" not in result.output


#: id -> a plugin module writing to file descriptor 1 at import, in its hook or in a shape rule
WRITERS = {
    "at import": "import os\nos.write(1, b'NOISE at import\\n')\n" + layers_plugin("quiet"),
    "in its hook": HEADER + "import os\n\n@hookimpl\ndef register_layers(register):\n"
    "    os.write(1, b'NOISE in hook\\n')\n"
    "    register(Layer(name='quiet', infer=same, build=build))\n",
    "in a shape rule": HEADER + "import os\n\ndef loud(shape, args):\n"
    "    os.write(1, b'NOISE in infer\\n')\n    return shape, 0\n\n\n"
    "@hookimpl\ndef register_layers(register):\n"
    "    register(Layer(name='quiet', infer=loud, build=build))\n",
}


@pytest.mark.parametrize("case", list(WRITERS))
def test_a_plugin_writing_to_fd_1_cannot_corrupt_check_json(
    site: Site, tmp_path: Path, case: str
) -> None:
    """A plugin's ``os.write(1, ...)`` went into `check --json`'s standard output; now to
    standard error (a real process: the file descriptor is what is tested)."""
    site.add("loud-dist", WRITERS[case])
    program = tmp_path / "m.net"
    program.write_text("quiet -> dense 10 softmax\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site.root), str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]
    )
    done = subprocess.run(
        [sys.executable, "-m", "netdsl.tools.cli", "check", "--json", str(program)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files"][0]["ok"] is True
    assert "NOISE" in done.stderr


# --- blocks written in netdsl (register_blocks) ---------------------------------------------------


def blocks_plugin(**blocks: str) -> str:
    """A plugin registering each ``name=source`` as a Block."""
    lines = "\n    ".join(
        f"register(Block(name={name!r}, source={source!r}, description='a block'))"
        for name, source in blocks.items()
    )
    return (
        "from netdsl.vocab.components import Block\nfrom netdsl.vocab.hookspecs import hookimpl\n"
        f"@hookimpl\ndef register_blocks(register):\n    {lines}\n"
    )


def test_a_plugin_block_is_a_global_name_recorded_under_its_plugin(site: Site) -> None:
    site.add("blocks-dist", blocks_plugin(twice="block twice(n) = dense n relu -> dense n relu"))
    registry, problems = load()
    assert problems == []
    entry = registry.entry("block", "twice")
    assert entry is not None and entry.provider.distribution == "blocks-dist"
    info = next(p for p in registry.plugins if p.provider.distribution == "blocks-dist")
    assert info.names == {"block": ["twice"]}
    model = check("dataset: mnist\nflatten -> twice(8) -> dense 10 softmax", registry)
    assert [n.layer for n in model.nodes] == ["flatten", "dense", "dense", "dense"]


BAD_BLOCKS: dict[str, tuple[dict[str, str], str]] = {
    "not-netdsl": ({"b": "block b = dense 2 ->"}, "source:"),
    "other-name": ({"b": "block c = dense 2"}, "exactly one definition `block b"),
    "a-network-too": ({"b": "block b = dense 2\ndense 3"}, "exactly one definition"),
    "two-blocks": ({"b": "block b = dense 2\nblock c = dense 2"}, "found 2 block(s)"),
    "layer-name": ({"dense": "block dense = flatten"}, "already a layer of netdsl"),
}


@pytest.mark.parametrize("case", list(BAD_BLOCKS), ids=list(BAD_BLOCKS))
def test_a_bad_plugin_block_is_refused_with_a_problem(site: Site, case: str) -> None:
    blocks, words = BAD_BLOCKS[case]
    site.add("blocks-dist", blocks_plugin(**blocks))
    registry, problems = load()
    assert len(problems) == 1 and words in problems[0].message, [p.message for p in problems]
    name = next(iter(blocks))
    entry = registry.entry("block", name)
    assert entry is None or entry.provider.builtin


def test_two_plugins_shipping_one_block_name_are_refused_naming_both(site: Site) -> None:
    site.add("dist-a", blocks_plugin(same="block same = dense 2"), entry="a")
    site.add("dist-b", blocks_plugin(same="block same = dense 3"), version="2.0", entry="b")
    _, problems = load()
    assert len(problems) == 1 and problems[0].code == "NDL201"
    assert "dist-a" in problems[0].message and "dist-b" in problems[0].message


def test_an_error_inside_a_plugin_block_shows_its_source_and_the_use(site: Site) -> None:
    site.add("blocks-dist", blocks_plugin(needs_image="block needs_image = conv2d 4 3"))
    registry, _ = load()
    with pytest.raises(NetdslError) as info:
        check(
            "dataset: mnist\nflatten -> needs_image -> dense 10 softmax", registry, filename="m.net"
        )
    err = next(e for e in info.value.errors if e.code == "NDL008")
    assert err.span is not None and err.span.file == "<block needs_image>"
    text = render(err)
    assert "block needs_image = conv2d 4 3" in text
    assert "m.net:2:12: in this use of `needs_image`" in text


@pytest.mark.parametrize(
    ("program", "words"),
    [
        ("block resnet_basic = dense 2\ndataset: mnist\nflatten -> dense 10 softmax", "block of"),
        ("block dense = flatten\ndataset: mnist\nflatten -> dense 10 softmax", "a layer"),
    ],
    ids=["shadows-plugin-block", "shadows-layer"],
)
def test_a_program_block_named_like_a_plugin_name_is_an_error(program: str, words: str) -> None:
    with pytest.raises(NetdslError) as info:
        check(program)
    err = info.value.errors[0]
    assert err.code == "NDL011" and words in err.message
    assert err.span is not None and (err.span.line, err.span.column) == (1, 7)


def test_cli_plugins_lists_blocks_and_shows_a_blocks_source() -> None:
    listing = cli("plugins", "--all")
    assert "block: inception_module, inverted_residual, resnet_basic" in listing.output
    shown = cli("plugins", "squeeze_excite")
    assert shown.exit_code == 0 and "written in netdsl:" in shown.output
    assert "block squeeze_excite(c, squeeze) =" in shown.output
