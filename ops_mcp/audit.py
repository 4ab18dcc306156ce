"""JSONL audit trail: one record per mutation (time, client, tool, arguments, outcome; never the tool's output).

Arguments are redacted before they are written. The log is opened in append mode per
record, so several server processes can share one file and rotation tools work.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops_mcp.errors import OpsError
from ops_mcp.redact import redact_obj


class AuditLog:
    def __init__(self, path: str):
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()

    def check_writable(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise OpsError(
                f"The audit log {self.path} is not writable ({exc.strerror}); changes are refused without an audit trail.",
                "set OPS_MCP_AUDIT_LOG to a writable file.",
            ) from None

    def record(
        self, *, client: str, tool: str, arguments: dict[str, Any], outcome: str, context: str | None = None, user: str | None = None, **facts: Any
    ) -> dict[str, Any]:
        """facts: short, value-free facts about the outcome (objects changed, rules that refused it); never tool output."""
        rec = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "client": client,
            **({"user": user} if user else {}),
            "tool": tool,
            "context": context,
            "arguments": redact_obj(arguments),
            "outcome": outcome,
            **{k: redact_obj(v) for k, v in facts.items()},
        }
        line = json.dumps(rec, separators=(",", ":"), default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        return rec
