"""The host-owned registry of names, filled by pluggy plugins (built-ins first, then entry points).

Each name records the plugin that supplied it. Duplicates are refused unless a plugin says
``override=True``. A plugin that fails to import or register is reported and skipped (or,
with ``strict``, raises), so one broken distribution never takes netdsl down.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from ..errors import NetdslPluginError
from . import hookspecs
from .components import KINDS, Component
from .isolation import (
    guard_component,
    interrupt_count,
    is_users,
    stdout_to_stderr,
    watch_interrupts,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "SLOW_PLUGIN_SECONDS",
    "Entry",
    "PluginInfo",
    "PluginWarning",
    "Provider",
    "Registry",
    "default_registry",
    "env_flag",
    "load_registry",
    "suggest",
]

ENTRY_POINT_GROUP = "netdsl"
#: the package of the built-in plugins; its ``BUILTIN_MODULES`` lists them
BUILTIN_PACKAGE = "netdsl_builtins"
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
        self._restricted = 0  # how many entries run on some backends only

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
        for k in [kind] if kind else list(KINDS):
            yield from self._entries[k].values()

    @property
    def restricts_backends(self) -> bool:
        """Whether any component here runs on some backends only: when none does (the usual
        case), no program can break the backend rule and ``check`` need not walk it."""
        return self._restricted > 0

    def suggest(self, kind: str, name: str) -> str | None:
        return suggest(name, self.names(kind, aliases=True))

    def copy(self) -> Registry:
        """A registry with the same entries that can be changed without touching this one."""
        other = Registry()
        other._entries = {k: dict(v) for k, v in self._entries.items()}
        other._aliases = {k: dict(v) for k, v in self._aliases.items()}
        other._restricted = self._restricted
        other.plugins, other.problems, other.notices = (
            list(self.plugins),
            list(self.problems),
            list(self.notices),
        )
        return other

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
                    f"{provider}: {kind} name `{n}` must be lowercase letters, digits and `_`"
                )
        for n in names:
            layer = self.entry("layer", n) if kind == "block" else None
            if layer is not None:
                raise NetdslPluginError(
                    f"{provider} registers block `{n}`, already a layer of {layer.provider}; "
                    "a block cannot take a layer's name",
                    help="give the block another name",
                    code="NDL201",
                )
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
        self._restricted += bool(getattr(component, "backends", ()))
        for a in component.aliases:
            self._aliases[kind][a] = component.name

    def remove(self, kind: str, name: str) -> None:
        """Take a name (and its aliases) out of the registry."""
        canonical = self._aliases[kind].pop(name, None) or name
        entry = self._entries[kind].pop(canonical, None)
        if entry:
            self._restricted -= bool(getattr(entry.component, "backends", ()))
            for a in entry.component.aliases:
                self._aliases[kind].pop(a, None)


# --- loading -----------------------------------------------------------------------------------


def _netdsl_version() -> str:
    from .._version import __version__

    return __version__


def _builtin_plugins() -> list[tuple[Any, Provider]]:
    """The built-in plugin modules, as the built-ins package lists them."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    version = _netdsl_version()
    return [
        (
            importlib.import_module(f"{BUILTIN_PACKAGE}.{mod}"),
            Provider("netdsl", version, f"{BUILTIN_PACKAGE}.{mod}", builtin=True),
        )
        for mod in package.BUILTIN_MODULES
    ]


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
    raise NetdslPluginError(
        f"{name}={raw!r} is not a boolean",
        code="NDL207",
        help=f"use one of {', '.join(sorted(_TRUE | _FALSE))}",
    )


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
    Plugins are registered with pluggy (its own validation) and their hooks called through
    ``pm.hook`` (``tryfirst``/``trylast``, wrappers and tracing apply); each implementation runs
    isolated (see :class:`_Loading`): a plugin that raises (anything, even ``SystemExit`` or a
    ``KeyboardInterrupt`` of its own) is reported and skipped without stopping the others. While
    plugins import and register, what they write to standard output (``print``, or
    ``os.write(1, …)``) goes to standard error, so it never mixes with a command's output.
    """
    if strict is None:
        strict = env_flag("NETDSL_STRICT_PLUGINS")
    loading = _Loading(Registry(), strict, on_problem, on_notice)
    pm = _Manager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    with stdout_to_stderr(), watch_interrupts():
        builtins = [(obj, provider, 0.0) for obj, provider in _builtin_plugins()]
        allowed = _allowed(os.environ.get("NETDSL_PLUGINS"), plugins)
        origin = "plugins=" if plugins is not None else "NETDSL_PLUGINS"
        others = _entry_point_plugins(allowed, loading.problem, origin) if third_party else []
        # pluggy calls the last registered first: third-party plugins go in first, so that the
        # built-ins register their names before any plugin can (a plugin's tryfirst is handled
        # in `register`: the built-in keeps its name)
        loaded = [loading.plug(pm, *plugin) for plugin in [*reversed(others), *reversed(builtins)]]
        loading.registry.plugins.extend(info for info in reversed(loaded) if info is not None)
        for hook in hookspecs.HOOKS:
            getattr(pm.hook, hook)(register=_outside_a_hook)
    return loading.registry


def _outside_a_hook(component: Any, **_: Any) -> None:
    """The ``register`` pluggy passes: each implementation is given its own plugin's instead
    (a hook wrapper sees this one)."""
    raise NetdslPluginError(
        "`register` was called outside a plugin's own hook implementation", code="NDL204"
    )


class _Manager(pluggy.PluginManager):
    """Pluggy's manager, looking only at names that may be netdsl hooks (pluggy's documented
    override): a plugin's other attributes are never inspected, which keeps start-up quick."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if not name.startswith("register_"):
            return None
        return super().parse_hookimpl_opts(plugin, name)


class _Loading:
    """One load: the registry filled, and where its problems and notices go."""

    def __init__(
        self,
        registry: Registry,
        strict: bool,
        on_problem: Callable[[NetdslPluginError], None] | None,
        on_notice: Callable[[str], None] | None,
    ) -> None:
        self.registry = registry
        self.strict = strict
        self.on_problem = on_problem
        self.on_notice = on_notice

    def problem(self, err: NetdslPluginError) -> None:
        if self.strict:
            raise err
        self.registry.problems.append(err)
        if self.on_problem is not None:
            self.on_problem(err)
        else:
            warnings.warn(err.message, PluginWarning, stacklevel=4)

    def notice(self, message: str) -> None:
        self.registry.notices.append(message)
        if self.on_notice is not None:
            self.on_notice(message)
        else:
            warnings.warn(message, PluginWarning, stacklevel=4)

    def plug(
        self, pm: pluggy.PluginManager, obj: Any, provider: Provider, seconds: float
    ) -> PluginInfo | None:
        """Register one plugin with pluggy (which validates its hook implementations); a hook
        name netdsl does not have skips it. Each of its implementations is then isolated."""
        try:
            pm.register(obj, name=f"{provider.distribution}:{provider.plugin}")
        except Exception as exc:  # noqa: BLE001 - pluggy's validation, reported per plugin
            self.problem(_plugin_failed(provider, "could not be registered", exc))
            return None
        callers = pm.get_hookcallers(obj) or []
        unknown = sorted(c.name for c in callers if not c.has_spec())
        if unknown:
            pm.unregister(obj)
            for name in unknown:
                close = suggest(name, hookspecs.HOOKS)
                self.problem(
                    NetdslPluginError(
                        f"plugin {provider.distribution} {provider.version} implements `{name}`, "
                        "which is not a netdsl hook"
                        + (f" (did you mean `{close}`?)" if close else "")
                        + "; the plugin was skipped",
                        code="NDL203",
                    )
                )
            return None
        info = PluginInfo(provider, seconds=seconds)
        for caller in callers:
            for impl in caller.get_hookimpls():
                if impl.plugin is obj and not (impl.wrapper or impl.hookwrapper):
                    # pluggy calls `impl.function`; the host swaps in the isolated call once, at
                    # registration, before any call (pluggy types the slot Final for its users)
                    impl.function = self._isolated(  # type: ignore[misc]
                        impl.function, caller.name, info
                    )
        return info

    def _isolated(
        self, function: Callable[..., Any], hook: str, info: PluginInfo
    ) -> Callable[..., None]:
        """A hook implementation as pluggy calls it: given its own plugin's ``register``, its
        time counted, and anything it raises reported as that plugin's problem."""
        register = _register_function(self, hook, hookspecs.HOOKS[hook], info)

        def impl(*args: Any) -> None:  # pluggy passes the arguments the function declares
            if hook not in info.hooks:
                info.hooks.append(hook)
            start, before = time.perf_counter(), interrupt_count()
            try:
                function(*(register for _ in args))
            except NetdslPluginError as err:
                self.problem(err)
            except BaseException as exc:
                if is_users(exc, before):
                    raise
                self.problem(_plugin_failed(info.provider, f"raised in {hook}", exc))
            finally:
                info.seconds += time.perf_counter() - start

        return impl


def _entry_point_plugins(
    allowed: set[str] | None,
    problem: Callable[[NetdslPluginError], None],
    origin: str = "NETDSL_PLUGINS",
) -> list[tuple[Any, Provider, float]]:
    """The objects the allowed ``netdsl`` entry points name, imported (a failure is reported)."""
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
        start, before = time.perf_counter(), interrupt_count()
        try:
            obj = ep.load()
        except BaseException as exc:
            if is_users(exc, before):
                raise
            problem(_plugin_failed(provider, "failed to import", exc))
            continue
        out.append((obj, provider, time.perf_counter() - start))
    for name in sorted((allowed or set()) - {_norm(d) for d in installed}):
        close = suggest(name, {_norm(d) for d in installed})
        problem(
            NetdslPluginError(
                f"{origin} names `{name}`, but no installed distribution provides netdsl plugins "
                "under that name" + (f"; did you mean `{close}`?" if close else ""),
                code="NDL209",
                help="installed: " + (", ".join(sorted(installed)) or "none"),
            )
        )
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


def _register_function(
    loading: _Loading, hook: str, kind: str, info: PluginInfo
) -> Callable[..., None]:
    """The ``register`` one plugin's hook receives: validates each declaration, records it
    under that plugin, and guards a third-party declaration's functions (see
    :func:`~netdsl.vocab.isolation.guard_component`)."""
    registry, provider = loading.registry, info.provider

    def register(component: Component, *, override: bool = False) -> None:
        if not isinstance(component, KINDS[kind]):
            raise NetdslPluginError(
                f"plugin {provider.distribution} {provider.version}: {hook} must register "
                f"{KINDS[kind].__name__} declarations, got {component!r}",
                code="NDL204",
            )
        bad = component.problems()
        for line in bad:
            loading.problem(
                NetdslPluginError(
                    f"plugin {provider.distribution} {provider.version}: {kind} `{component.name}`: "
                    f"{line}; it was not registered",
                    code="NDL204",
                )
            )
        if bad:
            return
        existing = registry.entry(kind, component.name)
        if (
            existing is not None
            and not override
            and provider.builtin
            and not existing.provider.builtin
        ):
            # a plugin that ran first (tryfirst) cannot take a built-in name: the built-in keeps it
            _forget(registry, existing)
            registry.remove(kind, component.name)
            loading.problem(
                NetdslPluginError(
                    f"{existing.provider} registers {kind} `{component.name}`, already provided by "
                    f"{provider}; two plugins cannot both provide it",
                    code="NDL201",
                    help="pass override=True to register() to replace it on purpose",
                )
            )
        replaced = registry.entry(kind, component.name) if override else None
        if not provider.builtin:
            component = guard_component(component, f"{provider.distribution} {provider.version}")
        try:
            registry.add(component, provider, override=override)
        except NetdslPluginError as err:
            loading.problem(err)
            return
        if replaced is not None:
            _forget(registry, replaced)
            loading.notice(
                f"plugin {provider.distribution} {provider.version} overrides {kind} "
                f"`{component.name}` of {replaced.provider}"
            )
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
