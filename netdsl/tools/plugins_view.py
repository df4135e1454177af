"""``netdsl plugins``: what each plugin provides, and one component's parameters (the help system)."""

from __future__ import annotations

from typing import Any

from ..vocab.components import REQUIRED, Block, Dataset, Layer
from ..vocab.registry import Registry

__all__ = ["component_text", "components_json", "plugins_json", "plugins_text"]


def plugins_json(registry: Registry, show_all: bool) -> list[dict[str, Any]]:
    out = []
    for info in registry.plugins:
        if info.provider.builtin and not show_all:
            continue
        out.append(
            {
                "distribution": info.provider.distribution,
                "version": info.provider.version,
                "plugin": info.provider.plugin,
                "builtin": info.provider.builtin,
                "hooks": sorted(set(info.hooks)),
                "names": info.names,
            }
        )
    return out


def plugins_text(registry: Registry, show_all: bool) -> str:
    rows = plugins_json(registry, show_all)
    if not rows:
        return (
            "no third-party plugins installed (`netdsl plugins --all` lists the built-ins; "
            "`pip install netdsl-<name>` adds one)"
        )
    lines = []
    for r in rows:
        lines.append(
            f"{r['distribution']} {r['version']}  ({r['plugin']})"
            + ("  [built-in]" if r["builtin"] else "")
        )
        lines.append(f"  hooks: {', '.join(r['hooks']) or '-'}")
        for kind, names in sorted(r["names"].items()):
            lines.append(f"  {kind}: {', '.join(sorted(names))}")
    for p in registry.problems:
        lines.append(f"problem: {p.message}")
    return "\n".join(lines)


def _default(value: Any) -> str:
    if value is REQUIRED:
        return "required"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)


def components_json(registry: Registry, name: str) -> list[dict[str, Any]]:
    out = []
    for kind in registry.kinds_of(name):
        entry = registry.entry(kind, name)
        assert entry is not None
        c = entry.component
        item: dict[str, Any] = {
            "kind": kind,
            "name": c.name,
            "aliases": list(c.aliases),
            "description": c.description,
            "provider": {
                "distribution": entry.provider.distribution,
                "version": entry.provider.version,
                "builtin": entry.provider.builtin,
            },
            "params": [
                {
                    "name": p.name,
                    "type": p.type.label,
                    "default": _default(p.default),
                    "positional": p.positional,
                    "help": p.help,
                }
                for p in c.params
            ],
        }
        if isinstance(c, Layer):
            item["accepts"] = c.accepts
        if isinstance(c, Dataset):
            item["env"] = c.env
        if isinstance(c, Block):
            item["source"] = c.source
        out.append(item)
    return out


def component_text(registry: Registry, name: str) -> str:
    blocks = []
    for item in components_json(registry, name):
        prov = item["provider"]
        head = f"{item['name']} ({item['kind']}) — {item['description']}"
        lines = [
            head,
            f"  provided by {prov['distribution']} {prov['version']}"
            + (" (built-in)" if prov["builtin"] else ""),
        ]
        if item["aliases"]:
            lines.append(f"  aliases: {', '.join(item['aliases'])}")
        if item.get("env"):
            lines.append(f"  its files may also be given with ${item['env']}")
        if "source" in item:
            lines.append(f"  written in netdsl:\n    {item['source']}")
        elif item["params"]:
            lines.append("  parameters (positional ones can be written without `name=`):")
            width = max(len(p["name"]) for p in item["params"])
            for p in item["params"]:
                pos = " positional" if p["positional"] else ""
                doc = f" — {p['help']}" if p["help"] else ""
                default = "required" if p["default"] == "required" else f"default {p['default']}"
                lines.append(f"    {p['name']:<{width}}  {p['type']}, {default}{pos}{doc}")
        else:
            lines.append("  no parameters")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
