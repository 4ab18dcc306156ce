"""A compact field diff of two versions of one Kubernetes object (live vs. a dry run or the applied result).

Entries are {"p": path, "was": old, "now": new}: paths like spec.template.spec.containers[app].image, lists of
named items (containers, env, ports, volumes) keyed by name, a subtree added or removed as one entry.
What the server keeps for itself (managedFields, resourceVersion, generation, status, ...) is ignored.

Change detection uses the objects as given; the values shown come from their redacted copies (redact_obj), so a
credential that changed is reported as "***" -> "***": that a key changed, never its value. Secret data arrives
from ops_mcp.cluster as keyed digests (Cluster.get(..., digests=True)), equal exactly when the values are.
"""

from __future__ import annotations

import json
from typing import Any

from ops_mcp.redact import redact_obj

IGNORED = {
    ("metadata", "managedFields"),
    ("metadata", "resourceVersion"),
    ("metadata", "generation"),
    ("metadata", "uid"),
    ("metadata", "creationTimestamp"),
    ("metadata", "selfLink"),
    ("metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"),
    ("metadata", "annotations", "deployment.kubernetes.io/revision"),
    ("status",),
}
MAX_ENTRIES = 40
MAX_VALUE_CHARS = 300

Path = tuple[Any, ...]  # str: a mapping key; int: a list index; ("name", n): the list item named n


def object_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The changes from before to after, at most MAX_ENTRIES (then one entry says how many more)."""
    paths: list[Path] = []
    _walk(before or {}, after or {}, (), paths)
    shown_before, shown_after = redact_obj(before or {}), redact_obj(after or {})
    out = [{"p": render(p), "was": _short(_at(shown_before, p)), "now": _short(_at(shown_after, p))} for p in paths[:MAX_ENTRIES]]
    if len(paths) > MAX_ENTRIES:
        out.append({"p": f"(+{len(paths) - MAX_ENTRIES} more changes)", "was": None, "now": None})
    return out


def _walk(a: Any, b: Any, path: Path, out: list[Path]) -> None:
    if path in IGNORED or a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                if (*path, key) not in IGNORED:
                    out.append((*path, key))
            else:
                _walk(a[key], b[key], (*path, key), out)
        return
    if isinstance(a, list) and isinstance(b, list):
        named_a, named_b = _by_name(a), _by_name(b)
        if named_a is not None and named_b is not None:
            _walk_named(named_a, named_b, path, out)
            return
        if len(a) == len(b) and all(isinstance(x, dict) for x in a + b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                _walk(x, y, (*path, i), out)
            return
    out.append(path)  # a scalar, a list of scalars (args, command) or a type change: one entry


def _walk_named(a: dict[str, Any], b: dict[str, Any], path: Path, out: list[Path]) -> None:
    for name in list(a) + [n for n in b if n not in a]:
        item = (*path, ("name", name))
        if name not in a or name not in b:
            out.append(item)
        else:
            _walk(a[name], b[name], item, out)


def _by_name(items: list[Any]) -> dict[str, Any] | None:
    """A list of dicts with unique names as name -> item (None if it is not one: then it is diffed by position)."""
    if not items or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return None
    named = {i["name"]: i for i in items}
    return named if len(named) == len(items) else None


def _at(obj: Any, path: Path) -> Any:
    for seg in path:
        if isinstance(seg, tuple):
            obj = next((i for i in obj if isinstance(i, dict) and i.get("name") == seg[1]), None) if isinstance(obj, list) else None
        elif isinstance(seg, int):
            obj = obj[seg] if isinstance(obj, list) and seg < len(obj) else None
        else:
            obj = obj.get(seg) if isinstance(obj, dict) else None
        if obj is None:
            return None
    return obj


def render(path: Path) -> str:
    text = ""
    for seg in path:
        if isinstance(seg, tuple):
            text += f"[{seg[1]}]"
        elif isinstance(seg, int):
            text += f"[{seg}]"
        elif any(c in seg for c in "./[]"):  # label and annotation keys
            text += f"[{seg}]"
        else:
            text += f".{seg}" if text else seg
    return text


def _short(value: Any) -> Any:
    """Values as they are, unless long: then cut JSON text."""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"), default=str)
        return value if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "..."
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "..."
    return value


def diff_text(entries: list[dict[str, Any]]) -> str:
    """One line per entry: path: was -> now."""

    def show(v: Any) -> str:
        return "(none)" if v is None else v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=str)

    return "\n".join(f"  {e['p']}: {show(e['was'])} -> {show(e['now'])}" if e["was"] is not None or e["now"] is not None else f"  {e['p']}" for e in entries)
