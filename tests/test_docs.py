"""docs/plugins.md stays true: a section per hook, and its code examples run.

Every ```python block must compile; every one containing ``@hookimpl`` is a complete plugin
module, installed here as a fake distribution (real entry-point metadata) and loaded in strict
mode; every ```netdsl block must check against the built-ins plus those plugins; every ```toml
block must parse, and declare its entry points in the ``netdsl`` group.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

from netdsl.checking.checker import check
from netdsl.vocab.components import KINDS
from netdsl.vocab.hookspecs import HOOKS
from netdsl.vocab.registry import ENTRY_POINT_GROUP, Registry, load_registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
TEXT = DOC.read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
HEADING = re.compile(r"^#{2,4}\s+`?(register_\w+)", re.M)


def blocks(lang: str) -> list[str]:
    """The bodies of the fenced code blocks tagged ``lang``, in order."""
    return [body for tag, body in FENCE.findall(TEXT) if tag == lang]


PYTHON = blocks("python")
PLUGINS = [b for b in PYTHON if "@hookimpl" in b]
PROGRAMS = blocks("netdsl")
TOMLS = blocks("toml")


def sections() -> dict[str, str]:
    """Hook name -> the text of its section (up to the next heading of the same or higher level)."""
    out = {}
    for match in HEADING.finditer(TEXT):
        level = TEXT[match.start() :].index(" ")
        rest = TEXT[match.end() :]
        end = re.search(rf"^#{{1,{level}}}\s", rest, re.M)
        out[match.group(1)] = rest[: end.start()] if end else rest
    return out


def test_every_hook_has_a_section() -> None:
    missing = sorted(set(HOOKS) - set(sections()))
    assert not missing, f"docs/plugins.md has no `## register_...` section for {missing}"


def test_no_section_for_a_hook_that_does_not_exist() -> None:
    assert sorted(set(sections()) - set(HOOKS)) == []


TABLE_ROW = re.compile(r"^\| `(register_\w+)` \| [^|]+ \| `(\w+)` \|$", re.M)


def test_the_hook_table_lists_every_hook_with_its_declaration_class() -> None:
    """The table under "How registration works" is hookspecs.HOOKS, in order, row by row."""
    rows = TABLE_ROW.findall(TEXT)
    assert rows == [(hook, KINDS[kind].__name__) for hook, kind in HOOKS.items()]


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_each_hook_section_names_its_declaration_and_has_an_example(hook: str) -> None:
    text = sections().get(hook, "")
    cls = KINDS[HOOKS[hook]].__name__
    assert f"{cls}(" in text, f"the {hook} section does not show `{cls}(...)`"
    assert re.search(rf"```python\n.*?def {hook}\(register", text, re.S), (
        f"the {hook} section has no example implementing {hook}"
    )


def test_the_doc_has_examples_of_each_kind() -> None:
    assert len(PLUGINS) >= len(HOOKS) and PROGRAMS and TOMLS


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_python_blocks_compile(index: int) -> None:
    compile(PYTHON[index], f"docs/plugins.md python block {index}", "exec")


@pytest.mark.parametrize("index", range(len(TOMLS)))
def test_toml_blocks_parse_and_use_the_netdsl_group(index: int) -> None:
    data = tomllib.loads(TOMLS[index])
    groups = data.get("project", {}).get("entry-points", {})
    assert set(groups) <= {ENTRY_POINT_GROUP}


@pytest.fixture(scope="module")
def doc_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Every plugin block installed as its own fake distribution, loaded strictly with the built-ins."""
    site = tmp_path_factory.mktemp("doc_site")
    names = []
    for i, source in enumerate(PLUGINS):
        dist, module = f"netdsl-doc-example-{i}", f"netdsl_doc_example_{i}"
        info = site / f"netdsl_doc_example_{i}-0.0.{i}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.{i}\n")
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nexample{i} = {module}\n")
        (site / f"{module}.py").write_text(source)
        names.append(dist)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield load_registry(plugins=names, strict=True)
    finally:
        sys.path.remove(str(site))
        for i in range(len(PLUGINS)):
            sys.modules.pop(f"netdsl_doc_example_{i}", None)
        importlib.invalidate_caches()


def test_every_plugin_block_registers_something(doc_registry: Registry) -> None:
    third_party = [p for p in doc_registry.plugins if not p.provider.builtin]
    assert len(third_party) == len(PLUGINS)
    empty = [p.provider.distribution for p in third_party if not any(p.names.values())]
    assert not empty, f"these doc examples register nothing: {empty}"


def test_the_plugin_blocks_cover_every_hook(doc_registry: Registry) -> None:
    used = {h for p in doc_registry.plugins if not p.provider.builtin for h in p.hooks}
    assert used == set(HOOKS)


@pytest.mark.parametrize("index", range(len(PROGRAMS)))
def test_netdsl_blocks_check(doc_registry: Registry, index: int) -> None:
    model = check(PROGRAMS[index], doc_registry, filename=f"docs/plugins.md netdsl block {index}")
    assert model.nodes


README = DOC.parents[1] / "README.md"
#: the first cell of a row of the README's library table: `name(parameters) -> result`
LIBRARY_CALL = re.compile(r"`(\w+)\(([^`]*?)\)(?: -> [^`]*)?`")


def _library_rows() -> list[tuple[str, str]]:
    """(function name, the parameters the README writes) for each call in the library table."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Library") :]
    table = table[table.index("| name | what |") :]
    lines = table.splitlines()[2:]
    rows = [
        line.split(" | ")[0]
        for line in lines[
            : next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))
        ]
    ]
    return [(m.group(1), m.group(2)) for row in rows for m in LIBRARY_CALL.finditer(row)]


@pytest.mark.parametrize(("name", "written"), _library_rows(), ids=lambda v: str(v)[:30])
def test_the_readme_library_table_names_every_keyword(name: str, written: str) -> None:
    """Every keyword-only parameter of a public function is in its README row, and every
    ``key=`` the row shows is a real parameter."""
    import netdsl

    function = getattr(netdsl, name)
    params = inspect.signature(function).parameters
    keyword_only = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]
    missing = [p for p in keyword_only if f"{p}=" not in written]
    assert not missing, f"README's row for `{name}` omits {missing}"
    shown = re.findall(r"(\w+)=", written)
    assert set(shown) <= set(params), f"README's row for `{name}` shows unknown {shown}"
