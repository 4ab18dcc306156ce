"""Shared, validated tool parameter types (clear messages, small JSON schemas)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_name(value: str) -> str:
    if not value or len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise ValueError(
            f"invalid name {value!r}: Kubernetes names use lowercase letters, digits, '-' and '.', start and end with a letter or digit, at most 253 characters"
        )
    return value


def check_namespace(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"invalid namespace {value!r}: namespaces use lowercase letters, digits and '-', start and end with a letter or digit, at most 63 characters"
        )
    return value


def check_release(value: str) -> str:
    if not value or len(value) > 53 or not _DNS1123_LABEL.match(value):
        raise ValueError(f"invalid release name {value!r}: lowercase letters, digits and '-', at most 53 characters")
    return value


Name = Annotated[str, AfterValidator(check_name)]  # an object name (self-explanatory: no description tokens)
NamespaceArg = Annotated[str | None, AfterValidator(check_namespace)]  # default: the server's namespace
ReleaseName = Annotated[str, AfterValidator(check_release), Field(description="Helm release name")]


def check_optional_release(value: str | None) -> str | None:
    return check_release(value) if value else None


AnyKind = Annotated[str, Field(description="e.g. pods, deploy, Service")]  # any kind, custom resources too
Wait = bool  # wait for the rollout (the tool descriptions say what is waited for)
Timeout = Annotated[int, Field(ge=1, le=1800)]
Confirm = Annotated[bool, Field(description="User approved")]
DryRun = Annotated[bool, Field(description="Diff only")]

OptReleaseName = Annotated[str | None, AfterValidator(check_optional_release), Field(description="Default: the app's")]
ReleaseArg = Annotated[str, AfterValidator(check_release), Field(description="Release")]


def kind_name(value: object) -> object:
    """Any spelling kubectl accepts ('Deployment', 'deploy', 'deployments.apps') as the lowercase kind name
    the tools' kind choices use; a choice that is no Kubernetes kind ('helm', 'release') only lowercased."""
    if not isinstance(value, str):
        return value
    from ops_mcp.cluster import KINDS

    key = value.strip().lower()
    return KINDS[key].kind.lower() if key in KINDS else key


KindChoice = BeforeValidator(kind_name)  # Annotated[Literal["deployment", ...], KindChoice]
