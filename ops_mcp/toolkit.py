"""What a toolset module is written with: the `tool` decorator, the `Ops` every tool receives (`ops: OpsArg`), and
`confirmation`. It sits below both the toolsets (ops_mcp/tools/*) and the server that registers them
(ops_mcp/server.py), so no toolset imports the server.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from ops_mcp import contexts
from ops_mcp.audit import AuditLog
from ops_mcp.errors import OpsError, PolicyError
from ops_mcp.policy import Confirmation, Policy, client_can_elicit
from ops_mcp.redact import redact_obj, redact_text
from ops_mcp.settings import Settings

ToolKind = Literal["read", "write", "destructive"]


class Ops:
    """What every tool receives as `ops`: config, policy, lazy clients, and the helpers tool bodies share."""

    def __init__(self, settings: Settings, mcp: MCPServer, transport: str = "stdio"):
        self.settings = settings
        self.transport = transport  # "stdio" or "http": decides consent "auto"
        self.mcp = mcp
        self.policy = Policy(settings)
        self.audit = AuditLog(settings.audit_log)
        self.kinds: dict[str, ToolKind] = {}  # registered tool name -> kind
        self.catalog: dict[str, str] = {}  # every tool name, listed or not -> its toolset
        self.toolset = ""  # the toolset whose tools add_tools registers
        self.rbac: dict[str, list[tuple[str, str]]] = {}  # registered tool name -> (verb, resource) it needs
        self.views: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}  # tool name -> its arguments as redaction sees them
        self._clusters: dict[str | None, Any] = {}  # context (None: the default) -> its Cluster
        self._helms: dict[str | None, Any] = {}
        self._clients_lock = threading.Lock()
        self.metrics: Any = None  # ops_mcp.telemetry.Metrics on the HTTP transport

    # -- lazy clients ----------------------------------------------------------------------
    def settings_for(self, context: str | None) -> Settings:
        """The settings a call on `context` runs with (None: the server's default context)."""
        return self.settings if context is None else self.settings.model_copy(update={"context": context})

    @property
    def cluster(self):  # -> ops_mcp.cluster.Cluster of the current call's context
        context = contexts.CURRENT.get()
        with self._clients_lock:
            if context not in self._clusters:
                from ops_mcp.cluster import Cluster

                self._clusters[context] = Cluster(self.settings_for(context))
            return self._clusters[context]

    @property
    def helm(self):  # -> ops_mcp.helm.Helm of the current call's context
        context = contexts.CURRENT.get()
        with self._clients_lock:
            if context not in self._helms:
                from ops_mcp.helm import Helm

                self._helms[context] = Helm(self.settings_for(context))
            return self._helms[context]

    def context_label(self, named: str | None) -> str:
        """The context a call acted on, for its audit record: the one it named, else the server's default."""
        if named or self.settings.context:
            return str(named or self.settings.context)
        if self.settings.contexts:
            try:
                return contexts.default(self.settings)
            except OpsError:
                return "(unreadable kubeconfig)"
        loaded = self._clusters.get(None)  # after the call: its client knows the kubeconfig's current context
        return loaded.context_name if loaded is not None else "(current)"

    # -- registration ----------------------------------------------------------------------
    def add_tools(self, module: Any) -> None:
        """Register the module's `@tool` functions, in the order they are defined, as the toolset `self.toolset`."""
        for fn in vars(module).values():
            spec = getattr(fn, TOOL_SPEC, None)
            if spec is not None and fn.__module__ == module.__name__:
                self.add_tool(fn, spec)

    def add_tool(self, fn: Callable[..., Any], spec: ToolSpec) -> None:
        """Register one tool with truthful annotations, unless the server's mode hides it."""
        kind, tool_name = spec.kind, spec.name or fn.__name__
        self.catalog[tool_name] = self.toolset
        listed = spec.listed(self.settings) if callable(spec.listed) else spec.listed
        if not listed or self.toolset not in self.settings.enabled_toolsets or not self.settings.tool_listed(tool_name):
            return
        if kind != "read" and self.settings.read_only:
            return
        if kind == "destructive" and self.settings.disable_destructive:
            return
        annotations = ToolAnnotations(  # the title is the tool's own `title`, not repeated here
            read_only_hint=kind == "read",
            destructive_hint=kind == "destructive",
            idempotent_hint=(kind == "read") if spec.idempotent is None else spec.idempotent,
            open_world_hint=spec.open_world,
        )
        # a docstring's line breaks and indentation are tokens the model pays on every turn
        self.mcp.add_tool(fn, name=tool_name, title=spec.title, description=" ".join((fn.__doc__ or "").split()), annotations=annotations)
        self.kinds[tool_name] = kind
        self.rbac[tool_name] = [tuple(need.split(" ", 1)) for need in spec.rbac]
        if spec.view is not None:
            self.views[tool_name] = spec.view
        # Every token of tools/list is paid on each model turn: drop pydantic's generated
        # titles and the `anyOf: [T, null]` / `default: null` noise of optional parameters.
        registered = self.mcp._tool_manager.get_tool(tool_name)
        registered.parameters = slim_schema(registered.parameters)
        if self.consent_mode != "client":  # only a client that asks its user itself may say confirm=true
            registered.parameters.get("properties", {}).pop("confirm", None)
        if spec.cluster and self.settings.contexts:  # taken out of the arguments by _context_middleware
            registered.parameters.setdefault("properties", {})["context"] = {
                "type": "string",
                "description": "kubeconfig context (list_contexts); default: the server's",
            }
        if registered.fn_metadata.output_schema is not None:
            registered.fn_metadata.output_schema = slim_schema(registered.fn_metadata.output_schema)

    def view(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A call's arguments as redaction should see them (the tool's `view`); a view that fails hides them all."""
        view = self.views.get(tool)
        if view is None:
            return arguments
        try:
            return view(arguments)
        except Exception:  # noqa: BLE001  (malformed arguments: the tool reports them; nothing is shown)
            return {k: "(hidden)" for k in arguments}

    # -- helpers for tool bodies -------------------------------------------------------------
    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking call (cluster, helm) in a worker thread."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def gather(self, *calls: Callable[[], Awaitable[Any]]) -> list[Any]:
        """Await the calls concurrently; their results in order, or the error of the first call (in call order, so
        the same failure reads the same whichever call fails first) as itself (not wrapped in an ExceptionGroup, so an
        OpsError still reaches the model as a tool error)."""
        results: list[Any] = [None] * len(calls)
        errors: dict[int, BaseException] = {}

        async def one(i: int) -> None:
            try:
                results[i] = await calls[i]()
            except Exception as exc:  # noqa: BLE001  (re-raised below)
                errors[i] = exc

        async with anyio.create_task_group() as tg:
            for i in range(len(calls)):
                tg.start_soon(one, i)
        if errors:
            raise errors[min(errors)]
        return results

    async def poll(self, ctx: Any, sample: Callable[[], Awaitable[Any]], *, timeout_s: float, every: float = 1.0, stop: anyio.Event | None = None) -> Any:
        """The one progress poller: call sample() every `every` seconds until it reports done, `stop` is set or
        timeout_s passes; send each new (progress, total, message) as an MCP progress notification.

        sample() returns (value, progress, total, message, done); the last value is returned. Progress is best
        effort: a client without a progress token, or a failed notification, changes nothing.
        """
        start = time.monotonic()
        last = None
        while True:
            value, progress, total, message, done = await sample()
            if ctx is not None and (progress, total, message) != last:
                last = (progress, total, message)
                try:
                    await ctx.report_progress(progress, total, message)
                except Exception:
                    pass
            if done or (stop is not None and stop.is_set()) or time.monotonic() - start > timeout_s:
                return value
            with anyio.move_on_after(every):
                await (stop.wait() if stop is not None else anyio.sleep(every))

    def result(self, data: BaseModel, text: str) -> CallToolResult:
        """Structured content (validated against the tool's outputSchema) plus a short text.

        Both are redacted; the text is capped at OPS_MCP_OUTPUT_LIMIT characters.
        """
        structured = redact_obj(data.model_dump(mode="json", by_alias=True, exclude_none=True))
        return CallToolResult(
            content=[TextContent(type="text", text=cap_text(redact_text(text), self.settings.output_limit))],
            structured_content=structured,
        )

    @property
    def consent_mode(self) -> str:
        """Who approves a risky write: "elicit", "client" or "none" (OPS_MCP_CONSENT; auto: client on stdio, elicit over HTTP)."""
        mode = self.settings.consent
        return mode if mode != "auto" else ("client" if self.transport == "stdio" else "elicit")

    def ask(self, question: str, confirm: bool, ctx: Context, risks: list[str] | None = None, diff: str = "") -> Confirmation | Elicit[Confirmation]:
        """A person's consent to a risky write (risks: why it is risky; None: the tool is risky whatever it does).

        No risk: no question. A client that can elicit is always asked, with the risks and the dry run's diff
        (`confirm` never skips it: a model can pass it). A client that cannot: under consent "client" confirm=true
        counts (the client asks its user before every tool call), under "elicit" the write is refused."""
        if risks is not None and not risks:
            return Confirmation(confirm=True)
        mode = self.consent_mode
        if mode == "none":
            return Confirmation(confirm=True)
        why = f" ({'; '.join(risks)})" if risks else ""
        if client_can_elicit(ctx):
            shown = f"\n{cap_text(diff, 2000)}" if diff else ""
            return Elicit(f"{question[:-1]}{why}? This cannot be undone automatically.{shown}", Confirmation)
        if mode == "client" and confirm:
            return Confirmation(confirm=True)
        if mode == "client":
            raise OpsError(
                f"{question[:-1]}{why} needs the user's approval; nothing changed.",
                "show the user what will change (dry_run=true where the tool has it), ask them, then call again with confirm=true.",
            )
        raise PolicyError(
            f"{question[:-1]}{why} needs a person's approval, and this client cannot be asked (no MCP elicitation); nothing changed.",
            "use a client that supports elicitation, or make the change as a person; an operator whose client asks its user "
            "before every tool call can set OPS_MCP_CONSENT=client.",
        )


TOOL_SPEC = "__ops_tool__"  # the attribute `tool` sets on a function: its ToolSpec


@dataclass(frozen=True)
class ToolSpec:
    """How a tool registers (the arguments of `tool`).

    kind: "read" (no side effects), "write" (changes the cluster, reversible) or
    "destructive" (deletes or overwrites; confirmation required). --read-only drops every
    non-read tool; --disable-destructive drops destructive ones. Hidden tools are never
    registered, so they are neither listed nor callable. rbac: the "verb resource[/sub]" the tool
    needs in the namespace it acts on (doctor checks them; a test checks the chart's Role grants them).
    view: the call's arguments in a form whose credentials redact_obj finds (a manifest's text parsed into
    objects, a Secret's patch marked as one), for the audit record and for scrubbing them from every output.
    listed: False (or a function of the settings saying so) declares the tool (its name is known to --tools)
    without registering it.
    cluster: the tool acts on a cluster, so with OPS_MCP_CONTEXTS set it takes an optional `context`.
    """

    title: str
    kind: ToolKind = "read"
    idempotent: bool | None = None
    open_world: bool = True
    name: str | None = None
    rbac: tuple[str, ...] = ()
    view: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    listed: bool | Callable[[Settings], bool] = True
    cluster: bool = True


def tool(title: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a toolset module's top-level function a tool (options: the fields of ToolSpec); `Ops.add_tools`
    registers it, unless the mode hides it. The function stays a plain function: its first parameter `ops: OpsArg`
    is filled per call (or passed by a test)."""
    spec = ToolSpec(title=title, **options)  # an unknown option fails at import, where the tool is declared

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, TOOL_SPEC, spec)
        return fn

    return decorator


def ops_of(ctx: Context) -> Ops:
    """The Ops of the server the call arrived at: what fills every tool's and resolver's `ops: OpsArg`."""
    return ctx.mcp_server.ops  # type: ignore[attr-defined]  # set by build_server


OpsArg = Annotated[Ops, Resolve(ops_of)]


def confirmation(action: str) -> Callable[..., Any]:
    """A Resolve(...) resolver for destructive tools with `name`, `namespace`, `confirm` parameters.

    Use as: approval: Annotated[ElicitationResult[Confirmation], Resolve(confirmation("Uninstall release"))]
    confirm=true skips the question; otherwise a client with elicitation is asked; a client
    without it gets a tool error telling the model to ask the user and retry with confirm=true.
    The namespace allowlist is checked first, so nobody confirms a call that would be refused.
    """

    async def confirm_destructive(ops: OpsArg, name: str, namespace: str | None, confirm: bool, ctx: Context) -> Confirmation | Elicit[Confirmation]:
        return ops.ask(f"{action} {name!r} in namespace {ops.policy.namespace(namespace)!r}?", confirm, ctx)

    return confirm_destructive


def slim_schema(schema: Any) -> Any:
    """A JSON schema without titles, null-unions and implied defaults; validation meaning is kept for non-null values."""
    if isinstance(schema, list):
        return [slim_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "additionalProperties" and value is True:
            continue  # the JSON Schema default
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: slim_schema(prop) for name, prop in value.items()}
            continue
        out[key] = slim_schema(value)
    variants = out.get("anyOf")
    if isinstance(variants, list) and len(variants) == 2 and {"type": "null"} in variants:
        other = next(v for v in variants if v != {"type": "null"})
        del out["anyOf"]
        out = {**other, **out}
    if "default" in out and (out["default"] is None or (out["default"] is False and out.get("type") == "boolean")):
        del out["default"]  # null, and a flag's false: every flag is off unless set (those on by default say so)
    return out


def cap_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [truncated {len(text) - limit} chars; narrow the query or use pagination]"
