"""The model-free fix loop (issue 14): an agent with only MCP tools calls `diagnose` once, then each step of
findings[0].fix.apply in order with exactly its arguments (adding only confirm=true to a tool that takes it, as a
client that asks its user before each call does once the user approved), then the scenario's own check decides.

Tokens are what the client saw: characters / 4 of every tool result's text plus its structured content.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio

from evals.fix_scenarios import Env, Scenario

MAX_CALLS = 3


@dataclass
class LoopResult:
    scenario: str
    failure: str
    family: str = ""
    expected: tuple[str, ...] = ()  # findings[0].mode prefixes that name the cause; () for a healthy control
    control: bool = False
    repairable: bool = True
    passed: bool = False
    reason: str = ""
    calls: list[str] = field(default_factory=list)  # tool names in order, diagnose first
    tokens: int = 0
    diagnose_tokens: int = 0  # of the diagnose call alone
    before_tokens: int = 0  # the same diagnose by another checkout's ops-mcp (FIX_LOOP_BEFORE), 0 when not asked
    seconds: float = 0.0  # diagnose and the fix's calls
    check_seconds: float = 0.0
    settle_seconds: float = 0.0  # of the check: how long the cluster took to converge after the last call
    mode: str = ""  # findings[0].mode
    modes: list[str] = field(default_factory=list)  # every finding's mode, in the report's order
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.passed and len(self.calls) <= MAX_CALLS

    @property
    def named(self) -> bool:
        """The first finding names the cause (a control: nothing was found to fix)."""
        if self.control:
            return not self.steps
        return any(self.mode.startswith(prefix) for prefix in self.expected)


def result_for(scenario: Scenario) -> LoopResult:
    return LoopResult(scenario.name, scenario.failure, scenario.group, scenario.cause, scenario.control, scenario.repairable)


def state(env: Env) -> dict[str, Any]:
    """What an operator's change would move: each object's generation (spec), or its data for those without one."""
    items = env.cluster.kubectl_json("get", "deploy,statefulset,daemonset,job,cronjob,service,configmap,secret,pvc,networkpolicy,pdb", "-n", env.ns)["items"]
    out = {}
    for item in items:
        meta = item["metadata"]
        out[f"{item['kind']}/{meta['name']}"] = meta.get("generation") or json.dumps([item.get("spec"), item.get("data")], sort_keys=True, default=str)
    return out


async def judge(scenario: Scenario, env: Env, out: LoopResult, before: dict[str, Any]) -> None:
    """The scenario's own check decides a repair; a control or an application's own fault passes only when the
    diagnosis found nothing to fix and nothing in the namespace changed."""
    start = time.monotonic()
    if scenario.control or not scenario.repairable:
        after = await anyio.to_thread.run_sync(state, env)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        out.passed = out.named and not out.steps and not changed
        out.reason = "nothing to fix, nothing changed" if out.passed else f"changed {changed or '-'}; first finding {out.mode or '-'}, steps {out.steps}"
    else:
        reason = await anyio.to_thread.run_sync(scenario.check, env)
        out.passed, out.reason = reason is None, reason or "repaired"
    out.check_seconds = round(time.monotonic() - start, 1)
    out.settle_seconds = env.facts.get("settle_s", 0.0)


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
    out.diagnose_tokens = tokens_of(result)
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
        try:
            result = await client.call_tool(step["tool"], args)
        except Exception as exc:  # a call that never answers (the client's read timeout) fails this scenario only
            out.calls.append(step["tool"])
            out.reason = f"{step['tool']} did not answer: {type(exc).__name__}: {exc}"
            return None
        out.calls.append(step["tool"])
        out.tokens += tokens_of(result)
        if result.is_error:
            out.reason = f"{step['tool']} failed: {error_text(result)}"
            return None
    return steps


async def diagnose_before(server_env: dict[str, str], scenario: Scenario, env: Env) -> int:
    """Tokens of the same diagnose by the ops-mcp of another checkout (FIX_LOOP_BEFORE=path: `git worktree add`),
    to compare a change's report size like for like, on the same failure at the same moment."""
    from ops.ops_helpers import stdio_client

    async with stdio_client(server_env, cwd=os.environ["FIX_LOOP_BEFORE"]) as client:
        return tokens_of(await client.call_tool("diagnose", {**scenario.target, "namespace": env.ns}))


async def run_loop(client: Any, scenario: Scenario, env: Env, server_env: dict[str, str] | None = None) -> LoopResult:
    out = result_for(scenario)
    if server_env is not None and os.environ.get("FIX_LOOP_BEFORE"):
        out.before_tokens = await diagnose_before(server_env, scenario, env)
    before = await anyio.to_thread.run_sync(state, env)
    start = time.monotonic()
    applied = await apply_first_fix(client, env.ns, scenario.target, out)
    out.seconds = round(time.monotonic() - start, 1)
    if applied is None and not (scenario.control or not scenario.repairable):
        return out
    await judge(scenario, env, out, before)
    return out


def table(results: list[LoopResult], out: TextIO) -> None:
    out.write(f"{'scenario':<30} {'result':<6} {'named':<5} {'calls':>5} {'tokens':>6} {'time s':>6} {'settle s':>8}  first finding / calls\n")
    for r in results:
        out.write(
            f"{r.scenario:<30} {'pass' if r.ok else 'FAIL':<6} {'yes' if r.named else 'no':<5} {len(r.calls):>5} {r.tokens:>6} {r.seconds:>6} "
            f"{r.settle_seconds:>8}  {r.mode or '-'}: {' -> '.join(r.calls)}\n"
        )
        if not r.ok:
            why = r.reason.splitlines()[0][:300] if r.passed is False else f"repaired, but with {len(r.calls)} calls (at most {MAX_CALLS})"
            out.write(f"    why: {why}\n")
    out.write("\n" + family_table(results))


def family_table(results: list[LoopResult]) -> str:
    """Per fault family and in total: cause named, repaired (of the repairable faults; a control or an application's
    own fault passes when nothing changed), calls, tokens of the whole loop and of diagnose alone, seconds."""
    before, diagnose = any(r.before_tokens for r in results), any(r.diagnose_tokens for r in results)
    head = (
        "| family | scenarios | cause named | repaired | max calls | loop tokens |"
        + (" diagnose tokens |" if diagnose else "")
        + (" before |" if before else "")
        + " seconds |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    groups: dict[str, list[LoopResult]] = {}
    for r in results:
        groups.setdefault(r.family or r.scenario, []).append(r)

    def median(values: list[float]) -> float:
        values = sorted(values)
        return values[len(values) // 2] if values else 0

    for name, rows in [*groups.items(), ("**all**", results)]:
        repair = [r for r in rows if r.repairable and not r.control]
        left = [r for r in rows if r not in repair]
        repaired = f"{sum(r.ok for r in repair)}/{len(repair)}" if repair else "-"
        if left:
            repaired += f" (+{sum(r.ok for r in left)}/{len(left)} unchanged)"
        cells = [name, len(rows), f"{sum(r.named for r in rows)}/{len(rows)}", repaired, max((len(r.calls) for r in rows), default=0)]
        cells += [median([r.tokens for r in rows])] + ([median([r.diagnose_tokens for r in rows])] if diagnose else [])
        cells += [median([r.before_tokens for r in rows])] if before else []
        cells += [median([r.seconds for r in rows])]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_json(results: list[LoopResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(r), "ok": r.ok, "named": r.named} for r in results]
    path.write_text(json.dumps({"passed": sum(r.ok for r in results), "total": len(results), "scenarios": rows}, indent=1, default=str))
