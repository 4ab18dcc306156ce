"""Configuration: flags > environment (OPS_MCP_*) > optional YAML file > defaults.

`load_settings(**overrides)` is the one entry point; CLI flags arrive as overrides.
The file is YAML or JSON with the same field names (e.g. `namespaces: [todo]`),
named by `--config` or `OPS_MCP_CONFIG`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_PARENT = Path(__file__).resolve().parent.parent
# A source checkout has the app's chart beside the package; an installed package (site-packages) has not,
# and the ops-mcp image puts the chart at IMAGE_CHART (its OPS_MCP_CHART_PATH).
CHECKOUT: Path | None = _PARENT if (_PARENT / "k8s" / "helm" / "todo-chatbot" / "Chart.yaml").is_file() else None
IMAGE_CHART = Path("/opt/ops-mcp/charts/todo-chatbot")


def base_dir() -> Path:
    """What relative chart paths and values files are read against: the checkout, else the working directory."""
    return CHECKOUT or Path.cwd()


def _default_chart() -> str:
    if CHECKOUT:
        return str(CHECKOUT / "k8s" / "helm" / "todo-chatbot")
    return str(IMAGE_CHART) if (IMAGE_CHART / "Chart.yaml").is_file() else ""


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPS_MCP_", extra="forbid", validate_default=True)

    # Cluster access. kubeconfig falls back to $KUBECONFIG, then ~/.kube/config, then in-cluster config.
    kubeconfig: str | None = Field(default=None, validation_alias=AliasChoices("OPS_MCP_KUBECONFIG", "KUBECONFIG", "kubeconfig"))
    context: str | None = None
    # Contexts a call may name with `context` (names, or "*" for all); empty = the one context above, no `context` argument.
    contexts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    in_cluster: bool | None = Field(default=None, description="Force (true) or forbid (false) in-cluster config; None = auto.")
    request_timeout: float = Field(default=15.0, gt=0, le=300, description="Seconds for one Kubernetes API call.")

    # Scope and policy.
    namespace: str = Field(default="default", description="Namespace used when a tool call names none.")
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Allowlist; empty = any namespace.")
    read_only: bool = False
    disable_destructive: bool = False
    # Which tools are listed: toolsets (names of ops_mcp/tools modules, or "all"; empty = the default ones), then
    # single tools: `name` allows (only the allowed ones are listed), `-name` denies.
    toolsets: Annotated[list[str], NoDecode] = Field(default_factory=list)
    tools: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allow_exec: bool = Field(default=False, description="List exec_in_pod (the opt-in exec toolset).")
    max_replicas: int = Field(default=10, ge=0, le=1000)

    # The write policy (ops_mcp/guard.py): what an agent's change may do, checked on the server's dry run of it.
    allow_secret_writes: bool = Field(default=False, description="Let change tools create or change Secrets (never Helm's or token Secrets).")
    allow_network_policy_writes: bool = Field(default=False, description="Let change tools create or change NetworkPolicies.")
    allow_rbac_writes: bool = Field(
        default=False, description="Let change tools write Roles/RoleBindings that bind only this namespace's ServiceAccounts to narrow rules."
    )
    allow_service_types: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Service types beyond ClusterIP: NodePort, LoadBalancer.")
    pod_security: Literal["restricted", "baseline"] = Field(
        default="restricted", description="Pod Security Standards level pod templates must meet where the namespace enforces none."
    )
    protected_objects: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Kind/name (or Kind/namespace/name) of objects no tool changes: ops-mcp's own (the chart sets them)."
    )
    policy_disable: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Write-policy rule ids the operator turns off.")
    # Who approves a risky change: "elicit" (a person, through the client's elicitation; a client that cannot elicit is
    # refused), "client" (also confirm=true from a client that asks its user before every tool call, as Claude Code does),
    # "none" (no question: automation with its own approval); "auto": client on stdio, elicit over HTTP.
    consent: Literal["auto", "elicit", "client", "none"] = "auto"

    # Output shaping.
    output_limit: int = Field(default=40_000, ge=1_000, description="Max characters of one tool result's text.")
    log_bytes_limit: int = Field(default=32_000, ge=1_000, description="Max bytes of log text fetched per container.")
    page_size: int = Field(default=100, ge=1, le=500, description="Default rows per list page.")
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024, description="Largest API answer read.")
    max_events: int = Field(default=1000, ge=100, le=20_000, description="Events read per call (get_events, app status) before aggregating.")

    # Helm.
    helm_binary: str | None = None
    release: str = Field(default="todo-chatbot", description="Default Helm release name of the app.")
    chart_path: str = Field(default_factory=_default_chart, description="Empty: no default chart (deploy_chart needs chart=).")
    # Where deploy_chart may take charts from (a chart is code applied with the server's privileges):
    # chart directories, repository URLs, oci:// prefixes, or "*"; empty = chart_path only.
    chart_sources: Annotated[list[str], NoDecode] = Field(default_factory=list)
    helm_timeout: int = Field(default=300, ge=10, le=3600)

    # Audit.
    audit_log: str = Field(default=str(Path.home() / ".local" / "state" / "ops-mcp" / "audit.jsonl"))

    # HTTP transport.
    host: str = "127.0.0.1"
    port: int = Field(default=8002, ge=1, le=65535)
    http_token: str | None = Field(default=None, repr=False)
    http_auth_disabled: bool = Field(default=False, description="Only honoured on a loopback bind.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # OAuth 2.1 resource server (ops_mcp/oidc.py): bearer JWTs of this issuer, beside (or instead of) http_token.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_subjects: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="sub or email values allowed; empty = any token of the issuer for the audience"
    )
    oidc_resource: str | None = Field(default=None, description="This server's public /mcp URL (protected resource metadata); default: from the request")

    @field_validator(
        "namespaces",
        "allowed_hosts",
        "chart_sources",
        "toolsets",
        "tools",
        "contexts",
        "oidc_subjects",
        "allow_service_types",
        "protected_objects",
        "policy_disable",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("kubeconfig", mode="before")
    @classmethod
    def _first_kubeconfig(cls, value: Any) -> Any:
        # $KUBECONFIG may be a path list; the first existing entry wins.
        if isinstance(value, str) and os.pathsep in value:
            parts = [p for p in value.split(os.pathsep) if p]
            existing = [p for p in parts if Path(p).exists()]
            return (existing or parts or [None])[0]
        return value or None

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.namespaces and self.namespace not in self.namespaces:
            raise ValueError(f"default namespace {self.namespace!r} is outside the allowlist {self.namespaces}; set OPS_MCP_NAMESPACE to one of them")
        if self.oidc_issuer and not (self.oidc_audience and self.oidc_jwks_url):
            raise ValueError(
                "OPS_MCP_OIDC_ISSUER needs OPS_MCP_OIDC_AUDIENCE (the `aud` tokens for ops-mcp carry) and OPS_MCP_OIDC_JWKS_URL "
                "(for Better Auth: <frontend>/api/auth/jwks)"
            )
        if self.context and self.contexts and "*" not in self.contexts and self.context not in self.contexts:
            raise ValueError(f"the default context {self.context!r} is not in OPS_MCP_CONTEXTS {self.contexts}; add it, or set OPS_MCP_CONTEXT to one of them")
        from ops_mcp.tools import TOOLSETS

        unknown = [t for t in self.toolsets if t not in (*TOOLSETS, "all")]
        if unknown:
            raise ValueError(f"unknown toolset(s) {', '.join(unknown)}; known: {', '.join(TOOLSETS)} (or all)")
        if "exec" in self.toolsets and not self.allow_exec:
            raise ValueError("the exec toolset runs commands in containers: opt in with --allow-exec (OPS_MCP_ALLOW_EXEC=true)")
        return self

    @property
    def enabled_toolsets(self) -> tuple[str, ...]:
        from ops_mcp.tools import DEFAULT_TOOLSETS, TOOLSETS

        chosen = TOOLSETS if "all" in self.toolsets else tuple(t for t in TOOLSETS if t in self.toolsets) if self.toolsets else DEFAULT_TOOLSETS
        return tuple(t for t in TOOLSETS if t in chosen and t != "exec") + (("exec",) if self.allow_exec else ())

    def tool_listed(self, name: str) -> bool:
        """The --tools filter: denied names never; with any allowed name, only the allowed ones."""
        allowed = [t for t in self.tools if not t.startswith("-")]
        return f"-{name}" not in self.tools and (not allowed or name in allowed)

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS


def _read_file(path: str) -> dict[str, Any]:
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"config file {p} does not exist; fix --config / OPS_MCP_CONFIG")
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {p} must hold a mapping of setting names to values")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build Settings. Precedence: overrides (flags) > env > file > defaults."""
    config_file = config_file or os.environ.get("OPS_MCP_CONFIG")
    file_values = _read_file(config_file) if config_file else {}
    flags = {k: v for k, v in overrides.items() if v is not None}

    class _WithFile(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
            from pydantic_settings import InitSettingsSource

            return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=file_values))

    return Settings.model_validate(_WithFile(**flags).model_dump())
