"""The plan ``check`` returns: typed settings in step with the settings table, the derived figures
computed once by one rule, overrides applied before any rule runs, and every setting carried
through ``emit``, training and the run folder's ``model.net`` (write -> parse -> check gives the
same plan)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import strip_spans

import netdsl
from netdsl.checking.plan import CheckedModel, Sizes, run_steps, split_sizes
from netdsl.errors import NetdslError
from netdsl.keras.emit import SETTINGS_WRITTEN, emit_program
from netdsl.keras.training import Data, load_data, spec_text, split_validation
from netdsl.tools.cli import main
from netdsl.vocab.settings import SETTINGS, TABLE, Settings

NET = "dense 10 softmax\n"
BASE = {
    "dataset": "synthetic(train_size=64, test_size=16)",
    "input": "8",
    "epochs": "3",
    "batch_size": "32",
    "seed": "1",
}

#: setting -> a value other than BASE's (or the default): each case is BASE with that line
CHANGED: dict[str, str] = {
    "dataset": "synthetic(train_size=48, test_size=16, seed=3)",
    "input": "2x2x2",
    "normalize": "true",
    "loss": "categorical_crossentropy(label_smoothing=0.1)",
    "optimizer": "sgd(learning_rate=0.05)",
    "metrics": "[accuracy, top_k_categorical_accuracy(k=3)]",
    "loss_weights": "{y: 2.0}",
    "epochs": "2",
    "batch_size": "16",
    "validation_split": "0.25",
    "callbacks": "[early_stopping(monitor=loss, min_delta=100, patience=0)]",
    "seed": "7",
    "backend": "jax",
}


def program(**lines: str) -> str:
    values = {**BASE, **lines}
    return "".join(f"{k}: {v}\n" for k, v in values.items()) + NET


# --- the typed settings against the table -------------------------------------------------------


def test_the_settings_fields_are_the_table_rows_in_order() -> None:
    fields = dataclasses.fields(Settings)
    assert [f.name for f in fields] == [row.name for row in SETTINGS]
    for f, row in zip(fields, SETTINGS):
        if not isinstance(row.default, str) or row.name == "backend":
            assert f.default == row.default, row.name  # a reference's default is bound by check


def test_a_setting_is_read_as_a_field_and_through_the_mapping() -> None:
    model = netdsl.check(program())
    assert model.settings.epochs == model.settings["epochs"] == 3
    assert list(model.settings) == list(TABLE) and len(model.settings) == len(TABLE)
    with pytest.raises(KeyError):
        model.settings["replace"]


# --- one rule for the split and the steps --------------------------------------------------------


@pytest.mark.parametrize(
    ("examples", "split", "expected"),
    [
        (100, 0.0, (100, 0)),
        (100, 0.1, (90, 10)),
        (10, 0.05, (9, 1)),  # floor(9.5): Keras keeps 9 for training, 1 for validation
        (10, 0.25, (7, 3)),  # floor(7.5)
        (40, 0.2, (32, 8)),
        (1, 0.5, (0, 1)),
        (60_000, 0.1, (54_000, 6_000)),
    ],
    ids=["none", "tenth", "issue-example", "quarter", "exact", "no-training", "mnist"],
)
def test_split_sizes_floor_as_keras_does(
    examples: int, split: float, expected: tuple[int, int]
) -> None:
    assert split_sizes(examples, split) == expected
    x = np.arange(examples, dtype=np.float32).reshape(-1, 1)
    if all(expected) or not split:
        data, validation = split_validation(Data(x, x, x, x), split)
        assert (data.train_size, 0 if validation is None else len(validation[0])) == expected


def test_the_plan_holds_every_derived_figure() -> None:
    model = netdsl.check(program(validation_split="0.25", batch_size="10"))
    assert model.sizes == Sizes(train=48, validation=16, test=16)
    assert (model.steps_per_epoch, model.total_steps) == (5, 15) == run_steps(64, model.settings)
    assert model.labels == "categorical" and model.backend == "tensorflow"
    assert model.data.train_size == 64 and model.steps_for(64) == 15 and model.steps_for(10) == 3
    from netdsl.keras.compiler import total_steps

    assert total_steps(model) == 15 and total_steps(model, 100) == model.steps_for(100) == 24


def test_a_split_that_runs_in_keras_passes_check_and_splits_alike() -> None:
    """The issue's example: check said ok, training rounded up and crashed with NDL304."""
    model = netdsl.check(program(dataset="synthetic(train_size=10)", validation_split="0.05"))
    assert model.sizes.train == 9 and model.sizes.validation == 1
    x = np.zeros((10, 8), np.float32)
    data, validation = split_validation(Data(x, x, x, x), model.settings.validation_split)
    assert validation is not None and (data.train_size, len(validation[0])) == (9, 1)


@pytest.mark.parametrize(
    ("dataset", "split", "side"),
    [
        ("synthetic(train_size=1)", "0.5", "training"),
        ("synthetic(train_size=4)", "0.00000000000000001", "validation"),
    ],
    ids=["no-training", "no-validation"],
)
def test_a_split_leaving_a_side_empty_is_an_error_at_the_setting(
    dataset: str, split: str, side: str
) -> None:
    text = program(dataset=dataset, validation_split=split)
    with pytest.raises(NetdslError) as caught:
        netdsl.check(text)
    [err] = caught.value.errors
    assert err.code == "NDL005" and f"leaves none for {side}" in err.message
    assert err.span is not None and text[err.span.start : err.span.end] == split


# --- overrides before checking --------------------------------------------------------------------

SPARSE = (
    "input: 6\ndataset: synthetic(classes, classes=3)\noptimizer: adam(loss_scale_factor=0.1)\n"
    "embedding 8 8 -> flatten -> dense 3 softmax\n"
)


def test_an_override_is_seen_by_every_rule() -> None:
    with pytest.raises(NetdslError) as caught:
        netdsl.check(SPARSE)
    assert "sparse gradients" in caught.value.errors[0].message
    model = netdsl.check(SPARSE, overrides={"backend": "jax"})  # TensorFlow's rule does not apply
    assert model.backend == "jax" and model.settings.backend == "jax"
    with pytest.raises(NetdslError) as caught:  # the split rule sees an overridden split
        netdsl.check(
            program(dataset="synthetic(train_size=1)"), overrides={"validation_split": 0.5}
        )
    assert "leaves none for training" in caught.value.errors[0].message
    watched = program(callbacks="[early_stopping(monitor=val_loss)]", validation_split="0.25")
    netdsl.check(watched)
    with pytest.raises(NetdslError) as caught:  # the monitors rule sees a split taken away
        netdsl.check(watched, overrides={"validation_split": 0.0})
    assert "no validation data" in caught.value.errors[0].message


def test_cli_check_takes_the_run_overrides(tmp_path: Path) -> None:
    path = tmp_path / "e.net"
    path.write_text(SPARSE)
    bad = CliRunner().invoke(main, ["--no-plugins", "check", str(path)])
    assert bad.exit_code == 1 and "sparse gradients" in bad.output
    ok = CliRunner().invoke(main, ["--no-plugins", "check", "--backend", "jax", str(path)])
    assert ok.exit_code == 0, ok.output
    wrong = CliRunner().invoke(main, ["--no-plugins", "check", "--epochs", "0", str(path)])
    assert wrong.exit_code == 2 and "--epochs" in wrong.output


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"epochs": -1}, "bad `epochs`"),
        ({"seed": 2**32}, "bad `seed`"),
        ({"validation_split": "x"}, "bad `validation_split`"),
        ({"epochs": None}, "bad `epochs`"),
        ({"epoch": 2}, "unknown setting `epoch`"),
        ({"input": (4, 2)}, "decides what the model is"),
    ],
    ids=["range", "seed-range", "type", "none", "unknown", "model-setting"],
)
def test_replace_names_the_setting(changes: dict[str, Any], words: str) -> None:
    model = netdsl.check(program())
    with pytest.raises(NetdslError) as caught:
        model.replace(**changes)
    message = caught.value.errors[0].message
    assert words in message and "--" not in message


def test_replace_checks_again() -> None:
    model = netdsl.check(
        program(callbacks="[early_stopping(monitor=val_loss)]", validation_split="0.25")
    )
    assert model.replace(epochs=3).total_steps == 3 * model.steps_per_epoch
    assert model.replace(batch_size=64).steps_per_epoch == 1
    with pytest.raises(NetdslError) as caught:
        model.replace(validation_split=0.0)
    assert "no validation data" in caught.value.errors[0].message
    assert model.replace(seed=None).settings.seed is None


# --- every setting through emit, the run folder's model.net and training ---------------------


def test_every_setting_has_a_case_and_an_emit_row() -> None:
    assert set(CHANGED) == set(TABLE) == set(SETTINGS_WRITTEN)


@pytest.mark.parametrize("name", list(CHANGED))
def test_every_setting_reaches_emit(name: str) -> None:
    base = emit_program(netdsl.check(program()))
    changed = emit_program(netdsl.check(program(**{name: CHANGED[name]})))
    assert changed != base, f"`{name}` does not change the emitted program"


def _roundtrip(model: CheckedModel, folder: Path) -> CheckedModel:
    spec = folder / "model.net"
    spec.write_text(spec_text(model))
    return netdsl.check(spec.read_text(), filename=str(spec))


@pytest.mark.parametrize("name", list(CHANGED))
def test_model_net_checks_back_to_the_same_plan(name: str, tmp_path: Path) -> None:
    for text in (program(), program(**{name: CHANGED[name]})):
        model = netdsl.check(text)
        again = _roundtrip(model, tmp_path)
        assert again == model, name
        assert strip_spans(again.to_dict() | {"file": None}) == strip_spans(
            model.to_dict() | {"file": None}
        )


def test_overrides_are_written_to_model_net(tmp_path: Path) -> None:
    model = netdsl.check(
        program(), overrides={"epochs": 5, "validation_split": 0.5, "backend": "jax"}
    )
    again = _roundtrip(model, tmp_path)
    assert again == model and again.settings.epochs == 5 and again.backend == "jax"


def test_strings_stay_strings_in_model_net(tmp_path: Path) -> None:
    """The settings writer wrote `label=label`, which reads back as a name (NDL005)."""
    csv = tmp_path / "wine.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{'xyz'[i % 3]}\n" for i in range(30)))
    model = netdsl.check(f'dataset: csv(path="{csv}", label="label")\ndense 3 softmax\n')
    text = spec_text(model)
    assert f'path="{csv}"' in text and 'label="label"' in text
    assert _roundtrip(model, tmp_path) == model


def _probe(text: str) -> Any:
    """What training hands Keras, by its results: the backend error, or the history's keys and
    length and a digest of the trained weights (input, normalize, loss, optimizer, epochs,
    batches, split, seed, callbacks and data all change one of them)."""
    model = netdsl.check(text)
    data = load_data(model)
    try:
        net, history, _ = netdsl.train(model, data, verbose=0)
    except NetdslError as e:
        return e.code
    digest = hashlib.sha256(
        b"".join(np.asarray(w).tobytes() for w in net.get_weights())
    ).hexdigest()
    return tuple(net.input_shape), sorted(history[-1]), len(history), digest


@pytest.mark.slow
def test_every_setting_reaches_training() -> None:
    pytest.importorskip("keras")
    base = _probe(program())
    assert _probe(program()) == base  # seeded: the probe is deterministic
    same = [name for name, value in CHANGED.items() if _probe(program(**{name: value})) == base]
    assert same == [], f"training does not see: {same}"
