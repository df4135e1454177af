"""The ``netdsl`` command: a thin layer that turns terminal input into library calls and back.

:mod:`~netdsl.tools.cli.group` holds the group, its global options and the one error handler;
each verb is one module of :mod:`~netdsl.tools.cli.commands`, imported only when it runs;
:mod:`~netdsl.tools.cli.terminal` is what the verbs share (reading programs, writing files,
rendering errors); :mod:`~netdsl.tools.cli.options` makes options from the tables they name.
Nothing heavy is imported up front: ``netdsl --help`` and ``netdsl check`` never load
TensorFlow; ``netdsl run`` does, through :mod:`netdsl.keras.training`.
"""

from netdsl.tools.cli.group import main

__all__ = ["main"]
