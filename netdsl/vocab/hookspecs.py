"""The hooks a netdsl plugin may implement, one per kind of name, all in one style.

Each hook receives ``register``; call ``register(component)`` once per declaration (pass
``override=True`` to replace a name another plugin registered, on purpose). See docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

__all__ = ["HOOKS", "PROJECT", "Register", "hookimpl", "hookspec"]

PROJECT = "netdsl"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_activations(register: Register) -> None:
    """Register activation functions (``relu``, ``gelu``, …) as ``Activation`` declarations."""


@hookspec
def register_losses(register: Register) -> None:
    """Register losses (``categorical_crossentropy``, ``mse``, …) as ``Loss`` declarations."""


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizers (``adam``, ``sgd``, …) with their hyperparameters as ``Optimizer``s."""


@hookspec
def register_regularizers(register: Register) -> None:
    """Register weight regularizers (``l1``, ``l2``, ``l1_l2``) as ``Regularizer`` declarations."""


@hookspec
def register_layers(register: Register) -> None:
    """Register layers with their shape and parameter-count rules as ``Layer`` declarations."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets (input shape, classes, loader) as ``Dataset`` declarations."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register training metrics (``accuracy``, ``auc``, …) as ``Metric`` declarations."""


@hookspec
def register_callbacks(register: Register) -> None:
    """Register training callbacks (``early_stopping``, …) as ``Callback`` declarations."""


@hookspec
def register_schedules(register: Register) -> None:
    """Register learning-rate schedules (``cosine_decay``, …) as ``Schedule`` declarations."""


@hookspec
def register_blocks(register: Register) -> None:
    """Register blocks written in netdsl (``Block(name=..., source="block name(p) = ...")``):
    global names used like layers, checked and expanded as a program's own blocks."""


#: hook name -> the component kind it registers
HOOKS = {
    "register_activations": "activation",
    "register_losses": "loss",
    "register_optimizers": "optimizer",
    "register_regularizers": "regularizer",
    "register_layers": "layer",
    "register_datasets": "dataset",
    "register_metrics": "metric",
    "register_callbacks": "callback",
    "register_schedules": "schedule",
    "register_blocks": "block",
}
