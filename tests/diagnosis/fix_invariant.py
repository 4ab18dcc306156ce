"""The one-builder invariant of a fix, checked on every report a diagnosis test makes (see conftest.py)."""

from __future__ import annotations

import json
from typing import Any

from ops_mcp.diagnosis.fixes import PLACEHOLDER, kubectl_of


def check_fix(fix: dict[str, Any]) -> None:
    """A fix's command line is its calls' (never a command without its apply), and no call has a placeholder."""
    apply = fix.get("apply") or []
    if fix.get("kubectl"):
        assert apply, f"a command without its apply: {fix}"
        assert fix["kubectl"] == kubectl_of(apply), f"kubectl is not built from apply: {fix}"
    for call in apply:
        assert not PLACEHOLDER.search(json.dumps(call["args"])), f"a placeholder in an applied call: {call}"


def check_report(out: dict[str, Any]) -> int:
    fixes = [f["fix"] for f in out.get("findings", []) if f.get("fix")]
    for fix in fixes:
        check_fix(fix)
    return len(fixes)
