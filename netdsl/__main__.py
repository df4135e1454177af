"""``python -m netdsl``: the command line, as the ``netdsl`` script runs it."""

from .tools.cli import main

if __name__ == "__main__":
    main(prog_name="netdsl")
