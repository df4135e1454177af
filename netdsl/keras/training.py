"""Fit and evaluate: load the data, order the batches, train, resume from saved state.

TensorFlow is imported here (through :func:`netdsl.keras.runtime.import_keras`) and nowhere on the
parse/check path. Each epoch visits the examples in an order fixed by the run's seed and the
epoch number, so a resumed run computes what the uninterrupted one would. Ctrl-C keeps the
finished epochs; a NaN loss stops training with an error instead of keeping a garbage model.
The run folder around all this is :mod:`netdsl.run.driver` and :mod:`netdsl.run.runs`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import numpy as np

from ..checking.libraries import inlined
from ..checking.plan import CheckedModel, split_sizes
from ..errors import (
    NetdslDataError,
    NetdslError,
    NetdslPluginError,
    NetdslSettingError,
    NetdslTrainingError,
)
from ..lang.formatter import format as format_program
from ..vocab.components import DEFAULT_INPUT, DEFAULT_TARGET, DataRequest, Dataset, Streams
from . import distribute as dist
from .compiler import build, materialise
from .named import NamedArrays, plain
from .runtime import import_keras

__all__ = [
    "DEFAULT_STEPS_PER_EXECUTION",
    "Data",
    "EpochClock",
    "Fit",
    "StreamData",
    "TrainOptions",
    "batches",
    "confusion",
    "epoch_order",
    "epoch_seed",
    "evaluate",
    "fit",
    "load_data",
    "restore_state",
    "spec_text",
    "split_validation",
    "train",
]

#: batches per call into the compiled train step (Keras's default is 1). Measured on a 2-core
#: CPU (BENCHMARKS.md, 4a): a steady epoch of the seed MLP at batch 32 runs about 2x faster with
#: 16, 4 and 64 gain no more; the weights are bit-identical for the same seed. Models with long
#: steps (the CNN) neither gain nor lose.
DEFAULT_STEPS_PER_EXECUTION = 16


@dataclass(frozen=True)
class TrainOptions:
    """How training runs on this machine, never what it computes (``netdsl run`` options).

    ``steps_per_execution``: batches per call of the compiled step (Keras ``compile``); with a
    seed, the weights are the same for any value. Larger values only make progress bars and
    batch-level callbacks coarser.
    ``jit_compile``: XLA. None is Keras's ``"auto"``, which is off on a CPU-only machine.
    ``threads``: TensorFlow's intra-op threads (inter-op is set to the same number);
    None is TensorFlow's default (every core). Takes effect only before TensorFlow has run an
    op in this process.
    ``distribute``: data-parallel on every local device; ``cluster``: this process's place in a
    multi-process run (JAX backend). See :mod:`netdsl.keras.distribute`.
    """

    steps_per_execution: int = DEFAULT_STEPS_PER_EXECUTION
    jit_compile: bool | None = None
    threads: int | None = None
    distribute: bool = False
    cluster: dist.Cluster | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps_per_execution, int) or self.steps_per_execution < 1:
            raise NetdslTrainingError(
                f"steps_per_execution must be an integer >= 1, got {self.steps_per_execution!r}"
            )
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise NetdslTrainingError(f"threads must be an integer >= 1, got {self.threads!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps_per_execution": self.steps_per_execution,
            "jit_compile": "auto" if self.jit_compile is None else self.jit_compile,
            "threads": self.threads,
            "distribute": self.distribute,
            **({"cluster": dataclasses.asdict(self.cluster)} if self.cluster else {}),
        }


class Data(NamedTuple):
    """One dataset ready for Keras: x shaped like the model input, y encoded for its loss."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def train_size(self) -> int:
        return len(self.x_train)

    @property
    def test_size(self) -> int:
        return len(self.x_test)


@dataclass(frozen=True)
class StreamData:
    """A dataset read batch by batch through ``tf.data`` (a :class:`~netdsl.vocab.components.Streams`),
    with the label encoding its loss wants applied to every batch."""

    streams: Streams
    labels: str
    num_classes: int
    #: a graph's outputs: (name, label encoding, classes) each; a sole y feeds the sole output
    outputs: tuple[tuple[str, str, int], ...] = ()

    @property
    def train_size(self) -> int:
        return self.streams.train_size

    @property
    def test_size(self) -> int:
        return self.streams.test_size

    def _encoded(self, ds: Any) -> Any:
        import tensorflow as tf

        if self.outputs:  # a graph: y by output name, each encoded for its own loss
            outputs = self.outputs

            def by_name(x: Any, y: Any) -> tuple[Any, Any]:
                got = y if isinstance(y, dict) else {outputs[0][0]: y}
                return x, {n: _encode_batch(got[n], how, k) for n, how, k in outputs}

            return ds.map(by_name, num_parallel_calls=tf.data.AUTOTUNE)
        if self.labels == "categorical":
            n = self.num_classes
            return ds.map(
                lambda x, y: (x, tf.one_hot(tf.reshape(tf.cast(y, tf.int32), [-1]), n)),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        if self.labels == "sparse":
            return ds.map(
                lambda x, y: (x, tf.cast(y, tf.int32)), num_parallel_calls=tf.data.AUTOTUNE
            )
        return ds.map(lambda x, y: (x, tf.cast(y, tf.float32)), num_parallel_calls=tf.data.AUTOTUNE)

    def train(self, batch_size: int, seed: int | None, clock: EpochClock | None = None) -> Any:
        """The training pipeline, labels encoded, prefetching. Its order is the stream's, seeded
        by :func:`epoch_seed` of ``seed`` and ``clock.epoch`` (read as each epoch's iterator
        opens; epoch 0 without a clock), so a resumed run reads each epoch as the original."""
        import tensorflow as tf

        base = 0 if seed is None else seed

        def current(_: Any) -> np.int64:
            return np.int64(epoch_seed(base, clock.epoch if clock is not None else 0))

        def one_epoch(dummy: Any) -> Any:
            seed_now = tf.reshape(tf.numpy_function(current, [dummy], tf.int64, stateful=True), [])
            return self.streams.train(batch_size, seed_now)

        # every row once, in batches of batch_size: Keras knows the epoch's length from the start
        # (no end-of-data probing, no retrace for a short last step group in the second epoch)
        steps = max(1, math.ceil(self.train_size / batch_size))
        ds = (
            tf.data.Dataset.range(1)
            .flat_map(one_epoch)
            .apply(tf.data.experimental.assert_cardinality(steps))
        )
        return self._encoded(ds).prefetch(tf.data.AUTOTUNE)

    def test(self, batch_size: int) -> Any:
        """The test pipeline, labels encoded, prefetching; its length told to Keras (which
        otherwise warns "Your input ran out of data" when it ends)."""
        import tensorflow as tf

        steps = max(1, math.ceil(self.test_size / batch_size))
        ds = self.streams.test(batch_size).apply(tf.data.experimental.assert_cardinality(steps))
        return self._encoded(ds).prefetch(tf.data.AUTOTUNE)


def _encode_batch(y: Any, labels: str, num_classes: int) -> Any:
    """One batch of one target, encoded as its loss wants (one-hot, ids, values)."""
    import tensorflow as tf

    if labels == "categorical":
        return tf.one_hot(tf.reshape(tf.cast(y, tf.int32), [-1]), num_classes)
    if labels == "sparse":
        return tf.cast(y, tf.int32)
    return tf.cast(y, tf.float32)


def load_data(model: CheckedModel, data: str | os.PathLike[str] | None = None) -> Data | StreamData:
    """Load the model's dataset and encode its labels for the loss. ``data`` is the path given
    with ``--data`` (the dataset's own ``path`` argument wins)."""
    ref = model.dataset
    component = ref.component
    if not isinstance(component, Dataset):
        raise NetdslDataError(f"dataset `{ref.name}` is not available")
    path = ref.kwargs.get("path") or (os.fspath(data) if data is not None else None)
    request = DataRequest(component.name, ref.kwargs, path, component.env, model.input_shape)
    who = ref.provider or "unknown plugin"
    try:
        arrays = component.load(request, model.data)
    except NetdslError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's loader bug is named, not a traceback
        raise NetdslPluginError(
            f"dataset `{ref.name}` ({who}) failed to load: {type(exc).__name__}: {exc}",
            code="NDL205",
        ) from None
    if isinstance(arrays, Streams):
        if model.is_graph and not model.data.columns:
            raise NetdslDataError(
                f"dataset `{ref.name}` streams its data, which a graph program cannot read yet",
                help="use a dataset that loads its arrays (npz, csv of a few MB)",
            )
        outputs = tuple(
            (o.name, o.labels, o.target.num_classes) for o in model.outputs if model.is_graph
        )
        return StreamData(arrays, model.labels, model.data.target.num_classes, outputs)
    if model.is_graph:
        return _graph_data(model, ref.name, who, arrays)
    if not isinstance(arrays, (tuple, list)) or len(arrays) != 4:
        raise NetdslPluginError(
            f"dataset `{ref.name}` ({who}) returned {type(arrays).__name__}, not "
            "(x_train, y_train, x_test, y_test)",
            code="NDL205",
        )
    try:
        x_train, y_train, x_test, y_test = (np.asarray(a) for a in arrays)
    except (TypeError, ValueError) as exc:
        raise NetdslPluginError(
            f"dataset `{ref.name}` ({who}) returned something that is not an "
            f"array: {type(exc).__name__}: {exc}",
            code="NDL205",
        ) from None
    for x, y, split in ((x_train, y_train, "training"), (x_test, y_test, "test")):
        if x.ndim == 0 or y.ndim == 0:
            raise NetdslPluginError(
                f"dataset `{ref.name}` ({who}) returned a single value as its "
                f"{split} {'examples' if x.ndim == 0 else 'labels'}, not an array",
                code="NDL205",
            )
        if len(x) != len(y):
            raise NetdslPluginError(
                f"dataset `{ref.name}` ({who}) returned {len(x):,} {split} examples but "
                f"{len(y):,} labels; they must match one to one",
                code="NDL205",
            )
        _check_values(ref.name, who, split, x, y)
    target = model.data.target
    y_train, y_test = (
        encode_labels(y, target.num_classes, model.labels) for y in (y_train, y_test)
    )
    if target.kind != "classes":  # one value per example: a column, as the (N, 1) output gives
        y_train, y_test = (
            y.reshape((len(y), *target.output_shape)) if y.ndim == 1 else y
            for y in (y_train, y_test)
        )
    return Data(
        _shape(x_train, model.input_shape), y_train, _shape(x_test, model.input_shape), y_test
    )


# --- a graph's data: arrays by input and output name ------------------------------------------


def _by_name(value: Any, default: str) -> dict[str, np.ndarray]:
    """A loader's x or y as arrays by name (a bare array is the sole ``x`` or ``y``)."""
    if isinstance(value, dict):
        return {str(k): np.asarray(v) for k, v in value.items()}
    return {default: np.asarray(value)}


def _graph_data(model: CheckedModel, name: str, who: str, arrays: Any) -> Data:
    """``Data`` of named arrays for a graph's inputs and outputs; an error naming the dataset
    when an input or target is missing or the rows do not match."""
    if not isinstance(arrays, (tuple, list)) or len(arrays) != 4:
        raise NetdslPluginError(
            f"dataset `{name}` ({who}) returned {type(arrays).__name__}, not "
            "(x_train, y_train, x_test, y_test)",
            code="NDL205",
        )
    parts = []
    for value, side in zip(arrays, ("x", "y", "x", "y")):
        parts.append(_by_name(value, DEFAULT_INPUT if side == "x" else DEFAULT_TARGET))
    x_train, y_train, x_test, y_test = parts
    xs, ys = [], []
    for x, y, split in ((x_train, y_train, "training"), (x_test, y_test, "test")):
        xs.append(
            NamedArrays({i.name: _shape(_get(x, i.name, name), i.shape) for i in model.inputs})
        )
        ys.append(NamedArrays({o.name: _target(_get(y, o.name, name), o) for o in model.outputs}))
        rows = {len(a) for a in (*xs[-1].values(), *ys[-1].values())}
        if len(rows) != 1:
            raise NetdslPluginError(
                f"dataset `{name}` ({who}) returned {split} arrays of different lengths",
                code="NDL205",
            )
        for k in xs[-1]:
            _check_values(name, who, split, xs[-1][k], next(iter(ys[-1].values())))
    return Data(*(cast(Any, a) for a in (xs[0], ys[0], xs[1], ys[1])))


def _get(arrays: dict[str, np.ndarray], key: str, name: str) -> np.ndarray:
    if key not in arrays:
        raise NetdslDataError(
            f"dataset `{name}` gave no array `{key}` (it gave {', '.join(sorted(arrays))})"
        )
    return arrays[key]


def _target(y: np.ndarray, output: Any) -> np.ndarray:
    """One output's labels, encoded for its loss; one value per example as a column."""
    encoded = encode_labels(y, output.target.num_classes, output.labels)
    if output.target.kind != "classes" and encoded.ndim == 1:
        encoded = encoded.reshape((len(encoded), *output.target.output_shape))
    return encoded


def _first_non_finite(a: np.ndarray) -> int | None:
    """The index of the first example holding NaN or an infinity (None: none; not numbers: None),
    checked a block of examples at a time so no full-size mask is made."""
    if a.dtype.kind not in "fc":
        return None
    block = max(1, (1 << 24) // max(1, int(np.prod(a.shape[1:])) if a.ndim > 1 else 1))
    for start in range(0, len(a), block):
        bad = ~np.isfinite(a[start : start + block]).reshape(min(block, len(a) - start), -1).all(
            axis=1
        )
        if bad.any():
            return start + int(np.argmax(bad))
    return None


def _check_values(name: str, who: str, split: str, x: np.ndarray, y: np.ndarray) -> None:
    """A loader's arrays: some examples, finite features and labels; else an error naming the
    dataset and its plugin, before anything trains on them."""
    if len(x) == 0:
        raise NetdslPluginError(
            f"dataset `{name}` ({who}) returned 0 {split} examples",
            code="NDL205",
            help="its data source is empty, or its loader drops every example; check the data it "
            f"reads, else report it to the plugin ({who})",
        )
    for what, a in (("examples", x), ("labels", y)):
        at = _first_non_finite(a)
        if at is not None:
            raise NetdslDataError(
                f"dataset `{name}` ({who}) returned {split} {what} holding NaN or infinite values "
                f"(the first at {split} example {at:,})",
                help="fill in or drop the missing values in the data; if the data has none, the "
                f"dataset's loader makes them (report it to the plugin, {who})",
            )


def encode_labels(y: np.ndarray, num_classes: int, labels: str) -> np.ndarray:
    """Class ids as one-hot float32 rows (``labels="categorical"``) or int32 ids (``"sparse"``);
    any other target (binary, regression) as float32 values."""
    y = np.asarray(y)
    if labels not in ("categorical", "sparse"):
        return y.astype(np.float32)
    if y.size and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise NetdslDataError(
            f"labels run {int(y.min())}..{int(y.max())} but the model has {num_classes} classes"
        )
    if labels == "categorical":
        return np.eye(num_classes, dtype=np.float32)[y.astype(np.int64)]
    return y.astype(np.int32)


def _shape(x: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    if tuple(x.shape[1:]) == tuple(input_shape):
        return x
    if int(np.prod(x.shape[1:])) != int(np.prod(input_shape)):
        raise NetdslDataError(
            f"the data has examples of shape {'x'.join(map(str, x.shape[1:]))}, which cannot be "
            f"the model input {'x'.join(map(str, input_shape))}",
            help="remove the `input:` setting or give one with the same number of values",
        )
    return x.reshape((len(x), *input_shape))


def seed_everything(seed: int | None) -> None:
    """Same seed, same weights on this machine: seeds Python, NumPy and TF, deterministic ops."""
    if seed is None:
        return
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() != "tensorflow":
        return  # JAX is deterministic on CPU for a given key
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def set_threads(threads: int | None) -> None:
    """TensorFlow's thread pools (intra- and inter-op) to ``threads``; None leaves its default.

    TensorFlow fixes its pools when it runs its first op; asking for another size after that
    warns and keeps the pools it has.
    """
    if threads is None:
        return
    if import_keras().backend.backend() != "tensorflow":
        raise NetdslTrainingError(
            "--threads sets TensorFlow's thread pools; it does not apply to the jax backend",
            code="NDL320",
            help="leave --threads out with --backend jax",
        )
    import tensorflow as tf

    threading = tf.config.threading
    if (
        threading.get_intra_op_parallelism_threads(),
        threading.get_inter_op_parallelism_threads(),
    ) == (threads, threads):
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        import warnings

        warnings.warn(
            f"TensorFlow is already running in this process; threads={threads} is ignored",
            RuntimeWarning,
            stacklevel=3,
        )


def compile_net(
    model: CheckedModel, options: TrainOptions | None = None, train_examples: int | None = None
) -> Any:
    """The Keras model for ``model``, compiled with its loss, optimizer, metrics and ``options``;
    ``train_examples`` sizes schedules that decay over the run."""
    options = options or TrainOptions()
    return build(
        model,
        train_examples=train_examples,
        steps_per_execution=options.steps_per_execution,
        jit_compile="auto" if options.jit_compile is None else options.jit_compile,
    )


def split_validation(
    data: Data, fraction: float
) -> tuple[Data, tuple[np.ndarray, np.ndarray] | None]:
    """Hold out the last ``fraction`` of the training examples for validation, as Keras's
    ``validation_split`` does (before any shuffling)."""
    if not fraction:
        return data, None
    at, held = split_sizes(len(data.x_train), fraction)
    if not at or not held:  # the checker refuses this for a dataset that says its size
        raise NetdslTrainingError(
            f"validation_split {fraction} leaves no training or no validation "
            f"examples out of {len(data.x_train):,}",
            code="NDL304",
        )
    return (
        data._replace(x_train=data.x_train[:at], y_train=data.y_train[:at]),
        (data.x_train[at:], data.y_train[at:]),
    )


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed a streamed dataset orders epoch ``epoch`` (0-based) with: a function of the
    run's shuffling seed and the epoch alone, as :func:`epoch_order` is for arrays."""
    return int(np.random.default_rng([seed, epoch]).integers(2**62))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch ``epoch`` (0-based) visits ``n`` examples: a function of the
    run's shuffling seed and the epoch alone, so a resumed run visits them as the original."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int64)


class EpochClock:
    """Which epoch the batch pipeline is serving; a Keras callback (made lazily) sets it at each
    epoch's start, before Keras opens that epoch's iterator."""

    def __init__(self) -> None:
        self.epoch = 0

    def callback(self, keras: Any) -> Any:
        clock = self

        class Clock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                clock.epoch = epoch

        return Clock()


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, clock: EpochClock) -> Any:
    """A ``tf.data`` pipeline of one epoch's batches, in :func:`epoch_order` of ``seed`` and
    ``clock.epoch`` (read when Keras opens the epoch's iterator)."""
    import_keras()
    import tensorflow as tf

    n = len(x)
    xs, ys = (tf.nest.map_structure(tf.constant, plain(a)) for a in (x, y))

    def order(_: Any) -> np.ndarray:
        return epoch_order(seed, clock.epoch, n)

    def one_epoch(dummy: Any) -> Any:
        indices = tf.reshape(tf.numpy_function(order, [dummy], tf.int64, stateful=True), [n])
        return tf.data.Dataset.from_tensor_slices(indices).batch(batch_size)

    ds = (
        tf.data.Dataset.range(1)
        .flat_map(one_epoch)
        .apply(tf.data.experimental.assert_cardinality(math.ceil(n / batch_size)))
    )

    def take(i: Any) -> Any:
        return tuple(tf.nest.map_structure(lambda a: tf.gather(a, i), s) for s in (xs, ys))

    return ds.map(
        take,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).prefetch(tf.data.AUTOTUNE)


class _Recorder:
    """Keras callback (made lazily), last in the list: records each epoch's logs and learning
    rate, stops on a NaN loss, and hands every good epoch's state to ``on_epoch`` (the run
    folder's checkpoint). Keeps the last good state for an interrupted run."""

    def __new__(
        cls,
        keras: Any,
        history: list[dict[str, float]],
        on_epoch: Callable[[int, list[np.ndarray], list[np.ndarray]], None] | None,
    ) -> Any:
        class Recorder(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.history = history
                self.good: tuple[list[np.ndarray], list[np.ndarray]] | None = None
                self.nan_epoch: int | None = None
                self.nan: str | None = None

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                row = {k: float(v) for k, v in (logs or {}).items()}
                optimizer = self.model.optimizer
                state = (
                    [v.numpy() for v in self.model.variables],
                    [v.numpy() for v in optimizer.variables],
                )
                # the loss is measured before each step's update: the last step can still
                # leave NaN weights behind a finite loss
                self.nan = (
                    "loss"
                    if not math.isfinite(row.get("loss", 0.0))
                    else "weights"
                    if not _finite(state[0])
                    else None
                )
                if self.nan is not None:
                    self.nan_epoch = epoch + 1
                    self.model.stop_training = True
                    return
                row.setdefault("learning_rate", float(np.asarray(optimizer.learning_rate)))
                self.history.append(row)
                self.good = state
                if on_epoch is not None:
                    on_epoch(epoch + 1, *self.good)

        return Recorder()


def _finite(arrays: Sequence[np.ndarray]) -> bool:
    """Whether every floating-point value of ``arrays`` is a finite number."""
    return all(bool(np.isfinite(a).all()) for a in arrays if a.dtype.kind in "fc")


def restore_state(
    net: Any, model_arrays: Sequence[np.ndarray], optimizer_arrays: Sequence[np.ndarray]
) -> None:
    """Put saved variables back into a compiled model and its optimizer (built first)."""
    optimizer = net.optimizer
    if not optimizer.built:
        optimizer.build(net.trainable_variables)
    targets = [*net.variables, *optimizer.variables]
    arrays = [*model_arrays, *optimizer_arrays]
    if (
        len(net.variables) != len(model_arrays)
        or len(targets) != len(arrays)
        or any(tuple(v.shape) != a.shape for v, a in zip(targets, arrays))
    ):
        raise NetdslTrainingError(
            "the checkpoint does not fit this model (was model.net edited?)", code="NDL306"
        )
    for v, a in zip(targets, arrays):
        v.assign(a)


@dataclass
class Fit:
    """What :func:`fit` did: the Keras model, every finished epoch's logs, and how it ended
    (``stopped``: None when it ran its epochs or a callback ended it, else the reason)."""

    net: Any
    history: list[dict[str, float]]
    stopped: str | None = None


def fit(
    model: CheckedModel,
    data: Data | StreamData,
    *,
    net: Any = None,
    verbose: int | str = "auto",
    callbacks: Sequence[Any] = (),
    options: TrainOptions | None = None,
    history: Sequence[dict[str, float]] = (),
    initial_epoch: int = 0,
    shuffle_seed: int | None = None,
    on_epoch: Callable[[int, list[np.ndarray], list[np.ndarray]], None] | None = None,
    state: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None,
    context: dist.Context | None = None,
) -> Fit:
    """Fit from ``initial_epoch`` (with the saved ``state`` and ``history`` when resuming).
    Epoch ``e`` visits the examples in :func:`epoch_order` of ``shuffle_seed`` (default: the
    program's seed, else 0), so a resumed run computes what the uninterrupted one would. The
    program's callbacks run, then ``callbacks``; ``on_epoch(epochs_done, model_arrays,
    optimizer_arrays)`` after each good epoch. Ctrl-C or SIGTERM ends it with the last good
    epoch's weights; a NaN loss raises ``NDL303``.

    ``context`` (:mod:`netdsl.keras.distribute`, default: from ``options``) says where it trains: the
    model is built and fitted in its scope, and the batch size, the global batch, becomes this
    process's share. ``data`` is already this process's shard (``context.shard``)."""
    keras = import_keras(model.settings.backend)
    options = options or TrainOptions()
    ctx = context or dist.start(
        keras.backend.backend(), distribute=options.distribute, cluster=options.cluster
    )
    options = ctx.adjust(options)
    set_threads(options.threads)
    settings = model.settings
    seed_everything(settings.seed)
    if isinstance(data, StreamData) and settings.validation_split:
        raise NetdslSettingError(
            f"`validation_split` needs the data in memory, and `{model.dataset.name}` streams it",
            code="NDL004",
            help="remove `validation_split:`; the dataset's test split is evaluated after training",
        )
    validation = None
    if isinstance(data, Data):
        data, validation = split_validation(data, settings.validation_split)
        data = ctx.trim(data)
        if validation is not None:
            keep = ctx.trim_size(len(validation[0]))
            validation = (validation[0][:keep], validation[1][:keep])
    local = ctx.local_batch(settings.batch_size)
    examples = data.train_size + (len(validation[0]) if validation is not None else 0)
    with ctx.scope():  # data-parallel (netdsl.keras.distribute): build on every device
        # schedules count the steps of the whole run, the same in every process
        net = net if net is not None else compile_net(model, options, examples * ctx.num_processes)
        adapt_normalization(net, data, settings.batch_size)
        if isinstance(data, StreamData) and data.streams.state:  # a typed table's layers
            from .features import adapt

            adapt(net, model.data.columns, data.streams.state)
        if state is not None:
            restore_state(net, *state)
    done = history if isinstance(history, list) else list(history)  # the caller's list grows
    recorder = _Recorder(keras, done, on_epoch)
    program_callbacks = materialise(list(settings.callbacks or []))
    epochs = settings.epochs
    seed = shuffle_seed if shuffle_seed is not None else (settings.seed or 0)
    result = Fit(net, done)
    if initial_epoch >= epochs:
        return result
    clock = EpochClock()
    try:
        with ctx.scope():
            net.fit(
                data.train(local, seed, clock)
                if isinstance(data, StreamData)
                else batches(data.x_train, data.y_train, local, seed, clock),
                epochs=epochs,
                initial_epoch=initial_epoch,
                shuffle=False,
                validation_data=tuple(plain(v) for v in validation) if validation else None,
                validation_batch_size=local if ctx.distributed else max(local, 256),
                verbose=verbose,
                callbacks=[clock.callback(keras), *program_callbacks, *callbacks, recorder],
            )
    except Exception as exc:
        if isinstance(data, StreamData):
            raise _stream_error(exc, model) from None
        raise
    except KeyboardInterrupt as e:
        result.stopped = getattr(e, "reason", "interrupt")
        if recorder.good is not None:
            restore_state(net, *recorder.good)
        elif state is not None:
            restore_state(net, *state)
    if recorder.nan_epoch is not None:
        what = "loss" if recorder.nan == "loss" else "weights (after the epoch's last step)"
        raise NetdslTrainingError(
            f"the {what} became NaN in epoch {recorder.nan_epoch}; training stopped",
            help="lower the learning rate, e.g. `optimizer: adam(learning_rate=1e-4)`, "
            "or check the data for NaN values",
            code="NDL303",
        )
    return result


def train(
    model: CheckedModel,
    data: Data | StreamData,
    *,
    net: Any = None,
    verbose: int | str = "auto",
    callbacks: Sequence[Any] = (),
    options: TrainOptions | None = None,
) -> tuple[Any, list[dict[str, float]], str | None]:
    """Fit the model. Returns the Keras model, per-epoch history and how it stopped
    (None when it ran to its end, "interrupt" on Ctrl-C, "SIGTERM"). A NaN loss raises
    NetdslTrainingError. ``options`` (:class:`TrainOptions`) set how fast it runs; a ``net``
    given already compiled keeps its own compile settings."""
    result = fit(model, data, net=net, verbose=verbose, callbacks=callbacks, options=options)
    return result.net, result.history, result.stopped


def _stream_error(exc: Exception, model: CheckedModel) -> Exception:
    """A TensorFlow error from reading a streamed file (a picture that does not decode, a row
    TensorFlow cannot parse) as a data error naming the dataset; any other error as it is."""
    if not type(exc).__module__.startswith("tensorflow"):
        return exc
    text = (getattr(exc, "message", None) or str(exc)).strip().splitlines()
    return NetdslDataError(
        f"reading `{model.dataset.name}` while training failed: "
        f"{text[0] if text else type(exc).__name__}",
        help="a file in the dataset is damaged or not in the expected format",
    )


def adapt_normalization(net: Any, data: Data | StreamData, batch_size: int) -> None:
    """Adapt the model's ``normalize`` layer (``normalize: true``) on the training inputs: the
    mean and variance it learns are saved with the model, so ``predict`` needs no extra step."""
    from .compiler import NORMALIZE_LAYER

    try:
        layer = net.get_layer(NORMALIZE_LAYER)
    except ValueError:
        return
    if isinstance(data, StreamData):
        layer.adapt(data.streams.train(max(batch_size, 1024), 0).map(lambda x, y: x))
    else:
        layer.adapt(data.x_train)


def evaluate(net: Any, model: CheckedModel, data: Data | StreamData) -> dict[str, float]:
    """Test-set loss and metrics, by Keras's names (``loss``, ``accuracy``, ...)."""
    batch = max(model.settings.batch_size, 256)
    if isinstance(data, StreamData):
        try:
            values = net.evaluate(data.test(batch), verbose=0, return_dict=True)
        except Exception as exc:  # noqa: BLE001 - a dataset's stream fails its own way: named for the user
            raise _stream_error(exc, model) from None
    else:
        values = net.evaluate(
            plain(data.x_test), plain(data.y_test), batch_size=batch, verbose=0, return_dict=True
        )
    return {k: float(v) for k, v in values.items()}


def confusion(net: Any, model: CheckedModel, data: Data | StreamData) -> dict[str, Any] | None:
    """The test set's confusion matrix (rows: true class, columns: predicted) for a classifier
    (classes or binary; a streamed test set is read once more for it), else None."""
    target = model.data.target
    if target.kind not in ("classes", "binary") or model.is_graph:
        return None  # a graph's outputs: their metrics by name in metrics.json
    batch = max(model.settings.batch_size, 256)
    if isinstance(data, StreamData):
        pairs = [(np.asarray(net.predict_on_batch(x)), np.asarray(y)) for x, y in data.test(batch)]
        if not pairs:
            return None
        scores, labels = (np.concatenate(p) for p in zip(*pairs))
    else:
        scores, labels = net.predict(data.x_test, batch_size=batch, verbose=0), data.y_test
    if target.kind == "binary":
        loss = model.settings.loss
        cut = 0.0 if getattr(loss, "kwargs", {}).get("from_logits") else 0.5
        k, predicted = 2, (np.asarray(scores).reshape(-1) > cut).astype(np.int64)
        true = np.asarray(labels).reshape(-1).round().astype(np.int64)
    else:
        k, predicted = target.num_classes, np.argmax(scores, axis=-1)
        true = labels if labels.ndim == 1 else np.argmax(labels, axis=-1)
    matrix = np.bincount(true.astype(np.int64) * k + predicted, minlength=k * k).reshape(k, k)
    known = (
        data.streams.class_names if isinstance(data, StreamData) else ()
    ) or model.data.class_names
    names = list(known) if len(known) == k else [str(i) for i in range(k)]
    return {"classes": names, "matrix": matrix.tolist()}


def spec_text(model: CheckedModel) -> str:
    """The program as run: every effective setting written out (defaults, the dataset's answers
    and command-line overrides included), then its blocks and network."""
    effective = {s.key: s for s in model.settings.to_ir()}
    written = [
        dataclasses.replace(effective.pop(s.key), span=s.span, key_span=s.key_span)
        for s in model.program.settings
        if s.key in effective
    ]  # comments stay in place
    program, imported = inlined(model.program)  # a library's blocks written out: stands alone
    program = dataclasses.replace(program, settings=(*written, *effective.values()))
    return imported + format_program(program)
