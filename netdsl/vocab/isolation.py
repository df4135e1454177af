"""A plugin's code runs isolated from the host: what it raises and what it writes.

- :func:`guard_component` wraps every function a third-party declaration carries (``infer``,
  ``build``, ``describe``, ``load``, rules, adapters…): a ``KeyboardInterrupt`` or ``SystemExit``
  the plugin raises itself comes out as a :class:`PluginAbort` (an ``Exception``, named after
  what was raised and saying which plugin and component), so every host guard that reports a
  plugin's bug reports it, instead of the process dying with ``Aborted!`` (issue 27).
- :func:`watch_interrupts` tells a real Ctrl-C apart: while it is active (the CLI and the
  language server keep it active), a SIGINT is counted before Python raises its
  ``KeyboardInterrupt``, and a ``KeyboardInterrupt`` seen with no SIGINT came from the plugin.
  Outside it, nothing can tell them apart and a ``KeyboardInterrupt`` stays the user's.
- :func:`stdout_to_stderr` points file descriptor 1 at standard error, so a plugin writing with
  ``os.write(1, …)`` (or a C extension's ``printf``) cannot corrupt machine output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = [
    "PluginAbort",
    "guard_component",
    "interrupt_count",
    "is_users",
    "stdout_to_stderr",
    "watch_interrupts",
]

C = TypeVar("C")


class PluginAbort(Exception):
    """A ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``),
    raised by a plugin's own code; its class is named after what was raised."""

    raised: BaseException

    @classmethod
    def of(cls, exc: BaseException, who: str) -> PluginAbort:
        kind = _KINDS.get(type(exc).__name__)
        if kind is None:  # one subclass per name: `raised KeyboardInterrupt` reads as it was
            kind = _KINDS[type(exc).__name__] = type(
                type(exc).__name__, (cls,), {"__module__": __name__, "__doc__": cls.__doc__}
            )
        text = str(exc)
        abort = kind((f"{text}; " if text else "") + f"raised by {who} itself, not by Ctrl-C")
        abort.raised = exc
        return abort


_KINDS: dict[str, type[PluginAbort]] = {}


# --- telling the user's Ctrl-C apart -----------------------------------------------------------


class _Witness:
    """SIGINTs seen while :func:`watch_interrupts` is active, and the handler it chains to."""

    count = 0
    previous: Any = None


def _on_sigint(signum: int, frame: Any) -> None:
    _Witness.count += 1
    previous = _Witness.previous
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        raise KeyboardInterrupt


def interrupt_count() -> int:
    """How many SIGINTs were seen (compare before and after running a plugin's code)."""
    return _Witness.count


def is_users(exc: BaseException, count_before: int) -> bool:
    """Whether ``exc`` stops the host rather than being the plugin's own: anything that is not a
    plain ``KeyboardInterrupt``/``SystemExit``… is the plugin's; a ``KeyboardInterrupt`` is the
    user's when a SIGINT came meanwhile, when SIGINTs are not being watched, or when it is the
    host's own subclass (a run's ``Stopped`` on SIGTERM)."""
    if not isinstance(exc, KeyboardInterrupt):
        return False
    if type(exc) is not KeyboardInterrupt:
        return True
    watched = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is _on_sigint
    )
    return not watched or _Witness.count != count_before


@contextlib.contextmanager
def watch_interrupts() -> Iterator[None]:
    """Count SIGINTs meanwhile (the handler before keeps doing what it did: it is called)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        current = signal.getsignal(signal.SIGINT)
        if current is _on_sigint:  # already watched (nested)
            yield
            return
        signal.signal(signal.SIGINT, _on_sigint)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        yield
        return
    previous, _Witness.previous = _Witness.previous, current
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, current)
        _Witness.previous = previous


# --- guarding a declaration's functions --------------------------------------------------------


def _guard(function: Callable[..., Any], who: str) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps `keras_path`, `__qualname__`: emit and messages read them
    def call(*args: Any, **kwargs: Any) -> Any:
        before = _Witness.count
        try:
            result = function(*args, **kwargs)
            if isinstance(result, types.GeneratorType):  # a rule yields: run it here, guarded
                result = list(result)
            return result
        except Exception:
            raise
        except BaseException as exc:
            if is_users(exc, before):
                raise
            raise PluginAbort.of(exc, who) from exc

    return call


def _function(value: Any) -> bool:
    return callable(value) and not isinstance(value, type)


def _guard_value(value: Any, who: str) -> Any:
    """``value`` with its functions guarded: a function, a tuple of them (rules), a tuple of
    dataclasses holding them (adapters); anything else as it is (the same object)."""
    if _function(value):
        return _guard(value, who)
    if isinstance(value, tuple):
        items = tuple(_guard_value(v, who) for v in value)
        return items if any(a is not b for a, b in zip(items, value)) else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _guard(getattr(value, f.name), who)
            for f in dataclasses.fields(value)
            if _function(getattr(value, f.name))
        }
        return dataclasses.replace(value, **changes) if changes else value
    return value


def guard_component(component: C, plugin: str) -> C:
    """A copy of a third-party declaration whose functions (its own fields, rules, adapters)
    turn the plugin's own ``KeyboardInterrupt``/``SystemExit`` into a :class:`PluginAbort`
    naming ``plugin`` and the component."""
    name = getattr(component, "name", "?")
    changes = {}
    for f in dataclasses.fields(component):  # type: ignore[arg-type]
        value = getattr(component, f.name)
        guarded = _guard_value(value, f"plugin {plugin} (`{name}`'s {f.name})")
        if guarded is not value:
            changes[f.name] = guarded
    if not changes:
        return component
    return dataclasses.replace(component, **changes)  # type: ignore[type-var]


# --- standard output -----------------------------------------------------------------------------


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Standard output goes to standard error meanwhile, at the Python level (``print``) and at
    the file descriptor (``os.write(1, …)``, C code), then comes back."""
    _flush()  # what was written before goes where it was meant to
    with contextlib.redirect_stdout(sys.stderr):
        try:
            saved = os.dup(1)
        except OSError:  # no fd 1 (a daemon): nothing there to protect
            yield
            return
        try:
            os.dup2(2, 1)
        except OSError:  # pragma: no cover
            os.close(saved)
            yield
            return
        try:
            yield
        finally:
            _flush()
            os.dup2(saved, 1)
            os.close(saved)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # closed
            pass
