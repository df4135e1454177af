"""``netdsl studio``: the local web page to write, check, draw, train and watch networks."""

from __future__ import annotations

import os
import socket
import sys

import click

from netdsl.tools.cli.terminal import State

#: addresses that only this machine can reach
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _first_file(file: str | None) -> str | None:
    """FILE relative to the studio's folder (the current one); outside it is a usage error."""
    if file is None:
        return None
    root = os.path.realpath(os.getcwd())
    real = os.path.realpath(file)
    if os.path.commonpath([root, real]) != root:
        raise click.BadParameter(
            f"{file} is outside the current folder; the studio reads and writes only inside "
            "the folder it is started in (start it there)",
            param_hint="FILE",
        )
    return os.path.relpath(real, root)


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on. Anything but loopback lets other machines run programs "
    "and read files in this folder.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="0: any free port.",
)
@click.pass_obj
def studio(state: State, file: str | None, host: str, port: int) -> None:
    """Open the studio: a local web page to write, check, draw, train and watch networks.

    It edits FILE (default: an example that trains in seconds), with the language server's
    diagnostics, fixes, hover and completion, the diagram and summary, and starts, stops,
    resumes and compares runs in runs/. It reads and writes only inside the current folder.
    Needs `pip install 'netdsl[web]'`.
    """
    try:
        import uvicorn

        from netdsl.tools.studio.app import create_app
        from netdsl.tools.studio.guard import allowed_hosts
    except ImportError as e:
        click.echo(
            f"error: the studio needs {e.name or e}: pip install 'netdsl[web]'",
            err=True,
        )
        sys.exit(1)
    first = _first_file(file)
    if host not in LOOPBACK:
        click.echo(
            f"warning: listening on {host}: anyone who can reach it can run programs and read "
            "files in this folder through the studio",
            err=True,
        )
    sock = _listen(host, port)
    port = sock.getsockname()[1]
    app = create_app(os.getcwd(), first, state.registry, allowed_hosts(host, port))
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"netdsl studio: http://{shown}:{port}/  (Ctrl-C stops it)", err=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (the port known before the page is served)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP,
    # and with Nagle on every keep-alive response waits ~40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise click.UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(128)
    return sock
