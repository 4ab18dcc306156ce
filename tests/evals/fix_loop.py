"""The model-free fix loop (issue 14): an agent with only MCP tools calls `diagnose` once, then each step of
findings[0].fix.apply in order with exactly its arguments (adding only confirm=true to a tool that takes it, as a
client that asks its user before each call does once the user approved), then the scenario's own check decides.

Tokens are what the client saw: characters / 4 of every tool result's text plus its structured content.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from evals.fix_scenarios import Env, Scenario

MAX_CALLS = 3


@dataclass
class LoopResult:
    scenario: str
    failure: str
    passed: bool = False
    reason: str = ""
    calls: list[str] = field(default_factory=list)  # tool names in order, diagnose first
    tokens: int = 0
    seconds: float = 0.0  # diagnose and the fix's calls
    check_seconds: float = 0.0
    settle_seconds: float = 0.0  # of the check: how long the cluster took to converge after the last call
    mode: str = ""  # findings[0].mode
    modes: list[str] = field(default_factory=list)  # every finding's mode, in the report's order
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.passed and len(self.calls) <= MAX_CALLS


def tokens_of(result: Any) -> int:
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    structured = "" if result.structured_content is None else json.dumps(result.structured_content, separators=(",", ":"), default=str)
    return (len(text) + len(structured)) // 4


def error_text(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)[:600]


async def apply_first_fix(client: Any, namespace: str, target: dict[str, Any], out: LoopResult) -> list[dict[str, Any]] | None:
    """diagnose once, then the first finding's steps; returns the steps, or None (out.reason says why) on failure."""
    tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    confirmable = {t.name for t in tools if "confirm" in (t.input_schema.get("properties") or {})}
    result = await client.call_tool("diagnose", {**target, "namespace": namespace})
    out.calls.append("diagnose")
    out.tokens += tokens_of(result)
    if result.is_error:
        out.reason = f"diagnose failed: {error_text(result)}"
        return None
    findings = (result.structured_content or {}).get("findings") or []
    if not findings:
        out.reason = f"diagnose found nothing: {(result.structured_content or {}).get('summary')}"
        return None
    first = findings[0]
    out.mode, out.modes = first["mode"], [f["mode"] for f in findings]
    steps = (first.get("fix") or {}).get("apply") or []
    out.steps = steps
    if not steps:
        out.reason = f"findings[0] ({first['mode']}) has no fix.apply; fix: {json.dumps(first.get('fix'))[:400]}"
        return None
    for step in steps:
        if step["tool"] not in names:
            out.reason = f"fix step names {step['tool']!r}, which this server does not offer"
            return None
        args = {**step["args"], **({"confirm": True} if step["tool"] in confirmable else {})}
        result = await client.call_tool(step["tool"], args)
        out.calls.append(step["tool"])
        out.tokens += tokens_of(result)
        if result.is_error:
            out.reason = f"{step['tool']} failed: {error_text(result)}"
            return None
    return steps


async def run_loop(client: Any, scenario: Scenario, env: Env) -> LoopResult:
    out = LoopResult(scenario.name, scenario.failure)
    start = time.monotonic()
    applied = await apply_first_fix(client, env.ns, scenario.target, out)
    out.seconds = round(time.monotonic() - start, 1)
    if applied is None:
        return out
    start = time.monotonic()
    reason = scenario.check(env)
    out.check_seconds = round(time.monotonic() - start, 1)
    out.settle_seconds = env.facts.get("settle_s", 0.0)
    out.passed, out.reason = reason is None, reason or "repaired"
    return out


def table(results: list[LoopResult], out: TextIO) -> None:
    out.write(f"{'scenario':<32} {'result':<6} {'calls':>5} {'tokens':>6} {'time s':>6} {'settle s':>8}  first finding / calls\n")
    for r in results:
        out.write(
            f"{r.scenario:<32} {'pass' if r.ok else 'FAIL':<6} {len(r.calls):>5} {r.tokens:>6} {r.seconds:>6} {r.settle_seconds:>8}  "
            f"{r.mode or '-'}: {' -> '.join(r.calls)}\n"
        )
        if not r.ok:
            why = r.reason.splitlines()[0][:300] if r.passed is False else f"repaired, but with {len(r.calls)} calls (at most {MAX_CALLS})"
            out.write(f"    why: {why}\n")
    passed = sum(r.ok for r in results)
    out.write(f"{passed}/{len(results)} repaired with <= {MAX_CALLS} calls\n")


def write_json(results: list[LoopResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(r), "ok": r.ok} for r in results]
    path.write_text(json.dumps({"passed": sum(r.ok for r in results), "total": len(results), "scenarios": rows}, indent=1, default=str))
