"""What a served model takes and gives, read from its run folder's plan: the request schema of
every input and the meaning of every output, as ``GET /`` shows them and :mod:`.decode` checks
them. Three kinds of model: a chain's (one input ``x``, one output ``y``), a graph's (the plan's
named inputs and outputs) and a typed table's (one raw input per column: a number, or a string
for a text, category or binary column). Nothing here imports TensorFlow or the web stack."""

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
    (base64 or a multipart file) can be given in place of the numbers. A typed table's column
    (``column``: its type) takes one raw value: a number (``float32``, NaN when missing) or a
    string (``string``, "" when missing)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    vocabulary: int | None = None
    column: str = ""

    @property
    def image(self) -> bool:
        return not self.column and self.dtype == "float32" and image_layout(self.shape) is not None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def expected(self) -> str:
        """What a value of this input must be, in words (the 422's ``expected``)."""
        if self.column:
            what = "a number" if self.dtype == "float32" else "a string"
            return f"{what} (the {self.column} column), or null when missing"
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
        if self.column:
            return {
                "name": self.name,
                "type": self.column,
                "dtype": self.dtype,
                "accepts": self.expected(),
            }
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
    """A served model's inputs and outputs; ``graph`` when they are named (the model takes a
    dict of inputs and gives a dict of outputs), ``table`` when the inputs are raw columns."""

    name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    graph: bool = False

    @property
    def table(self) -> bool:
        return any(i.column for i in self.inputs)

    @property
    def named(self) -> bool:
        """Whether an instance must be an object naming each input (or column)."""
        return self.table or len(self.inputs) > 1

    def input(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.table:
            data["instance"] = "an object of the raw value of each column, by its name"
        elif self.named:
            data["instance"] = "an object of the value of each input, by its name"
        data["inputs"] = [i.to_json() for i in self.inputs]
        data["outputs"] = [o.to_json() for o in self.outputs]
        return data


def model_name(folder: str | Path) -> str:
    """The name a run folder's model is served under: the folder's name without ``netdsl run``'s
    date suffix (``runs/mnist-20261130-061200/`` → ``mnist``)."""
    base = Path(folder).resolve().name
    return _RUN_SUFFIX.sub("", base) or base


def signature_of(model: Any, class_names: Sequence[str], name: str) -> Signature:
    """The signature of a checked run (:class:`~netdsl.checking.plan.CheckedModel`) whose
    labels are ``class_names``. Its inputs: a typed table's columns (a graph's over a table
    too: its saved model takes the raw columns), a graph's named inputs, or a chain's sole
    input (its shape and value type from the recorded dataset description: integer ids when it
    declares a vocabulary). Its outputs: a graph's by name, or a chain's sole one."""
    data = model.data
    if data.columns:
        inputs = tuple(InputSpec(c.name, (1,), c.input_dtype, column=c.type) for c in data.columns)
    elif model.is_graph:
        inputs = tuple(
            InputSpec(i.name, tuple(int(d) for d in i.shape), _dtype(i.dtype)) for i in model.inputs
        )
    else:
        vocabulary = data.vocabulary
        inputs = (
            InputSpec(
                DEFAULT_INPUT,
                tuple(int(d) for d in model.input_shape),
                "int32" if vocabulary is not None else "float32",
                vocabulary,
            ),
        )
    if not model.is_graph:
        out = _output(
            DEFAULT_OUTPUT, data.target, model.output_shape, model.settings.loss, class_names
        )
        return Signature(name, inputs, (out,))
    sole = len(model.outputs) == 1  # as `netdsl predict` names an output's classes
    outputs = tuple(
        _output(
            o.name,
            o.target,
            o.shape,
            o.loss,
            list(o.class_names) or (list(class_names) if sole else []),
        )
        for o in model.outputs
    )
    return Signature(name, inputs, outputs, graph=True)


def _dtype(dtype: str) -> str:
    """A graph input's request dtype: integers (token ids) or float32 numbers."""
    return "int32" if dtype.startswith("int") else "float32"


def _output(
    name: str, target: Any, shape: Sequence[int], loss: Any, class_names: Sequence[str]
) -> OutputSpec:
    """One output: its target's kind, its classes named (by index where no name is known),
    and whether its loss reads logits."""
    logits = bool(getattr(loss, "kwargs", {}).get("from_logits"))
    classes: tuple[str, ...] = ()
    if target.kind != "regression":
        count = target.num_classes if target.kind == "classes" else 2
        names = list(class_names)
        classes = tuple(names[i] if i < len(names) else str(i) for i in range(count))
    return OutputSpec(name, target.kind, tuple(int(d) for d in shape), classes, logits)
