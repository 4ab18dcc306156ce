"""Secret values a tool call came across, scrubbed from everything the call returns.

The cluster layer remembers the values of every Secret it reads (redact.secret_forms: as stored, decoded, a
multi-line one line by line); the server's scrub middleware opens one set per call and masks each remembered value
in the result, errors included. So a value copied into an annotation, echoed by the API server in a 422, or set into
a ConfigMap never comes back, whatever field or wording carries it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ops_mcp.redact import Scrubber, secret_forms

_CALL: ContextVar[set[str] | None] = ContextVar("ops_mcp_tainted", default=None)


@contextmanager
def call() -> Iterator[set[str]]:
    """The set of values remembered during one call (worker threads share it: they run in a copy of the context)."""
    values: set[str] = set()
    token = _CALL.set(values)
    try:
        yield values
    finally:
        _CALL.reset(token)


def remember(values: Iterable[str]) -> None:
    found = _CALL.get()
    if found is not None:
        found.update(values)


def current() -> set[str]:
    """The values remembered so far in this call (empty outside one)."""
    return set(_CALL.get() or ())


def scrub(value: Any, values: Iterable[str]) -> Any:
    """value (text or an object) with every occurrence of the values masked."""
    return Scrubber(values).obj(value)


def scrub_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret (or SecretList), its values remembered for this call and its other fields (annotations, labels)
    scrubbed of them."""
    if obj.get("kind") == "SecretList":
        return {**obj, "items": [scrub_fields({**i, "kind": "Secret"}) for i in obj.get("items") or []]}
    forms = secret_forms(obj)
    remember(forms)
    return {k: v if k in ("data", "stringData") else scrub(v, forms) for k, v in obj.items()}
