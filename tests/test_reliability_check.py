"""Issue 15, the checker's half: cost bounded by the input, every block body checked, and what
Keras refuses when it builds or steps a model refused by ``check`` first, at the argument.

Each program below was found by a fuzz run (bench/fuzz.py) to hang ``check`` or to pass it
and then fail in Keras; each now gets an error with its code at the argument to change.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

import netdsl
from netdsl.checking.checker import MAX_LAYERS
from netdsl.errors import NetdslError
from netdsl.vocab import types as T
from netdsl.vocab.components import Layer, Param, Violation, at_most_one, needs
from netdsl.vocab.registry import Provider, load_registry


def errors_of(text: str, **kw: Any) -> list[NetdslError]:
    with pytest.raises(NetdslError) as info:
        netdsl.check(text, **kw)
    return list(info.value.errors)


def marked(text: str, err: NetdslError) -> str:
    """The source text an error's caret is under."""
    assert err.span is not None, err.message
    return text[err.span.start : err.span.end]


# --- cost bounded by the input ---------------------------------------------------------------------


def doubling(levels: int, last: str = "dense 4") -> str:
    lines = [f"block b{i} = b{i + 1} -> b{i + 1}" for i in range(levels)]
    return "\n".join([*lines, f"block b{levels} = {last}", "b0 -> dense 10 softmax"]) + "\n"


@pytest.mark.parametrize(
    "text, at",
    [
        pytest.param(doubling(20), "b4", id="blocks-doubling-20-levels"),
        pytest.param(doubling(51, "dense 10 relu"), "b", id="blocks-doubling-51-levels-valid-last"),
        pytest.param("input: 784\n(dense 10) * 1000000000\n", "1000000000", id="repeat-1e9"),
        pytest.param(
            "input: 784\n(dense 10 relu) * 100001 -> dense 10 softmax\n",
            "100001",
            id="repeat-just-over",
        ),
        pytest.param("(" * 25 + "dense 4" + ") * 2" * 25 + "\n", "2", id="25-nested-times-2"),
        pytest.param(
            "input: 784\n[(dense 4) * 60000 | (dense 4) * 60000] add -> dense 10 softmax\n",
            "add",
            id="branches-together",
        ),
    ],
)
def test_expansion_past_the_limit_is_one_error_at_what_to_change(text: str, at: str) -> None:
    errs = [e for e in errors_of(text) if e.code == "NDL012"]
    assert len(errs) == 1
    assert f"{MAX_LAYERS:,}" in errs[0].message
    assert marked(text, errs[0]).startswith(at)


def test_doubling_blocks_point_into_the_block_with_notes_for_each_use() -> None:
    text = doubling(20)
    (err,) = errors_of(text)
    assert err.span is not None and err.span.line == 4  # `block b3 = b4 -> b4`: the second b4
    uses = [n.label for n in err.notes]
    assert uses == [f"in this use of `b{i}`" for i in (3, 2, 1, 0)]  # innermost first


def test_repetition_after_an_earlier_error_still_reports_both() -> None:
    text = "dense -> (dense 10) * 1000000000\n"
    codes = sorted(e.code or "" for e in errors_of(text))
    assert codes == ["NDL007", "NDL012"]  # `dense` needs units; the repetition is too big


def test_the_legal_maximum_checks() -> None:
    model = netdsl.check(f"input: 784\n(dense 16 relu) * {MAX_LAYERS - 1} -> dense 10 softmax\n")
    assert len(model.nodes) == MAX_LAYERS
    assert model.nodes[-2].input_shape == (16,) and model.nodes[0].input_shape == (784,)


def test_a_repeated_step_is_bound_once_but_each_node_is_its_own() -> None:
    model = netdsl.check("input: 784\n(dense 16 relu -> dropout 0.1) * 3 -> dense 10 softmax\n")
    assert [n.index for n in model.nodes] == list(range(7))
    assert [n.inputs for n in model.nodes] == [(), (0,), (1,), (2,), (3,), (4,), (5,)]
    assert model.nodes[0].input_shape == (784,) and model.nodes[2].input_shape == (16,)
    assert model.nodes[0].params == 784 * 16 + 16 and model.nodes[2].params == 16 * 16 + 16


def test_a_setting_given_50000_times_is_one_error() -> None:
    text = "epochs: 1\n" * 50_000 + "dense 10 softmax\n"
    (err,) = errors_of(text)
    assert err.message == "`epochs` is set 50,000 times"
    assert err.span is not None and err.span.line == 2
    assert [n.label for n in err.notes] == ["first set here"]


def test_a_setting_given_twice_says_twice() -> None:
    (err,) = errors_of("epochs: 1\nepochs: 2\ndense 10 softmax\n")
    assert err.message == "`epochs` is set twice"


# --- every block body is checked --------------------------------------------------------------------


def test_an_unused_block_is_checked() -> None:
    text = "block unused = no_such_layer 5 relux\ndense 10 softmax\n"
    errs = errors_of(text)
    assert [(e.code, marked(text, e)) for e in errs] == [
        ("NDL003", "no_such_layer"),
        ("NDL003", "relux"),
    ]
    assert errs[1].help == "did you mean `relu`?"


def test_an_unused_block_with_parameters_checks_what_does_not_depend_on_them() -> None:
    text = (
        "block b(n, act, r) = dense n act kernel_regularizer=r -> dense 4 relux -> conv2d n 3 padding=sam"
        " -> dropout 1.5\ndense 10 softmax\n"
    )
    errs = errors_of(text)
    assert [marked(text, e) for e in errs] == ["relux", "sam", "1.5"]


def test_an_unused_block_with_parameters_that_is_fine_is_fine() -> None:
    netdsl.check(
        "block b(n, act) = dense n act -> dropout 0.5 -> b2(n)\nblock b2(k) = dense k\n"
        "dense 10 softmax\n"
    )


def test_blocks_not_expanded_after_the_limit_are_still_checked() -> None:
    text = "block big = (dense 4 nope) * 200000\nbig -> dense 10 softmax\n"
    errs = errors_of(text)
    assert sorted((e.code, marked(text, e)) for e in errs) == [
        ("NDL003", "nope"),
        ("NDL012", "200000"),
    ]


# --- check == build: what Keras refuses is refused at the argument ------------------------------------

HEAD = "input: 8x8x1\ndataset: synthetic(train_size=32)\n"
TAIL = " -> flatten -> dense 10 softmax\n"
SEQ = "input: 6x4\ndataset: synthetic(train_size=32)\n"

KERAS_REFUSES = [
    ("gaussian-noise-1.5", HEAD + "gaussian_noise 1.5" + TAIL, "1.5", "<= 1"),
    (
        "adam-clipnorm-and-clipvalue",
        "optimizer: adam(clipnorm=1, clipvalue=1)\ndense 10 softmax\n",
        "clipvalue=1",
        "cannot be given together",
    ),
    (
        "sgd-global-clipnorm-and-clipvalue",
        "optimizer: sgd(clipvalue=1, global_clipnorm=2)\ndense 10 softmax\n",
        "global_clipnorm=2",
        "cannot be given together",
    ),
    (
        "bias-initializer-identity",
        "dense 10 softmax bias_initializer=identity\n",
        "bias_initializer=identity",
        "2-D",
    ),
    (
        "bias-initializer-orthogonal",
        "dense 10 softmax bias_initializer=orthogonal\n",
        "bias_initializer=orthogonal",
        "2 or more dimensions",
    ),
    (
        "conv-kernel-identity",
        HEAD + "conv2d 4 3 kernel_initializer=identity" + TAIL,
        "kernel_initializer=identity",
        "4-D",
    ),
    (
        "bidirectional-go-backwards",
        SEQ + "bidirectional(lstm 4 go_backwards=true)" + TAIL,
        "go_backwards=true",
        "both ways",
    ),
    (
        "auc-num-labels",
        "metrics: [auc(num_labels=3)]\ndense 10 softmax\n",
        "num_labels=3",
        "multi_label=true",
    ),
    (
        "iou-class-id-out-of-range",
        "metrics: [iou(2, target_class_ids=[0, 5])]\ndense 10 softmax\n",
        "target_class_ids=[0, 5]",
        "class id 5",
    ),
    (
        "sparse-metric-with-one-hot-loss",
        "metrics: [sparse_categorical_accuracy]\ndense 10 softmax\n",
        "[sparse_categorical_accuracy]",
        "integer class ids",
    ),
    (
        "sparse-metric-on-regression",
        "input: 8\ndataset: synthetic(regression)\n"
        "metrics: [sparse_categorical_crossentropy]\ndense 1\n",
        "[sparse_categorical_crossentropy]",
        "real values",
    ),
    (
        "one-hot-metric-with-sparse-loss",
        "loss: sparse_categorical_crossentropy\n"
        "metrics: [categorical_crossentropy]\ndense 10 softmax\n",
        "[categorical_crossentropy]",
        "one-hot labels",
    ),
    (
        "elementwise-metric-with-sparse-loss",
        "loss: categorical_generalized_cross_entropy\nmetrics: [hinge]\ndense 10 softmax\n",
        "[hinge]",
        "one-hot labels",
    ),
    ("loss-ctc", "loss: ctc\ndense 10 softmax\n", "ctc", "cannot train"),
    (
        "sparse-loss-on-regression",
        "input: 8\ndataset: synthetic(regression)\nloss: sparse_categorical_crossentropy\n"
        "dense 1\n",
        "sparse_categorical_crossentropy",
        "real values",
    ),
    (
        "orthogonal-regularizer-on-conv-kernel",
        HEAD + "conv2d 4 3 kernel_regularizer=orthogonal_regularizer" + TAIL,
        "kernel_regularizer=orthogonal_regularizer",
        "4-D",
    ),
    (
        "orthogonal-regularizer-on-bias",
        "dense 10 softmax bias_regularizer=orthogonal_regularizer\n",
        "bias_regularizer=orthogonal_regularizer",
        "1-D",
    ),
    (
        "orthogonal-activity-on-sequences",
        SEQ + "lstm 4 return_sequences=true activity_regularizer=orthogonal_regularizer" + TAIL,
        "activity_regularizer=orthogonal_regularizer",
        "3-D",
    ),
    (
        "validation-split-0.99999",
        "validation_split: 0.99999\ndense 10 softmax\n",
        "0.99999",
        "<= 0.99",
    ),
    (
        "validation-split-leaves-no-training",
        "input: 8\ndataset: synthetic(train_size=32)\nvalidation_split: 0.99\ndense 10 softmax\n",
        "0.99",
        "leaves none for training",
    ),
    ("seed-2**32", "seed: 4294967296\ndense 10 softmax\n", "4294967296", "<= 4294967295"),
    (
        "layer-seed-2**32",
        "dense 10 -> dropout 0.5 seed=4294967296 -> dense 10 softmax\n",
        "4294967296",
        "<= 4294967295",
    ),
    (
        "layer-seed-2**59",
        "dense 10 -> gaussian_noise 0.1 seed=576460752303423488 -> dense 10 softmax\n",
        "576460752303423488",
        "<= 4294967295",
    ),
    (
        "batch-size-1e17",
        "batch_size: 100000000000000000\ndense 10 softmax\n",
        "100000000000000000",
        "<=",
    ),
    ("mean-iou-100000", "metrics: [mean_iou(100000)]\ndense 10 softmax\n", "100000", "<= 4096"),
    (
        "one-hot-mean-iou-2**31",
        "metrics: [one_hot_mean_iou(2147483647)]\ndense 10 softmax\n",
        "2147483647",
        "<= 4096",
    ),
    (
        "dense-2**32-units",
        "dense 4294967296 -> dense 10 softmax\n",
        "dense 4294967296",
        "parameters",
    ),
    (
        "upsample-to-10**12-values",
        HEAD + "upsample2d 100000" + TAIL,
        "upsample2d 100000",
        "values per example",
    ),
    ("glu-odd-outputs", "dense 21 glu -> dense 10 softmax\n", "glu", "21 values"),
    ("glu-inside-a-recurrent-cell", SEQ + "lstm 4 glu" + TAIL, "glu", "inside the layer's cell"),
    # found by the fuzz sample: an embedding reading real values, metric arguments past the output
    (
        "embedding-after-layernorm",
        HEAD + "conv2d 4 3 relu padding=same -> global_maxpool2d -> layernorm "
        "center=false -> embedding input_dim=1 8 -> reshape -1" + TAIL,
        "embedding",
        "`layernorm` before it",
    ),
    (
        "embedding-after-dense",
        "input: 8\ndataset: synthetic\ndense 4 -> embedding 10 3" + TAIL,
        "embedding",
        "`dense` before it",
    ),
    (
        "embedding-after-dropout",
        "input: 8\ndataset: synthetic\ndropout 0.5 -> embedding 10 3" + TAIL,
        "embedding",
        "`dropout` before it",
    ),
    (
        "embedding-after-a-branch-that-adds",
        "input: 8\ndataset: synthetic\n[reshape 8 | flatten] add -> embedding 10 3" + TAIL,
        "embedding",
        "`add` before it",
    ),
    (
        "embedding-below-imdb-vocabulary",
        "dataset: imdb(num_words=1000, maxlen=20)\nembedding 999 8 -> flatten -> dense 1 sigmoid\n",
        "999",
        "up to 999",
    ),
    (
        "embedding-below-reuters-default-vocabulary",
        "dataset: reuters\nembedding input_dim=5000 8 -> flatten -> dense 46 softmax\n",
        "input_dim=5000",
        "up to 9,999",
    ),
    (
        "recall-class-id-5-of-1",
        "input: 6x4\ndataset: synthetic(binary)\n"
        "metrics: [false_positives, recall(class_id=5)]\nflatten -> dense 1 sigmoid\n",
        "class_id=5",
        "6 outputs",
    ),
    (
        "precision-class-id-10-of-10",
        "metrics: [precision(class_id=10)]\ndense 10 softmax\n",
        "class_id=10",
        "outputs 10",
    ),
    (
        "precision-top-k-7-of-1",
        "input: 6x4\ndataset: synthetic(regression)\nmetrics: [precision(top_k=7)]\n"
        "flatten -> dense 1\n",
        "top_k=7",
        "outputs 1",
    ),
    (
        "recall-top-k-11-of-10",
        "metrics: [recall(top_k=11)]\ndense 10 softmax\n",
        "top_k=11",
        "outputs 10",
    ),
    (
        "precision-at-recall-class-id",
        "metrics: [precision_at_recall(0.5, class_id=3)]\n"
        "input: 8\ndataset: synthetic(classes, classes=3)\ndense 3 softmax\n",
        "class_id=3",
        "4 outputs",
    ),
    (
        "recall-at-precision-class-id",
        "metrics: [recall_at_precision(0.5, class_id=12)]\ndense 10 softmax\n",
        "class_id=12",
        "13 outputs",
    ),
    (
        "sensitivity-at-specificity-class-id",
        "metrics: [sensitivity_at_specificity(0.5, class_id=10)]\ndense 10 softmax\n",
        "class_id=10",
        "11 outputs",
    ),
    (
        "specificity-at-sensitivity-class-id",
        "metrics: [specificity_at_sensitivity(0.5, class_id=10)]\ndense 10 softmax\n",
        "class_id=10",
        "11 outputs",
    ),
    (
        "auc-num-labels-not-the-outputs",
        "metrics: [auc(multi_label=true, num_labels=3)]\ndense 10 softmax\n",
        "num_labels=3",
        "outputs 10, not 3",
    ),
    (
        "mean-iou-ids-from-scores",
        "metrics: [mean_iou(10)]\ndense 10 softmax\n",
        "mean_iou(10)",
        "`sparse_y_pred=true`",
    ),
    (
        "orthogonal-activity-on-dense",
        HEAD + "dense 8 activity_regularizer=orthogonal_regularizer" + TAIL,
        "activity_regularizer=orthogonal_regularizer",
        "compiled training step",
    ),
    (
        "orthogonal-activity-on-lstm",
        SEQ + "lstm 4 activity_regularizer=orthogonal_regularizer" + TAIL,
        "activity_regularizer=orthogonal_regularizer",
        "compiled training step",
    ),
    (
        "r2-adjusted-in-graph-mode",
        "input: 8\ndataset: synthetic(regression)\nmetrics: [r2_score(num_regressors=1)]\n"
        "dense 1\n",
        "num_regressors=1",
        "eagerly",
    ),
    (
        "iou-ids-from-scores",
        "metrics: [iou(10, target_class_ids=[0], sparse_y_pred=true)]\ndense 10 softmax\n",
        "sparse_y_pred=true",
        "10 scores",
    ),
    (
        "float-past-float32",
        "dense 10 softmax kernel_regularizer=weight_decay(rate=1e300)\n",
        "1e300",
        "float32's range",
    ),
    (
        "loss-scale-with-embedding",
        "input: 6\ndataset: synthetic(classes, classes=3)\n"
        "optimizer: adadelta(loss_scale_factor=0.1)\nembedding 8 8 -> flatten -> dense 3 softmax\n",
        "loss_scale_factor=0.1",
        "sparse gradients",
    ),
    (
        "adafactor-with-embedding",
        "input: 12\ndataset: synthetic(classes, classes=3)\noptimizer: adafactor\n"
        "embedding 9 1 -> flatten -> dense 3 softmax\n",
        "adafactor",
        "sparse gradients",
    ),
]


@pytest.mark.parametrize(
    "text, at, words", [c[1:] for c in KERAS_REFUSES], ids=[c[0] for c in KERAS_REFUSES]
)
def test_keras_refusals_are_check_errors_at_the_argument(text: str, at: str, words: str) -> None:
    errs = errors_of(text)
    assert len(errs) == 1, [e.message for e in errs]
    assert marked(text, errs[0]) == at
    assert words in errs[0].message


def test_a_network_of_absurd_size_is_refused_as_a_whole() -> None:
    text = "(dense 40000) * 3 -> dense 10 softmax\n"
    (err,) = errors_of(text)
    assert err.code == "NDL012" and "3,231,880,010 parameters" in err.message


def test_every_bad_metric_in_a_list_is_reported() -> None:
    text = "metrics: [auc(num_labels=3), mean_iou(100000), one_hot_mean_iou(2147483647)]\ndense 10 softmax\n"
    assert [marked(text, e) for e in errors_of(text)] == ["num_labels=3", "100000", "2147483647"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("optimizer: adam(clipnorm=1)\ndense 10 softmax\n", id="one-clip"),
        pytest.param(
            "loss: sparse_categorical_crossentropy\nmetrics: [accuracy, sparse_top_k_categorical_accuracy]\n"
            "dense 10 softmax\n",
            id="sparse-loss-sparse-metrics",
        ),
        pytest.param(
            "input: 8\ndataset: synthetic(regression)\nmetrics: [hinge, mean_squared_error]\ndense 1\n",
            id="elementwise-metrics-on-regression",
        ),
        pytest.param(
            "metrics: [auc(num_labels=10, multi_label=true)]\ndense 10 softmax\n",
            id="auc-multi-label",
        ),
        pytest.param(
            "metrics: [iou(10, target_class_ids=[0, 2], sparse_y_pred=false)]\ndense 10 softmax\n",
            id="iou-in-range",
        ),
        pytest.param(
            "dense 10 softmax kernel_initializer=identity kernel_regularizer=orthogonal_regularizer\n",
            id="dense-kernel-matrix",
        ),
        pytest.param(
            HEAD + "conv2d 4 3 kernel_initializer=orthogonal" + TAIL, id="conv-orthogonal-init"
        ),
        pytest.param("input: 784\ndense 20 glu -> dense 10 softmax\n", id="glu-even"),
        pytest.param(
            "input: 8\ndataset: synthetic(train_size=32)\nvalidation_split: 0.5\ndense 10 softmax\n",
            id="split-fits",
        ),
        *[
            pytest.param(text, id=name)
            for name, text in [
                (
                    "embedding-reads-the-input",
                    "dataset: imdb(num_words=1000, maxlen=20)\nembedding 1000 8 -> flatten -> "
                    "dense 1 sigmoid\n",
                ),
                (
                    "embedding-through-value-keeping-layers",
                    "input: 4x4x1\ndataset: synthetic\nzeropad2d 1 -> maxpool 2 -> "
                    "flatten -> [reshape 9 | flatten] concat -> embedding 5 2 -> flatten -> dense 10 softmax\n",
                ),
                (
                    "embedding-on-an-undeclared-input",
                    "input: 20\ndataset: synthetic\nembedding 100 8 -> flatten -> "
                    "dense 10 softmax\n",
                ),
                (
                    "embedding-bigger-than-the-vocabulary",
                    "dataset: imdb(num_words=1000, maxlen=20)\nembedding 5000 8 -> "
                    "flatten -> dense 1 sigmoid\n",
                ),
                (
                    "class-id-at-the-last-output",
                    "metrics: [recall(class_id=9), precision_at_recall(0.5, class_id=9)]\n"
                    "dense 10 softmax\n",
                ),
                ("top-k-all-outputs", "metrics: [precision(top_k=10)]\ndense 10 softmax\n"),
                (
                    "top-k-accuracy-past-the-outputs",
                    "metrics: [top_k_categorical_accuracy(20)]\ndense 10 softmax\n",
                ),
                (
                    "mean-iou-from-scores",
                    "metrics: [mean_iou(10, sparse_y_pred=false)]\ndense 10 softmax\n",
                ),
                (
                    "loss-scale-without-sparse-gradients",
                    "optimizer: adam(loss_scale_factor=0.1)\ndense 10 softmax\n",
                ),
                ("adafactor-without-sparse-gradients", "optimizer: adafactor\ndense 10 softmax\n"),
                (
                    "embedding-with-adam",
                    "input: 6\ndataset: synthetic\nembedding 8 8 -> flatten -> dense 10 softmax\n",
                ),
            ]
        ],
    ],
)
def test_what_keras_takes_is_still_accepted(text: str) -> None:
    netdsl.check(text)


# --- rules are declarable by plugins -------------------------------------------------------------------


def _same(shape: tuple, args: Mapping[str, Any]) -> tuple[tuple, int]:
    return shape, 0


def _even_width(args: Mapping[str, Any]) -> Iterable[Violation]:
    if args["width"] % 2:
        yield Violation("width", f"{args['width']} is odd", help="give an even width")


def registry_with(*rules: Any) -> Any:
    registry = copy.deepcopy(load_registry(third_party=False))
    layer = Layer(
        name="pad",
        infer=_same,
        build=lambda **kw: None,
        rules=rules,
        params=(
            Param("width", T.Int(min=1), 2, positional=True),
            Param("a", T.Int(), None),
            Param("b", T.Int(), None),
            Param("c", T.Bool(), False),
        ),
    )
    registry.add(layer, Provider("test-plugin", "1.0", "test"))
    return registry


@pytest.mark.parametrize(
    "rules, text, at, words",
    [
        ((_even_width,), "pad 3 -> dense 10 softmax\n", "3", "3 is odd"),
        (
            (at_most_one("a", "b"),),
            "pad a=1 b=2 -> dense 10 softmax\n",
            "b=2",
            "cannot be given together",
        ),
        ((needs("a", "c"),), "pad a=1 -> dense 10 softmax\n", "a=1", "needs `c=true`"),
    ],
    ids=["own-rule", "at-most-one", "needs"],
)
def test_a_plugin_rule_reports_at_the_argument(
    rules: tuple, text: str, at: str, words: str
) -> None:
    (err,) = errors_of(text, registry=registry_with(*rules))
    assert err.code == "NDL005" and marked(text, err) == at and words in err.message


def test_a_rule_left_to_its_default_points_at_the_layer() -> None:
    def never_two(args: Mapping[str, Any]) -> Iterable[Violation]:
        if args["width"] == 2:
            yield Violation("width", "2 is not allowed")

    text = "pad -> dense 10 softmax\n"
    (err,) = errors_of(text, registry=registry_with(never_two))
    assert marked(text, err) == "pad" and err.label == "`width` by default"


@pytest.mark.parametrize(
    "rule, words",
    [
        (lambda args: 1 / 0, "raised ZeroDivisionError"),
        (lambda args: ["nonsense"], "not a Violation"),
        (lambda args: [Violation("nope", "x")], "not a Violation"),
    ],
    ids=["raises", "returns-garbage", "unknown-parameter"],
)
def test_a_broken_rule_is_a_plugin_error_not_a_traceback(rule: Any, words: str) -> None:
    (err,) = errors_of("pad 4 -> dense 10 softmax\n", registry=registry_with(rule))
    assert err.code == "NDL206" and words in err.message


def test_rules_must_be_callables() -> None:
    layer = Layer(name="pad", infer=_same, build=lambda **kw: None, rules=("not callable",))  # type: ignore[arg-type]
    assert any(p.startswith("rules:") for p in layer.problems())


# --- metric rules against the network's output are declarable by plugins ------------------------------


def registry_with_metric(*output_rules: Any) -> Any:
    from netdsl.vocab.components import Metric

    registry = copy.deepcopy(load_registry(third_party=False))
    metric = Metric(
        name="nth_score",
        build=lambda **kw: None,
        output_rules=output_rules,
        params=(Param("n", T.Int(min=0), 0, positional=True),),
    )
    registry.add(metric, Provider("test-plugin", "1.0", "test"))
    return registry


def _n_below_units(args: Mapping[str, Any], output: tuple) -> Iterable[Violation]:
    if args["n"] >= output[-1]:
        yield Violation("n", f"score {args['n']} of {output[-1]}")


@pytest.mark.parametrize(
    "text, at",
    [
        ("metrics: [nth_score(12)]\ndense 10 softmax\n", "12"),
        ("metrics: [accuracy, nth_score(n=10)]\ndense 10 softmax\n", "n=10"),
    ],
    ids=["positional", "by-name"],
)
def test_a_plugin_metric_output_rule_reports_at_the_argument(text: str, at: str) -> None:
    (err,) = errors_of(text, registry=registry_with_metric(_n_below_units))
    assert err.code == "NDL005" and marked(text, err) == at
    assert "of 10" in err.message and err.label == "the output is (None, 10)"


def test_a_plugin_metric_output_rule_that_passes_accepts() -> None:
    netdsl.check(
        "metrics: [nth_score(9)]\ndense 10 softmax\n", registry=registry_with_metric(_n_below_units)
    )


@pytest.mark.parametrize(
    "rule, words",
    [
        (lambda args, output: 1 / 0, "raised ZeroDivisionError"),
        (lambda args, output: [Violation("nope", "x")], "not a Violation"),
    ],
    ids=["raises", "unknown-parameter"],
)
def test_a_broken_metric_output_rule_is_a_plugin_error(rule: Any, words: str) -> None:
    (err,) = errors_of(
        "metrics: [nth_score]\ndense 10 softmax\n", registry=registry_with_metric(rule)
    )
    assert err.code == "NDL206" and words in err.message


def test_declarations_are_validated_at_registration() -> None:
    from netdsl.vocab.components import Metric

    assert any(
        p.startswith("output_rules:") for p in Metric(name="m", output_rules=("x",)).problems()
    )  # type: ignore[arg-type]
    assert any(
        p.startswith("reads_ids:")
        for p in Layer(name="l", infer=_same, build=lambda **kw: None, reads_ids="nope").problems()
    )
    assert not Layer(
        name="l",
        infer=_same,
        build=lambda **kw: None,
        reads_ids="width",
        params=(Param("width", T.Int(min=1), 2),),
    ).problems()


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "metrics: [recall(class_id=2), precision(top_k=3), precision_at_recall(0.5, class_id=2), "
        "auc(multi_label=true, num_labels=3), mean_iou(3, sparse_y_pred=false, sparse_y_true=false)]\n"
        "dense 3 softmax\n",
        "input: 4x4x1\nzeropad2d 1 -> maxpool 2 -> flatten -> [reshape 9 | flatten] concat -> embedding 5 2 -> "
        "flatten -> dense 3 softmax\n",
    ],
    ids=["metrics-at-the-output-boundary", "embedding-through-value-keeping-layers"],
)
def test_what_check_accepts_at_the_boundary_trains(tmp_path: Any, text: str) -> None:
    from netdsl.run.driver import run_model

    head = "input: 6\n" if not text.startswith("input:") else ""
    model = netdsl.check(
        head + "dataset: synthetic(classes, classes=3, train_size=16, test_size=8)\n"
        "epochs: 1\nbatch_size: 8\n" + text
    )
    result = run_model(model, out_dir=tmp_path / "run", quiet=True)
    assert result is not None and (tmp_path / "run").exists()


# --- what still slips through is a diagnostic, never a traceback ---------------------------------------


def _boom_layer(**kwargs: Any) -> Any:
    import keras

    def fail(x: Any) -> Any:
        raise ValueError("this layer refuses every input")

    return keras.layers.Lambda(fail)


@pytest.mark.slow
def test_a_keras_refusal_check_missed_is_a_training_error_with_the_run_folder(
    tmp_path: Any,
) -> None:
    from netdsl.errors import NetdslTrainingError
    from netdsl.run.driver import run_model

    registry = copy.deepcopy(load_registry(third_party=False))
    registry.add(
        Layer(name="boom", infer=_same, build=_boom_layer), Provider("test-plugin", "1.0", "test")
    )
    model = netdsl.check(
        "input: 4\ndataset: synthetic(train_size=8, test_size=4)\nepochs: 1\n"
        "boom -> dense 10 softmax\n",
        registry,
    )
    with pytest.raises(NetdslTrainingError) as info:
        run_model(model, out_dir=tmp_path, quiet=True)
    assert info.value.code == "NDL304" and "Lambda" in info.value.message
    (folder,) = tmp_path.iterdir()
    assert '"status": "crashed"' in (folder / "metrics.json").read_text()


def test_a_sparse_gradient_rule_on_the_jax_backend_does_not_apply() -> None:
    netdsl.check(
        "backend: jax\ninput: 6\ndataset: synthetic\noptimizer: adam(loss_scale_factor=0.1)\n"
        "embedding 8 8 -> flatten -> dense 10 softmax\n"
    )


@pytest.mark.slow
def test_keras_fails_on_an_unscaled_sparse_gradient() -> None:
    """Why `loss_scale_factor` with an embedding is refused: Keras (TensorFlow) cannot divide the
    embedding's IndexedSlices gradient (if a Keras release fixes this, the rule should go)."""
    import numpy as np

    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("sparse gradients are TensorFlow's")
    net = keras.Sequential(
        [
            keras.Input((12,), dtype="int32"),
            keras.layers.Embedding(9, 2),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    net.compile(keras.optimizers.Adam(loss_scale_factor=0.1), "categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 9, (8, 12)).astype("int32")
    with pytest.raises(TypeError, match="IndexedSlices"):
        net.train_on_batch(x, np.eye(3)[np.arange(8) % 3])


@pytest.mark.parametrize(
    "message, summary",
    [
        pytest.param(
            "Graph execution error:\n\nDetected at node adafactor/cond/GatherV2_1 defined at (most recent "
            'call last):\n  File "/bin/netdsl", line 6, in <module>\n\n  File "/s.py", line 136, in f\n\n'
            "indices[0] = 18528 is not in [0, 193)\n\t [[{{node adafactor/cond/GatherV2_1}}]] [Op:__inference_1]",
            "indices[0] = 18528 is not in [0, 193) (at node adafactor/cond/GatherV2_1)",
            id="tf-graph-error",
        ),
        pytest.param(
            "Exception encountered when calling Dense.call().\n\n  shapes   differ",
            "Exception encountered when calling Dense.call(). shapes differ",
            id="folded",
        ),
        pytest.param("x" * 2000, "x" * 599 + "…", id="capped"),
    ],
)
def test_a_crash_is_summarised_in_a_line(message: str, summary: str) -> None:
    from netdsl.run.driver import crash_summary

    assert crash_summary(RuntimeError(message)) == summary
