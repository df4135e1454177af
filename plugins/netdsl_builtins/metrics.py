"""Built-in metrics: every per-batch training metric of Keras 3, under its Keras name.

``build(**kwargs)`` returns the Keras metric object (``keras.metrics.AUC(...)``), importing
Keras only when called; ``accuracy`` builds to the string ``"accuracy"`` so that Keras picks the
binary, categorical or sparse variant from the loss. Not declared: ``name``, ``dtype``, ``axis``.
Not offered: ``Mean``/``Sum`` (they aggregate values, not targets and predictions) and
``MeanMetricWrapper`` (it wraps a Python function).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from netdsl.vocab import types as T
from netdsl.vocab.components import (
    REQUIRED,
    Labels,
    Metric,
    OutputRule,
    Param,
    Rule,
    Shape,
    TargetKind,
    Violation,
    keras_factory,
    keras_value,
    needs,
)
from netdsl.vocab.hookspecs import Register, hookimpl

__all__ = ["METRICS", "register_metrics"]

_UNIT = T.Float(min=0, max=1)  # a number in [0, 1]

_FROM_LOGITS = Param(
    "from_logits", T.Bool(), False, help="whether predictions are logits rather than probabilities"
)
_THRESHOLDS = Param(
    "thresholds",
    T.ListOf(_UNIT),
    None,
    help="prediction threshold(s) in [0, 1] above which a prediction is positive",
)
_CLASS_ID = Param("class_id", T.Int(min=0), None, help="measure only this class")
_NUM_THRESHOLDS = Param(
    "num_thresholds", T.Int(min=1), 200, help="thresholds used to approximate the curve"
)
#: IoU metrics keep a num_classes x num_classes confusion matrix: 4,096 classes is 64 MB of it
_MAX_IOU_CLASSES = 4096
_NUM_CLASSES = Param(
    "num_classes",
    T.Int(min=1, max=_MAX_IOU_CLASSES),
    REQUIRED,
    positional=True,
    help="how many classes the labels can take (its square is kept in memory)",
)


def _class_ids_below_num_classes(args: Mapping[str, Any]) -> Iterable[Violation]:
    """Keras refuses target class ids outside [0, num_classes)."""
    n = args.get("num_classes")
    bad = [i for i in args.get("target_class_ids") or () if n is not None and i >= n]
    if bad and n is not None:
        yield Violation(
            "target_class_ids",
            f"class id {bad[0]} is not below num_classes={n}",
            help=f"use class ids 0 to {n - 1}",
        )


_IOU_RULES: tuple[Rule, ...] = (_class_ids_below_num_classes,)


# --- arguments against the network's output (run by `check` once the output shape is known) ----


def _units(output: Shape) -> int | None:
    """How many scores the network outputs per example (its last axis), when known."""
    return output[-1] if output and isinstance(output[-1], int) else None


def _below_units(param: str) -> OutputRule:
    """An output rule: the class id ``param`` must index one of the output's units."""

    def rule(args: Mapping[str, Any], output: Shape) -> Iterable[Violation]:
        value, n = args.get(param), _units(output)
        if value is not None and n is not None and value >= n:
            yield Violation(
                param,
                f"class {value} needs at least {value + 1} outputs, but the network outputs {n}",
                help=f"use a class id below {n}",
            )

    rule.__qualname__ = f"_below_units({param!r})"
    return rule


def _at_most_units(param: str) -> OutputRule:
    """An output rule: ``param`` counts scores, so it cannot exceed the output's units."""

    def rule(args: Mapping[str, Any], output: Shape) -> Iterable[Violation]:
        value, n = args.get(param), _units(output)
        if value is not None and n is not None and value > n:
            yield Violation(
                param,
                f"{param}={value} takes the {value} highest scores, but the network outputs {n}",
                help=f"use `{param}` of at most {n}",
            )

    rule.__qualname__ = f"_at_most_units({param!r})"
    return rule


def _num_labels_is_units(args: Mapping[str, Any], output: Shape) -> Iterable[Violation]:
    """AUC with ``multi_label`` keeps one curve per output unit: ``num_labels`` must be their number."""
    value, n = args.get("num_labels"), _units(output)
    if value is not None and n is not None and value != n:
        yield Violation(
            "num_labels",
            f"one label per output, and the network outputs {n}, not {value}",
            help=f"use `num_labels={n}`, or leave it out",
        )


def _ids_need_one_output(args: Mapping[str, Any], output: Shape) -> Iterable[Violation]:
    """With ``sparse_y_pred`` an IoU metric reads the predictions as class ids, one per example:
    an output of several scores per example does not line up with the targets."""
    n = _units(output)
    if args.get("sparse_y_pred") and n is not None and n > 1:
        yield Violation(
            "sparse_y_pred",
            f"`sparse_y_pred=true` reads one class id per example, but the "
            f"network outputs {n} scores",
            help="use `sparse_y_pred=false`",
        )


def _no_adjusted_r2(args: Mapping[str, Any]) -> Iterable[Violation]:
    """Keras 3's R2Score compares ``num_regressors`` with the batch size in Python, which fails in
    a compiled training step (what ``netdsl run`` uses): only the plain R^2 trains."""
    if args.get("num_regressors"):
        yield Violation(
            "num_regressors",
            "Keras computes the adjusted R^2 only when run eagerly, not in "
            "the compiled training step netdsl runs",
            help="leave it out (plain R^2)",
        )


_CLASS_ID_FITS: tuple[OutputRule, ...] = (_below_units("class_id"),)
_TOP_K_FITS: tuple[OutputRule, ...] = (_below_units("class_id"), _at_most_units("top_k"))
_TARGET_CLASS_IDS = Param(
    "target_class_ids", T.ListOf(T.Int(min=0)), REQUIRED, help="the class ids whose IoU is averaged"
)
_IGNORE_CLASS = Param("ignore_class", T.Int(), None, help="a class id left out of the metric")
_SPARSE_Y_PRED = Param(
    "sparse_y_pred",
    T.Bool(),
    True,
    help="whether predictions are class ids (else per-class scores)",
)
_SPARSE_Y_TRUE = Param(
    "sparse_y_true", T.Bool(), True, help="whether targets are class ids (else one-hot rows)"
)
_AVERAGE = Param(
    "average",
    T.Choice(("micro", "macro", "weighted")),
    None,
    help="how per-class scores are combined (none: one score per class)",
)
_SCORE_THRESHOLD = Param(
    "threshold",
    T.Float(min=0, max=1, min_open=True),
    None,
    help="predictions above this count as 1 (none: the top class)",
)


def _metric(
    name: str,
    keras_class: str,
    description: str,
    *params: Param,
    aliases: tuple[str, ...] = (),
    labels: Labels = "categorical",
    default_for: tuple[TargetKind, ...] = (),
    rules: tuple[Rule, ...] = (),
    output_rules: tuple[OutputRule, ...] = (),
) -> Metric:
    """A metric built as ``keras.metrics.<keras_class>(**kwargs)``. Most compare targets with
    predictions element by element, so for a class target they read one-hot rows
    (``labels="categorical"``, the default here; a sparse loss's integer ids would not fit)."""
    return Metric(
        name=name,
        params=params,
        description=description,
        aliases=aliases,
        labels=labels,
        default_for=default_for,
        build=keras_factory(f"metrics.{keras_class}"),
        rules=rules,
        output_rules=output_rules,
    )


#: every built-in metric
METRICS: tuple[Metric, ...] = (
    # --- accuracy ---------------------------------------------------------------------------
    Metric(
        name="accuracy",
        build=keras_value("accuracy"),  # Keras picks the variant for the loss
        default_for=("classes", "binary"),
        description="fraction of correct predictions (Keras picks the variant from the loss)",
    ),
    _metric(
        "binary_accuracy",
        "BinaryAccuracy",
        "fraction of 0/1 targets matched by predictions above a threshold",
        Param("threshold", _UNIT, 0.5, positional=True, help="predictions above this count as 1"),
    ),
    _metric(
        "categorical_accuracy",
        "CategoricalAccuracy",
        "fraction of one-hot targets whose class has the highest prediction",
        labels="categorical",
    ),
    _metric(
        "sparse_categorical_accuracy",
        "SparseCategoricalAccuracy",
        "fraction of integer targets whose class has the highest prediction",
        labels="sparse",
    ),
    _metric(
        "top_k_categorical_accuracy",
        "TopKCategoricalAccuracy",
        "fraction of one-hot targets whose class is among the k highest predictions",
        Param("k", T.Int(min=1), 5, positional=True, help="how many top predictions count"),
        labels="categorical",
    ),
    _metric(
        "sparse_top_k_categorical_accuracy",
        "SparseTopKCategoricalAccuracy",
        "fraction of integer targets whose class is among the k highest predictions",
        Param("k", T.Int(min=1), 5, positional=True, help="how many top predictions count"),
        Param(
            "from_sorted_ids",
            T.Bool(),
            False,
            help="whether predictions are already the top class ids, best first",
        ),
        labels="sparse",
    ),
    # --- classification quality -------------------------------------------------------------
    _metric(
        "auc",
        "AUC",
        "area under the ROC or precision-recall curve",
        _NUM_THRESHOLDS,
        Param("curve", T.Choice(("ROC", "PR", "PRGAIN")), "ROC", help="which curve"),
        Param(
            "summation_method",
            T.Choice(("interpolation", "majoring", "minoring")),
            "interpolation",
            help="how the area is summed",
        ),
        _THRESHOLDS,
        Param(
            "multi_label",
            T.Bool(),
            False,
            help="one curve per label (multi-label data) instead of one overall",
        ),
        Param("num_labels", T.Int(min=1), None, help="number of labels with multi_label"),
        _FROM_LOGITS,
        rules=(needs("num_labels", "multi_label"),),
        output_rules=(_num_labels_is_units,),
    ),
    _metric(
        "precision",
        "Precision",
        "fraction of positive predictions that are right",
        _THRESHOLDS,
        Param("top_k", T.Int(min=1), None, help="count only the top k scores"),
        _CLASS_ID,
        output_rules=_TOP_K_FITS,
    ),
    _metric(
        "recall",
        "Recall",
        "fraction of positive targets that are found",
        _THRESHOLDS,
        Param("top_k", T.Int(min=1), None, help="count only the top k scores"),
        _CLASS_ID,
        output_rules=_TOP_K_FITS,
    ),
    _metric("true_positives", "TruePositives", "number of true positives", _THRESHOLDS),
    _metric("false_positives", "FalsePositives", "number of false positives", _THRESHOLDS),
    _metric("true_negatives", "TrueNegatives", "number of true negatives", _THRESHOLDS),
    _metric("false_negatives", "FalseNegatives", "number of false negatives", _THRESHOLDS),
    _metric(
        "precision_at_recall",
        "PrecisionAtRecall",
        "best precision with recall at least the given value",
        Param("recall", _UNIT, REQUIRED, positional=True, help="the recall to reach"),
        _NUM_THRESHOLDS,
        _CLASS_ID,
        output_rules=_CLASS_ID_FITS,
    ),
    _metric(
        "recall_at_precision",
        "RecallAtPrecision",
        "best recall with precision at least the given value",
        Param("precision", _UNIT, REQUIRED, positional=True, help="the precision to reach"),
        _NUM_THRESHOLDS,
        _CLASS_ID,
        output_rules=_CLASS_ID_FITS,
    ),
    _metric(
        "sensitivity_at_specificity",
        "SensitivityAtSpecificity",
        "best sensitivity with specificity at least the given value",
        Param("specificity", _UNIT, REQUIRED, positional=True, help="the specificity to reach"),
        _NUM_THRESHOLDS,
        _CLASS_ID,
        output_rules=_CLASS_ID_FITS,
    ),
    _metric(
        "specificity_at_sensitivity",
        "SpecificityAtSensitivity",
        "best specificity with sensitivity at least the given value",
        Param("sensitivity", _UNIT, REQUIRED, positional=True, help="the sensitivity to reach"),
        _NUM_THRESHOLDS,
        _CLASS_ID,
        output_rules=_CLASS_ID_FITS,
    ),
    _metric(
        "f1_score",
        "F1Score",
        "harmonic mean of precision and recall (one-hot targets)",
        _AVERAGE,
        _SCORE_THRESHOLD,
    ),
    _metric(
        "fbeta_score",
        "FBetaScore",
        "F-beta score: recall weighted beta times precision",
        Param(
            "beta",
            T.Float(min=0, min_open=True),
            1.0,
            positional=True,
            help="weight of recall relative to precision",
        ),
        _AVERAGE,
        _SCORE_THRESHOLD,
    ),
    # --- probabilistic ----------------------------------------------------------------------
    _metric(
        "binary_crossentropy",
        "BinaryCrossentropy",
        "binary cross-entropy of the predictions",
        _FROM_LOGITS,
        Param("label_smoothing", _UNIT, 0.0, help="squeeze targets towards 0.5 by this much"),
        aliases=("bce",),
    ),
    _metric(
        "categorical_crossentropy",
        "CategoricalCrossentropy",
        "cross-entropy against one-hot targets",
        _FROM_LOGITS,
        Param("label_smoothing", _UNIT, 0.0, help="squeeze targets towards 1/classes by this much"),
        labels="categorical",
    ),
    _metric(
        "sparse_categorical_crossentropy",
        "SparseCategoricalCrossentropy",
        "cross-entropy against integer targets",
        _FROM_LOGITS,
        _IGNORE_CLASS,
        labels="sparse",
    ),
    _metric(
        "kl_divergence",
        "KLDivergence",
        "Kullback-Leibler divergence between target and predicted distributions",
    ),
    _metric("poisson", "Poisson", "Poisson loss p - y * log(p) of the predictions"),
    # --- hinge ------------------------------------------------------------------------------
    _metric("hinge", "Hinge", "hinge loss max(1 - y * p, 0) of the predictions"),
    _metric("squared_hinge", "SquaredHinge", "squared hinge loss of the predictions"),
    _metric("categorical_hinge", "CategoricalHinge", "categorical hinge loss of the predictions"),
    # --- regression -------------------------------------------------------------------------
    _metric(
        "mean_squared_error", "MeanSquaredError", "mean of squared differences", aliases=("mse",)
    ),
    _metric(
        "root_mean_squared_error",
        "RootMeanSquaredError",
        "square root of the mean squared difference",
    ),
    _metric(
        "mean_absolute_error",
        "MeanAbsoluteError",
        "mean of absolute differences",
        default_for=("regression",),
        aliases=("mae",),
    ),
    _metric(
        "mean_absolute_percentage_error",
        "MeanAbsolutePercentageError",
        "mean absolute difference as a percentage of the target",
        aliases=("mape",),
    ),
    _metric(
        "mean_squared_logarithmic_error",
        "MeanSquaredLogarithmicError",
        "mean squared difference of log(1 + value)",
        aliases=("msle",),
    ),
    _metric("log_cosh_error", "LogCoshError", "mean of log(cosh(difference))"),
    _metric(
        "cosine_similarity", "CosineSimilarity", "cosine similarity between targets and predictions"
    ),
    _metric(
        "r2_score",
        "R2Score",
        "coefficient of determination of a regression",
        Param(
            "class_aggregation",
            T.Choice(("uniform_average", "variance_weighted_average")),
            "uniform_average",
            help="how the scores of several outputs are combined",
        ),
        Param(
            "num_regressors",
            T.Int(min=0),
            0,
            help="independent variables, for the adjusted R^2 (0: plain R^2)",
        ),
        rules=(_no_adjusted_r2,),
    ),
    _metric(
        "pearson_correlation",
        "PearsonCorrelation",
        "Pearson correlation between targets and predictions",
    ),
    _metric(
        "concordance_correlation",
        "ConcordanceCorrelation",
        "concordance correlation (agreement) between targets and predictions",
    ),
    # --- segmentation -----------------------------------------------------------------------
    _metric(
        "binary_iou",
        "BinaryIoU",
        "intersection over union of thresholded 0/1 predictions",
        Param(
            "target_class_ids",
            T.ListOf(T.Int(min=0, max=1)),
            (0, 1),
            help="which of the classes 0 and 1 are averaged",
        ),
        Param("threshold", _UNIT, 0.5, help="predictions above this count as 1"),
    ),
    _metric(
        "iou",
        "IoU",
        "intersection over union of chosen classes (integer targets)",
        _NUM_CLASSES,
        _TARGET_CLASS_IDS,
        _IGNORE_CLASS,
        _SPARSE_Y_TRUE,
        _SPARSE_Y_PRED,
        labels="any",
        rules=_IOU_RULES,
        output_rules=(_ids_need_one_output,),
    ),
    _metric(
        "mean_iou",
        "MeanIoU",
        "intersection over union averaged over all classes",
        _NUM_CLASSES,
        _IGNORE_CLASS,
        _SPARSE_Y_TRUE,
        _SPARSE_Y_PRED,
        labels="any",
        output_rules=(_ids_need_one_output,),
    ),
    _metric(
        "one_hot_iou",
        "OneHotIoU",
        "intersection over union of chosen classes (one-hot targets)",
        _NUM_CLASSES,
        _TARGET_CLASS_IDS,
        _IGNORE_CLASS,
        Param(
            "sparse_y_pred",
            T.Bool(),
            False,
            help="whether predictions are class ids (else per-class scores)",
        ),
        labels="any",
        rules=_IOU_RULES,
    ),
    _metric(
        "one_hot_mean_iou",
        "OneHotMeanIoU",
        "intersection over union averaged over all classes (one-hot targets)",
        _NUM_CLASSES,
        _IGNORE_CLASS,
        Param(
            "sparse_y_pred",
            T.Bool(),
            False,
            help="whether predictions are class ids (else per-class scores)",
        ),
        labels="any",
    ),
)


@hookimpl
def register_metrics(register: Register) -> None:
    """Register every built-in metric."""
    for metric in METRICS:
        register(metric)
