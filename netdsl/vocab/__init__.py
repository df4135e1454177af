"""The vocabulary: what plugins declare (components, parameter types, hooks), the registry that
collects it, the settings table and the backends. No Keras is imported here.

Plugin authors import from :mod:`netdsl.vocab.components`, :mod:`netdsl.vocab.types` and
:mod:`netdsl.vocab.hookspecs`.
"""
