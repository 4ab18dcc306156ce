"""ops-mcp command line: `serve --transport stdio|http`, `doctor` and `ask`."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _add_settings_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster and policy (flags override OPS_MCP_* env and --config)")
    g.add_argument("--config", help="YAML/JSON settings file (also OPS_MCP_CONFIG)")
    g.add_argument("--kubeconfig")
    g.add_argument("--context")
    g.add_argument("--namespace", help="default namespace")
    g.add_argument("--namespaces", help="comma-separated namespace allowlist")
    g.add_argument("--read-only", action="store_true", default=None, help="list no tool that writes")
    g.add_argument("--disable-destructive", action="store_true", default=None, help="hide the destructive tools (deploy_chart, rollback, undo, uninstall)")
    g.add_argument("--toolsets", help="comma-separated toolsets to list (inspect,logs,workloads,releases,changes,diagnose or all; default: the default ones)")
    g.add_argument("--tools", help="comma-separated tools: NAME lists only the named ones, -NAME hides one (e.g. -delete_resource)")
    g.add_argument("--allow-exec", action="store_true", default=None, help="list exec_in_pod (runs an argv in a container; confirmed, audited)")
    g.add_argument("--max-replicas", type=int)
    g.add_argument("--audit-log")
    g.add_argument("--helm-binary")


def _settings(args: argparse.Namespace, **extra: Any):
    from pydantic import ValidationError

    from ops_mcp.settings import load_settings

    names = (
        "kubeconfig",
        "context",
        "namespace",
        "namespaces",
        "read_only",
        "disable_destructive",
        "toolsets",
        "tools",
        "allow_exec",
        "max_replicas",
        "audit_log",
        "helm_binary",
    )
    overrides = {n: getattr(args, n, None) for n in names}
    overrides.update(extra)
    try:
        return load_settings(config_file=args.config, **overrides)
    except (ValidationError, ValueError) as exc:
        print(f"ops-mcp: invalid configuration:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(args: argparse.Namespace) -> int:
    extra = {"host": args.host, "port": args.port, "allowed_hosts": args.allowed_hosts}
    if args.no_auth:
        extra["http_auth_disabled"] = True
    settings = _settings(args, **extra)
    from ops_mcp.server import build_server

    try:
        server = build_server(settings, metrics=args.transport == "http", transport=args.transport)
    except ValueError as exc:  # --tools naming no tool, or one of a toolset not enabled
        print(f"ops-mcp: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if args.transport == "stdio":
        server.run("stdio")
        return 0
    from ops_mcp.http_transport import serve_http

    return serve_http(server, settings)


def _doctor(args: argparse.Namespace) -> int:
    from ops_mcp.doctor import run_doctor

    return run_doctor(_settings(args), transport=args.transport)


def _ask(args: argparse.Namespace) -> int:
    import anyio

    from ops_mcp.ask import run_cli

    flags = []
    for name in ("config", "kubeconfig", "context", "namespace", "namespaces", "toolsets", "tools", "max_replicas", "audit_log", "helm_binary"):
        if getattr(args, name, None) is not None:
            flags += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    for name in ("read_only", "disable_destructive", "allow_exec"):
        if getattr(args, name, None):
            flags.append(f"--{name.replace('_', '-')}")
    return anyio.run(lambda: run_cli(" ".join(args.question), settings_flags=flags, url=args.url, model=args.model, yes=args.yes, max_turns=args.max_turns))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ops-mcp", description="MCP server for Kubernetes operations (Todo Chatbot).")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8002)")
    serve.add_argument("--allowed-hosts", help="comma-separated Host headers to accept (e.g. ops-mcp.todo.svc:8002)")
    serve.add_argument("--no-auth", action="store_true", help="disable the bearer token (loopback binds only)")
    _add_settings_flags(serve)
    serve.set_defaults(func=_serve)

    doctor = sub.add_parser("doctor", help="check cluster reachability, RBAC per tool, and helm")
    _add_settings_flags(doctor)
    doctor.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="the transport whose consent mode to report")
    doctor.set_defaults(func=_doctor)

    ask = sub.add_parser("ask", help="ask an AI agent (Anthropic API) to investigate or operate, using these tools")
    ask.add_argument("question", nargs="+", help='e.g. "why is the backend crashing?"')
    ask.add_argument("--yes", action="store_true", help="run tools that change the cluster without asking")
    ask.add_argument("--url", help="use a running ops-mcp over HTTP (token from OPS_MCP_HTTP_TOKEN) instead of a stdio child")
    ask.add_argument("--model", help="model name (default: ANTHROPIC_MODEL or a current Claude model)")
    ask.add_argument("--max-turns", type=int, default=12, help="model turns before giving up (default 12)")
    _add_settings_flags(ask)
    ask.set_defaults(func=_ask)

    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
