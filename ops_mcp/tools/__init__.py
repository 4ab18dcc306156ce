"""Toolsets: one module per group of tools, each tool a top-level function declared with `@tool`.

server.build_server imports every module named in TOOLSETS below and registers its `@tool` functions
(`Ops.add_tools`); only the tools of the toolsets the settings enable (`--toolsets`, default DEFAULT_TOOLSETS) that
`--tools` does not filter out are registered. A new toolset whose tools are not for every session (they cost tools/list tokens
on every model turn) goes in TOOLSETS but not in DEFAULT_TOOLSETS. `tool` sets truthful annotations and the
server's mode applies (read-only / disable-destructive tools are simply not registered). A tool's first parameter
`ops: OpsArg` is filled per call with the server's Ops (a test may pass one itself):

    # ops_mcp/tools/example.py   (no `from __future__ import annotations`: Annotated/Resolve
    #                             metadata must be evaluated where the function is defined)
    from typing import Annotated
    from mcp_types import CallToolResult
    from pydantic import BaseModel
    from ops_mcp.params import Name, NamespaceArg
    from ops_mcp.toolkit import OpsArg, tool

    class Thing(BaseModel):                 # becomes the tool's outputSchema
        name: str
        ready: bool

    @tool(title="Get a thing", kind="read")          # kind: read | write | destructive
    async def get_thing(ops: OpsArg, name: Name, namespace: NamespaceArg = None) -> Annotated[CallToolResult, Thing]:
        '''One line the model reads (the docstring is the tool description: keep it short).'''
        ns = ops.policy.namespace(namespace)              # default namespace + allowlist
        obj = await ops.run(ops.cluster.get, "deployment", name, ns)   # blocking calls in a thread
        out = Thing(name=name, ready=...)
        return ops.result(out, f"{name}: ready")          # structured + short text, both redacted

What `ops` offers:
- ops.settings (Settings), ops.policy (namespace(), scope(), replicas()), ops.audit
- ops.cluster: the only Kubernetes API access (ops_mcp/cluster.py: get/list/list_all/patch/logs,
  errors already translated into OpsError with a next step; Secret data already masked)
- ops.helm: the only helm access (ops_mcp/helm.py)
- ops.run(fn, *args): run a blocking call in a worker thread
- ops.result(model, text): CallToolResult with structuredContent + capped, redacted text
- ops.ask(question, confirm, ctx, risks, diff): a person's consent to a risky write (elicitation, or confirm=true
  where the consent mode allows it), and toolkit.confirmation(action): that resolver for tools risky whatever they do;
  a resolver takes `ops: OpsArg` like a tool
- ops_mcp.guard.check(writes, settings): the write policy on what a change would write (before, after); every
  change tool calls it before it writes anything
Helpers a tool calls take `ops: Ops` as their first argument.
Raise ops_mcp.errors.OpsError(what, next_step) for any failure the caller should read.
Shaping helpers (compact rows, ages, tables, event aggregation) live in ops_mcp/shaping.py.
"""

# Every toolset module, in registration order; DEFAULT_TOOLSETS are those enabled when --toolsets is not given.
# "exec" is enabled only by --allow-exec (OPS_MCP_ALLOW_EXEC), whatever --toolsets says.
TOOLSETS = ("inspect", "logs", "workloads", "releases", "changes", "diagnose", "metrics", "exec")
DEFAULT_TOOLSETS = ("inspect", "logs", "workloads", "releases", "changes", "diagnose")
