"""``netdsl plugins``: the installed plugins and the names they add, or one component."""

from __future__ import annotations

import json
import sys

import click

from netdsl.tools.cli.terminal import State


@click.command()
@click.argument("name", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include the built-in vocabulary.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def plugins(state: State, name: str | None, show_all: bool, as_json: bool) -> None:
    """List plugins and the names they add, or show the component NAME."""
    from netdsl.tools.plugins_view import (
        component_text,
        components_json,
        plugins_json,
        plugins_text,
    )

    registry = state.registry
    if name:
        found = components_json(registry, name)
        if not found:
            from netdsl.vocab.registry import suggest

            pool = [e.component.name for e in registry.entries()]
            close = suggest(name, pool)
            click.echo(
                f"error: no component named `{name}`"
                + (f"; did you mean `{close}`?" if close else ""),
                err=True,
            )
            sys.exit(1)
        click.echo(json.dumps(found, indent=2) if as_json else component_text(registry, name))
        return
    if as_json:
        click.echo(json.dumps(plugins_json(registry, show_all), indent=2))
    else:
        click.echo(plugins_text(registry, show_all))
