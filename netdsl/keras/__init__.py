"""The Keras back end: checked graph → Keras objects and files (build, train, save, export,
emit, predict, distribute). The only layer that imports Keras or TensorFlow, and only inside the
functions that need them (through :mod:`netdsl.keras.runtime`).
"""
