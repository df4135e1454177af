"""The user's own text: ``text_files("reviews/")``, one sub-folder per class of ``.txt`` files,
as Keras's ``text_dataset_from_directory`` reads them.

Two layouts: ``reviews/<class>/*.txt`` split by ``test_split`` (seeded, per file), or
``reviews/train/<class>`` and ``reviews/test/<class>``. ``netdsl check`` lists the folders and
reads the first :data:`SAMPLE_FILES` files' first :data:`SAMPLE_BYTES` bytes (to size the token
sequences), never the rest. The model takes the raw text (one string input, ``text``) and
encodes it inside itself as a typed table's text column does (:mod:`netdsl.keras.features`):
words learned from the training files in one streamed pass, so ``predict`` takes raw strings.
Training keeps the texts in memory after that pass when they total at most
:data:`HELD_BYTES`; a bigger folder is read from its files each epoch, a batch at a time.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netdsl.errors import NetdslDataError
from netdsl.keras.datafiles import MAX_LINE_CHARS, path_kind
from netdsl.vocab import types as T
from netdsl.vocab.columns import make_column
from netdsl.vocab.components import DataInfo, DataRequest, Dataset, Param, Streams, Target

from .images import require_classes, split_folders
from .typed_csv import Learned

__all__ = ["SAMPLE_BYTES", "SAMPLE_FILES", "TEXT_FILES", "text_files"]

#: files ``check`` opens to size the token sequences, and the bytes it reads of each
SAMPLE_FILES = 64
SAMPLE_BYTES = 4 << 10
#: the most bytes one text file may hold (read whole by TensorFlow): the CSV reader's line cap
MAX_FILE_BYTES = MAX_LINE_CHARS
#: files decoded together in the learning pass
PASS_BATCH = 256
#: the training texts are kept in memory after the pass when they total at most this many
#: bytes; a bigger folder is read from its files each epoch
HELD_BYTES = 32 << 20
_INPUT = "text"


def _folder(request: DataRequest) -> Path:
    if not request.path:
        raise NetdslDataError(
            '`text_files` needs a folder: `dataset: text_files("reviews/")` or '
            "`netdsl run --data reviews/`"
        )
    root = Path(request.path).expanduser()
    kind = path_kind(root)
    if kind != "a folder":
        raise NetdslDataError(
            f"{root}: no such folder" if kind is None else f"{root} is {kind}, not a folder",
            help="`text_files` reads a folder with one sub-folder of .txt files per class",
        )
    return root


def text_files(request: DataRequest) -> tuple[Path, Path | None, tuple[str, ...]]:
    """The training folder, the test folder (``train/``+``test/`` layout) or None, the classes."""
    train, test, subs = split_folders(_folder(request))
    require_classes(train, subs, "`text_files` needs one per class", "pos/*.txt", "neg/*.txt")
    return train, test, tuple(subs)


def _files(folder: Path, names: tuple[str, ...]) -> tuple[list[str], list[int]]:
    """Every ``.txt`` file under each class folder, sorted, with its class id."""
    paths: list[str] = []
    labels: list[int] = []
    for i, name in enumerate(names):
        found = []
        for base, dirs, files in os.walk(folder / name):
            dirs.sort()
            found += [os.path.join(base, f) for f in sorted(files) if f.endswith(".txt")]
        for path in found:
            size = os.stat(path).st_size
            if size > MAX_FILE_BYTES:
                raise NetdslDataError(
                    f"{path}: {size:,} bytes; a text file may hold at most {MAX_FILE_BYTES:,}",
                    help="split it into several files",
                )
        paths += found
        labels += [i] * len(found)
    return paths, labels


def _sample(folder: Path, names: tuple[str, ...]) -> list[str]:
    """The first bytes of the first files of each class (cheap: ``check`` reads no more)."""
    texts: list[str] = []
    per_class = max(1, SAMPLE_FILES // len(names))
    for name in names:
        try:
            with os.scandir(folder / name) as it:
                files = sorted(e.path for e in it if e.name.endswith(".txt") and e.is_file())
        except OSError as exc:
            raise NetdslDataError(f"{folder / name}: cannot list ({exc.strerror})") from None
        for path in files[:per_class]:
            with open(path, "rb") as f:
                texts.append(f.read(SAMPLE_BYTES).decode("utf-8", errors="replace"))
    return texts


def describe_text_files(request: DataRequest) -> DataInfo:
    """Class names from the sub-folders; the text column sized from the first files."""
    train, _test, names = text_files(request)
    texts = _sample(train, names)
    if not texts:
        raise NetdslDataError(f"{train}: no .txt files in the class folders")
    column = make_column(_INPUT, 0, "text", texts, 0)
    target = Target("binary") if len(names) == 2 else Target("classes", len(names))
    return DataInfo((column.width,), target, class_names=names, streamed=True, columns=(column,))


def _split(n: int, test_split: float, seed: int) -> tuple[list[int], list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    held = max(1, round(n * test_split)) if n > 1 else 0
    return sorted(order[held:]), sorted(order[:held])


@dataclass(frozen=True, eq=False)
class _Reader:
    """Files of one side of the split as ``({"text": (n, 1) strings}, labels)`` batches."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    y_type: Any
    held: Any = None  # the texts, (n, 1) strings, when the pass kept them (a small folder)

    def _read(self, path: Any, label: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        return {_INPUT: tf.reshape(tf.io.read_file(path), [1])}, tf.reshape(
            tf.cast(label, self.y_type), [1]
        )

    def batches(self, batch_size: int, order: Any = None) -> Any:
        import tensorflow as tf

        paths, labels = tf.constant(self.paths), tf.constant(self.labels)
        if order is not None:
            paths, labels = tf.gather(paths, order), tf.gather(labels, order)
        return (
            tf.data.Dataset.from_tensor_slices((paths, labels))
            .map(self._read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size)
        )

    def train(self, batch_size: int, shuffle_seed: Any) -> Any:
        import tensorflow as tf

        epoch_seed = tf.cast(0 if shuffle_seed is None else shuffle_seed, tf.int64)
        order = tf.argsort(
            tf.random.stateless_uniform([len(self.paths)], seed=tf.stack([epoch_seed, 0]))
        )
        if self.held is None:
            return self.batches(batch_size, order)
        return (
            tf.data.Dataset.from_tensor_slices(order)
            .batch(batch_size)
            .map(self._gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        )

    def _gather(self, i: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        labels = tf.cast(tf.constant(self.labels), self.y_type)
        return {_INPUT: tf.gather(self.held, i)}, tf.reshape(tf.gather(labels, i), [-1, 1])


def _learn(reader: _Reader, info: DataInfo) -> tuple[Learned, Any]:
    """One streamed pass over the training files: their words counted (bounded), UTF-8 checked;
    the texts kept, as an (n, 1) string tensor, while they total at most :data:`HELD_BYTES`."""
    import numpy as np
    import tensorflow as tf

    learned = Learned.of(info.columns)
    kept: list[Any] | None = []
    size = 0
    for start, (x, _) in enumerate(reader.batches(PASS_BATCH)):
        text = x[_INPUT]
        if kept is not None:
            size += int(tf.reduce_sum(tf.strings.length(text)))
            if size <= HELD_BYTES:
                kept.append(text)
            else:  # too big to hold: read from the files each epoch
                kept = None
        try:
            tf.strings.unicode_decode(text, "UTF-8", errors="strict")
        except tf.errors.InvalidArgumentError:
            for path in reader.paths[start * PASS_BATCH : (start + 1) * PASS_BATCH]:
                try:
                    Path(path).read_bytes().decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise NetdslDataError(
                        f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                        help="save the file as UTF-8",
                    ) from None
            raise
        learned.add(x, np.ones(len(text), bool))
    return learned, (tf.concat(kept, axis=0) if kept else None)


def load_text_files(request: DataRequest, info: DataInfo) -> Streams:
    """The files as :class:`Streams`; ``state`` holds the vocabulary of the training files."""
    import tensorflow as tf

    a = request.args
    train_dir, test_dir, names = text_files(request)
    paths, labels = _files(train_dir, names)
    if test_dir is not None:
        test_paths, test_labels = _files(test_dir, names)
        train = _Reader(tuple(paths), tuple(labels), tf.float32)
        test = _Reader(tuple(test_paths), tuple(test_labels), tf.float32)
    else:
        keep, held = _split(len(paths), float(a["test_split"]), int(a["seed"]))
        train = _Reader(tuple(paths[i] for i in keep), tuple(labels[i] for i in keep), tf.float32)
        test = _Reader(tuple(paths[i] for i in held), tuple(labels[i] for i in held), tf.float32)
    if not train.paths or not test.paths:
        raise NetdslDataError(
            f"{train_dir}: {len(train.paths)} training and {len(test.paths)} test files",
            help="each side of the split needs a file",
        )
    y_type = tf.int32 if info.target.kind == "classes" else tf.float32
    train, test = (_Reader(r.paths, r.labels, y_type) for r in (train, test))
    learned, held = _learn(train, info)
    if held is not None:
        train = _Reader(train.paths, train.labels, y_type, held)
    record = {
        "source": str(train_dir),
        "format": "text_files",
        "streamed": held is None,
        "cached_in_memory": held is not None,
        "split": {"test_split": a["test_split"], "seed": a["seed"], "method": "per file, seeded"}
        if test_dir is None
        else {"method": "the test/ folder"},
        "columns": [c.to_json() for c in info.columns],
        "adapted_on": "the training files only, in one pass",
    }
    return Streams(
        train.train,
        test.batches,
        len(train.paths),
        len(test.paths),
        names,
        record,
        state=learned.state(),
    )


TEXT_FILES = Dataset(
    name="text_files",
    describe=describe_text_files,
    load=load_text_files,
    description="your own text: a folder with one sub-folder of .txt files per class (or train/ "
    "and test/ folders of them), as Keras's text_dataset_from_directory; the words are learned "
    "from the training files and encoded inside the model, which takes raw text",
    params=(
        Param("path", T.Str(), None, positional=True, help="the folder (else --data PATH)"),
        Param("test_split", T.Float(min=0.01, max=0.9), 0.2, help="fraction of files held out"),
        Param("seed", T.Int(min=0, max=2**32 - 1), 0, help="seed of the test split"),
    ),
)
