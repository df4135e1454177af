"""One module per ``netdsl`` verb, each defining the click command of its name.

The command group (:mod:`netdsl.tools.cli.group`) imports a module only when its verb runs
(or its ``--help`` is asked for). A command translates between the terminal and the library:
it reads arguments, calls the library, prints the result; a
:class:`~netdsl.errors.NetdslError` it lets through is rendered by the group, once.
"""
