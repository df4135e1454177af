"""The Keras back end: checked graph → Keras objects and files (build, train, save, export,
emit, predict, distribute). The only layer that imports Keras or TensorFlow, and only inside the
functions that need them (through :mod:`netdsl.keras.runtime`). :mod:`netdsl.keras.datafiles`,
the bounded reader of the user's data files, needs NumPy only (the datasets read it at check time).
"""
