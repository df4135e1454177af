"""The host-owned registry of names, filled by pluggy plugins (built-ins first, then entry points).

Each name records the plugin that supplied it. Duplicates are refused unless a plugin says
``override=True``. A plugin that fails to import or register is reported and skipped (or,
with ``strict``, raises), so one broken distribution never takes netdsl down.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import os
import re
import signal
import sys
import threading
import time
import traceback
import types
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterable, Iterator

import pluggy

from . import hookspecs
from .components import KINDS, Component
from ..errors import NetdslPluginError

__all__ = [
    "Provider", "Entry", "PluginInfo", "Registry", "PluginWarning", "load_registry",
    "default_registry", "suggest", "env_flag", "ENTRY_POINT_GROUP", "BUILTIN_MODULES",
    "SLOW_PLUGIN_SECONDS",
]

ENTRY_POINT_GROUP = "netdsl"
BUILTIN_PACKAGE = "netdsl_builtins"
BUILTIN_MODULES = ("activations", "losses", "optimizers", "regularizers", "metrics", "layers",
                   "advanced", "datasets", "callbacks", "schedules")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
#: a plugin whose import and hooks take longer than this is named, with its time, under ``-v``
SLOW_PLUGIN_SECONDS = 1.0


class PluginWarning(UserWarning):
    """A third-party plugin was skipped or part of it was refused (not fatal without ``strict``)."""


@dataclass(frozen=True)
class Provider:
    """Who supplied a name: a distribution (name, version) and the plugin module inside it."""

    distribution: str
    version: str
    plugin: str
    builtin: bool = False

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}" + (" (built-in)" if self.builtin else "")


@dataclass(frozen=True)
class Entry:
    component: Component
    provider: Provider


@dataclass
class PluginInfo:
    """One loaded plugin, for ``netdsl plugins``: its provider, hooks and the names it gave."""

    provider: Provider
    hooks: list[str] = field(default_factory=list)
    names: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0  # spent importing it and running its hooks


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate at a small edit distance, or None (used for "did you mean")."""
    pool = sorted(set(candidates))
    if not pool:
        return None
    lowered = name.lower()
    if lowered != name and lowered in pool:
        return lowered
    cutoff = 0.75 if len(name) <= 4 else 0.7
    close = difflib.get_close_matches(lowered, pool, n=1, cutoff=cutoff)
    return close[0] if close else None


class Registry:
    """Every name the language knows, by kind (see :data:`netdsl.vocab.components.KINDS`)."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._aliases: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        self.plugins: list[PluginInfo] = []
        self.problems: list[NetdslPluginError] = []
        self.notices: list[str] = []  # not problems: e.g. a plugin overriding a name on purpose

    def slow_plugins(self, limit: float = SLOW_PLUGIN_SECONDS) -> list[PluginInfo]:
        """Plugins that took longer than ``limit`` seconds to import and register."""
        return [p for p in self.plugins if p.seconds > limit]

    # --- reading ------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Component | None:
        entry = self.entry(kind, name)
        return entry.component if entry else None

    def entry(self, kind: str, name: str) -> Entry | None:
        table = self._entries.get(kind)
        if table is None:
            return None
        if name in table:
            return table[name]
        canonical = self._aliases[kind].get(name)
        return table.get(canonical) if canonical else None

    def names(self, kind: str, aliases: bool = False) -> list[str]:
        out = list(self._entries.get(kind, {}))
        if aliases:
            out += list(self._aliases.get(kind, {}))
        return sorted(out)

    def kinds_of(self, name: str) -> list[str]:
        """Every kind in which ``name`` (or an alias of that name) is known."""
        return [k for k in KINDS if self.entry(k, name) is not None]

    def entries(self, kind: str | None = None) -> Iterator[Entry]:
        for k in ([kind] if kind else list(KINDS)):
            yield from self._entries[k].values()

    def suggest(self, kind: str, name: str) -> str | None:
        return suggest(name, self.names(kind, aliases=True))

    # --- writing ------------------------------------------------------------------------------
    def add(self, component: Component, provider: Provider, *, override: bool = False) -> None:
        """Register one declaration; raises NetdslPluginError for a bad or duplicate name."""
        kind = component.kind
        if kind not in self._entries:
            raise NetdslPluginError(f"{provider}: {component!r} is not a component declaration")
        names = (component.name, *component.aliases)
        for n in names:
            if not _NAME.match(n):
                raise NetdslPluginError(
                    f"{provider}: {kind} name `{n}` must be lowercase letters, digits and `_`")
        for n in names:
            other = self.entry(kind, n)
            if other is not None and not override:
                raise NetdslPluginError(
                    f"{provider} registers {kind} `{n}`, already provided by {other.provider}; "
                    f"two plugins cannot both provide it",
                    help="pass override=True to register() to replace it on purpose",
                    code="NDL201",
                )
        if override:
            for n in names:
                self.remove(kind, n)
        self._entries[kind][component.name] = Entry(component, provider)
        for a in component.aliases:
            self._aliases[kind][a] = component.name

    def remove(self, kind: str, name: str) -> None:
        """Take a name (and its aliases) out of the registry."""
        canonical = self._aliases[kind].pop(name, None) or name
        entry = self._entries[kind].pop(canonical, None)
        if entry:
            for a in entry.component.aliases:
                self._aliases[kind].pop(a, None)


# --- loading -----------------------------------------------------------------------------------

def _netdsl_version() -> str:
    from .._version import __version__

    return __version__


def _builtin_plugins() -> list[tuple[Any, Provider]]:
    out = []
    version = _netdsl_version()
    for mod in BUILTIN_MODULES:
        module = importlib.import_module(f"{BUILTIN_PACKAGE}.{mod}")
        out.append((module, Provider("netdsl", version, f"{BUILTIN_PACKAGE}.{mod}", builtin=True)))
    return out


def _allowed(env: str | None, only: Iterable[str] | None) -> set[str] | None:
    if only is not None:
        return {_norm(d) for d in only}
    if env is None:
        return None
    return {_norm(d) for d in env.split(",") if d.strip()}


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist.strip()).lower()


def env_flag(name: str, default: bool = False) -> bool:
    """A boolean environment switch as people write it (``1/0``, ``true/false``, ``on/off``,
    ``yes/no``, any case); anything else is an error naming the variable."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise NetdslPluginError(f"{name}={raw!r} is not a boolean", code="NDL207",
                            help=f"use one of {', '.join(sorted(_TRUE | _FALSE))}")


_TRUE = {"1", "true", "on", "yes", "y"}
_FALSE = {"0", "false", "off", "no", "n"}


def load_registry(
    *,
    plugins: Iterable[str] | None = None,
    third_party: bool = True,
    strict: bool | None = None,
    on_problem: Callable[[NetdslPluginError], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> Registry:
    """Build a registry: built-ins, then third-party plugins from the ``netdsl`` entry points.

    ``plugins`` (or ``NETDSL_PLUGINS``, comma-separated distribution names; empty for none)
    limits which third-party distributions load; a name that matches no installed plugin is a
    problem (with a "did you mean"). ``third_party=False`` loads none.
    ``strict`` (or ``NETDSL_STRICT_PLUGINS``, read by :func:`env_flag`) makes any plugin problem
    raise. ``on_notice`` hears what is not a problem but must be said, once (a plugin overriding
    a name on purpose); without it that is a :class:`PluginWarning`.
    Hooks are called through pluggy (``pm.hook``), so ``tryfirst``/``trylast``, wrappers and
    tracing apply; each implementation is guarded so that a plugin that raises (anything, even
    ``SystemExit`` or a ``KeyboardInterrupt`` of its own) is reported and skipped without
    stopping the others. While plugins import and register, what they print goes to standard
    error, so it never mixes with a command's output (``check --json``).
    """
    if strict is None:
        strict = env_flag("NETDSL_STRICT_PLUGINS")
    registry = Registry()
    pm = _Manager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)

    def problem(err: NetdslPluginError) -> None:
        if strict:
            raise err
        registry.problems.append(err)
        if on_problem is not None:
            on_problem(err)
        else:
            warnings.warn(err.message, PluginWarning, stacklevel=3)

    def notice(message: str) -> None:
        registry.notices.append(message)
        if on_notice is not None:
            on_notice(message)
        else:
            warnings.warn(message, PluginWarning, stacklevel=3)

    with _plugin_output_to_stderr(), _interrupts() as interrupted:
        builtins = [(obj, provider, 0.0) for obj, provider in _builtin_plugins()]
        others = (_entry_point_plugins(_allowed(os.environ.get("NETDSL_PLUGINS"), plugins), problem,
                                       interrupted, "plugins=" if plugins is not None else "NETDSL_PLUGINS")
                  if third_party else [])
        current: list[PluginInfo] = []
        loaded: list[PluginInfo] = []
        # pluggy calls the last registered first: third-party plugins go in first, so that the
        # built-ins register their names before any plugin can (a plugin's tryfirst is handled
        # in `register`: the built-in keeps its name)
        for obj, provider, seconds in [*reversed(others), *reversed(builtins)]:
            info = PluginInfo(provider, seconds=seconds)
            if _register(pm, _guarded(obj, info, current, problem, interrupted), obj, provider, problem):
                loaded.append(info)
        registry.plugins.extend(reversed(loaded))
        for hook, kind in hookspecs.HOOKS.items():
            getattr(pm.hook, hook)(register=_register_function(registry, hook, kind, current, problem,
                                                               notice))
    return registry


@contextlib.contextmanager
def _plugin_output_to_stderr() -> Iterator[None]:
    """Send what plugins print (``print``, ``sys.stdout.write``) to standard error meanwhile."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


@contextlib.contextmanager
def _interrupts() -> Iterator[threading.Event]:
    """An event set when the user really presses Ctrl-C (SIGINT) meanwhile, so that a plugin
    raising ``KeyboardInterrupt`` itself is told apart from the user stopping netdsl."""
    seen = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    try:
        previous = signal.getsignal(signal.SIGINT)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        yield seen
        return

    def handler(signum: int, frame: Any) -> None:
        seen.set()
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # pragma: no cover
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _reraise_if_user(exc: BaseException, interrupted: threading.Event) -> None:
    """Re-raise ``exc`` when it is the user's own Ctrl-C (not a plugin's), else return."""
    if isinstance(exc, KeyboardInterrupt) and interrupted.is_set():
        raise exc


class _Manager(pluggy.PluginManager):
    """Pluggy's manager, looking only at the names netdsl has hooks for (pluggy's documented
    override): a plugin's other attributes are never inspected, which keeps start-up quick."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if name not in hookspecs.HOOKS:
            return None
        return super().parse_hookimpl_opts(plugin, name)


def _guarded(obj: Any, info: PluginInfo, current: list[PluginInfo],
             problem: Callable[[NetdslPluginError], None], interrupted: threading.Event) -> Any:
    """What pluggy registers for a plugin: its hook implementations (same options), each run
    with ``current`` naming the plugin and with its exceptions reported, never raised."""
    proxy = types.SimpleNamespace()
    marker = hookspecs.PROJECT + "_impl"
    for hook in hookspecs.HOOKS:
        function = getattr(obj, hook, None)
        opts = getattr(function, marker, None)
        if function is None or opts is None:
            continue
        if opts.get("wrapper") or opts.get("hookwrapper"):
            setattr(proxy, hook, function)  # wraps the others: runs as written
            continue
        setattr(proxy, hook, hookspecs.hookimpl(
            tryfirst=bool(opts.get("tryfirst")), trylast=bool(opts.get("trylast")),
        )(_guard(function, hook, info, current, problem, interrupted)))
    return proxy


def _guard(function: Callable[..., Any], hook: str, info: PluginInfo, current: list[PluginInfo],
           problem: Callable[[NetdslPluginError], None], interrupted: threading.Event
           ) -> Callable[..., None]:
    def impl(register: Any) -> None:
        current[:] = [info]
        if hook not in info.hooks:
            info.hooks.append(hook)
        start = time.perf_counter()
        try:
            function(register=register)
        except NetdslPluginError as err:
            problem(err)
        except BaseException as exc:  # noqa: BLE001 - a plugin raising must not take the host down
            _reraise_if_user(exc, interrupted)
            problem(_plugin_failed(info.provider, f"raised in {hook}", exc))
        finally:
            current[:] = []
            info.seconds += time.perf_counter() - start

    impl.__name__ = hook
    return impl


def _entry_point_plugins(allowed: set[str] | None, problem: Callable[[NetdslPluginError], None],
                         interrupted: threading.Event, origin: str = "NETDSL_PLUGINS"
                         ) -> list[tuple[Any, Provider, float]]:
    out = []
    seen: set[tuple[str, str]] = set()
    installed: set[str] = set()
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist
        dist_name = (dist.metadata["Name"] if dist is not None else None) or ep.module
        version = (dist.version if dist is not None else None) or "?"
        installed.add(dist_name)
        if (dist_name, ep.name) in seen:
            continue
        seen.add((dist_name, ep.name))
        if allowed is not None and _norm(dist_name) not in allowed:
            continue
        provider = Provider(dist_name, version, ep.value)
        start = time.perf_counter()
        try:
            obj = ep.load()
        except BaseException as exc:  # noqa: BLE001 - a broken plugin must not take the host down
            _reraise_if_user(exc, interrupted)
            problem(_plugin_failed(provider, "failed to import", exc))
            continue
        out.append((obj, provider, time.perf_counter() - start))
    for name in sorted((allowed or set()) - {_norm(d) for d in installed}):
        close = suggest(name, {_norm(d) for d in installed})
        problem(NetdslPluginError(
            f"{origin} names `{name}`, but no installed distribution provides netdsl plugins "
            "under that name" + (f"; did you mean `{close}`?" if close else ""), code="NDL209",
            help="installed: " + (", ".join(sorted(installed)) or "none")))
    return out


def _plugin_failed(provider: Provider, what: str, exc: BaseException) -> NetdslPluginError:
    detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    err = NetdslPluginError(  # one line: the CLI prints it as one `warning:` line
        f"plugin {provider.distribution} {provider.version} {what}: {type(exc).__name__}"
        + (f": {detail}" if detail else ""),
        code="NDL202",
    )
    err.traceback = "".join(traceback.format_exception(exc))  # type: ignore[attr-defined]
    return err


def _register(pm: pluggy.PluginManager, proxy: Any, obj: Any, provider: Provider,
              problem: Callable[[NetdslPluginError], None]) -> bool:
    marker = hookspecs.PROJECT + "_impl"
    unknown = [n for n in dir(obj)
               if n.startswith("register_") and n not in hookspecs.HOOKS
               and getattr(getattr(obj, n, None), marker, None) is not None]
    for name in unknown:
        close = suggest(name, hookspecs.HOOKS)
        problem(NetdslPluginError(
            f"plugin {provider.distribution} {provider.version} implements `{name}`, "
            "which is not a netdsl hook" + (f" (did you mean `{close}`?)" if close else "")
            + "; the plugin was skipped",
            code="NDL203",
        ))
    if unknown:
        return False
    try:
        _validate(obj, provider)  # what pluggy would refuse in the plugin itself (the proxy always fits)
        pm.register(proxy, name=f"{provider.distribution}:{provider.plugin}")
    except Exception as exc:  # noqa: BLE001 - pluggy validation errors, reported per plugin
        pm.unregister(proxy) if pm.is_registered(proxy) else None
        problem(_plugin_failed(provider, "could not be registered", exc))
        return False
    return True


def _validate(obj: Any, provider: Provider) -> None:
    """Pluggy's own check of a plugin's hook implementations: every argument they declare must
    be one the hook passes (``register``); raises ``pluggy.PluginValidationError``."""
    marker = hookspecs.PROJECT + "_impl"
    for hook in hookspecs.HOOKS:
        function = getattr(obj, hook, None)
        if getattr(function, marker, None) is None:
            continue
        if not callable(function):
            raise pluggy.PluginValidationError(obj, f"Plugin {provider.plugin!r}: {hook} is not a function")
        params = inspect.signature(function).parameters.values()
        declared = [p.name for p in params if p.default is p.empty and p.name != "self"
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        unknown = [n for n in declared if n != "register"]
        if unknown:
            raise pluggy.PluginValidationError(
                obj, f"Plugin {provider.plugin!r} for hook {hook!r}\nhookimpl definition: "
                     f"{hook}{inspect.signature(function)}\nArgument(s) {set(unknown)} are declared in "
                     "the hookimpl but can not be found in the hookspec")


def _register_function(registry: Registry, hook: str, kind: str, current: list[PluginInfo],
                       problem: Callable[[NetdslPluginError], None],
                       notice: Callable[[str], None]) -> Callable[..., None]:
    """The ``register`` a hook receives: validates each declaration and records its plugin."""

    def register(component: Component, *, override: bool = False) -> None:
        info = current[0]
        provider = info.provider
        if not isinstance(component, KINDS[kind]):
            raise NetdslPluginError(
                f"plugin {provider.distribution} {provider.version}: {hook} must register "
                f"{KINDS[kind].__name__} declarations, got {component!r}", code="NDL204")
        bad = component.problems()
        for line in bad:
            problem(NetdslPluginError(
                f"plugin {provider.distribution} {provider.version}: {kind} `{component.name}`: "
                f"{line}; it was not registered", code="NDL204"))
        if bad:
            return
        existing = registry.entry(kind, component.name)
        if existing is not None and not override and provider.builtin and not existing.provider.builtin:
            # a plugin that ran first (tryfirst) cannot take a built-in name: the built-in keeps it
            _forget(registry, existing)
            registry.remove(kind, component.name)
            problem(NetdslPluginError(
                f"{existing.provider} registers {kind} `{component.name}`, already provided by "
                f"{provider}; two plugins cannot both provide it", code="NDL201",
                help="pass override=True to register() to replace it on purpose"))
        replaced = registry.entry(kind, component.name) if override else None
        try:
            registry.add(component, provider, override=override)
        except NetdslPluginError as err:
            problem(err)
            return
        if replaced is not None:
            _forget(registry, replaced)
            notice(f"plugin {provider.distribution} {provider.version} overrides {kind} "
                   f"`{component.name}` of {replaced.provider}")
        info.names.setdefault(kind, []).append(component.name)

    return register


def _forget(registry: Registry, entry: Entry) -> None:
    """Take a replaced name out of its old provider's listing."""
    kind = entry.component.kind
    for other in registry.plugins:
        names = other.names.get(kind, [])
        if other.provider == entry.provider and entry.component.name in names:
            names.remove(entry.component.name)


_DEFAULT: dict[tuple[Any, ...], Registry] = {}


def default_registry() -> Registry:
    """The registry for the current environment (``NETDSL_PLUGINS`` etc.), loaded once."""
    key = (os.environ.get("NETDSL_PLUGINS"), os.environ.get("NETDSL_STRICT_PLUGINS"))
    if key not in _DEFAULT:
        _DEFAULT[key] = load_registry()
    return _DEFAULT[key]
