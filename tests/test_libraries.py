"""Block libraries: ``use "file.net"`` (parsed, formatted, resolved by the checker) and blocks
shipped by plugins (the ``register_blocks`` hook)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import netdsl
from netdsl.errors import NetdslError
from netdsl.lang import ir
from netdsl.lang.formatter import format as format_program
from netdsl.lang.parser import parse

# --- the `use` line -------------------------------------------------------------------------------


def test_use_parses_with_its_spans() -> None:
    program = parse('use "lib/a.net"\nuse "b.net"\ndense 2\n', "m.net")
    assert [u.path for u in program.uses] == ["lib/a.net", "b.net"]
    first = program.uses[0]
    assert first.span is not None and first.path_span is not None
    assert (first.span.line, first.span.column, first.path_span.column) == (1, 1, 5)
    assert first.span.file == "m.net"


def test_use_round_trips_through_json() -> None:
    program = parse('use "x.net"\nblock b = dense 2\nb\n', "m.net")
    assert ir.Program.from_dict(program.to_dict()) == program
    assert program.to_dict()["uses"][0]["path"] == "x.net"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ('use   "a.net"\ndense 2', 'use "a.net"\n\ndense 2\n'),
        ('epochs: 2\nuse "a.net"\ndense 2', 'use "a.net"\n\nepochs: 2\n\ndense 2\n'),
        (
            'use "a.net"  # mine\nuse "b.net"\ndense 2',
            'use "a.net"  # mine\nuse "b.net"\n\ndense 2\n',
        ),
        ('use "a \\"q\\".net"\ndense 2', 'use "a \\"q\\".net"\n\ndense 2\n'),
    ],
    ids=["spaces", "moved-to-top", "comment-kept", "escaped-quote"],
)
def test_fmt_writes_use_lines_first_and_canonically(text: str, canonical: str) -> None:
    out = format_program(parse(text))
    assert out == canonical
    assert format_program(parse(out)) == out


@pytest.mark.parametrize(
    "text",
    ["use 3\ndense 2", "use lib.net\ndense 2", "use\ndense 2"],
    ids=["number", "unquoted", "nothing"],
)
def test_use_without_a_quoted_path_is_a_syntax_error(text: str) -> None:
    with pytest.raises(NetdslError) as info:
        parse(text, "m.net")
    assert info.value.code == "NDL001"
    assert 'use "lib/blocks.net"' in str(info.value)


def test_use_bias_is_still_a_parameter_name() -> None:
    program = parse("dense 3 use_bias=false -> dense 2")
    assert program.network is not None and len(program.network.steps) == 2


# --- libraries: `use` resolved by the checker -----------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _check(root: Path, main: str = "m.net") -> netdsl.CheckedModel:
    path = root / main
    return netdsl.check(path.read_text(encoding="utf-8"), filename=str(path))


_NET = "dataset: mnist\n"


def test_library_blocks_are_used_like_local_ones(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "lib/conv.net": "# a library\nblock conv(f) = conv2d f 3 relu same -> batchnorm\n",
            "m.net": f'use "lib/conv.net"\n{_NET}conv(4) -> conv(8) -> flatten -> dense 10 softmax\n',
        },
    )
    model = _check(tmp_path)
    local = netdsl.check(
        "block conv(f) = conv2d f 3 relu same -> batchnorm\n"
        f"{_NET}conv(4) -> conv(8) -> flatten -> dense 10 softmax\n"
    )
    assert [n.output_shape for n in model.nodes] == [n.output_shape for n in local.nodes]
    assert sum(n.params for n in model.nodes) == sum(n.params for n in local.nodes)


def test_libraries_follow_their_own_uses_and_a_diamond_reads_once(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "lib/base.net": "block unit(n) = dense n softmax\n",
            "lib/a.net": 'use "base.net"\nblock two(n) = unit(n) -> unit(n)\n',
            "lib/b.net": 'use "base.net"\nblock one(n) = unit(n)\n',
            "m.net": f'use "lib/a.net"\nuse "lib/b.net"\n{_NET}flatten -> two(3) -> one(10)\n',
        },
    )
    assert [n.output_shape for n in _check(tmp_path).nodes][-3:] == [(3,), (3,), (10,)]


def _error(root: Path, main: str = "m.net") -> NetdslError:
    with pytest.raises(NetdslError) as info:
        _check(root, main)
    return info.value


def test_an_error_inside_a_library_block_points_at_its_definition_and_use(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "lib/x.net": "block bad(f) = dense f nonsense\n",
            "m.net": f'use "lib/x.net"\n{_NET}flatten -> bad(4)\n',
        },
    )
    err = next(e for e in _error(tmp_path).errors if e.code == "NDL003")
    assert err.span is not None
    assert err.span.file == str(tmp_path / "lib" / "x.net")
    assert (err.span.line, err.span.column) == (1, 24)
    use = [n for n in err.notes if "in this use of `bad`" in n.label]
    assert use and use[0].span.file == str(tmp_path / "m.net") and use[0].span.line == 3
    shown = netdsl.render(err)
    assert "block bad(f) = dense f nonsense" in shown and "x.net:1:24" in shown
    assert "m.net:3:12: in this use of `bad`" in shown


@pytest.mark.parametrize(
    ("files", "code", "words", "where"),
    [
        (
            {"m.net": 'use "m.net"\ndense 2\n'},
            "NDL030",
            "imports itself",
            ("m.net", 1, 5),
        ),
        (
            {
                "lib/a.net": 'use "b.net"\nblock a = dense 2\n',
                "lib/b.net": 'use "a.net"\nblock b = dense 2\n',
                "m.net": 'use "lib/a.net"\ninput: 4\ndense 2\n',
            },
            "NDL030",
            "imports itself through",
            ("lib/b.net", 1, 5),
        ),
        (
            {"m.net": 'use "nope.net"\ninput: 4\ndense 2\n'},
            "NDL030",
            "cannot read library",
            ("m.net", 1, 5),
        ),
        (
            {
                "lib/a.net": "block a = dense 2\nepochs: 3\n",
                "m.net": 'use "lib/a.net"\ninput: 4\na\n',
            },
            "NDL030",
            "blocks only, and this is a setting",
            ("lib/a.net", 2, 1),
        ),
        (
            {
                "lib/a.net": "block a = dense 2\ndense 3\n",
                "m.net": 'use "lib/a.net"\ninput: 4\na\n',
            },
            "NDL030",
            "blocks only, and this is a network",
            ("lib/a.net", 2, 1),
        ),
        (
            {
                "lib/a.net": "block same = dense 2\n",
                "lib/b.net": "block same = dense 3\n",
                "m.net": 'use "lib/a.net"\nuse "lib/b.net"\ninput: 4\nsame\n',
            },
            "NDL011",
            "defined by two libraries",
            ("lib/b.net", 1, 7),
        ),
        (
            {
                "lib/a.net": "block mine = dense 2\n",
                "m.net": 'use "lib/a.net"\nblock mine = dense 3\ninput: 4\nmine\n',
            },
            "NDL011",
            "already imported from",
            ("m.net", 2, 7),
        ),
        (
            {
                "lib/a.net": "block dense = flatten\n",
                "m.net": 'use "lib/a.net"\ninput: 4\ndense 2\n',
            },
            "NDL011",
            "has the name of a layer",
            ("lib/a.net", 1, 7),
        ),
        (
            {"lib/a.net": "block a = dense 2 ->\n", "m.net": 'use "lib/a.net"\ninput: 4\na\n'},
            "NDL001",
            "expected",
            ("lib/a.net", 1, 21),
        ),
    ],
    ids=[
        "imports-itself",
        "cycle",
        "missing",
        "setting-in-library",
        "network-in-library",
        "two-libraries",
        "local-shadows",
        "named-like-a-layer",
        "syntax-in-library",
    ],
)
def test_library_mistakes_are_errors_at_their_span(
    tmp_path: Path, files: dict[str, str], code: str, words: str, where: tuple[str, int, int]
) -> None:
    _write(tmp_path, files)
    errs = _error(tmp_path).errors
    hit = [e for e in errs if e.code == code and words in e.message]
    assert hit, [str(e) for e in errs]
    span = hit[0].span
    assert span is not None and span.file is not None
    assert (os.path.relpath(span.file, tmp_path), span.line, span.column) == where
    assert hit[0].source is not None  # drawn with its own line
    if code == "NDL011" and "two libraries" in words:
        assert "lib/a.net" in hit[0].message and "lib/b.net" in hit[0].message


def test_a_library_bomb_stops_at_the_file_limit(tmp_path: Path) -> None:
    from netdsl.checking.libraries import MAX_LIBRARIES

    files = {
        f"l{i}.net": f'use "l{i + 1}.net"\nuse "l{i + 1}.net"\nblock b{i} = dense 2\n'
        for i in range(MAX_LIBRARIES + 5)
    }
    files["m.net"] = 'use "l0.net"\ninput: 4\nb0\n'
    _write(tmp_path, files)
    errs = [e for e in _error(tmp_path).errors if "library files" in e.message]
    assert [e.code for e in errs] == ["NDL012"]
    assert f"more than {MAX_LIBRARIES} library files" in str(errs[0])


# --- the language server: library and plugin blocks -------------------------------------------


def _analysis(root: Path, text: str) -> Any:
    pytest.importorskip("lsprotocol")
    from netdsl.tools.lsp_features import analyze

    path = root / "m.net"
    path.write_text(text, encoding="utf-8")
    return analyze(path.as_uri(), text, netdsl.default_registry())


_LIB = {"lib/x.net": "# lib\nblock unit(n) = dense n relu\n"}


def test_lsp_hover_and_definition_reach_a_library_block(tmp_path: Path) -> None:
    _write(tmp_path, _LIB)
    text = f'use "lib/x.net"\n{_NET}flatten -> unit(8) -> dense 10 softmax\n'
    a = _analysis(tmp_path, text)
    at = a.pos.position(text.index("unit(8)") + 1)
    hover = a.hover(at)
    assert hover is not None and "block unit(n) = dense n relu" in hover.contents.value
    assert "lib/x.net" in hover.contents.value
    where = a.definition(at)
    assert where is not None and where.uri == (tmp_path / "lib" / "x.net").as_uri()
    assert (where.range.start.line, where.range.start.character) == (1, 6)


def test_lsp_hover_shows_a_plugin_blocks_source_and_completion_offers_both(
    tmp_path: Path,
) -> None:
    _write(tmp_path, _LIB)
    text = f'use "lib/x.net"\n{_NET}conv2d 16 1 -> resnet_basic(16) -> flatten -> dense 10\n'
    a = _analysis(tmp_path, text)
    hover = a.hover(a.pos.position(text.index("resnet_basic") + 2))
    assert hover is not None and "block resnet_basic(f) = residual(" in hover.contents.value
    assert "shipped by netdsl" in hover.contents.value
    assert a.definition(a.pos.position(text.index("resnet_basic") + 2)) is None
    text = text.replace("dense 10\n", "")
    a = _analysis(tmp_path, text)
    labels = {i.label for i in a.completion(a.pos.position(len(text) - 1))}
    assert {"unit", "resnet_basic", "inception_module", "dense"} <= labels


def test_lsp_an_error_inside_a_library_is_shown_at_its_use(tmp_path: Path) -> None:
    _write(tmp_path, {"lib/x.net": "block bad(f) = dense f nonsense\n"})
    text = f'use "lib/x.net"\n{_NET}flatten -> bad(4) -> dense 10 softmax\n'
    a = _analysis(tmp_path, text)
    diag = next(d for d in a.diagnostics() if d.code == "NDL003")
    assert (diag.range.start.line, diag.range.start.character) == (2, 11)
    assert "x.net:1:24" in diag.message
    lib = (tmp_path / "lib" / "x.net").as_uri()
    assert any(r.location.uri == lib for r in diag.related_information or [])


# --- a run folder's model.net stands alone ---------------------------------------------------


def test_the_run_folders_model_net_inlines_the_libraries(tmp_path: Path) -> None:
    from netdsl.keras.training import spec_text
    from netdsl.run.fingerprint import program_print

    _write(tmp_path, {"lib/x.net": "block unit(n) = dense n relu\n"})
    text = f'use "lib/x.net"\n{_NET}flatten -> unit(8) -> dense 10 softmax\n'
    _write(tmp_path, {"m.net": text})
    model = _check(tmp_path)
    written = spec_text(model)
    assert "use " not in written and "block unit(n) = dense n relu" in written
    elsewhere = tmp_path / "run" / "model.net"
    elsewhere.parent.mkdir()
    elsewhere.write_text(written, encoding="utf-8")
    again = netdsl.check(written, filename=str(elsewhere))
    assert again.total_params == model.total_params
    before = program_print(model)["sha256"]
    _write(tmp_path, {"lib/x.net": "block unit(n) = dense n tanh\n"})
    assert program_print(_check(tmp_path))["sha256"] != before  # a library edit is a change


def test_a_misspelt_library_path_gets_did_you_mean(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "lib/blocks.net": "block unit(n) = dense n softmax\n",
            "m.net": f'use "lib/blokcs.net"\n{_NET}flatten -> unit(10)\n',
        },
    )
    err = _error(tmp_path).errors[0]
    assert err.code == "NDL030" and err.help == "did you mean `lib/blocks.net`?"
