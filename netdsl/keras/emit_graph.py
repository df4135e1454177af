"""``netdsl emit`` for a graph program: the functional API with named inputs and outputs
(dicts by name, as netdsl builds it), shared layers made once and called at each use, compile
with a loss, metrics and a loss weight per output, and data handled as dicts of arrays."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..checking.plan import CheckedModel

if TYPE_CHECKING:  # pragma: no cover
    from .emit import _Expr, _Writer

__all__ = [
    "graph_build",
    "graph_compile",
    "graph_constants",
    "graph_helpers",
    "graph_prepare",
]


def graph_build(model: CheckedModel, w: _Writer) -> list[str]:
    """``build_model``'s network: ``inputs`` (a dict of ``keras.Input`` by name), one line per
    layer, a layer shared by several nodes kept in a variable, ``outputs`` by name."""
    from .emit import _Call, _layout, _literal, _Src

    lines = ["    inputs = {"]
    for i in model.inputs:
        call = _Call(
            "keras.Input",
            (("shape", _literal(tuple(i.shape))), ("name", _Src(json.dumps(i.name)))),
        )
        lines += _layout(call, 8, f"{json.dumps(i.name)}: ", ",")
    lines.append("    }")
    names: dict[int, str] = {i.node: f"inputs[{json.dumps(i.name)}]" for i in model.inputs}
    shared = {n.shares for n in model.nodes if n.shares is not None}
    for n in model.nodes:
        names[n.index] = f"x{n.index}"
        sources = [names[i] for i in n.inputs]
        component = n.component
        merge = component is not None and (component.merge or component.wrapper == "chain")
        arg = _Src(f"[{', '.join(sources)}]") if merge else _Src(sources[0])
        if n.shares is not None:
            lines.append(f"    {names[n.index]} = layer{n.shares}({_flat_src(arg)})")
        elif n.index in shared:  # used again later: one layer, one set of weights
            lines += _layout(w.layer(n), 4, f"layer{n.index} = ")
            lines.append(f"    {names[n.index]} = layer{n.index}({_flat_src(arg)})")
        else:
            lines += _layout(_Call(w.layer(n), ((None, arg),)), 4, f"{names[n.index]} = ")
    outputs = [(o.name, _Src(names[o.node])) for o in model.outputs]
    lines += dict_lines(outputs, 4, "outputs = ")
    return lines


def dict_lines(
    items: Sequence[tuple[str, _Expr]], indent: int, prefix: str = "", suffix: str = ""
) -> list[str]:
    """``{"key": value, ...}`` on one line when it fits, else one item per line (as ``ruff
    format`` lays it out)."""
    from .emit import LINE_LENGTH, _flat, _layout

    pad = " " * indent
    one = f"{pad}{prefix}{{" + ", ".join(f"{json.dumps(k)}: {_flat(v)}" for k, v in items)
    one += f"}}{suffix}"
    if len(one) <= LINE_LENGTH:
        return [one]
    out = [f"{pad}{prefix}{{"]
    for k, v in items:
        out += _layout(v, indent + 4, f"{json.dumps(k)}: ", ",")
    return [*out, f"{pad}}}{suffix}"]


def _flat_src(e: Any) -> str:
    from .emit import _flat

    return _flat(e)


def graph_compile(model: CheckedModel, w: _Writer) -> list[str]:
    """``model.compile`` with a loss, metrics and a loss weight per output, by name."""
    from .emit import _layout, _Seq, _Src

    def per(key: str, make: Any) -> list[str]:
        return dict_lines([(o.name, make(o)) for o in model.outputs], 8, f"{key}=", ",")

    return [
        "    model.compile(",
        *_layout(w.value(model.settings.optimizer), 8, "optimizer=", ","),
        *per("loss", lambda o: w.value(o.loss)),
        *per("metrics", lambda o: _Seq(tuple(w.value(m) for m in o.metrics))),
        *per("loss_weights", lambda o: _Src(repr(float(o.loss_weight)))),
        "    )",
    ]


def graph_constants(model: CheckedModel) -> list[str]:
    """``INPUT_SHAPES``: each input's example shape, by name."""
    shapes = ", ".join(
        f"{json.dumps(i.name)}: {tuple(i.shape)!r}".replace(",)", ",)") for i in model.inputs
    )
    return [f"INPUT_SHAPES = {{{shapes}}}"]


def _encode(o: Any) -> str:
    source = f"y[{json.dumps(o.name)}]"
    if o.labels == "categorical":
        return f'np.eye({o.target.num_classes}, dtype="float32")[{source}]'
    if o.labels == "sparse":
        return f'{source}.astype("int32")'
    shape = tuple(o.target.output_shape)
    return f'{source}.astype("float32").reshape((-1, *{shape!r}))'


def graph_prepare(model: CheckedModel) -> list[str]:
    """``prepare(x, y)`` for dicts by name (a bare array is the sole input ``x`` or target
    ``y``): each input shaped, each target encoded as its output's loss wants it."""
    lines = [
        "def prepare(x, y):",
        '    """Inputs shaped by name; each target as its output\'s loss wants it."""',
        '    x = x if isinstance(x, dict) else {"x": x}',
        '    y = y if isinstance(y, dict) else {"y": y}',
        "    x = {k: x[k].reshape((len(x[k]), *shape)) for k, shape in INPUT_SHAPES.items()}",
        "    return x, {",
    ]
    lines += [f"        {json.dumps(o.name)}: {_encode(o)}," for o in model.outputs]
    lines.append("    }")
    return lines


def graph_helpers() -> list[list[str]]:
    """``rows`` and ``take`` (arrays by name count and slice as one), and the batches."""
    return [
        [
            "def rows(a):",
            '    """How many examples: a dict of arrays by name counts its arrays\' rows."""',
            "    return len(next(iter(a.values()))) if isinstance(a, dict) else len(a)",
        ],
        [
            "def take(a, index):",
            '    """Some examples of an array, or of every array of a dict by name."""',
            "    return {k: v[index] for k, v in a.items()} if isinstance(a, dict) else a[index]",
        ],
        [
            "def training_batches(x, y, seed):",
            '    """Batches of BATCH_SIZE, epoch after epoch. Epoch e visits the examples in the'
            " order",
            "    np.random.default_rng([seed, e]).permutation(rows(x)), a function of the seed and"
            " the",
            "    epoch alone, as `netdsl run` orders them (so a resumed run sees the same"
            ' batches)."""',
            "    for epoch in itertools.count():",
            "        order = np.random.default_rng([seed, epoch]).permutation(rows(x))",
            "        for start in range(0, rows(x), BATCH_SIZE):",
            "            batch = order[start : start + BATCH_SIZE]",
            "            yield take(x, batch), take(y, batch)",
        ],
    ]
