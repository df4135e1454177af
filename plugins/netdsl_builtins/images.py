"""The user's own pictures: ``images("photos/")``, one sub-folder per class, as Keras's
``image_dataset_from_directory`` reads them (PNG, JPEG, GIF, BMP).

Two layouts: ``photos/<class>/*.png`` split by ``test_split`` (seeded), or ``photos/train/<class>``
and ``photos/test/<class>``. ``netdsl check`` lists the class folders only (never the files);
training reads the images through ``tf.data``, resized to ``size`` and scaled to [0, 1]: decoded
once and held in memory when they fit in :data:`CACHE_BYTES`, else decoded each epoch.
The size and colour default to the program's ``input:`` (e.g. ``input: 64x64x1``), else Keras's
256x256 RGB.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netdsl.errors import NetdslDataError
from netdsl.keras.datafiles import MAX_IMAGE_PIXELS, image_size, path_kind
from netdsl.vocab import types as T
from netdsl.vocab.components import DataInfo, DataRequest, Dataset, Param, Streams, Target

from .dataset_emit import emit_images

__all__ = [
    "CACHE_BYTES",
    "COLORS",
    "IMAGES",
    "class_folders",
    "require_classes",
    "split_folders",
    "subfolders",
]

#: colour mode -> channels
COLORS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_DEFAULT_SIZE = (256, 256)
#: the training images are decoded once and kept in memory (float32) when they take at most this
#: many bytes: 256 MiB is 21,845 RGB images of 64x64, 1,365 of 256x256. Larger sets are decoded
#: again each epoch, a batch at a time, so memory does not grow with the folder past this
#: (twice this, briefly, while the decoded batches are joined).
CACHE_BYTES = 256 << 20


def _root(request: DataRequest) -> Path:
    if not request.path:
        raise NetdslDataError(
            '`images` needs a folder: `dataset: images("photos/")` or `netdsl run --data photos/`'
        )
    root = Path(request.path).expanduser()
    kind = path_kind(root)
    if kind is None:
        raise NetdslDataError(f"{root}: no such folder")
    if kind != "a folder":
        raise NetdslDataError(
            f"{root} is {kind}; `images` reads a folder with one sub-folder per class"
        )
    return root


def subfolders(folder: Path) -> list[str]:
    """The sub-folders of ``folder`` (links to folders too; hidden ones left out), sorted."""
    with os.scandir(folder) as it:
        return sorted(
            e.name for e in it if e.is_dir(follow_symlinks=True) and not e.name.startswith(".")
        )


def split_folders(root: Path) -> tuple[Path, Path | None, list[str]]:
    """A class-folder dataset's training folder, its test folder (a ``train/``+``test/``
    layout) or None, and the training folder's sub-folders (images and text files share it)."""
    subs = subfolders(root)
    if "train" in subs and "test" in subs:
        return root / "train", root / "test", subfolders(root / "train")
    return root, None, subs


def require_classes(train: Path, subs: list[str], needs: str, *examples: str) -> None:
    """An error unless ``train`` holds at least two class folders; ``needs`` says what the
    dataset reads, ``examples`` two class folders' files under ``train``."""
    if len(subs) < 2:
        raise NetdslDataError(
            f"{train} holds {len(subs)} sub-folder(s); {needs}, at least two",
            help="e.g. " + " and ".join(f"{train}/{e}" for e in examples),
        )


def class_folders(request: DataRequest) -> tuple[Path, Path | None, tuple[str, ...]]:
    """The training folder, the test folder (``test/`` layout) or None, and the class names."""
    train, test, subs = split_folders(_root(request))
    if test is not None:
        extra = sorted(set(subfolders(test)) - set(subs))
        if extra:
            raise NetdslDataError(
                f"{test} has class folder(s) {', '.join(extra)} that {train} lacks",
                help="the test classes must be the training classes",
            )
    require_classes(
        train, subs, "`images` needs one sub-folder per class", "cats/*.jpg", "dogs/*.jpg"
    )
    return train, test, tuple(subs)


def _shape(request: DataRequest) -> tuple[int, int, int]:
    a = request.args
    given = request.input_shape if request.input_shape and len(request.input_shape) == 3 else None
    color = (
        a.get("color")
        or next((c for c, n in COLORS.items() if given and n == given[2]), None)
        or "rgb"
    )
    size = a.get("size") or (tuple(given[:2]) if given else _DEFAULT_SIZE)
    if len(size) != 2:
        raise NetdslDataError(
            f"`size` is height x width, e.g. 64x64, not {'x'.join(map(str, size))}"
        )
    return int(size[0]), int(size[1]), COLORS[color]


def describe_images(request: DataRequest) -> DataInfo:
    """Class names from the sub-folders; the shape from the arguments or the program's ``input:``."""
    _train, _test, names = class_folders(request)
    return DataInfo(
        _shape(request), Target("classes", len(names)), class_names=names, streamed=True
    )


def _labels(folder: Path, paths: list[str], names: tuple[str, ...]) -> list[int]:
    """Each file's class id: the class folder it lies in (at any depth below it)."""
    index = {name: i for i, name in enumerate(names)}
    return [index[Path(p).relative_to(folder).parts[0]] for p in paths]


def _undecodable(paths: list[str], decode: Any, exc: Any) -> NetdslDataError:
    """The error for a picture that does not decode, naming it (found by decoding one by one)."""
    import tensorflow as tf

    text = (getattr(exc, "message", "") or str(exc)).strip().splitlines()
    for path in paths:
        try:
            decode(tf.constant(path))
        except tf.errors.OpError as one:
            text = (one.message or "").strip().splitlines() or text
            return NetdslDataError(
                f"{path}: does not decode as an image: {text[0] if text else one}",
                help="the file is damaged or not an image (.png, .jpg, .gif, .bmp); "
                "repair it or move it out of the folder",
            )
    return NetdslDataError(
        f"an image does not decode: {text[0] if text else exc}",
        help="a file in the dataset is damaged or not an image (.png, .jpg, .gif, .bmp)",
    )


def _from_directory(
    keras: Any, train_dir: Path, test_dir: Path | None, a: Any, common: dict[str, Any]
) -> tuple[Any, Any]:
    """Keras's training and test datasets of the folders (the seeded split, or test/)."""
    if test_dir is None:
        return tuple(
            keras.utils.image_dataset_from_directory(
                str(train_dir),
                shuffle=True,
                seed=a["seed"],
                validation_split=a["test_split"],
                subset="both",
                **common,
            )
        )
    train_ds = keras.utils.image_dataset_from_directory(
        str(train_dir), shuffle=True, seed=a["seed"], **common
    )
    test_ds = keras.utils.image_dataset_from_directory(str(test_dir), shuffle=False, **common)
    return train_ds, test_ds


def check_headers(paths: list[str]) -> None:
    """Every picture's header read (never its pixels) before anything decodes it: an empty,
    truncated or damaged file, or one declaring more than :data:`MAX_IMAGE_PIXELS`, is an error
    naming it, before training rather than as a graph error after the first epoch."""
    for path in paths:
        image_size(Path(path))


def decoder(height: int, width: int, channels: int) -> Any:
    """``path -> float32 (height, width, channels)`` in [0, 1]: the file decoded in its own
    channels (a GIF or BMP has no grey mode in TensorFlow's decoders), converted to
    ``channels`` (grey by the ITU-R 601 weights), resized bilinearly."""
    import tensorflow as tf

    weights = tf.constant([0.2989, 0.5870, 0.1140], tf.float32)

    def decode(path: Any) -> Any:
        img = tf.image.decode_image(tf.io.read_file(path), channels=0, expand_animations=False)
        img = tf.cast(img, tf.float32)
        have = tf.shape(img)[-1]
        grey_in = have < 3  # 1: grey, 2: grey and alpha
        rgb = tf.cond(grey_in, lambda: tf.tile(img[..., :1], [1, 1, 3]), lambda: img[..., :3])
        alpha = tf.cond(
            tf.equal(have % 2, 0),
            lambda: img[..., -1:],
            lambda: tf.fill(tf.concat([tf.shape(img)[:2], [1]], 0), 255.0),
        )
        if channels == 1:
            out = tf.cond(
                grey_in,
                lambda: img[..., :1],
                lambda: tf.reduce_sum(rgb * weights, axis=-1, keepdims=True),
            )
        else:
            out = rgb if channels == 3 else tf.concat([rgb, alpha], axis=-1)
        out = tf.image.resize(out, (height, width), method="bilinear")
        return tf.reshape(out, (height, width, channels)) / 255.0

    return decode


def _options(names: tuple[str, ...], color: str, height: int, width: int) -> dict[str, Any]:
    """The ``image_dataset_from_directory`` options both layouts share: labels by class folder
    in netdsl's order, undecoded (``batch_size=None``: only the file list is used), quiet."""
    return {
        "labels": "inferred",
        "label_mode": "int",
        "class_names": list(names),
        "color_mode": color,
        "image_size": (height, width),
        "batch_size": None,
        "verbose": False,
    }


def _listed(
    keras: Any, train_dir: Path, test_dir: Path | None, a: Any, common: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """The training and test files as Keras lists and splits them; an empty folder, class or
    side of the split is an error naming the folder."""
    try:
        # Keras says "Using N files for validation" of what is netdsl's test split: not printed
        with contextlib.redirect_stdout(io.StringIO()):
            train_ds, test_ds = _from_directory(keras, train_dir, test_dir, a, common)
    except ValueError as exc:  # Keras: no images found, a class folder empty, ...
        raise NetdslDataError(
            f"{train_dir}: {str(exc).splitlines()[0]}",
            help="each class folder needs image files (.png, .jpg, .gif, .bmp)",
        ) from None
    paths = list(getattr(train_ds, "file_paths", ()))
    test_paths = list(getattr(test_ds, "file_paths", ()))
    if not (paths and test_paths):
        raise NetdslDataError(
            f"{train_dir}: the split leaves {len(paths)} training and {len(test_paths)} test images",
            help="add images, or another test_split",
        )
    return paths, test_paths


def _decode_all(paths: list[str], decode: Any) -> Any:
    """Every training image decoded once, in file order, as one float32 tensor (the in-memory
    cache); a file that does not decode is an error naming it."""
    import tensorflow as tf

    try:
        return tf.concat(
            list(
                tf.data.Dataset.from_tensor_slices(tf.constant(paths))
                .map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .batch(1024)
            ),
            axis=0,
        )
    except tf.errors.OpError as exc:
        raise _undecodable(paths, decode, exc) from None


@dataclass(frozen=True)
class _Pipelines:
    """The ``train``/``test`` pipelines of :class:`Streams` over the listed files: the training
    images from ``pixels`` when cached, else decoded by ``decode`` batch by batch."""

    files: Any
    labels: Any
    test_files: Any
    test_labels: Any
    decode: Any
    pixels: Any
    train_size: int

    def train(self, batch_size: int, seed: Any) -> Any:
        """One epoch: a permutation of the training images seeded by the epoch's ``seed``."""
        import tensorflow as tf

        epoch_seed = tf.cast(0 if seed is None else seed, tf.int64)
        draw = tf.random.stateless_uniform([self.train_size], seed=tf.stack([epoch_seed, 0]))
        ids = tf.data.Dataset.from_tensor_slices(tf.argsort(draw)).batch(batch_size)
        return ids.map(self._gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _gather(self, i: Any) -> tuple[Any, Any]:
        """The batch of training images ``i``: gathered from the cache, else decoded."""
        import tensorflow as tf

        if self.pixels is not None:
            return tf.gather(self.pixels, i), tf.gather(self.labels, i)
        images = tf.map_fn(self.decode, tf.gather(self.files, i), fn_output_signature=tf.float32)
        return images, tf.gather(self.labels, i)

    def test(self, batch_size: int) -> Any:
        """The test images in file order, decoded each time."""
        import tensorflow as tf

        return (
            tf.data.Dataset.from_tensor_slices((self.test_files, self.test_labels))
            .map(self._decode_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size)
        )

    def _decode_one(self, f: Any, y: Any) -> tuple[Any, Any]:
        """One test example: its file decoded, its label."""
        return self.decode(f), y


def _record(
    request: DataRequest, test_dir: Path | None, cached: bool, shape: tuple[int, int, str]
) -> dict[str, Any]:
    """What ``data.json`` says of the images: where, how split, in which order, how decoded."""
    a = request.args
    height, width, color = shape
    return {
        "source": str(request.path),
        "format": "images",
        "streamed": not cached,
        "cached_in_memory": cached,
        "test_folder": str(test_dir) if test_dir else None,
        "split": None
        if test_dir
        else {
            "test_split": a["test_split"],
            "seed": a["seed"],
            "method": "keras.utils.image_dataset_from_directory(validation_split, seed)",
        },
        "order": "each epoch, a permutation of the training images seeded by the epoch's seed",
        "image_size": [height, width],
        "color": color,
        "max_pixels": MAX_IMAGE_PIXELS,
    }


def load_images(request: DataRequest, info: DataInfo) -> Streams:
    """The folders as ``tf.data`` pipelines. Keras's ``image_dataset_from_directory`` lists the
    files and makes the seeded split; every file's header is checked first
    (:func:`check_headers`), then decoded by :func:`decoder`. The training images are decoded
    once and kept in memory when they fit in :data:`CACHE_BYTES`, else decoded again each epoch;
    either way each epoch visits them in an order seeded by the epoch's seed."""
    import keras
    import tensorflow as tf

    train_dir, test_dir, names = class_folders(request)
    height, width, channels = info.input_shape
    color = next(c for c, n in COLORS.items() if n == channels)
    common = _options(names, color, height, width)
    paths, test_paths = _listed(keras, train_dir, test_dir, request.args, common)
    check_headers(paths + test_paths)
    decode = decoder(height, width, channels)
    cached = len(paths) * height * width * channels * 4 <= CACHE_BYTES
    pipelines = _Pipelines(
        files=tf.constant(paths),
        labels=tf.constant(_labels(train_dir, paths, names), tf.int32),
        test_files=tf.constant(test_paths),
        test_labels=tf.constant(_labels(test_dir or train_dir, test_paths, names), tf.int32),
        decode=decode,
        # decoded once here, then each epoch is an in-memory gather
        pixels=_decode_all(paths, decode) if cached else None,
        train_size=len(paths),
    )
    record = _record(request, test_dir, cached, (height, width, color))
    return Streams(pipelines.train, pipelines.test, len(paths), len(test_paths), names, record)


IMAGES = Dataset(
    name="images",
    describe=describe_images,
    load=load_images,
    emit=emit_images(dict(COLORS)),
    description="your own pictures: a folder with one sub-folder per class (or train/ and test/ "
    "folders of class folders), resized to `size` and scaled to [0, 1], streamed "
    "through tf.data; `netdsl check` lists the class folders only",
    params=(
        Param("path", T.Str(), None, positional=True, help="the folder (else --data PATH)"),
        Param(
            "size",
            T.Size(),
            None,
            help="height x width to resize to (default: the program's input, else 256x256)",
        ),
        Param(
            "color",
            T.Choice(tuple(COLORS)),
            None,
            help="grayscale, rgb or rgba (default: from the program's input, else rgb)",
        ),
        Param(
            "test_split",
            T.Float(min=0.01, max=0.9),
            0.2,
            help="fraction held out for test when there is no test/ folder",
        ),
        Param("seed", T.Int(min=0, max=2**32 - 1), 0, help="seed of the split and the file order"),
    ),
)
