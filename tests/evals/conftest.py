"""Print the scenario evals' tables (pass/fail, tool calls, tokens) at the end of the test run."""

from __future__ import annotations

import io

from evals.scenarios import EvalResult, report

RESULTS: list[EvalResult] = []
FIX_LOOP_RESULTS: list = []  # (runner, evals.fix_loop.LoopResult), from the real node


def pytest_terminal_summary(terminalreporter) -> None:
    if RESULTS:
        out = io.StringIO()
        report(RESULTS, out)
        terminalreporter.section("scenario evals (scripted model)")
        terminalreporter.write(out.getvalue())
    if FIX_LOOP_RESULTS:
        from evals.fix_loop import table

        titles = {"fix": "no model: diagnose once, apply findings[0].fix.apply", "ask": "ops-mcp ask, scripted model"}
        for runner, title in titles.items():
            if rows := [r for name, r in FIX_LOOP_RESULTS if name == runner]:
                out = io.StringIO()
                table(rows, out)
                terminalreporter.section(f"fix loop on the real node ({title})")
                terminalreporter.write(out.getvalue())
