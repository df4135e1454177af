"""``netdsl emit``: the checked graph as a standalone, readable Keras program (no netdsl import).

The program has the model (``keras.Sequential`` for a chain, the functional API where the graph
branches), its compile step (learning-rate schedules included), the dataset's loader (written by
the dataset's own ``emit``), the training batches in netdsl's order (:func:`netdsl.keras.training.
epoch_order`: a function of the seed and the epoch), and ``fit`` (with the program's callbacks)
and ``evaluate`` with the program's settings and seed, so it trains to the same weights. Every component is written from its
declaration: a :func:`~netdsl.vocab.components.keras_factory` build as ``keras.<path>(...)``, a
:func:`~netdsl.vocab.components.keras_value` build as its name, else the component's ``emit`` hook;
a component with none of these is an error naming it. Arguments at their declared default are
left out (declarations use Keras's defaults). The text is laid out as ``ruff format`` would.
TensorFlow is never imported.
"""

from __future__ import annotations

import ast
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..checking.graph import Node
from ..checking.plan import CheckedModel
from ..errors import EmitError
from ..vocab.components import Code, Component, DataRequest, Dataset, Ref, Schedule
from ..vocab.settings import Settings

__all__ = ["LINE_LENGTH", "SETTINGS_WRITTEN", "EmitError", "emit_program"]

#: the line length the program is laid out for (ruff's and black's default)
LINE_LENGTH = 88


# --- expressions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Src:
    """Python source that is laid out as is (a name, a literal, a plugin's expression)."""

    text: str


@dataclass(frozen=True)
class _Call:
    """``func(key=value, ...)``; a None key is a positional argument."""

    func: str | _Expr
    args: tuple[tuple[str | None, _Expr], ...] = ()


@dataclass(frozen=True)
class _Seq:
    """A list or tuple display."""

    items: tuple[_Expr, ...]
    tuple_: bool = False


_Expr = _Src | _Call | _Seq


def _flat(e: _Expr) -> str:
    """The expression on one line."""
    if isinstance(e, _Src):
        return e.text
    if isinstance(e, _Seq):
        inner = ", ".join(_flat(i) for i in e.items)
        if e.tuple_:
            return f"({inner},)" if len(e.items) == 1 else f"({inner})"
        return f"[{inner}]"
    func = e.func if isinstance(e.func, str) else _flat(e.func)
    return f"{func}({', '.join(_arg(k, _flat(v)) for k, v in e.args)})"


def _arg(key: str | None, value: str) -> str:
    return value if key is None else f"{key}={value}"


def _layout(e: _Expr, indent: int, prefix: str = "", suffix: str = "") -> list[str]:
    """Lines for ``prefix + e + suffix`` at ``indent``: one line when it fits, else the outermost
    brackets opened with one item per line and a trailing comma (which ``ruff format`` keeps)."""
    pad = " " * indent
    one = f"{pad}{prefix}{_flat(e)}{suffix}"
    if len(one) <= LINE_LENGTH or isinstance(e, _Src):
        return [one]
    if isinstance(e, _Seq):
        opener, closer = ("(", ")") if e.tuple_ else ("[", "]")
        items: list[tuple[str | None, _Expr]] = [(None, i) for i in e.items]
        head = f"{pad}{prefix}{opener}"
    else:
        closer = ")"
        if not isinstance(
            e.func, str
        ):  # layer(...)(x): open the layer's call, keep the input short
            return _layout(
                e.func, indent, prefix, suffix=f"({', '.join(_flat(v) for _, v in e.args)}){suffix}"
            )
        items = list(e.args)
        head = f"{pad}{prefix}{e.func}("
    out = [head]
    for key, value in items:
        out += _layout(value, indent + 4, "" if key is None else f"{key}=", ",")
    out.append(f"{pad}{closer}{suffix}")
    return out


def _parsed(source: str) -> _Expr:
    """A hook's expression as calls and displays that :func:`_layout` can open across lines;
    anything else (a lambda, a name, a literal) stays as written."""
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return _Src(source)
    return _node(tree, source.strip())


def _node(tree: ast.expr, source: str) -> _Expr:
    text = ast.get_source_segment(source, tree) or ast.unparse(tree)
    if (
        isinstance(tree, ast.Call)
        and not any(isinstance(a, ast.Starred) for a in tree.args)
        and all(k.arg is not None for k in tree.keywords)
    ):
        func = ast.get_source_segment(source, tree.func) or ast.unparse(tree.func)
        return _Call(
            func,
            tuple(
                [(None, _node(a, source)) for a in tree.args]
                + [(k.arg, _node(k.value, source)) for k in tree.keywords]
            ),
        )
    if (
        isinstance(tree, (ast.List, ast.Tuple))
        and tree.elts
        and not any(isinstance(e, ast.Starred) for e in tree.elts)
    ):
        return _Seq(tuple(_node(e, source) for e in tree.elts), tuple_=isinstance(tree, ast.Tuple))
    return _Src(text)


def _literal(value: Any) -> _Expr:
    """A bound argument value as Python source."""
    if value is None or isinstance(value, bool):
        return _Src(repr(value))
    if isinstance(value, int):
        return _Src(str(value))
    if isinstance(value, float):
        return _Src(repr(value) if math.isfinite(value) else f'float("{value}")')
    if isinstance(value, str):
        return _Src(json.dumps(value))
    if isinstance(value, tuple):
        return _Seq(tuple(_literal(v) for v in value), tuple_=True)
    if isinstance(value, list):
        return _Seq(tuple(_literal(v) for v in value))
    raise EmitError(f"cannot write the value {value!r} as Python")


# --- components ---------------------------------------------------------------------------------


class _Writer:
    """Turns components into expressions, collecting the imports and top-level definitions their
    hooks ask for; ``uses_steps`` says a schedule reads the run's ``total_steps``."""

    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.definitions: list[str] = []
        self.uses_steps = False

    def value(self, value: Any) -> _Expr:
        if isinstance(value, Ref):
            return self.component(value.component, value.kind, value.name, value.args)
        if isinstance(value, list):
            return _Seq(tuple(self.value(v) for v in value))
        return _literal(value)

    def component(
        self,
        component: Component | None,
        kind: str,
        name: str,
        args: Sequence[tuple[str, Any]],
        extra: Sequence[tuple[str, _Expr]] = (),
        where: str = "",
    ) -> _Expr:
        """``keras.<path>(...)``, a Keras name, or the component's own ``emit``."""
        if component is None:
            raise EmitError(f"{kind} `{name}` was not resolved by the checker")
        defaults = {p.name: p.default for p in component.params}
        given = [
            (k, self.value(v))
            for k, v in args
            if k not in defaults or defaults[k] != v or type(defaults[k]) is not type(v)
        ]
        if isinstance(component, Schedule) and component.uses_steps:  # as compiler.materialise
            extra = [*extra, ("total_steps", _Src("total_steps"))]
            self.uses_steps = True
        given += list(extra)
        build = component.build
        if component.emit is not None:  # a hook gets every argument, defaults included
            every = [(k, self.value(v)) for k, v in args] + list(extra)
            try:
                out = component.emit({k: _flat(v) for k, v in every})
            except Exception as exc:  # noqa: BLE001 - a plugin's emit bug is named, not a traceback
                raise EmitError(
                    f"{kind} `{name}`{where}: its emit hook failed: {type(exc).__name__}: {exc}"
                ) from None
            if isinstance(out, Code):
                self.imports.update(out.imports)
                self.definitions += [
                    d.strip("\n") for d in out.definitions if d.strip("\n") not in self.definitions
                ]
                out = out.source
            if not isinstance(out, str):
                raise EmitError(
                    f"{kind} `{name}`{where}: its emit hook returned "
                    f"{type(out).__name__}, not a str or netdsl.vocab.components.Code"
                )
            return _parsed(out)
        path = getattr(build, "keras_path", None)
        if isinstance(path, str):
            return _Call(f"keras.{path}", tuple(given))
        constant = getattr(build, "keras_value", None)
        if isinstance(constant, str) and not given:
            return _Src(json.dumps(constant))
        raise EmitError(
            f"{kind} `{name}`{where} cannot be written as Keras code: its build is not "
            "keras_factory(...) or keras_value(...) and it declares no `emit`",
            help='give the declaration `emit=lambda args: "my_module.MyLayer(...)"` (see '
            'docs/plugins.md, "netdsl emit")',
        )

    def layer(self, node: Node) -> _Expr:
        extra = [("layer", self.layer(node.inner))] if node.inner is not None else []
        where = f" ({node.provider})" if node.provider else ""
        return self.component(node.component, "layer", node.layer, node.args, extra, where)


# --- a graph (named inputs and outputs, shared layers) ----------------------------------------
# The functional API with inputs and outputs as dicts by name (as netdsl builds it), a layer
# shared by several nodes made once and called at each use, compile with a loss, metrics and
# a loss weight per output, and the data handled as dicts of arrays.


def graph_build(model: CheckedModel, w: _Writer) -> list[str]:
    """``build_model``'s network: ``inputs`` (a dict of ``keras.Input`` by name), one line per
    layer, a layer shared by several nodes kept in a variable, ``outputs`` by name."""
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
    return _flat(e)


def graph_compile(model: CheckedModel, w: _Writer) -> list[str]:
    """``model.compile`` with a loss, metrics and a loss weight per output, by name."""

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


# --- the program --------------------------------------------------------------------------------

#: where the emitted program carries each setting: one row per row of the settings table (a
#: test walks every setting through ``emit`` and fails on one this table or the text misses)
SETTINGS_WRITTEN: Mapping[str, str] = MappingProxyType(
    {
        "dataset": "load_data(path), written by the dataset's own emit",
        "input": "INPUT_SHAPE and keras.Input",
        "normalize": "a Normalization layer named normalize, adapted on the training examples",
        "loss": "model.compile(loss=...)",
        "optimizer": "model.compile(optimizer=...)",
        "metrics": "model.compile(metrics=[...])",
        "loss_weights": "model.compile(loss_weights={...}), one per output",
        "epochs": "EPOCHS, the default of --epochs",
        "batch_size": "BATCH_SIZE",
        "validation_split": "VALIDATION_SPLIT: the last examples held out, floored as Keras does",
        "callbacks": "model.fit(callbacks=[...])",
        "seed": "SEED: keras.utils.set_random_seed and the batch order",
        "backend": "BACKEND: the program stops unless Keras runs on it",
    }
)

#: the layer ``normalize: true`` puts first (the name netdsl's own model gives it)
_NORMALIZE = _Call(
    "keras.layers.Normalization", (("axis", _Src("-1")), ("name", _Src('"normalize"')))
)


def _is_chain(model: CheckedModel) -> bool:
    """Whether every layer takes the one before it (so ``keras.Sequential`` can hold it)."""
    for n in model.nodes:
        component = n.component
        if component is not None and (component.merge or component.wrapper == "chain"):
            return False
        expected = () if n.index == 0 else (n.index - 1,)
        if n.inputs not in (expected, (-1,) if n.index == 0 else expected):
            return False
    return True


def _model_name(model: CheckedModel) -> str:
    name = os.path.splitext(os.path.basename(model.program.filename or "model"))[0]
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return name if name and name != "_stdin_" else "model"


def _build_model(model: CheckedModel, w: _Writer) -> list[str]:
    """The body of ``build_model()``: the network, then compile."""
    name = json.dumps(_model_name(model))
    inputs = _Call("keras.Input", (("shape", _literal(tuple(model.input_shape))),))
    lines: list[str] = []
    first = (_NORMALIZE,) if model.settings.normalize else ()
    if model.is_graph:  # named inputs and outputs (graph_build, graph_compile)
        lines += graph_build(model, w)
        lines.append(f"    model = keras.Model(inputs, outputs, name={name})")
        lines += graph_compile(model, w)
        lines.append("    return model")
        return lines
    if _is_chain(model):
        layers = _Seq((inputs, *first, *(w.layer(n) for n in model.nodes)))
        lines.append("    model = keras.Sequential(")
        lines += [
            "        [",
            *[line for item in layers.items for line in _layout(item, 12, "", ",")],
            "        ],",
        ]
        lines += [f"        name={name},", "    )"]
    else:
        lines += _layout(inputs, 4, "inputs = ")
        lines += _functional(model, w)
        lines.append(f"    model = keras.Model(inputs, outputs, name={name})")
    s = model.settings
    compile_call = _Call(
        "model.compile",
        (
            ("optimizer", w.value(s.optimizer)),
            ("loss", w.value(s.loss)),
            ("metrics", _Seq(tuple(w.value(m) for m in s.metrics or ()))),
        ),
    )
    lines += _layout(compile_call, 4)
    lines.append("    return model")
    return lines


def _functional(model: CheckedModel, w: _Writer) -> list[str]:
    """One line per layer: ``x = keras.layers.Dense(...)(x)``; a value read by any layer but the
    next one keeps a name of its own (``x3``), the last is ``outputs``."""
    readers: dict[int, list[int]] = {}
    for n in model.nodes:
        for i in n.inputs or (-1,):
            readers.setdefault(i, []).append(n.index)
    last = len(model.nodes) - 1
    names: dict[int, str] = {-1: "normalized" if model.settings.normalize else "inputs"}
    for n in model.nodes:
        names[n.index] = (
            "outputs"
            if n.index == last
            else "x"
            if readers.get(n.index) == [n.index + 1]
            else f"x{n.index}"
        )
    lines = (
        _layout(_Call(_NORMALIZE, ((None, _Src("inputs")),)), 4, "normalized = ")
        if model.settings.normalize
        else []
    )
    for n in model.nodes:
        sources = [names[i] for i in (n.inputs or (-1,))]
        component = n.component
        merge = component is not None and (component.merge or component.wrapper == "chain")
        arg = _Src(f"[{', '.join(sources)}]") if merge else _Src(sources[0])
        lines += _layout(_Call(w.layer(n), ((None, arg),)), 4, f"{names[n.index]} = ")
    return lines


def _prepare(model: CheckedModel) -> list[str]:
    """``prepare(x, y)``: shape the examples like the input, encode the labels for the loss."""
    if model.is_graph:
        return graph_prepare(model)
    target = model.data.target
    if model.labels == "categorical":
        encode, why = f'np.eye({target.num_classes}, dtype="float32")[y]', "one-hot rows"
    elif model.labels == "sparse":
        encode, why = 'y.astype("int32")', "integer class ids"
    else:
        encode, why = 'y.astype("float32")', "float32 values"
    return [
        "def prepare(x, y):",
        f'    """Examples shaped like the model input; labels as the loss wants them ({why})."""',
        "    return x.reshape((len(x), *INPUT_SHAPE)), " + encode,
    ]


def _dataset(model: CheckedModel, w: _Writer, data_path: str | None = None) -> list[str]:
    """The dataset's ``load_data(path)``, written by its own ``emit``; ``data_path``: where the
    data is (a run folder's record), else the program's ``path`` argument."""
    ref = model.dataset
    component = ref.component
    if not isinstance(component, Dataset) or component.emit is None:
        raise EmitError(
            f"dataset `{ref.name}` cannot be written as Keras code: it declares no `emit`",
            help="a Dataset's emit(request, info) returns Code whose source defines "
            'load_data(path) (see docs/plugins.md, "netdsl emit")',
        )
    request = DataRequest(
        component.name,
        ref.kwargs,
        data_path or ref.kwargs.get("path"),
        component.env,
        model.input_shape,
    )
    try:
        code = component.emit(request, model.data)
    except EmitError:  # a dataset that says plainly what it cannot write
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's emit bug is named, not a traceback
        raise EmitError(
            f"dataset `{ref.name}`: its emit hook failed: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(code, Code) or "def load_data(" not in code.source:
        raise EmitError(
            f"dataset `{ref.name}`: its emit hook must return Code defining load_data(path)"
        )
    w.imports.update(code.imports)
    w.definitions += [d.strip("\n") for d in code.definitions if d.strip("\n") not in w.definitions]
    return code.source.strip("\n").splitlines()


def _imports(names: set[str]) -> list[str]:
    """Import lines sorted as isort would: the standard library, then third-party."""
    third = [n for n in names if _module_of(n) in _THIRD_PARTY]
    std = sorted((n for n in names if n not in third), key=_import_key)
    return std + ([""] if std and third else []) + sorted(third, key=_import_key)


#: the third-party modules an emitted program may import; everything else is the standard library
_THIRD_PARTY = frozenset({"keras", "numpy"})


def _module_of(line: str) -> str:
    """``keras`` of ``import keras``, ``from keras import ops`` and ``import keras.ops``."""
    return line.split()[1].split(".")[0]


def _import_key(line: str) -> tuple[bool, str]:
    """isort's order within a section: ``import x`` lines, then ``from x import y``, by module."""
    return (line.startswith("from "), line.split()[1])


def _training_batches() -> list[str]:
    """``training_batches(x, y, seed)``: netdsl's data order (:func:`netdsl.keras.training.epoch_order`
    and :func:`netdsl.keras.training.batches`), so the program trains on the same batches."""
    return [
        "def training_batches(x, y, seed):",
        '    """Batches of BATCH_SIZE, epoch after epoch. Epoch e visits the examples in the order',
        "    np.random.default_rng([seed, e]).permutation(len(x)), a function of the seed and the",
        '    epoch alone, as `netdsl run` orders them (so a resumed run sees the same batches)."""',
        "    for epoch in itertools.count():",
        "        order = np.random.default_rng([seed, epoch]).permutation(len(x))",
        "        for start in range(0, len(x), BATCH_SIZE):",
        "            batch = order[start : start + BATCH_SIZE]",
        "            yield x[batch], y[batch]",
    ]


def _steps_comment(model: CheckedModel) -> list[str]:
    """The comment above ``total_steps``: the formula netdsl uses and its value for the dataset."""
    s = model.settings
    lines = ["    # optimizer steps of the whole run, counted as netdsl counts them for schedules:"]
    n, train = model.data.train_size, model.sizes.train
    if n and train is not None and model.total_steps is not None:
        if s.validation_split:
            lines.append(
                f"    # {train:,} = floor({n:,} x (1 - {s.validation_split!r})) examples "
                "train, the rest validate"
            )
        lines.append(
            f"    # ceil({train:,} examples / {s.batch_size}) x {s.epochs} epochs = "
            f"{model.total_steps:,} with the full dataset"
        )
    else:
        lines.append("    # batches per epoch x epochs")
    return lines


#: the modules every emitted program imports (a layer or dataset may add more)
_BASE_IMPORTS = frozenset(
    {"import argparse", "import itertools", "import math", "import keras", "import numpy as np"}
)


def _constants(model: CheckedModel) -> list[str]:
    """The module constants: the settings ``main`` reads, each written only when it is set."""
    s = model.settings
    constants = [
        *(graph_constants(model) if model.is_graph else []),
        f"INPUT_SHAPE = {_flat(_literal(tuple(model.input_shape)))}",
        f"EPOCHS = {s.epochs}",
        f"BATCH_SIZE = {s.batch_size}",
    ]
    if s.validation_split:
        constants.append(f"VALIDATION_SPLIT = {s.validation_split!r}")
    if s.seed is not None:
        constants.append(f"SEED = {s.seed}")
    if s.backend is not None:
        constants.append(f"BACKEND = {json.dumps(s.backend)}")
    return constants


def _fit_call(settings: Settings, callbacks: list[_Expr], graph: bool = False) -> _Call:
    """``model.fit`` on netdsl's batch order (seed 0 without a seed), as a run trains."""
    order_seed = "SEED" if settings.seed is not None else "seed=0"
    batches = _Call(
        "training_batches",
        ((None, _Src("x_train")), (None, _Src("y_train")), (None, _Src(order_seed))),
    )
    return _Call(
        "model.fit",
        (
            (None, batches),
            (
                "steps_per_epoch",
                _Src(f"math.ceil({'rows(x_train)' if graph else 'len(x_train)'} / BATCH_SIZE)"),
            ),
            ("epochs", _Src("args.epochs")),
            ("shuffle", _Src("False")),  # training_batches orders them
            *((("validation_data", _Src("(x_val, y_val)")),) if settings.validation_split else ()),
            *((("callbacks", _Seq(tuple(callbacks))),) if callbacks else ()),
        ),
    )


def _validation_lines(settings: Settings, graph: bool = False) -> list[str]:
    """``main``'s hold-out of the validation examples, as netdsl makes it (none without one)."""
    if not settings.validation_split:
        return []
    if graph:
        return [
            "    # the last VALIDATION_SPLIT of the training examples are held out, before any "
            "shuffling",
            "    split = math.floor(rows(x_train) * (1 - VALIDATION_SPLIT))",
            "    x_train, x_val = take(x_train, slice(None, split)), take(x_train, slice(split, None))",
            "    y_train, y_val = take(y_train, slice(None, split)), take(y_train, slice(split, None))",
        ]
    return [
        "    # the last VALIDATION_SPLIT of the training examples are held out, before any shuffling",
        "    split = math.floor(len(x_train) * (1 - VALIDATION_SPLIT))",
        "    x_train, x_val = x_train[:split], x_train[split:]",
        "    y_train, y_val = y_train[:split], y_train[split:]",
    ]


def _model_lines(model: CheckedModel, uses_steps: bool) -> list[str]:
    """``main``'s model building: the step count first when a schedule needs it, then the
    normalize layer's adaptation when the program normalizes."""
    lines = (
        [
            *_steps_comment(model),
            "    total_steps = math.ceil(len(x_train) / BATCH_SIZE) * args.epochs",
            "    model = build_model(total_steps)",
        ]
        if uses_steps
        else ["    model = build_model()"]
    )
    if model.settings.normalize:
        lines += [
            "    # the normalize layer learns the training examples' mean and variance",
            '    model.get_layer("normalize").adapt(x_train)',
        ]
    return lines


def _backend_lines(settings: Settings) -> list[str]:
    """``main``'s refusal of another Keras backend than the one the model was checked for."""
    if settings.backend is None:
        return []
    return [
        "    if keras.backend.backend() != BACKEND:",
        '        raise SystemExit(f"run it with KERAS_BACKEND={BACKEND}: the model was checked for it")',
    ]


def _main(model: CheckedModel, callbacks: list[_Expr], uses_steps: bool) -> list[str]:
    """The program's ``main``: parse the options, load and prepare the data, build, train on
    netdsl's batch order, report the test set."""
    s = model.settings
    return [
        "def main(argv=None):",
        '    """Train on the training set, report the test set; returns the trained model."""',
        "    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])",
        '    parser.add_argument("--data", help="where the dataset is (see load_data)")',
        '    parser.add_argument("--epochs", type=int, default=EPOCHS)',
        "    args = parser.parse_args(argv)",
        *_backend_lines(s),
        *(["    keras.utils.set_random_seed(SEED)"] if s.seed is not None else []),
        "    x_train, y_train, x_test, y_test = load_data(args.data)",
        "    x_train, y_train = prepare(x_train, y_train)",
        "    x_test, y_test = prepare(x_test, y_test)",
        *_validation_lines(s, model.is_graph),
        *_model_lines(model, uses_steps),
        "    model.summary()",
        *(
            []
            if s.seed is not None
            else ["    # netdsl orders the batches of a run without a seed with seed 0"]
        ),
        *_layout(_fit_call(s, callbacks, model.is_graph), 4),
        "    results = model.evaluate(x_test, y_test, return_dict=True)",
        "    for metric, value in results.items():",
        '        print(f"test {metric}: {value:.4f}")',
        "    return model",
    ]


def _docstring(model: CheckedModel, source: str | None) -> list[str]:
    """The module docstring: what wrote the program, from which file, and how to run it."""
    name = _model_name(model)
    origin = f" from {source}" if source else ""
    return [
        f'"""{name}: a Keras model written by `netdsl emit`{origin}.',
        "",
        f"Plain Keras and NumPy, no netdsl needed: python {name}.py [--data PATH] [--epochs N]",
        '"""',
    ]


def _build_function(model: CheckedModel, body: list[str], uses_steps: bool) -> list[str]:
    """``build_model`` (taking the step count when a schedule needs it) around its ``body``."""
    signature = "def build_model(total_steps):" if uses_steps else "def build_model():"
    return [
        signature,
        f'    """The network ({model.total_params:,} parameters), compiled."""',
        *body,
    ]


def _join(parts: list[list[str]]) -> str:
    """The parts as one module: one blank line after the docstring and the imports, two
    between the others (PEP 8's spacing of top-level definitions)."""
    out: list[str] = []
    for i, part in enumerate(parts):
        if i:
            out += [""] if i <= 2 else ["", ""]
        out += part
    return "\n".join(out) + "\n"


def emit_program(
    model: CheckedModel, source: str | None = None, data_path: str | None = None
) -> str:
    """The whole program for ``model``; ``source`` names the ``.net`` file in its docstring;
    ``data_path`` is where the data is when known (a run folder records it)."""
    w = _Writer()
    w.imports.update(_BASE_IMPORTS)
    build = _build_model(model, w)  # the writer learns the imports, definitions and steps here
    callbacks = [w.value(c) for c in model.settings.callbacks or []]
    data = _dataset(model, w, data_path)
    return _join(
        [
            _docstring(model, source),
            _imports(w.imports),
            _constants(model),
            data,
            _prepare(model),
            *(graph_helpers() if model.is_graph else [_training_batches()]),
            *(d.splitlines() for d in w.definitions),
            _build_function(model, build, w.uses_steps),
            _main(model, callbacks, w.uses_steps),
            ['if __name__ == "__main__":', "    main()"],
        ]
    )
