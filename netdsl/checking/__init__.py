"""Checking: IR + registry → the checked graph every later stage reads. Pure Python, no Keras.

Named ``checking`` rather than ``check`` so the package never shadows :func:`netdsl.check`.
"""
