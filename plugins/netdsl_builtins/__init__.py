"""netdsl's built-in vocabulary, shipped as ordinary pluggy plugins (one module per hook).

Nothing here imports TensorFlow at import time: each ``build`` imports Keras when called.
"""

#: the built-in plugin modules, in the order their names are registered (netdsl's registry
#: imports each and registers it with pluggy before any third-party plugin can take a name)
BUILTIN_MODULES = (
    "activations",
    "losses",
    "optimizers",
    "regularizers",
    "metrics",
    "layers",
    "conv",
    "pooling",
    "normalization",
    "embedding",
    "recurrent",
    "attention",
    "reuse",
    "backbones",
    "wrappers",
    "noise",
    "preprocessing",
    "merge",
    "datasets",
    "callbacks",
    "schedules",
    "blocks",
)
