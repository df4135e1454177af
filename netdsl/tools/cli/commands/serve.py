"""``netdsl serve``: a trained run's model over HTTP (the ``web`` extra)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from netdsl.tools.cli.terminal import State, quiet_tensorflow

F = TypeVar("F", bound=Callable[..., Any])


#: the server's limits and timing: (flag, type, default, help), one `serve` option each
_LIMITS = (
    ("--max-batch", click.IntRange(1, 4096), 64, "Most instances gathered into one model call."),
    (
        "--batch-window-ms",
        click.FloatRange(0, 1000),
        2.0,
        "How long the first request of a batch waits for others.",
    ),
    ("--max-body-mb", click.FloatRange(0.001, 1024), 16.0, "Largest request body (413 past it)."),
    (
        "--max-instances",
        click.IntRange(1, 1_000_000),
        1024,
        "Most instances in one request (413 past it).",
    ),
    (
        "--read-timeout",
        click.FloatRange(0.01, 3600),
        30.0,
        "Seconds a client may take to send a request body (408 past it).",
    ),
    (
        "--header-timeout",
        click.FloatRange(0.01, 3600),
        10.0,
        "Seconds a connection may take to send a request's headers (closed past it).",
    ),
    (
        "--max-connections",
        click.IntRange(1, 1_000_000),
        1024,
        "Open connections past which new requests get 503.",
    ),
    (
        "--drain-timeout",
        click.IntRange(0, 3600),
        30,
        "Seconds SIGTERM waits for requests in flight.",
    ),
)


def _limit_options(command: F) -> F:
    """The options of :data:`_LIMITS`, in the table's order."""
    for flag, kind, default, text in reversed(_LIMITS):
        option = click.option(flag, type=kind, default=default, show_default=True, help=text)
        command = option(command)
    return command


@click.command()
@click.argument("run_folder", type=click.Path())
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but this machine's loopback prints a warning.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: a free one, printed).",
)
@click.option("--name", help="The model's name in /v1/models/NAME (default: the run's name).")
@_limit_options
@click.option("--access-log", is_flag=True, help="Log every request on standard error.")
@click.pass_obj
def serve(
    state: State,
    run_folder: str,
    host: str,
    port: int,
    name: str | None,
    max_batch: int,
    batch_window_ms: float,
    max_body_mb: float,
    max_instances: int,
    read_timeout: float,
    header_timeout: float,
    max_connections: int,
    drain_timeout: int,
    access_log: bool,
) -> None:
    """Serve the model of RUN_FOLDER over HTTP until SIGTERM or Ctrl-C. GET / describes its
    inputs and outputs, POST /predict takes {"instances": [...]} (numbers, or images as
    {"b64": ...} or multipart files; for a graph an object naming each input, for a typed
    table an object of raw column values, null when missing) and answers top classes or
    values (each output by name), POST /v1/models/NAME:predict speaks TensorFlow Serving's
    REST protocol, GET /health. Requests that arrive together share one model call. Needs pip install 'netdsl[web]'."""
    from netdsl.tools.serve.server import LOOPBACK, ServeOptions, require_web
    from netdsl.tools.serve.server import serve as run_server
    from netdsl.tools.serve.service import Limits

    require_web()  # before TensorFlow loads
    if host not in LOOPBACK:
        click.echo(
            f"warning: listening on {host}: any machine that reaches it can use the model "
            "(and spend this machine's CPU); netdsl serve has no authentication",
            err=True,
        )
    quiet_tensorflow(state)
    limits = Limits(
        max_body=int(max_body_mb * (1 << 20)),
        read_timeout=read_timeout,
        max_instances=max_instances,
        max_batch=max_batch,
        window=batch_window_ms / 1000,
    )
    options = ServeOptions(
        host, port, name, limits, header_timeout, 5, max_connections, drain_timeout, access_log
    )
    stopped = run_server(run_folder, options, state.registry, echo=click.echo)
    click.echo(f"stopped{f' by {stopped}' if stopped else ''}; requests in flight were answered")
