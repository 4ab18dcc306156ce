"""Shared, validated tool parameter types (clear messages, small JSON schemas)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_name(value: str) -> str:
    if not value or len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise ValueError(
            f"invalid name {value!r}: Kubernetes names use lowercase letters, digits, '-' and '.', "
            "start and end with a letter or digit, at most 253 characters"
        )
    return value


def check_namespace(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"invalid namespace {value!r}: namespaces use lowercase letters, digits and '-', "
            "start and end with a letter or digit, at most 63 characters"
        )
    return value


def check_release(value: str) -> str:
    if not value or len(value) > 53 or not _DNS1123_LABEL.match(value):
        raise ValueError(f"invalid release name {value!r}: lowercase letters, digits and '-', at most 53 characters")
    return value


Name = Annotated[str, AfterValidator(check_name), Field(description="Object name")]
NamespaceArg = Annotated[str | None, AfterValidator(check_namespace)]  # default: the server's namespace
ReleaseName = Annotated[str, AfterValidator(check_release), Field(description="Helm release name")]


def check_optional_release(value: str | None) -> str | None:
    return check_release(value) if value else None


OptReleaseName = Annotated[str | None, AfterValidator(check_optional_release), Field(description="Default: the app's")]
ReleaseArg = Annotated[str, AfterValidator(check_release), Field(description="Release")]
