"""``netdsl serve`` for the two newer kinds of model (issue 26): a graph's (several named inputs
and outputs, issue 22) and a typed table's (one raw value per column, issue 23). Each is trained
in a few seconds by a fixture and served by a real process on a loopback port; the answers are
compared with the Keras model's own and with ``netdsl predict --json``'s."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("multipart")
httpx = pytest.importorskip("httpx")

from graph_programs import TINY_INPUTS, tiny_arrays, write_tiny
from serve_process import Server, serving

#: a typed table: a number (some cells missing), a category and a text column; the label "y"
#: is carried by the text
TABLE_WORDS = {"a": ["fast", "small", "python", "tool"], "b": ["network", "graph", "daemon"]}


def _run(program: Path, out: Path) -> Path:
    """The run folder ``netdsl run`` makes for ``program`` (one epoch)."""
    subprocess.run(
        [sys.executable, "-m", "netdsl", "run", str(program), "--out", str(out), "--quiet"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (folder,) = out.iterdir()
    return folder


def write_table(path: Path, rows: int = 120, seed: int = 0, score: bool = False) -> Path:
    """A small typed CSV: ``size`` (a number, every 9th cell missing), ``arch`` (a category),
    ``description`` (text) and the label ``y``; with ``score``, a second label of reals."""
    rng = random.Random(seed)
    lines = ["size,arch,description,y" + (",score" if score else "")]
    for i in range(rows):
        y = rng.choice("ab")
        size = "" if i % 9 == 0 else str(rng.randint(1, 100))
        text = " ".join(rng.choice(TABLE_WORDS[y]) for _ in range(5))
        extra = f",{rng.random():.3f}" if score else ""
        lines.append(f"{size},{rng.choice(['amd64', 'all', 'i386'])},{text},{y}{extra}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def graph_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve_graph")
    return _run(write_tiny(root), root / "runs")


@pytest.fixture(scope="module")
def table_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve_table")
    data = write_table(root / "t.csv")
    program = root / "table.net"
    program.write_text(
        f'dataset: csv("{data.as_posix()}", label="y")\nepochs: 1\nseed: 1\n'
        "dense 8 relu -> dense 2 softmax\n"
    )
    return _run(program, root / "runs")


#: a graph over a typed table: the text column routed to its own layers, the other columns as
#: ``x``, two outputs trained on two label columns; its saved model still takes raw columns
TABLE_GRAPH = """\
epochs: 1
seed: 1
d = description -> embedding 10000 8 -> lstm 8
h = [x | d] concat -> dense 8 relu
output y = h -> dense 2 softmax
output score = h -> dense 1
"""


@pytest.fixture(scope="module")
def table_graph_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve_table_graph")
    data = write_table(root / "t.csv", score=True)
    program = root / "both.net"
    program.write_text(
        f'dataset: csv("{data.as_posix()}", label=["y", "score"], types={{description: text}})\n'
        + TABLE_GRAPH
    )
    return _run(program, root / "runs")


@pytest.fixture(scope="module")
def graph(graph_folder: Path) -> Iterator[tuple[Server, Any]]:
    with serving(graph_folder) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        yield s, c


@pytest.fixture(scope="module")
def table(table_folder: Path) -> Iterator[tuple[Server, Any]]:
    with serving(table_folder) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        yield s, c


def _predict_json(folder: Path, *inputs: Path) -> list[dict[str, Any]]:
    """``netdsl predict FOLDER INPUTS --json --top 3``'s predictions."""
    from click.testing import CliRunner

    from netdsl.tools.cli import main

    result = CliRunner().invoke(main, ["predict", str(folder), *map(str, inputs), "--json"])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.output)["predictions"])


def _probabilities(reading: dict[str, Any]) -> dict[int, float]:
    return {t["class"]: t["probability"] for t in reading["top"]}


# --- a graph's model: named inputs and outputs --------------------------------------------------


@pytest.mark.slow
def test_a_graphs_root_lists_every_input_and_output(graph: tuple[Server, Any]) -> None:
    _, client = graph
    about = client.get("/").json()
    assert [(i["name"], i["shape"]) for i in about["inputs"]] == [
        (k, list(s)) for k, s in TINY_INPUTS.items()
    ]
    assert [(o["name"], o["kind"]) for o in about["outputs"]] == [
        ("cls", "classes"),
        ("score", "regression"),
    ]
    assert "each input" in about["instance"]


@pytest.mark.slow
def test_a_graphs_answers_are_predicts_by_output_name(
    graph: tuple[Server, Any], graph_folder: Path, tmp_path: Path
) -> None:
    server, client = graph
    arrays = {k: v for k, v in tiny_arrays(4, seed=5).items() if k.startswith("x_")}
    np.savez(tmp_path / "x.npz", **arrays)  # type: ignore[arg-type]
    want = _predict_json(graph_folder, tmp_path / "x.npz")
    instances = [{k[2:]: v[i].tolist() for k, v in arrays.items()} for i in range(4)]
    got = client.post("/predict", json={"instances": instances}).json()["predictions"]
    tf = client.post(f"/v1/models/{server.name}:predict", json={"instances": instances}).json()
    columns = {k[2:]: v.tolist() for k, v in arrays.items()}
    by_column = client.post(f"/v1/models/{server.name}:predict", json={"inputs": columns}).json()
    for i, (w, g, row) in enumerate(zip(want, got, tf["predictions"])):
        assert set(g["outputs"]) == set(row) == {"cls", "score"}
        for name in ("cls", "score"):
            assert set(g["outputs"][name]) == set(w["outputs"][name])
        cls = _probabilities(g["outputs"]["cls"])
        np.testing.assert_allclose([cls[c] for c in range(3)], row["cls"], rtol=1e-5)
        want_cls = _probabilities(w["outputs"]["cls"])
        np.testing.assert_allclose([want_cls[c] for c in range(3)], row["cls"], rtol=1e-4)
        np.testing.assert_allclose(g["outputs"]["score"]["values"], row["score"], rtol=1e-5)
        np.testing.assert_allclose(w["outputs"]["score"]["values"], row["score"], rtol=1e-4)
        assert by_column["outputs"]["cls"][i] == pytest.approx(row["cls"], rel=1e-5)
        assert by_column["outputs"]["score"][i] == pytest.approx(row["score"], rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "drop, add, field",
    [("b", {}, "instances[0].b"), (None, {"c": [1.0]}, "instances[0].c")],
    ids=["missing", "unknown"],
)
def test_a_graph_instance_without_an_input_or_with_another_is_a_422_naming_it(
    graph: tuple[Server, Any], drop: str | None, add: dict[str, Any], field: str
) -> None:
    _, client = graph
    instance = {k[2:]: v[0].tolist() for k, v in tiny_arrays(1).items() if k.startswith("x_")}
    instance.pop(drop or "", None)
    reply = client.post("/predict", json={"instances": [{**instance, **add}]})
    assert reply.status_code == 422 and reply.json()["field"] == field
    assert field.rsplit(".", 1)[1] in reply.json()["error"]


# --- a typed table's model: raw column values ---------------------------------------------------

TABLE_ROWS = [
    {"size": 12.5, "arch": "amd64", "description": "fast small python tool tool"},
    {"size": None, "arch": "i386", "description": "network graph daemon"},
    {"size": 40, "arch": None, "description": None},
    {"size": 7, "arch": "never-seen", "description": "a word unseen in training"},
]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@pytest.mark.slow
def test_a_tables_root_lists_its_columns_with_their_types(table: tuple[Server, Any]) -> None:
    _, client = table
    about = client.get("/").json()
    assert [(i["name"], i["type"], i["dtype"]) for i in about["inputs"]] == [
        ("size", "number", "float32"),
        ("arch", "category", "string"),
        ("description", "text", "string"),
    ]
    assert about["outputs"][0]["classes"] == ["a", "b"]


@pytest.mark.slow
def test_a_tables_answers_are_predicts_on_the_same_raw_rows(
    table: tuple[Server, Any], table_folder: Path, tmp_path: Path
) -> None:
    server, client = table
    csv = tmp_path / "rows.csv"
    names = ("size", "arch", "description")
    lines = [",".join(names)] + [",".join(_cell(r[n]) for n in names) for r in TABLE_ROWS]
    csv.write_text("\n".join(lines) + "\n")
    want = _predict_json(table_folder, csv)
    got = client.post("/predict", json={"instances": TABLE_ROWS}).json()["predictions"]
    tf = client.post(f"/v1/models/{server.name}:predict", json={"instances": TABLE_ROWS}).json()
    assert len(got) == len(want) == len(tf["predictions"]) == len(TABLE_ROWS)
    for w, g, row in zip(want, got, tf["predictions"]):
        assert [t["label"] for t in g["top"]] == [t["label"] for t in w["top"]]
        p = _probabilities(g)
        np.testing.assert_allclose([p[0], p[1]], row, rtol=1e-5)
        q = _probabilities(w)
        np.testing.assert_allclose([q[0], q[1]], row, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, field",
    [
        ({"size": "big"}, "instances[0].size"),
        ({"arch": 3}, "instances[0].arch"),
        ({"colour": "red"}, "instances[0].colour"),
    ],
    ids=["string-in-number", "number-in-category", "unknown-column"],
)
def test_a_bad_table_value_is_a_422_naming_its_column(
    table: tuple[Server, Any], change: dict[str, Any], field: str
) -> None:
    _, client = table
    reply = client.post("/predict", json={"instances": [{**TABLE_ROWS[0], **change}]})
    assert reply.status_code == 422 and reply.json()["field"] == field
    assert reply.json()["expected"]


@pytest.mark.slow
def test_a_graph_over_a_typed_table_takes_raw_columns_and_answers_by_output(
    table_graph_folder: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "rows.csv"
    names = ("size", "arch", "description")
    lines = [",".join(names)] + [",".join(_cell(r[n]) for n in names) for r in TABLE_ROWS]
    csv.write_text("\n".join(lines) + "\n")
    want = _predict_json(table_graph_folder, csv)
    with serving(table_graph_folder) as server, httpx.Client(base_url=server.url) as client:
        about = client.get("/").json()
        got = client.post("/predict", json={"instances": TABLE_ROWS}).json()["predictions"]
        url = f"/v1/models/{server.name}:predict"
        tf = client.post(url, json={"instances": TABLE_ROWS}).json()["predictions"]
    assert [(i["name"], i["type"]) for i in about["inputs"]] == [
        ("size", "number"),
        ("arch", "category"),
        ("description", "text"),
    ]
    assert [o["name"] for o in about["outputs"]] == ["y", "score"]
    for w, g, row in zip(want, got, tf):
        assert set(g["outputs"]) == set(row) == {"y", "score"}
        p, q = _probabilities(g["outputs"]["y"]), _probabilities(w["outputs"]["y"])
        np.testing.assert_allclose([p[0], p[1]], row["y"], rtol=1e-5)
        np.testing.assert_allclose([q[0], q[1]], row["y"], rtol=1e-4)
        np.testing.assert_allclose(w["outputs"]["score"]["values"], row["score"], rtol=1e-4)
