"""``netdsl emit``: the plain Keras program builds the same model and trains to the same weights.

Fast tests (no TensorFlow) check the text: it lints clean under ``ruff check``, is already
formatted (``ruff format --check``), imports no netdsl, and a component that cannot be written
is a clear error. The slow test runs every emitted program in one fresh interpreter (no netdsl
import in the program; it is loaded from its file) and compares it with ``netdsl.build`` and
``netdsl.keras.training.train``: layer configs, ``count_params()``, compile settings (schedules
included), and the weights after two short seeded epochs on tiny data (two, so the second
epoch's example order, callbacks and schedules past their first steps are compared too).
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, ROOT
from datafiles import write_image_folder

import netdsl
from netdsl.keras.emit import EmitError, emit_program
from netdsl.tools.cli import main
from netdsl.vocab.components import Code, Layer, keras_factory
from netdsl.vocab.registry import Registry

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.net"))

#: specs beyond the examples: every built-in layer family, each task, merges, wrappers, settings
SPECS = {
    "conv-chain": "dataset: synthetic(train_size=48, test_size=16)\ninput: 12x12x2\nseed: 3\nbatch_size: 16\n"
    "conv2d 4 3 relu same l2(0.001) -> maxpool 2 -> conv2d 6 3 strides=2 -> flatten -> dense 8 tanh -> dense 10 softmax",
    "separable": "dataset: synthetic(classes=3, train_size=48, test_size=16)\ninput: 10x10x3\nseed: 1\n"
    "separable_conv2d 8 3 relu same depth_multiplier=2 -> depthwise_conv2d 3 relu -> batchnorm -> global_avgpool -> dense 3 softmax",
    "transpose": "dataset: synthetic(task=regression, outputs=2, train_size=32, test_size=8)\ninput: 6x6x1\n"
    "seed: 5\nmetrics: mae\n"
    "conv2d_transpose 4 3 strides=2 same relu -> upsample2d -> zeropad2d 1 -> spatial_dropout2d 0.1 seed=2 -> avgpool 2 -> flatten -> dense 2",
    "recurrent": "dataset: synthetic(task=binary, train_size=32, test_size=8)\ninput: 7x5\nseed: 9\n"
    "bidirectional(lstm 6 return_sequences=true) -> gru 4 return_sequences=true -> "
    "timedistributed(dense 3 relu) -> simple_rnn 5 -> layernorm -> dense 1 sigmoid",
    "conv1d": "dataset: synthetic(train_size=32, test_size=8)\ninput: 16x3\nseed: 2\n"
    "optimizer: sgd(learning_rate=0.05, momentum=0.9)\nloss: sparse_categorical_crossentropy\n"
    "conv1d 4 3 causal relu -> maxpool1d 2 -> avgpool1d 2 -> global_maxpool1d -> dense 10 softmax",
    "branches": "dataset: synthetic(classes=4, train_size=40, test_size=8)\ninput: 20\nseed: 4\n"
    "validation_split: 0.25\nbatch_size: 8\n"
    "dense 16 relu -> [dense 8 relu | dense 8 tanh -> gaussian_noise 0.1 seed=1] add -> "
    "[dense 4 | dense 4 relu] concat -> residual(dense 8 relu -> dense 8) -> dropout 0.2 seed=3 -> dense 4 softmax",
    "merges": "dataset: synthetic(classes=2, train_size=32, test_size=8)\ninput: 6\nseed: 8\n"
    "optimizer: rmsprop\nmetrics: [accuracy, auc]\n"
    "[dense 4 | dense 4] subtract -> [dense 3 | dense 3 | dense 3] maximum -> "
    "[dense 3 | dense 3] multiply -> [dense 3 | dense 3] average -> dense 2 softmax l1_l2(0.01, 0.02)",
}

#: every built-in schedule and callback (test_every_built_in_schedule_and_callback_is_covered)
_TINY = (
    "dataset: synthetic(classes=3, train_size=40, test_size=8)\ninput: 6\nseed: 6\nbatch_size: 8\n"
)
_NET = "dense 8 relu -> dropout 0.1 -> dense 3 softmax"
TRAINING_SPECS = {
    "cosine-warmup": "optimizer: sgd(learning_rate=cosine_decay(0.1, warmup_steps=3, alpha=0.1))\n"
    "validation_split: 0.25\n"
    "callbacks: [early_stopping(monitor=val_loss, patience=1, restore_best_weights=true)]\n",
    "cosine": "optimizer: adam(learning_rate=cosine_decay(0.01))\n",
    "exponential": "optimizer: adam(learning_rate=exponential_decay(0.01, decay_steps=2, staircase=true))\n",
    "inverse-time": "optimizer: rmsprop(learning_rate=inverse_time_decay(0.01))\n",
    "polynomial": "optimizer: sgd(learning_rate=polynomial_decay(0.1, end_learning_rate=0.01, power=2.0))\n",
    "piecewise": "optimizer: adam(learning_rate=piecewise_constant([3], [0.01, 0.001]))\n",
    "one-cycle": "optimizer: adam(learning_rate=one_cycle(0.01, pct_start=0.5))\nvalidation_split: 0.2\n",
    "plateau": "callbacks: [reduce_lr_on_plateau(monitor=loss, factor=0.5, patience=0, min_delta=10.0)]\n",
    "ema": "optimizer: adam(use_ema=true)\nvalidation_split: 0.25\n"
    "callbacks: [swap_ema_weights(swap_on_epoch=true), early_stopping(monitor=loss)]\n",
    "unfreeze": "epochs: 2\ncallbacks: [unfreeze(2, learning_rate=0.001)]\n",
}
SPECS |= {k: _TINY + v + _NET for k, v in TRAINING_SPECS.items()}


def _check(text: str, name: str = "model.net") -> netdsl.CheckedModel:
    return netdsl.check(text, filename=name)


CASES = {p.stem: (p.read_text(), p.name) for p in EXAMPLE_FILES} | {
    k: (v, f"{k}.net") for k, v in SPECS.items()
}
#: the cases trained here beside their emitted program; the graph examples are trained so in
#: tests/test_graph_keras.py (test_emitted_graph_programs_build_and_train_like_netdsl)
TRAINED = {k: v for k, v in CASES.items() if not netdsl.parse(v[0]).is_graph}


# --- the text -----------------------------------------------------------------------------------


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("ruff")
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", "--isolated"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("emitted")
    out = {}
    for case, (text, name) in CASES.items():
        path = folder / f"{case.replace('-', '_')}.py"
        path.write_text(emit_program(_check(text, name), f"examples/{name}"), encoding="utf-8")
        out[case] = path
    return out


def test_emitted_programs_lint_clean_and_are_formatted(emitted: dict[str, Path]) -> None:
    files = [str(p) for p in emitted.values()]
    lint = _ruff("check", *files)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _ruff("format", "--check", "--diff", *files)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_emitted_program_imports_only_keras_numpy_and_the_standard_library(
    case: str, emitted: dict[str, Path]
) -> None:
    tree = ast.parse(emitted[case].read_text())
    modules = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    modules |= {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    standard = {"argparse", "gzip", "itertools", "math", "os", "typing"}
    assert modules <= standard | {"keras", "numpy"}, modules
    assert "netdsl" not in modules


@pytest.mark.parametrize(
    "case, sequential",
    [
        ("mnist", True),
        ("cnn", True),
        ("lstm", True),
        ("recurrent", True),
        ("inception", False),
        ("residual", False),
        ("branches", False),
    ],
)
def test_a_chain_is_sequential_a_branching_graph_is_functional(
    case: str, sequential: bool, emitted: dict[str, Path]
) -> None:
    text = emitted[case].read_text()
    assert ("keras.Sequential(" in text) is sequential
    assert ("keras.Model(inputs, outputs" in text) is not sequential


def test_the_seed_model_reads_like_hand_written_keras() -> None:
    text = emit_program(_check("dense 64 relu l2 -> dense 10 softmax\n", "mnist.net"))
    assert (
        textwrap.indent(
            textwrap.dedent("""\
        model = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                keras.layers.Flatten(),
                keras.layers.Dense(
                    units=64,
                    activation="relu",
                    kernel_regularizer=keras.regularizers.L2(),
                ),
                keras.layers.Dense(units=10, activation="softmax"),
            ],
            name="mnist",
        )"""),
            "    ",
        )
        in text
    )
    assert "NETDSL_MNIST" in text and "keras.datasets.mnist.load_data()" in text


def test_settings_reach_the_program() -> None:
    text = emit_program(_check(SPECS["branches"], "b.net"))
    for line in (
        "EPOCHS = 10",
        "BATCH_SIZE = 8",
        "VALIDATION_SPLIT = 0.25",
        "SEED = 4",
        "keras.utils.set_random_seed(SEED)",
        "split = math.floor(len(x_train) * (1 - VALIDATION_SPLIT))",
        "validation_data=(x_val, y_val)",
        "training_batches(x_train, y_train, SEED)",
        "order = np.random.default_rng([seed, epoch]).permutation(len(x))",
    ):
        assert line in text
    unseeded = emit_program(_check("dense 10 softmax\n"))
    assert "SEED" not in unseeded and "set_random_seed" not in unseeded
    assert "training_batches(x_train, y_train, seed=0)" in unseeded  # netdsl's order without a seed


def test_every_built_in_schedule_and_callback_is_covered() -> None:
    from netdsl.vocab.registry import load_registry

    registry = load_registry(third_party=False)
    used = " ".join(TRAINING_SPECS.values()) + CASES["cnn_fast"][0]
    for kind in ("schedule", "callback"):
        for name in registry.names(kind):
            assert f"{name}(" in used, f"no spec emits the {kind} {name}"


@pytest.mark.parametrize(
    "case, expected",
    [
        (
            "cosine-warmup",
            [
                "keras.optimizers.schedules.CosineDecay(",
                "initial_learning_rate=0.0",
                "decay_steps=max(1, total_steps - 3)",
                "warmup_target=0.1",
                "warmup_steps=3",
                "keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True)",
            ],
        ),
        ("cosine", ["initial_learning_rate=0.01,\n", "decay_steps=total_steps,\n", "alpha=0.0,\n"]),
        (
            "exponential",
            ["keras.optimizers.schedules.ExponentialDecay(", "decay_steps=2,", "staircase=True,"],
        ),
        (
            "piecewise",
            ["PiecewiseConstantDecay(\n", "boundaries=[3],\n", "values=[0.01, 0.001],\n"],
        ),
        (
            "one-cycle",
            [
                "class OneCycle(keras.optimizers.schedules.LearningRateSchedule):",
                "OneCycle(\n",
                "pct_start=0.5,",
            ],
        ),
        (
            "plateau",
            ["keras.callbacks.ReduceLROnPlateau(", 'monitor="loss"', "factor=0.5", "patience=0"],
        ),
        (
            "ema",
            [
                "keras.callbacks.SwapEMAWeights(swap_on_epoch=True)",
                'keras.callbacks.EarlyStopping(monitor="loss")',
            ],
        ),
    ],
)
def test_schedules_and_callbacks_are_written_as_keras(
    case: str, expected: list[str], emitted: dict[str, Path]
) -> None:
    text = emitted[case].read_text()
    for piece in expected:
        assert piece in text, piece


def test_total_steps_is_computed_as_netdsl_does_and_said_in_a_comment() -> None:
    text = emit_program(_check((EXAMPLES / "cnn_fast.net").read_text(), "cnn_fast.net"))
    # 60,000 MNIST examples, batch 128, 5 epochs: what netdsl.keras.compiler.total_steps gives
    from netdsl.keras.compiler import total_steps

    steps = total_steps(_check((EXAMPLES / "cnn_fast.net").read_text(), "cnn_fast.net"))
    assert steps == 2345
    assert "# ceil(60,000 examples / 128) x 5 epochs = 2,345 with the full dataset" in text
    assert "total_steps = math.ceil(len(x_train) / BATCH_SIZE) * args.epochs" in text
    assert "def build_model(total_steps):" in text and "model = build_model(total_steps)" in text
    split = emit_program(_check(SPECS["one-cycle"], "s.net"))
    assert "# 32 = floor(40 x (1 - 0.2)) examples train, the rest validate" in split
    assert "# ceil(32 examples / 8) x 10 epochs = 40 with the full dataset" in split
    assert "def build_model():" in emit_program(_check(SPECS["piecewise"], "p.net"))


# --- components that are not Keras classes ------------------------------------------------------


def _registry_with(layer: Layer) -> Registry:
    from netdsl.vocab.registry import Provider, load_registry

    registry = load_registry(third_party=False)
    registry.add(layer, Provider("my-plugin", "1.0", "my_plugin"))
    return registry


def _square(shape: tuple, args: dict) -> tuple[tuple, int]:
    return shape, 0


def test_a_plugin_layer_without_keras_path_or_emit_is_an_error_naming_it() -> None:
    registry = _registry_with(Layer(name="square", infer=_square, build=lambda: None))
    model = netdsl.check("dense 8 -> square -> dense 10 softmax\n", registry)
    with pytest.raises(EmitError) as info:
        emit_program(model)
    assert "layer `square` (my-plugin 1.0) cannot be written as Keras code" in info.value.message
    assert "emit=" in (info.value.help or "")
    result = CliRunner().invoke(main, ["emit", "-"], input="dense 8 -> dense 10 softmax\n")
    assert result.exit_code == 0, result.output


def test_a_plugin_layer_emit_hook_writes_its_own_code() -> None:
    layer = Layer(
        name="square",
        infer=_square,
        build=lambda: None,
        emit=lambda args: Code("keras.layers.Lambda(lambda t: t * t)", ("import math",)),
    )
    text = emit_program(
        netdsl.check("dense 8 -> square -> dense 10 softmax\n", _registry_with(layer))
    )
    assert "keras.layers.Lambda(lambda t: t * t)," in text
    assert "\nimport math\n" in text


def test_a_broken_emit_hook_is_named() -> None:
    layer = Layer(
        name="square",
        infer=_square,
        build=keras_factory("layers.Identity"),
        emit=lambda args: 1 / 0,
    )
    with pytest.raises(
        EmitError,
        match=r"layer `square` \(my-plugin 1\.0\): its emit hook failed: ZeroDivisionError",
    ):
        emit_program(netdsl.check("dense 8 -> square -> dense 10 softmax\n", _registry_with(layer)))


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_writes_the_program_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "mnist.py"
    runner = CliRunner()
    result = runner.invoke(main, ["emit", str(EXAMPLES / "mnist.net"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith('"""mnist: a Keras model written by `netdsl emit`')
    out.write_text("mine")
    again = runner.invoke(main, ["emit", str(EXAMPLES / "mnist.net"), "-o", str(out)])
    assert again.exit_code == 1 and "exists" in again.output and out.read_text() == "mine"
    forced = runner.invoke(main, ["emit", str(EXAMPLES / "mnist.net"), "-o", str(out), "--force"])
    assert forced.exit_code == 0 and out.read_text() != "mine"
    bad = runner.invoke(main, ["emit", "-"], input="dense 64 relux\n")
    assert bad.exit_code == 1 and "relux" in bad.output
    assert "standalone Keras program" in runner.invoke(main, ["emit", "--help"]).output


# --- the same model, the same training ----------------------------------------------------------


def _idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 48), ("t10k", 16)):
        _idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return folder


_COMPARE = r'''
import importlib.util, json, sys
import numpy as np
import keras
import tensorflow as tf
import netdsl
import inspect
from netdsl.keras.compiler import build, total_steps
from netdsl.keras.training import load_data, train

def nameless(value):
    """A config without layer names (Keras numbers them per process: dense, dense_1, ...)."""
    if isinstance(value, dict):
        return {k: nameless(v) for k, v in value.items() if k != "name"}
    if isinstance(value, list):
        return [nameless(v) for v in value]
    return value

def configs(net):
    out = [[type(layer).__name__, layer.get_config()] for layer in net.layers
           if not isinstance(layer, keras.layers.InputLayer)]
    return nameless(json.loads(json.dumps(out, default=str)))

def compiled(net):
    opt = net.optimizer.get_config(); opt.pop("name", None)
    rate = opt["learning_rate"]
    if isinstance(rate, dict):  # a schedule: the same class and configuration; the program's own
        rate = {k: rate[k] for k in ("class_name", "config")}  # class is not netdsl's module
    opt["learning_rate"] = rate
    return json.loads(json.dumps([opt, keras.saving.serialize_keras_object(net.loss)], default=str))

# both sides run with deterministic kernels (netdsl turns them on for a seeded run; the emitted
# program, plain Keras, leaves TensorFlow's default), so equal programs give equal bits
tf.config.experimental.enable_op_determinism()
results = {}
for case, program, spec, name, data in json.loads(sys.argv[1]):
    spec_ = importlib.util.spec_from_file_location("emitted_" + case.replace("-", "_"), program)
    mod = importlib.util.module_from_spec(spec_); spec_.loader.exec_module(mod)
    model = netdsl.check(open(spec).read(), filename=name).replace(epochs=2)
    if model.settings["seed"] is None:  # unseeded: the same seed for both, set from outside
        model = model.replace(seed=0)
        keras.utils.set_random_seed(0)
    ours = mod.main((["--data", data] if data else []) + ["--epochs", "2"])
    arrays = load_data(model, data)
    theirs = build(model, train_examples=len(arrays.x_train))  # schedules sized by the loaded data
    row = {"params": [int(ours.count_params()), int(theirs.count_params()), model.total_params],
           "configs": configs(ours) == configs(theirs),
           "metrics": [len(ours.metrics), len(theirs.metrics)]}
    if row["configs"] is False:
        row["diff"] = [a for a, b in zip(configs(ours), configs(theirs)) if a != b][:1]
    trained, _, _ = train(model, arrays, verbose=0)
    # before training (the program's build_model, given the run's steps when it asks for them)
    # and after it (a callback such as reduce_lr_on_plateau may have changed the rate)
    steps = [total_steps(model, len(arrays.x_train))] if inspect.signature(mod.build_model).parameters else []
    row["compile"] = [compiled(mod.build_model(*steps)) == compiled(theirs), compiled(ours) == compiled(trained)]
    row["max_weight_diff"] = max(float(np.max(np.abs(a - b))) for a, b in
                                 zip(ours.get_weights(), trained.get_weights()))
    row["weights"] = len(ours.get_weights()) == len(trained.get_weights())
    row["changed"] = any(not np.array_equal(a, b) for a, b in zip(ours.get_weights(), theirs.get_weights()))
    results[case] = row
print("@@RESULTS@@" + json.dumps(results))
'''


@pytest.fixture(scope="module")
def compared(
    emitted: dict[str, Path], tiny_mnist: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    folder = tmp_path_factory.mktemp("specs")
    jobs = []
    for case, (text, name) in TRAINED.items():
        spec = folder / name
        spec.write_text(text)
        jobs.append(
            [
                case,
                str(emitted[case]),
                str(spec),
                name,
                str(tiny_mnist) if "synthetic" not in text else None,
            ]
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins"), str(ROOT / "tests")]),
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_BACKEND="tensorflow",
        CUDA_VISIBLE_DEVICES="",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _COMPARE, json.dumps(jobs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=folder,
    )
    marker = [line for line in proc.stdout.splitlines() if line.startswith("@@RESULTS@@")]
    assert proc.returncode == 0 and marker, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(marker[0].removeprefix("@@RESULTS@@"))


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(TRAINED))
def test_emitted_program_builds_the_same_model_and_trains_to_the_same_weights(
    case: str, compared: dict
) -> None:
    row = compared[case]
    ours, theirs, checked = row["params"]
    assert ours == theirs == checked
    assert row["configs"], row.get("diff")
    assert row["compile"] == [True, True]
    assert row["weights"] and row["changed"]
    assert row["max_weight_diff"] == 0.0, row["max_weight_diff"]


@pytest.mark.slow
def test_the_emitted_program_runs_as_a_script_without_netdsl(
    tmp_path: Path, tiny_mnist: Path
) -> None:
    program = tmp_path / "seed.py"
    program.write_text(emit_program(_check((EXAMPLES / "mnist.net").read_text(), "mnist.net")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_") and k != "PYTHONPATH"}
    env.update(NETDSL_MNIST=str(tiny_mnist), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    code = (
        "import sys, runpy; sys.modules['netdsl'] = None; sys.argv = [sys.argv[1], '--epochs', '1'];"
        " runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(program)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test accuracy:" in proc.stdout and "test loss:" in proc.stdout


@pytest.mark.slow
def test_built_in_defaults_are_keras_defaults() -> None:
    """emit leaves out arguments at their declared default, so every built-in declaration built
    with keras_factory must declare the default of the Keras class it builds."""
    import inspect

    keras = pytest.importorskip("keras")
    from netdsl.vocab.components import REQUIRED
    from netdsl.vocab.registry import load_registry

    def same(a: object, b: object) -> bool:
        a, b = (tuple(v) if isinstance(v, list) else v for v in (a, b))
        if isinstance(a, tuple) and not isinstance(b, tuple):
            a, b = b, a
        return a == b or (isinstance(b, tuple) and len(set(b)) == 1 and a == b[0])

    registry = load_registry(third_party=False)
    checked, wrong = 0, []
    for kind in ("layer", "optimizer", "loss", "metric", "regularizer", "callback"):
        for name in registry.names(kind):
            component = registry.get(kind, name)
            path = getattr(component.build, "keras_path", None) if component else None
            if component is None or path is None:
                continue
            target = keras
            for part in path.split("."):
                target = getattr(target, part)
            signature = inspect.signature(target)
            for p in component.params:
                if p.default is REQUIRED:
                    continue
                keras_param = signature.parameters.get(p.name)
                checked += 1
                if keras_param is None or not same(p.default, keras_param.default):
                    wrong.append(
                        f"{kind} {name}: {p.name}={p.default!r}, Keras "
                        f"{'has none' if keras_param is None else repr(keras_param.default)}"
                    )
    assert checked > 200 and wrong == []


# --- the emitted images loader ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["split", "test-folder"], ids=["split", "test-folder"])
def test_the_emitted_images_loader_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    """Keras's "Using N files for validation" is netdsl's test split: the emitted loader keeps
    quiet about it, as the ``images`` dataset does, and still loads both parts."""
    folder = tmp_path / "pictures"
    if layout == "split":
        write_image_folder(folder, per_class=5)
    else:
        write_image_folder(folder / "train", per_class=4)
        write_image_folder(folder / "test", per_class=2, seed=1)
    text = "dataset: images\ninput: 8x8x3\n\nconv2d 4 3 relu -> flatten -> dense 2 softmax"
    program = emit_program(netdsl.check(text, filename="pictures.net", data=folder))
    namespace: dict[str, object] = {"__name__": "emitted"}
    exec(compile(program, "emitted.py", "exec"), namespace)
    capsys.readouterr()
    x_train, y_train, x_test, y_test = namespace["load_data"](str(folder))  # type: ignore[operator]
    assert capsys.readouterr().out == ""
    assert len(x_train) == len(y_train) > 0 and len(x_test) == len(y_test) > 0
    assert x_train.shape[1:] == (8, 8, 3)
