"""netdsl's built-in vocabulary, shipped as ordinary pluggy plugins (one module per hook).

Nothing here imports TensorFlow at import time: each ``build`` imports Keras when called.
"""
