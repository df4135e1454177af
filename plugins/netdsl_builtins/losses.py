"""Built-in losses: every loss of Keras 3, under its Keras function name, with its options.

``build(**kwargs)`` returns the Keras loss object (``keras.losses.CategoricalCrossentropy(...)``),
importing Keras only when called. ``labels`` says how the targets must be encoded:
"categorical" (one-hot rows), "sparse" (integer class ids) or "any" (as the data gives them).
Not declared: ``reduction``, ``name``, ``dtype`` and ``axis`` (the compiler's business, not the
network's).
"""

from __future__ import annotations

from netdsl.vocab import types as T
from netdsl.vocab.components import Labels, Loss, Param, TargetKind, keras_factory
from netdsl.vocab.hookspecs import Register, hookimpl

__all__ = ["LOSSES", "register_losses"]

_UNIT = T.Float(min=0, max=1)  # a number in [0, 1]

_FROM_LOGITS = Param(
    "from_logits", T.Bool(), False, help="whether predictions are logits rather than probabilities"
)
_LABEL_SMOOTHING = Param(
    "label_smoothing",
    _UNIT,
    0.0,
    help="squeeze targets towards 0.5 (binary) or 1/classes by this much",
)
_ALPHA_FOCAL = Param("alpha", _UNIT, 0.25, help="weight of the positive class")
_GAMMA_FOCAL = Param(
    "gamma", T.Float(min=0), 2.0, help="focusing power: larger values down-weight easy examples"
)


def _loss(
    name: str,
    keras_class: str,
    description: str,
    *params: Param,
    labels: Labels = "any",
    aliases: tuple[str, ...] = (),
    default_for: tuple[TargetKind, ...] = (),
    targets: tuple[TargetKind, ...] | None = None,
) -> Loss:
    """A loss built as ``keras.losses.<keras_class>(**kwargs)``; a ``sparse`` one trains on class
    ids only (``targets``)."""
    return Loss(
        name=name,
        params=params,
        description=description,
        aliases=aliases,
        labels=labels,
        default_for=default_for,
        build=keras_factory(f"losses.{keras_class}"),
        targets=targets
        if targets is not None
        else ("classes",)
        if labels == "sparse"
        else ("classes", "binary", "regression"),
    )


#: every built-in loss
LOSSES: tuple[Loss, ...] = (
    # --- classification ---------------------------------------------------------------------
    _loss(
        "categorical_crossentropy",
        "CategoricalCrossentropy",
        "cross-entropy between one-hot targets and predicted class probabilities",
        _FROM_LOGITS,
        _LABEL_SMOOTHING,
        labels="categorical",
        default_for=("classes",),
    ),
    _loss(
        "sparse_categorical_crossentropy",
        "SparseCategoricalCrossentropy",
        "cross-entropy between integer class ids and predicted class probabilities",
        _FROM_LOGITS,
        Param("ignore_class", T.Int(), None, help="a class id whose targets add no loss"),
        labels="sparse",
    ),
    _loss(
        "binary_crossentropy",
        "BinaryCrossentropy",
        "cross-entropy for 0/1 targets (binary or multi-label)",
        _FROM_LOGITS,
        _LABEL_SMOOTHING,
        aliases=("bce",),
        default_for=("binary",),
    ),
    _loss(
        "binary_focal_crossentropy",
        "BinaryFocalCrossentropy",
        "binary cross-entropy that down-weights well-classified examples",
        Param(
            "apply_class_balancing",
            T.Bool(),
            False,
            help="weight positives by alpha and negatives by 1 - alpha",
        ),
        _ALPHA_FOCAL,
        _GAMMA_FOCAL,
        _FROM_LOGITS,
        _LABEL_SMOOTHING,
    ),
    _loss(
        "categorical_focal_crossentropy",
        "CategoricalFocalCrossentropy",
        "categorical cross-entropy that down-weights well-classified examples",
        _ALPHA_FOCAL,
        _GAMMA_FOCAL,
        _FROM_LOGITS,
        _LABEL_SMOOTHING,
        labels="categorical",
    ),
    _loss(
        "categorical_generalized_cross_entropy",
        "CategoricalGeneralizedCrossEntropy",
        "noise-robust cross-entropy (1 - p^q) / q on integer class ids",
        Param(
            "q",
            T.Float(min=0, max=1, min_open=True, max_open=True),
            0.5,
            positional=True,
            help="towards 0 behaves like cross-entropy, towards 1 like mean absolute error",
        ),
        labels="sparse",
    ),
    _loss(
        "kl_divergence",
        "KLDivergence",
        "Kullback-Leibler divergence between target and predicted distributions",
        labels="categorical",
        aliases=("kld",),
    ),
    _loss(
        "categorical_hinge",
        "CategoricalHinge",
        "hinge loss between one-hot targets and class scores",
        labels="categorical",
    ),
    _loss("hinge", "Hinge", "hinge loss max(1 - y * p, 0) for -1/1 (or 0/1) targets"),
    _loss("squared_hinge", "SquaredHinge", "squared hinge loss for -1/1 (or 0/1) targets"),
    _loss("poisson", "Poisson", "Poisson loss p - y * log(p) for count targets"),
    # --- regression -------------------------------------------------------------------------
    _loss(
        "mean_squared_error",
        "MeanSquaredError",
        "mean of squared differences",
        aliases=("mse",),
        default_for=("regression",),
    ),
    _loss(
        "mean_absolute_error", "MeanAbsoluteError", "mean of absolute differences", aliases=("mae",)
    ),
    _loss(
        "mean_absolute_percentage_error",
        "MeanAbsolutePercentageError",
        "mean absolute difference as a percentage of the target",
        aliases=("mape",),
    ),
    _loss(
        "mean_squared_logarithmic_error",
        "MeanSquaredLogarithmicError",
        "mean squared difference of log(1 + value)",
        aliases=("msle",),
    ),
    _loss(
        "huber",
        "Huber",
        "squared error for small differences, absolute error for large ones",
        Param(
            "delta",
            T.Float(min=0, min_open=True),
            1.0,
            positional=True,
            help="where the loss turns from quadratic to linear",
        ),
    ),
    _loss("log_cosh", "LogCosh", "mean of log(cosh(difference)): smooth, robust to outliers"),
    _loss(
        "cosine_similarity",
        "CosineSimilarity",
        "negative cosine similarity between targets and predictions",
    ),
    # --- segmentation, metric learning, sequences ------------------------------------------
    _loss("dice", "Dice", "1 - Dice coefficient (overlap of target and predicted masks)"),
    _loss(
        "tversky",
        "Tversky",
        "Dice generalised with separate false-positive/negative weights",
        Param("alpha", T.Float(min=0), 0.5, help="weight of false positives"),
        Param("beta", T.Float(min=0), 0.5, help="weight of false negatives"),
    ),
    _loss(
        "circle",
        "Circle",
        "circle loss between integer labels and unit-norm embeddings",
        Param("gamma", T.Float(min=0, min_open=True), 80.0, help="scale of the similarity scores"),
        Param("margin", T.Float(), 0.4, help="relaxation margin of the similarities"),
        Param(
            "remove_diagonal",
            T.Bool(),
            True,
            help="leave out each embedding's similarity with itself",
        ),
        labels="sparse",
    ),
    _loss(
        "ctc",
        "CTC",
        "connectionist temporal classification for unaligned integer sequences",
        labels="sparse",
        targets=(),
    ),
)


@hookimpl
def register_losses(register: Register) -> None:
    """Register every built-in loss."""
    for loss in LOSSES:
        register(loss)
