"""The fix-loop scenarios through the `ops-mcp ask` agent (a model in the loop, `--yes`): a scripted model on the
local Messages API server (CI), or a real one when ANTHROPIC_API_KEY is set (bench/evals.py --real-node).

The scripted model's plan is the loop itself: `diagnose` on the scenario's target, then every step of the real
report's findings[0].fix.apply in one turn (the agent runs them in order), then a short answer.
"""

from __future__ import annotations

import io
import json
import os
import time
from typing import Any

import anyio
from ops.ops_helpers import stdio_client
from support.messages_api import MessagesAPIServer, RecordedRequest, reply, text, tool_block, tool_use

from evals.fix_loop import LoopResult, judge, result_for, state
from evals.fix_scenarios import Env, Scenario


def prompt(scenario: Scenario, namespace: str) -> str:
    target = scenario.target
    if not target:
        return f"Is anything in namespace {namespace} broken? Find out and fix what is."
    can = f" (it must be able to {target['can']})" if target.get("can") else ""
    return f"The {target['kind']} {target['name']}{can} in namespace {namespace} is not working. Find out why and fix it."


def plan(scenario: Scenario, namespace: str, out: LoopResult) -> list[Any]:
    """diagnose, then findings[0].fix.apply of the real report (recorded in `out`), then an answer."""

    def fix(request: RecordedRequest):
        report = json.loads(request.tool_results()[-1]["content"])
        findings = report.get("findings") or []
        steps = ((findings[0].get("fix") or {}).get("apply") or []) if findings else []
        out.modes, out.steps = [f["mode"] for f in findings], steps
        out.mode = out.modes[0] if findings else ""
        if not steps:
            out.reason = f"findings[0] ({out.mode or 'none'}) has no fix.apply: {report.get('summary')}"
            return text(f"No fix to apply: {report.get('summary')}")
        return reply(*[tool_block(step["tool"], step["args"]) for step in steps])

    def answer(request: RecordedRequest):
        return text("Applied the fix: " + " / ".join(r["content"][:200] for r in request.tool_results()))

    return [tool_use("diagnose", {**scenario.target, "namespace": namespace}), fix, answer]


async def run_with_model(scenario: Scenario, env: Env, ops_env: dict[str, str], *, scripted: bool = True) -> LoopResult:
    import anthropic

    from ops_mcp.ask import DEFAULT_MODEL, AskError, ask

    out = result_for(scenario)
    before = await anyio.to_thread.run_sync(state, env)
    api = MessagesAPIServer().start() if scripted else None
    model = anthropic.AsyncAnthropic(api_key="scripted", base_url=api.base_url, max_retries=0) if api else anthropic.AsyncAnthropic()
    steps = io.StringIO()
    start = time.monotonic()
    try:
        if api:
            api.script(*plan(scenario, env.ns, out))
        async with model, stdio_client(ops_env) as client:  # the suite's ops-mcp (forked after its imports; ops_helpers)
            result = await ask(
                prompt(scenario, env.ns), client=client, anthropic_client=model, yes=True, out=steps, model=os.environ.get("ANTHROPIC_MODEL", DEFAULT_MODEL)
            )
    except AskError as exc:
        out.reason = f"{exc}\n{steps.getvalue()}"
        return out
    finally:
        out.seconds = round(time.monotonic() - start, 1)
        if api:
            api.stop()
    out.calls = [s.tool for s in result.steps if not s.skipped]
    out.tokens = result.tool_output_tokens
    expects_fix = scenario.repairable and not scenario.control
    if not out.steps and expects_fix:
        return out  # out.reason: the first finding had no fix.apply
    if api and api.remaining and out.steps:
        out.reason = out.reason or f"the agent stopped with {api.remaining} scripted turn(s) unused:\n{steps.getvalue()}"
        return out
    failed = [s.tool for s in result.steps if not s.ok]
    await judge(scenario, env, out, before)
    if out.passed and failed:
        out.reason = f"{out.reason} (failed calls: {failed})"
    return out
