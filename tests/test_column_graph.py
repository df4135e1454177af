"""A typed table's columns in a graph program (issues 22 and 23 joined): a column named in a
chain is an input of its own (text as token ids), the rest stay encoded as ``x``;
``types={column: type}``; ``label=["a", "b"]`` gives a target each; trained, predicted from
raw rows, reloaded and exported end to end."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import builtin_registry

import netdsl
from netdsl.errors import NetdslError
from netdsl.vocab.columns import TEXT_TOKENS

GOOD = ["great", "good", "love", "nice", "fine"]
BAD = ["bad", "awful", "hate", "poor", "worst"]


def table(path: Path, rows: int = 160, seed: int = 0) -> Path:
    """Numbers (one cell missing), a category, a short text carrying the class, and two
    labels: ``kind`` (names) and ``score`` (reals)."""
    rng = random.Random(seed)
    lines = ["age,zip,description,kind,score"]
    for i in range(rows):
        good = rng.random() < 0.5
        words = " ".join(rng.choice(GOOD if good else BAD) for _ in range(4))
        age = "" if i == 3 else str(rng.randint(18, 80))
        zip_ = rng.choice(["a1", "b2", "c3"])
        lines.append(f"{age},{zip_},{words},{'pos' if good else 'neg'},{rng.random():.3f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def check(path: Path, net: str, args: str = ', label="kind", types={description: text}') -> Any:
    return netdsl.check(f'dataset: csv("{path}"{args})\nepochs: 1\n{net}', builtin_registry())


ROUTED = """\
d = description -> embedding 10000 8 -> lstm 8
[x | d] concat -> dense 8 relu -> dense 2 softmax
"""


def test_a_named_column_is_an_input_and_the_rest_is_x(tmp_path: Path) -> None:
    m = check(table(tmp_path / "t.csv"), ROUTED)
    assert m.is_graph
    widths = {c.name: c.width for c in m.data.columns}
    (x, d) = m.inputs
    rest = widths["age"] + widths["zip"] + widths["score"]  # `score` is a feature here
    assert (x.name, x.shape, x.kind) == ("x", (rest,), "columns")
    text = next(c for c in m.data.columns if c.name == "description")
    assert (d.name, d.shape, d.dtype, d.kind) == ("description", (text.length,), "int64", "text")
    assert d.vocabulary == TEXT_TOKENS
    assert m.input_shape == (sum(widths.values()),)  # `input:` is the whole table's width


@pytest.mark.parametrize(
    ("net", "inputs"),
    [
        ("dense 8 relu -> dense 2 softmax", None),
        ("z = zip -> dense 4 relu\n[x | z] concat -> dense 2 softmax", ["x", "zip"]),
        (
            "[age -> dense 2 | zip | description -> embedding 10000 4 -> flatten] concat"
            " -> dense 2 softmax",
            ["x", "age", "zip", "description"],
        ),
    ],
    ids=["chain-unrouted", "category", "three-columns-and-x"],
)
def test_which_inputs_a_program_gets(tmp_path: Path, net: str, inputs: list[str] | None) -> None:
    m = check(table(tmp_path / "t.csv"), net)
    if inputs is None:
        assert not m.is_graph
    else:
        assert [i.name for i in m.inputs] == inputs


def test_check_prints_the_inputs_a_program_routes(tmp_path: Path) -> None:
    from netdsl.tools.cli import main

    program = tmp_path / "m.net"
    path = table(tmp_path / "t.csv")
    program.write_text(
        f'dataset: csv("{path}", label="kind", types={{description: text}})\n{ROUTED}'
    )
    out = CliRunner().invoke(main, ["check", str(program)])
    assert out.exit_code == 0, out.output
    assert "input x: 10 float32 (the other columns, encoded)" in out.output
    assert f"input description: 8 int64 ids below {TEXT_TOKENS:,} (text)" in out.output


def test_an_embedding_too_small_for_a_text_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NetdslError) as info:
        check(table(tmp_path / "t.csv"), ROUTED.replace("embedding 10000", "embedding 100"))
    assert "does not cover the ids of `description`" in info.value.message
    assert f"vocabulary of {TEXT_TOKENS:,}" in info.value.message


# --- types={column: type} -------------------------------------------------------------------------

#: the mapping, the message, the did-you-mean, where the caret goes (the last such text)
BAD_TYPES = {
    "unknown-column": (
        "{descripton: text}",
        "no column `descripton`",
        "`description`",
        "descripton",
    ),
    "unknown-type": ("{description: tetx}", "`tetx` is not allowed", "`text`", "tetx"),
    "label": ("{kind: category}", "`kind` is the label column", None, "kind"),
    "not-a-mapping": ('["description"]', "expected a mapping", None, "["),
}


@pytest.mark.parametrize("case", BAD_TYPES, ids=list(BAD_TYPES))
def test_bad_types_mapping_is_a_clear_error_at_its_key(tmp_path: Path, case: str) -> None:
    mapping, message, close, needle = BAD_TYPES[case]
    src = f'dataset: csv("{table(tmp_path / "t.csv")}", label="kind", types={mapping})'
    with pytest.raises(NetdslError) as info:
        netdsl.check(f"{src}\nepochs: 1\ndense 2 softmax", builtin_registry())
    err = info.value
    assert message in err.message
    if close:
        assert err.help == f"did you mean {close}?"
    assert err.span is not None and err.span.column == src.rindex(needle) + 1


def test_types_mapping_and_lists_agree_and_clash(tmp_path: Path) -> None:
    path = table(tmp_path / "t.csv")
    m = check(
        path, "dense 2 softmax", ', label="kind", types={zip: category}, text=["description"]'
    )
    assert {c.name: c.type for c in m.data.columns}["description"] == "text"
    with pytest.raises(NetdslError, match="listed as both"):
        check(path, "dense 2 softmax", ', label="kind", types={zip: text}, category=["zip"]')


# --- several labels -------------------------------------------------------------------------------

TWO = """\
d = description -> embedding 10000 8 -> lstm 8
h = [x | d] concat -> dense 8 relu
output kind = h -> dense 2 softmax
output score = h -> dense 1
"""
TWO_LABELS = ', label=["kind", "score"], types={description: text}'


def test_several_labels_give_a_target_each(tmp_path: Path) -> None:
    m = check(table(tmp_path / "t.csv"), TWO, TWO_LABELS)
    kinds = {o.name: (o.target.kind, o.class_names) for o in m.outputs}
    assert kinds == {"kind": ("classes", ("neg", "pos")), "score": ("regression", ())}
    assert "kind" not in {c.name for c in m.data.columns}


def test_several_labels_on_a_numeric_table_read_it_typed(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("a,b,c,d\n" + "".join(f"{i},{i % 3},{i % 2},{i / 7:.3f}\n" for i in range(40)))
    net = "h = dense 4 relu\noutput c = h -> dense 1 sigmoid\noutput d = h -> dense 1"
    m = check(path, net, ', label=["c", "d"], task=auto')
    assert [c.name for c in m.data.columns] == ["a", "b"]
    assert [o.name for o in m.outputs] == ["c", "d"]


def test_a_label_given_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NetdslError, match="`kind` is given twice in `label`"):
        check(table(tmp_path / "t.csv"), TWO, ', label=["kind", "kind"]')


def test_an_unknown_label_of_several_is_named(tmp_path: Path) -> None:
    with pytest.raises(NetdslError) as info:
        check(table(tmp_path / "t.csv"), TWO, ', label=["kind", "scor"]')
    err = info.value  # the one error: the columns it routes are not called unknown names
    assert "no column `scor`" in err.message and err.help == "did you mean `score`?"


def test_hover_shows_a_column_inputs_kind_and_vocabulary(tmp_path: Path) -> None:
    from netdsl.tools.lsp_features import analyze

    path = table(tmp_path / "t.csv")
    text = f'dataset: csv("{path}", label="kind", types={{description: text}})\nepochs: 1\n{ROUTED}'
    a = analyze("file:///m.net", text, builtin_registry())
    assert a.model is not None, a.errors
    hover = a.hover(a.pos.position(text.index("description ->") + 2))
    assert hover is not None
    assert "text" in hover.contents.value and f"ids below {TEXT_TOKENS:,}" in hover.contents.value


def test_completion_offers_the_tables_columns_where_a_chain_starts(tmp_path: Path) -> None:
    from netdsl.tools.lsp_features import analyze

    path = table(tmp_path / "t.csv")
    head = f'dataset: csv("{path}", label="kind", types={{description: text}})\nepochs: 1\n'
    text = head + "h = dense 4 relu\noutput y = h -> dense 2 softmax\n"
    before = analyze("file:///m.net", text, builtin_registry())  # the last analysis that checked
    text += "z = "
    a = analyze("file:///m.net", text, builtin_registry(), known_inputs=before.input_names)
    labels = {i.label for i in a.completion(a.pos.position(len(text)))}
    assert {"x", "age", "zip", "description", "score"} <= labels


# --- end to end -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_graph_over_columns_trains_predicts_reloads_and_exports(tmp_path: Path) -> None:
    """Two labels, a routed text column beside ``x``: run, predict raw rows (the CLI and the
    reloaded model agree), export a SavedModel that takes the raw columns."""
    import numpy as np
    import tensorflow as tf

    from netdsl.keras.export import export_model
    from netdsl.keras.saving import load_model
    from netdsl.tools.cli import main

    path = table(tmp_path / "t.csv")
    program = tmp_path / "m.net"
    program.write_text(f'dataset: csv("{path}"{TWO_LABELS})\nepochs: 1\nbatch_size: 16\n{TWO}')
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(program), "--out", str(runs), "--quiet"])
    assert result.exit_code == 0, result.output
    (folder,) = runs.iterdir()
    rows = tmp_path / "new.csv"
    rows.write_text("description,zip,age\ngreat good love nice,zz,\nbad awful hate poor,a1,30\n")
    out = CliRunner().invoke(main, ["predict", str(folder), str(rows), "--json"])
    assert out.exit_code == 0, out.output
    assert "kind" in out.output and "score" in out.output and "new.csv:3" in out.output
    net = load_model(folder, compile=False)
    feed = {
        "age": np.array([[np.nan], [30.0]], np.float32),
        "zip": tf.constant([["zz"], ["a1"]]),
        "description": tf.constant([["great good love nice"], ["bad awful hate poor"]]),
    }
    got = net.predict(feed, verbose=0)
    assert set(got) == {"kind", "score"} and got["kind"].shape == (2, 2)
    report = export_model(net, "savedmodel", tmp_path / "sm")
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
