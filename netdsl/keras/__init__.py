"""The Keras back end: building, training, saving, exporting and running models, and reading the
user's data files for them (:mod:`netdsl.keras.datafiles`, which needs NumPy only)."""
