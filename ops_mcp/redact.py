"""Secret scrubbing for everything that leaves the server: text (logs, messages) and objects.

Two layers:
- `redact_obj` knows Kubernetes shapes: Secret data/stringData, env literals, the
  last-applied-configuration annotation (which repeats a Secret's data), and mapping keys
  that name a credential (Helm values such as `postgresql.auth.password`).
- `redact_text` catches credentials inside free text: JWTs, bearer/basic auth headers,
  key=value / key: value pairs whose key names a credential, URL userinfo, PEM private keys
  and well-known token formats.
"""

from __future__ import annotations

import functools
import re
from typing import Any

MASK = "***"

# A key that names a credential: password, db_pass, apiKey, client-secret, AUTH_TOKEN, ...
SECRET_KEY = re.compile(
    r"(pass(words?|wd|phrase)?(?![a-z])|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|"
    r"auth[_-]?token|authorization|basic[_-]?auth|session[_-]?key|signing[_-]?key|encryption[_-]?key|dsn|connection[_-]?string|cookie)",
    re.IGNORECASE,
)
# Keys that match SECRET_KEY but hold no secret (kept readable).
_NOT_SECRET_KEY = re.compile(
    r"^(secretName|secretRef|secretKeyRef|tokenExpirationSeconds|passwordSecret|existingSecret|"
    r"authMode|auth_enabled|authEnabled|serviceAccountToken|automountServiceAccountToken|"
    r"secretKeyName|secrets|imagePullSecrets|continue_token|tokens?_used|max_?[Tt]okens|.*SecretName|.*_SECRET_NAME|.*SecretRef|"
    r"(?i:.*[-_.]?(file|path|dir))|terminating_pods)$"  # a path to a credential is not the credential
)
# Names of -f/--flag options whose next argument is a credential (command lines in args, logs, sh -c).
_FLAG_WORDS = r"(?:pass(?:words?|wd|phrase)?(?![a-z])|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)"

# Every pattern stays within one line ([ \t] rather than \s, no newline inside quotes), so a
# whole text is scrubbed in one regex pass per pattern, at C speed, with line semantics.
_PATTERNS: list[tuple[re.Pattern[str], str | None]] = [
    # PEM private keys (whole block).
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S), "-----PRIVATE KEY " + MASK + "-----"),
    # JWTs (three base64url segments, header starts with eyJ).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    # Authorization headers.
    (re.compile(r"(?i)\b(bearer|basic|token)[ \t]+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # URL credentials: scheme://user:pass@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]+@"), r"\1:" + MASK + "@"),
    # Well-known token formats.
    (
        re.compile(
            r"\b(sk-ant-[A-Za-z0-9_-]{8,}|sk-[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{22,}|"
            r"glpat-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|SG\.[\w-]{16,}\.[\w-]{16,}|"
            r"xox[abpors]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,})"
        ),
        MASK,
    ),
    # Cookie and Set-Cookie headers: the value of each name=value pair.
    (re.compile(r"(?i)\b((?:set-)?cookie:[ \t]*)([^\n]*)"), "cookie"),
    # A credential flag and its separate argument: --db-password X, [--api-token, X], curl -u user:pass.
    (re.compile(r"(?i)(?<![\w-])(-{1,2}[\w.-]*" + _FLAG_WORDS + r"[\w.-]*)((?:[ \t]+|,[ \t]*)[\"']?)(?!-)([^\s\"',\]]+)"), "flag"),
    (re.compile(r"(?<![\w-])((?:-u|--user)[ \t]+[^\s:]+:)([^\s@]+)(?=\s|$)"), r"\1" + MASK),
    # {"name": "API_KEY", "value": "..."}: an env entry or header quoted in JSON.
    (re.compile(r'(?i)("name"[ \t]*:[ \t]*"([^"\n]*)"[ \t]*,[ \t]*"value"[ \t]*:[ \t]*")([^"\n]*)'), "pair"),
    # key=value / key: value / "key": "value" where key names a credential. The match starts at the
    # credential word (fast to reject); _kv looks back for the rest of the key name.
    (
        re.compile(
            r"""(?ix)
            (?=[pstac])  # the first letters of the words below: lets the scanner skip other positions (2x faster)
            (?P<key>(?:pass(?:words?|wd|phrase)?(?![a-z])|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)[\w.-]*["']?)
            (?P<sep>[ \t]*[:=][ \t]*)
            (?P<val>"[^"\n]*"|'[^'\n]*'|[^\s,;&}\]]+)
            """
        ),
        None,  # handled by _kv
    ),
]


def _kv(match: re.Match[str]) -> str:
    key, sep, val = match.group("key"), match.group("sep"), match.group("val")
    start = match.start()
    text = match.string
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
        start -= 1
    bare = (text[start : match.start()] + key).strip("\"'")
    if _NOT_SECRET_KEY.match(bare) or val.strip("\"'") in ("", MASK, "null", "None", "true", "false"):
        return match.group(0)
    if (
        sep.strip() == ":"
        and sep.endswith(" ")
        and val.isalpha()
        and val.islower()
        and text[match.end() : match.end() + 2][:1] == " "
        and text[match.end() + 1 : match.end() + 2].isalpha()
    ):
        return match.group(0)  # prose ("invalid token: signature has expired"), not a key: value pair
    quote = val[0] if val[:1] in ("'", '"') else ""
    return f"{key}{sep}{quote}{MASK}{quote}"


def _cookie(match: re.Match[str]) -> str:
    head, rest = match.group(1), match.group(2)
    pairs = rest.split(";")
    if head.lower().startswith("set-"):  # one cookie, then attributes (Path, Expires, ...)
        pairs[0] = re.sub(r"=.*", "=" + MASK, pairs[0], count=1)
    else:
        pairs = [re.sub(r"=.*", "=" + MASK, p, count=1) for p in pairs]
    return head + ";".join(pairs)


def _flag(match: re.Match[str]) -> str:
    flag, sep, val = match.group(1), match.group(2), match.group(3)
    if _NOT_SECRET_KEY.match(flag.lstrip("-")) or val == MASK:
        return match.group(0)
    return f"{flag}{sep}{MASK}"


def _pair(match: re.Match[str]) -> str:
    return match.group(1) + MASK if is_secret_key(match.group(2)) and match.group(3) else match.group(0)


_CALLBACKS = {None: _kv, "cookie": _cookie, "flag": _flag, "pair": _pair}


# Cheap substring guards (on the lowercased text), one tuple per pattern: a pattern runs only
# when its guard hits, and most strings (names, images, plain log lines) hit none.
_GUARDS: list[tuple[str, ...]] = [
    ("private key",),  # PEM
    ("eyj",),  # JWT
    ("bearer", "basic", "token"),  # auth headers
    ("://",),  # URL credentials
    ("sk-", "gh", "xox", "akia", "aiza", "glpat", "npm_", "k_live", "k_test", "sg."),  # known token formats
    ("cookie",),  # cookies
    ("-",),  # credential flags
    ("-u", "--user"),  # curl -u user:pass
    ('"value"',),  # {"name": ..., "value": ...}
    ("pass", "pwd", "secret", "token", "api", "access", "private", "credential"),  # key=value
]
_ANY_GUARD = tuple(dict.fromkeys(g for guard in _GUARDS for g in guard))


def redact_text(text: str) -> str:
    """Scrub credentials from free text (log lines, event messages, error messages)."""
    if not text:
        return text
    if len(text) <= 256:  # object fields: short and repeated (names, images, labels), so remembered
        return _redact_short(text)
    return _redact(text)


@functools.lru_cache(maxsize=8192)
def _redact_short(text: str) -> str:
    return _redact(text)


def _redact(text: str) -> str:
    low = text.lower()
    if not any(g in low for g in _ANY_GUARD):  # substring search: ~15x faster than one regex alternation
        return text
    for (pattern, repl), guard in zip(_PATTERNS, _GUARDS, strict=False):
        if any(g in low for g in guard):
            text = pattern.sub(_CALLBACKS[repl] if repl is None or repl in _CALLBACKS else repl, text)
    return text


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(key)) and not _NOT_SECRET_KEY.match(key)


def _mask_secret_object(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(out.get(field), dict):
            out[field] = {k: MASK for k in out[field]}
    return out


def _mask_all(value: Any) -> Any:
    """A value under a credential's name, whatever its type: every string and number leaf masked."""
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    if value is None or isinstance(value, bool) or value == "":
        return value
    return MASK


def _secret_pair(obj: dict[str, Any]) -> bool:
    """{name, value} entries (container env, probe httpHeaders, Helm extraEnv) whose value is a credential."""
    name, value = obj.get("name"), obj.get("value")
    if not isinstance(name, str) or value is None or value == "" or isinstance(value, bool):
        return False
    return is_secret_key(name) or (isinstance(value, str) and redact_text(value) != value)


def _flag_name(arg: str) -> str | None:
    """'--db-password' -> 'db-password' when the argument is an option naming a credential with its
    value in the next argument (not '--db-password=x', which redact_text handles)."""
    if not arg.startswith("-") or "=" in arg or " " in arg:
        return None
    name = arg.lstrip("-")
    return name if name and is_secret_key(name) else None


def _redact_argv(argv: list[Any]) -> list[Any]:
    out: list[Any] = []
    masked_next = False
    for arg in argv:
        if masked_next and isinstance(arg, str) and not arg.startswith("-"):
            out.append(MASK)
        else:
            out.append(redact_text(arg) if isinstance(arg, str) else redact_obj(arg))
        masked_next = isinstance(arg, str) and _flag_name(arg) is not None
    return out


def redact_obj(obj: Any) -> Any:
    """Return a copy of obj with every secret value masked (Kubernetes-aware)."""
    if isinstance(obj, dict):
        if obj.get("kind") == "Secret" and ("data" in obj or "stringData" in obj):
            obj = _mask_secret_object(obj)
        out: dict[str, Any] = {}
        for k, v in obj.items():
            key = str(k)
            if key == "kubectl.kubernetes.io/last-applied-configuration":
                continue  # repeats the whole manifest, Secret data included
            out[k] = _mask_all(v) if is_secret_key(key) else redact_obj(v)
        if _secret_pair(obj):
            out["value"] = _mask_all(obj["value"])
        return out
    if isinstance(obj, list):  # any list may be a command line (args, command, quoted in evidence)
        return _redact_argv(obj)
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def secret_values(obj: Any) -> set[str]:
    """The literal credentials inside obj (as redact_obj finds them: values under credential names, secret
    {name, value} pairs, credential flags' arguments, URL passwords), to scrub verbatim wherever they
    reappear: a pod's log lines, an error that echoes a call's arguments."""
    found: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, (dict, list)):
            for v in value.values() if isinstance(value, dict) else value:
                add(v)
        elif value is not None and not isinstance(value, bool) and len(text := str(value)) >= 4 and text != MASK:
            found.add(text)
            found.update(m.group(1) for m in re.finditer(r"://[^/\s:@]*:([^/\s@]+)@", text))  # the password in a URL

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("kind") == "Secret":  # a Secret's values, whatever their keys are called
                add([value.get("data"), value.get("stringData")])
            if _secret_pair(value):
                add(value["value"])
            for k, v in value.items():
                if is_secret_key(str(k)):
                    add(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for flag, arg in zip(value, value[1:], strict=False):  # a command line: --db-password X
                if isinstance(flag, str) and isinstance(arg, str) and _flag_name(flag) and not arg.startswith("-"):
                    add(arg)
            for v in value:
                walk(v)
        elif isinstance(value, str) and len(value) >= 4 and (clean := redact_text(value)) != value:
            # what the text patterns mask inside a string (--db-password=X, a URL's password, a token)
            found.update(_masked_parts(value, clean))

    walk(obj)
    return found


def _masked_parts(original: str, clean: str) -> set[str]:
    """The substrings of original that redaction replaced by MASK (clean = redact_text(original))."""
    import difflib

    parts = set()
    matcher = difflib.SequenceMatcher(None, original, clean, autojunk=False)
    for op, i1, i2, _, _ in matcher.get_opcodes():
        if op in ("replace", "delete") and i2 - i1 >= 4:
            parts.add(original[i1:i2])
    return parts


def secret_env_values(pod: dict[str, Any]) -> set[str]:
    """The literal credentials of a pod's containers (env, command/args, probe headers), to scrub from its logs."""
    spec = pod.get("spec") or {}
    return secret_values((spec.get("containers") or []) + (spec.get("initContainers") or []) + (spec.get("ephemeralContainers") or []))


def scrub_values(text: str, values: set[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
