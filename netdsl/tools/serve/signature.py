"""What a served model takes and gives, read from its run folder's plan: the request schema of
every input and the meaning of the output, as ``GET /`` shows them and :mod:`.decode` checks
them. Nothing here imports TensorFlow or the web stack."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...keras.predict import image_layout

__all__ = ["InputSpec", "OutputSpec", "Signature", "model_name", "signature_of"]

#: the name of the sole input and of the sole output (the language's defaults)
DEFAULT_INPUT = "x"
DEFAULT_OUTPUT = "y"

#: ``netdsl run``'s folder suffix (``-YYYYMMDD-HHMMSS`` and a possible ``-N``)
_RUN_SUFFIX = re.compile(r"-\d{8}-\d{6}(-\d+)?$")


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, the values it takes (``float32`` numbers, or ``int32`` token
    ids below ``vocabulary``) and its shape without the batch axis; ``image`` when a picture
    (base64 or a multipart file) can be given in place of the numbers."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    vocabulary: int | None = None

    @property
    def image(self) -> bool:
        return self.dtype == "float32" and image_layout(self.shape) is not None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def expected(self) -> str:
        """What a value of this input must be, in words (the 422's ``expected``)."""
        shape = "x".join(str(d) for d in self.shape)
        if self.dtype == "int32":
            what = f"integer ids in [0, {self.vocabulary})" if self.vocabulary else "integers"
        else:
            what = "finite numbers"
        text = f"{shape} {what} (nested lists, or a flat list of {self.size})"
        if self.image:
            text += ', or an image as {"b64": "<base64 PNG/JPEG/...>"}'
        return text

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.vocabulary is not None:
            data["vocabulary"] = self.vocabulary
        data["accepts"] = self.expected()
        if self.image:
            data["image"] = "converted to the input's channels, resized, scaled to [0, 1]"
        return data


@dataclass(frozen=True)
class OutputSpec:
    """The model's output: a classifier's classes (``classes`` or ``binary``) or a regression's
    values, and whether the network gives logits (turned into probabilities when served)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    classes: tuple[str, ...] = ()
    from_logits: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "shape": list(self.shape)}
        if self.kind != "regression":
            data["classes"] = list(self.classes)
        data["from_logits"] = self.from_logits
        return data


@dataclass(frozen=True)
class Signature:
    """A served model's inputs and outputs (one of each until programs name several)."""

    name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]

    def input(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inputs": [i.to_json() for i in self.inputs],
            "outputs": [o.to_json() for o in self.outputs],
        }


def model_name(folder: str | Path) -> str:
    """The name a run folder's model is served under: the folder's name without ``netdsl run``'s
    date suffix (``runs/mnist-20261130-061200/`` → ``mnist``)."""
    base = Path(folder).resolve().name
    return _RUN_SUFFIX.sub("", base) or base


def signature_of(model: Any, class_names: Sequence[str], name: str) -> Signature:
    """The signature of a checked run (:class:`~netdsl.checking.plan.CheckedModel`) whose
    labels are ``class_names``: the input's shape and value type from the recorded dataset
    description (integer ids when it declares a vocabulary), the output from its target."""
    data = model.data
    vocabulary = data.vocabulary
    inp = InputSpec(
        DEFAULT_INPUT,
        tuple(int(d) for d in model.input_shape),
        "int32" if vocabulary is not None else "float32",
        vocabulary,
    )
    loss = model.settings.loss
    logits = bool(getattr(loss, "kwargs", {}).get("from_logits"))
    target = data.target
    classes: tuple[str, ...] = ()
    if target.kind != "regression":
        count = target.num_classes if target.kind == "classes" else 2
        names = list(class_names)
        classes = tuple(names[i] if i < len(names) else str(i) for i in range(count))
    out = OutputSpec(
        DEFAULT_OUTPUT, target.kind, tuple(int(d) for d in model.output_shape), classes, logits
    )
    return Signature(name, (inp,), (out,))
