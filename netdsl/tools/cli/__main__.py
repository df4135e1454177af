"""``python -m netdsl.tools.cli``: the command line, as the ``netdsl`` script runs it."""

from netdsl.tools.cli.group import main

if __name__ == "__main__":  # pragma: no cover
    main()
