"""A Kubernetes object as diagnosis holds it (plain JSON dict, camelCase) and its name accessors: the bottom layer
that the snapshot and the access facts it carries both read objects with."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def name_of(obj: Obj) -> str:
    return meta(obj).get("name", "")
