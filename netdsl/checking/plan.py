"""The plan: what ``check`` decides, frozen, typed, and the only thing later stages read.

The checked graph (every name resolved, every argument bound, every shape and parameter count
known), the typed effective settings (:class:`~netdsl.settings.Settings`: defaults, the
dataset's answers and overrides applied), and every figure derived from them, computed once
here: the train / validation / test sizes (:func:`split_sizes`, Keras's rule), steps per epoch
and for the whole run, the label encoding, the effective backend and the data description.
Compiler, training, driver, emit, summary, export, predict and the language server read these
fields and never derive them again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..lang import ir
from ..vocab.components import DataInfo, Ref
from ..vocab.settings import TABLE, Settings
from .graph import GraphInput, GraphOutput, Node, Shape

__all__ = ["CheckedModel", "Origin", "Plan", "Sizes", "run_steps", "split_sizes"]


def split_sizes(examples: int, validation_split: float) -> tuple[int, int]:
    """``(train, validation)`` for ``examples`` held out as Keras's ``validation_split`` does:
    the first ``floor(examples x (1 - split))`` train, the rest validate (none without a split).
    The one rule: the checker's error, training's split, schedules and ``emit`` all use it."""
    if not validation_split:
        return examples, 0
    train = math.floor(examples * (1.0 - validation_split))
    return train, examples - train


def run_steps(examples: int, settings: Settings) -> tuple[int, int]:
    """``(steps per epoch, optimizer steps of the whole run)`` when ``examples`` are loaded for
    training: ``ceil(train / batch_size)`` steps (at least 1) per epoch, after the split."""
    train, _ = split_sizes(examples, settings.validation_split)
    per_epoch = max(1, math.ceil(train / settings.batch_size))
    return per_epoch, per_epoch * settings.epochs


@dataclass(frozen=True)
class Sizes:
    """Examples on each side, as far as the dataset's description says (None: not known
    before the data is read, e.g. a CSV file's rows)."""

    train: int | None
    validation: int | None
    test: int | None

    def to_dict(self) -> dict[str, int | None]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


@dataclass(frozen=True)
class Origin:
    """How a plan was made: ``check``'s arguments, and ``check`` itself (handed in by the checker,
    which imports this module), so :meth:`CheckedModel.replace` can check again."""

    check: Callable[..., CheckedModel]
    registry: Any
    data: str | None
    overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class CheckedModel:
    """A program with every name resolved, every argument bound and every shape known, and the
    figures every later stage needs.

    ``settings`` holds the effective value of every setting; ``data`` is what the dataset said
    about itself; ``labels`` is how the loss wants the targets encoded ("categorical" one-hot
    rows or "sparse" class ids, "any" as given); ``backend`` is the Keras backend training runs
    on (:func:`netdsl.backends.resolve`; None when ``$KERAS_BACKEND`` names none netdsl knows,
    which importing Keras reports); ``sizes``, ``steps_per_epoch`` and ``total_steps`` count
    the described dataset (None when its size is not known before loading). Two plans are equal
    when they would run the same (the program's text and spans aside).
    """

    program: ir.Program = field(compare=False)
    nodes: tuple[Node, ...]
    settings: Settings
    data: DataInfo
    labels: str
    backend: str | None = None
    sizes: Sizes = Sizes(None, None, None)
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    origin: Origin | None = field(default=None, compare=False, repr=False)
    #: a graph's named inputs and outputs (empty for a chain program: one input, the last
    #: node the one output); see :class:`~.graph.GraphInput` and :class:`~.graph.GraphOutput`
    inputs: tuple[GraphInput, ...] = ()
    outputs: tuple[GraphOutput, ...] = ()
    #: a graph's named tensors: name -> the node that computes it (``-1 - i``: input ``i``)
    tensors: tuple[tuple[str, int], ...] = ()
    #: what ``check`` warns about (an unused tensor, an unread input); never part of equality
    warnings: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    @property
    def is_graph(self) -> bool:
        """Whether the program is a graph (named inputs and outputs, built functionally)."""
        return bool(self.outputs)

    @property
    def input_shape(self) -> Shape:
        return tuple(self.settings.input or ())

    @property
    def output_shape(self) -> Shape:
        if self.outputs:
            return self.outputs[0].shape
        return self.nodes[-1].output_shape if self.nodes else self.input_shape

    @property
    def normalize_params(self) -> int:
        """The weights of ``normalize: true``'s Normalization layer (a mean and a variance per
        feature of the last axis, and a count), 0 without it."""
        return 2 * int(self.input_shape[-1]) + 1 if self.settings.normalize else 0

    @property
    def total_params(self) -> int:
        """Every weight of the built model, the Normalization layer's included."""
        return sum(n.params for n in self.nodes) + self.normalize_params

    @property
    def dataset(self) -> Ref:
        assert self.settings.dataset is not None
        return self.settings.dataset

    def steps_for(self, examples: int) -> int:
        """Optimizer steps of the whole run when ``examples`` are loaded for training (the
        plan's ``total_steps`` when that is what the dataset described)."""
        if examples == self.data.train_size and self.total_steps is not None:
            return self.total_steps
        return run_steps(examples, self.settings)[1]

    def replace(self, **changes: Any) -> CheckedModel:
        """The plan with some training settings changed (``epochs=2``), checked again with them,
        so every rule sees the new values. A setting that decides what the model is (``input``,
        ``dataset``) is refused (NDL004): change it in the program."""
        from ..errors import NetdslSettingError

        for key in changes:
            if key in TABLE and TABLE[key].stage != "train":
                raise NetdslSettingError(
                    f"`{key}` decides what the model is; change it in the program", code="NDL004"
                )
        if self.origin is None:
            raise NetdslSettingError(
                "this plan was not made by `check`, so it cannot be checked "
                "again with new settings",
                code="NDL004",
            )
        origin = self.origin
        return origin.check(
            self.program,
            origin.registry,
            data=origin.data,
            overrides={**origin.overrides, **changes},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.program.filename,
            "settings": self.settings.to_dict(),
            "data": self.data.to_json(),
            "labels": self.labels,
            "backend": self.backend,
            "sizes": self.sizes.to_dict(),
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "layers": [n.to_dict() for n in self.nodes],
            "total_params": self.total_params,
            **(
                {
                    "inputs": [i.to_dict() for i in self.inputs],
                    "outputs": [o.to_dict() for o in self.outputs],
                    "tensors": dict(self.tensors),
                }
                if self.is_graph
                else {}
            ),
        }


#: the plan under its own name (``CheckedModel`` is the public one)
Plan = CheckedModel
