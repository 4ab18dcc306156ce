"""Secret scrubbing for everything that leaves the server: text (logs, messages) and objects.

Three layers:
- `redact_obj` knows Kubernetes shapes: Secret data/stringData, env literals, the
  last-applied-configuration annotation (which repeats a Secret's data), and mapping keys
  that name a credential (Helm values such as `postgresql.auth.password`).
- `redact_text` catches credentials inside free text: JWTs, bearer/basic auth headers,
  key=value / key: value pairs whose key names a credential, URL userinfo, PEM private keys
  and the token formats of widely used services.
- `Scrubber` removes known values wherever they reappear, whatever surrounds them: the values
  of the Secrets a pod references (read by Cluster.secret_scrubber), of the Secrets a Helm
  release renders, a pod's literal credentials; as they are, base64, and line by line.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable
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


def _token(prefix: str, rest: str) -> str:
    """A token that starts with `prefix` (a fixed-width regex that begins with a literal or a small class) not
    preceded by a word character, then `rest`. The prefix comes first so the regex engine jumps to its occurrences;
    a leading word boundary (\\b) would make it try every position of the text (40x slower on a 32 KB log)."""
    return f"{prefix}(?<![A-Za-z0-9_]{prefix}){rest}"


_END = r"(?![A-Za-z0-9_-])"  # a token ends where its characters end
# Token formats of widely used services: (guards, regex, replacement), after gitleaks' default rules (kept public
# rule set) and the services' documented prefixes. Each runs only when one of its guards is in the text (guards
# with capitals are matched case-sensitively, the others on the lowercased text). Each is one regex pass over the
# whole text, beginning with its literal prefix.
_TOKENS: list[tuple[tuple[str, ...], str, str]] = [
    # OpenAI (sk-proj-, sk-svcacct-, sk-admin-, legacy sk-<48>), Anthropic (sk-ant-api03-, sk-ant-admin01-, ...)
    (("sk-",), _token("sk-", r"(?:ant-[A-Za-z0-9_-]{8,}|(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20,})"), MASK),
    # GitHub: classic PAT, OAuth, user-to-server, server-to-server, refresh; fine-grained PAT
    (("gh",), _token("gh[pousr]_", r"[A-Za-z0-9]{20,}"), MASK),
    (("github_pat_",), _token("github_pat_", r"[A-Za-z0-9_]{22,}"), MASK),
    # GitLab (PAT, deploy, runner, pipeline trigger, CI job, feed, SCIM, OAuth app, agent, incoming mail, feature
    # flag tokens) and Grafana (service account glsa_, cloud glc_)
    (
        ("gl",),
        _token(
            "gl",
            r"(?:(?:pat|dt|rt|ptt|cbt|ft|soat|oas|agent|imt|ffct)-[A-Za-z0-9_.-]{20,}|sa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|c_[A-Za-z0-9+/]{32,}={0,3})",
        ),
        MASK,
    ),
    (("GR1348941",), _token("GR1348941", r"[A-Za-z0-9_-]{20,}"), MASK),  # GitLab runner registration
    # Slack: bot, user, app, legacy, configuration (xoxe.xoxp-) and refresh (xoxe-) tokens; app-level tokens; webhooks
    (("xox",), _token("xox", r"[abeoprs](?:\.xox[bp])?-[A-Za-z0-9-]{10,}"), MASK),
    (("xapp-",), _token("xapp-", r"\d-[A-Za-z0-9-]{10,}"), MASK),
    (("hooks.slack.com",), r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9+/_-]{20,}", r"\1" + MASK),
    # Stripe secret, restricted and webhook signing keys
    (("k_",), _token("[sr]k_", r"(?:live|test|prod)_[A-Za-z0-9]{16,}"), MASK),
    (("whsec_",), _token("whsec_", r"[A-Za-z0-9+/=]{24,}"), MASK),
    (("SG.",), _token(r"SG\.", r"[\w-]{16,}\.[\w-]{16,}"), MASK),  # SendGrid
    (("AKIA", "ASIA"), _token("A[KS]IA", r"[0-9A-Z]{16}"), MASK),  # AWS access key ids (long-term, temporary)
    # Google: API keys, OAuth access tokens, OAuth client secrets, refresh tokens
    (("AIza",), _token("AIza", r"[0-9A-Za-z_-]{30,}"), MASK),
    (("ya29.",), _token(r"ya29\.", r"[0-9A-Za-z_-]{20,}"), MASK),
    (("GOCSPX-",), _token("GOCSPX-", r"[0-9A-Za-z_-]{20,}"), MASK),
    (("1//0",), _token("1//0", r"[0-9A-Za-z_-]{40,}"), MASK),
    (("hf_",), _token("hf_", r"[A-Za-z0-9]{30,}" + _END), MASK),  # Hugging Face user tokens
    (("api_org_",), _token("api_org_", r"[A-Za-z0-9]{30,}" + _END), MASK),  # Hugging Face org tokens
    (("npm_",), _token("npm_", r"[A-Za-z0-9]{36}"), MASK),
    (("pypi-agei",), _token("pypi-AgEI", r"[A-Za-z0-9_-]{50,}"), MASK),  # PyPI upload tokens (macaroons)
    (("dckr_",), _token("dckr_", r"(?:pat|oat)_[A-Za-z0-9_-]{20,}"), MASK),  # Docker Hub
    (("shp",), _token("shp", r"(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" + _END), MASK),  # Shopify
    (("_v1_",), _token("do[opr]_v1_", r"[a-f0-9]{64}" + _END), MASK),  # DigitalOcean PAT, OAuth, refresh
    (("hv",), _token(r"hv[sbr]\.", r"[A-Za-z0-9_-]{24,}"), MASK),  # HashiCorp Vault
    ((".atlasv1.",), r"\.atlasv1\.[A-Za-z0-9_=-]{60,}", "." + MASK),  # Terraform Cloud: <14 chars>.atlasv1.<secret>
    (("SK", "AC"), _token("(?:SK|AC)", r"[0-9a-f]{32}" + _END), MASK),  # Twilio API key and account SIDs
    (("key-",), r"key-(?<![\w-]key-)[0-9a-f]{32}" + _END, MASK),  # Mailgun (not cache-key-<md5>)
    (("dapi",), _token("dapi", r"[0-9a-f]{32}(?:-\d)?" + _END), MASK),  # Databricks
    (("eyJrIjoi",), _token("eyJrIjoi", r"[A-Za-z0-9]{40,}={0,3}"), MASK),  # Grafana API keys (base64 JSON)
    (("NR",), _token("NR(?:AK|II|JS)-", r"[A-Za-z0-9-]{19,40}" + _END), MASK),  # New Relic
    (("lin_api_",), _token("lin_api_", r"[A-Za-z0-9]{40}" + _END), MASK),  # Linear
    (("dp.",), _token(r"dp\.", r"(?:pt|st|ct|sa|scim|audit)\.(?:[a-z0-9_-]{1,30}\.)?[A-Za-z0-9]{40,}" + _END), MASK),  # Doppler
    (("PMAK-",), _token("PMAK-", r"[a-f0-9]{24}-[a-f0-9]{34}" + _END), MASK),  # Postman
    (("AGE-SECRET-KEY-1",), "AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", MASK),  # age
    # Azure: storage / Service Bus connection strings, SAS signatures, Entra ID client secrets
    (("Key=",), r"((?:AccountKey|SharedAccessKey)=)[^;\s\"']{8,}", r"\1" + MASK),
    (("sig=",), r"([?&]sig=)[A-Za-z0-9%+/=]{16,}", r"\1" + MASK),
    (("q~",), r"(?<![A-Za-z0-9_~.])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}" + _END, MASK),
    # Telegram bot tokens (<bot id>:<35 characters>): the secret after the colon
    ((":a",), r":A(?<=\d{8}:A)[A-Za-z0-9_-]{34}" + _END, ":" + MASK),
    # Discord bot tokens (base64 user id . timestamp . HMAC) and webhooks
    (
        ("MT", "Mj", "Mz", "ND", "NT", "Nj", "Nz", "OD", "OT"),
        r"[MNO](?<![A-Za-z0-9_-][MNO])[A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}" + _END,
        MASK,
    ),
    (("discord",), r"(discord(?:app)?\.com/api/webhooks/\d+/)[A-Za-z0-9_-]{30,}", r"\1" + MASK),
]

# Every pattern stays within one line ([ \t] rather than \s, no newline inside quotes), so a
# whole text is scrubbed in one regex pass per pattern, at C speed, with line semantics.
_PATTERNS: list[tuple[re.Pattern[str], str | None]] = [
    # PEM private keys (whole block).
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S), "-----PRIVATE KEY " + MASK + "-----"),
    # JWTs (three base64url segments, header starts with eyJ).
    (re.compile(_token("eyJ", r"[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")), MASK),
    # Authorization headers (bearer, basic, token in any case; the first letter first, for speed).
    (
        re.compile(r"([BbTt](?<![A-Za-z0-9_][BbTt])(?:(?<=[Bb])(?i:earer|asic)|(?<=[Tt])(?i:oken)))[ \t]+[A-Za-z0-9._~+/=-]{8,}"),
        r"\1 " + MASK,
    ),
    # URL credentials: scheme://user:pass@host (the match starts at "://"; the scheme stays as it is)
    (re.compile(r"(://[^/\s:@]*):[^/\s@]+@"), r"\1:" + MASK + "@"),
    # Well-known token formats (_TOKENS above, one pattern per service).
    *[(re.compile(rx), repl) for _, rx, repl in _TOKENS],
    # Cookie and Set-Cookie headers: the value of each name=value pair.
    (re.compile(r"([Cc](?<![A-Za-z0-9_][Cc])(?i:ookie):[ \t]*)([^\n]*)"), "cookie"),  # _cookie looks back for Set-
    # A credential flag and its separate argument: --db-password X, [--api-token, X], curl -u user:pass.
    (re.compile(r"(?i)(-(?<![\w-]-)-?[\w.-]*" + _FLAG_WORDS + r"[\w.-]*)((?:[ \t]+|,[ \t]*)[\"']?)(?!-)([^\s\"',\]]+)"), "flag"),
    (re.compile(r"(-(?<![\w-]-)(?:u|-user)[ \t]+[^\s:]+:)([^\s@]+)(?=\s|$)"), r"\1" + MASK),
    # {"name": "API_KEY", "value": "..."}: an env entry or header quoted in JSON.
    (re.compile(r'(?i)("name"[ \t]*:[ \t]*"([^"\n]*)"[ \t]*,[ \t]*"value"[ \t]*:[ \t]*")([^"\n]*)'), "pair"),
    # key=value / key: value / "key": "value" where key names a credential. The match starts at the
    # credential word (fast to reject); _kv looks back for the rest of the key name.
    (
        re.compile(
            r"""(?x)
            (?P<key>[PpSsTtAaCc](?:  # the first letter as a class, which the scanner skips to (2x faster than a lookahead)
                (?<=[Pp])(?i:ass(?:words?|wd|phrase)?(?![a-z])|wd|rivate[_-]?key)
                |(?<=[Ss])(?i:ecret)|(?<=[Tt])(?i:oken)|(?<=[Aa])(?i:pi[_-]?key|ccess[_-]?key)|(?<=[Cc])(?i:redentials?)
            )[\w.-]*["']?)
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
    if match.string[max(0, match.start() - 4) : match.start()].lower() == "set-":  # one cookie, then attributes (Path, Expires, ...)
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
    *[guards for guards, _, _ in _TOKENS],  # known token formats
    ("cookie",),  # cookies
    ("-",),  # credential flags
    ("-u", "--user"),  # curl -u user:pass
    ('"value"',),  # {"name": ..., "value": ...}
    ("pass", "pwd", "secret", "token", "api", "access", "private", "credential"),  # key=value
]
# A guard with capitals is looked for in the text as it is (Twilio's SK/AC, Discord's base64 user ids), the others
# in the lowercased text. Each distinct guard is searched once per text; the patterns whose guards hit then run,
# in their order.
_STEPS = [(pattern, _CALLBACKS[repl] if repl is None or repl in _CALLBACKS else repl) for pattern, repl in _PATTERNS]
_STEPS_OF: dict[str, list[int]] = {}
for _i, _guard in enumerate(_GUARDS):
    for _g in _guard:
        _STEPS_OF.setdefault(_g, []).append(_i)
_LOW_GUARDS = tuple(g for g in _STEPS_OF if g == g.lower())
_EXACT_GUARDS = tuple(g for g in _STEPS_OF if g != g.lower())


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
    # substring search: ~15x faster than one regex alternation
    hits = [g for g in _LOW_GUARDS if g in low] + [g for g in _EXACT_GUARDS if g in text]
    if not hits:
        return text
    for i in sorted({i for g in hits for i in _STEPS_OF[g]}):
        pattern, repl = _STEPS[i]
        text = pattern.sub(repl, text)
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


# `secret:` in a pod's volumes and projected sources names a Secret to mount ({secretName, items, defaultMode}):
# a reference, not a value, so a describe shows which Secret a pod mounts.
_SECRET_REFERENCE_KEYS = frozenset({"secretName", "name", "items", "optional", "defaultMode"})


def _secret_reference(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and value.keys() <= _SECRET_REFERENCE_KEYS and isinstance(value.get("secretName", value.get("name")), str)


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
            out[k] = _mask_all(v) if is_secret_key(key) and not _secret_reference(v) else redact_obj(v)
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
                if is_secret_key(str(k)) and not _secret_reference(v):
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


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a Pod, of a workload's pod template (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
    PodTemplate) or of a CronJob's job template; {} for any other object."""
    spec = obj.get("spec") or {}
    if "containers" in spec:
        return spec
    for template in (spec.get("template"), obj.get("template"), ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")):
        if isinstance(template, dict) and "containers" in (template.get("spec") or {}):
            return template["spec"]
    return {}


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A pod spec's init, regular and ephemeral containers."""
    return [c for field in ("initContainers", "containers", "ephemeralContainers") for c in spec.get(field) or [] if isinstance(c, dict)]


def secret_env_values(pod: dict[str, Any]) -> set[str]:
    """The literal credentials of a pod's (or a pod template's) containers (env, command/args, probe headers), to
    scrub from its logs."""
    return secret_values(containers(pod_spec(pod)))


def secret_refs(obj: dict[str, Any]) -> set[str]:
    """The names of the Secrets a pod or a workload's pod template references: env valueFrom.secretKeyRef,
    envFrom.secretRef, secret volumes, projected volumes' secret sources and CSI volumes' nodePublishSecretRef."""
    spec = pod_spec(obj)
    names: set[str] = set()
    for c in containers(spec):
        names.update(((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name") for e in c.get("env") or [])
        names.update((e.get("secretRef") or {}).get("name") for e in c.get("envFrom") or [])
    for v in spec.get("volumes") or []:
        names.add((v.get("secret") or {}).get("secretName"))
        names.update((s.get("secret") or {}).get("name") for s in (v.get("projected") or {}).get("sources") or [])
        names.add(((v.get("csi") or {}).get("nodePublishSecretRef") or {}).get("name"))
    return {n for n in names if isinstance(n, str) and n}


# -- scrubbing by value ---------------------------------------------------------------------------------------
# The values of the Secrets a pod references, of the Secrets a Helm release renders, are scrubbed wherever they
# reappear (a log line, an exec's output, a status message), whatever the patterns above think of them.
# Values shorter than MIN_VALUE are not: "true", "1", "yes", "app" would mask every occurrence of a common word
# (too many false hits), so they are left to the patterns.
MIN_VALUE = 4
MIN_LINE = 8  # a multi-line value (a private key, a kubeconfig) is also scrubbed line by line, lines of this length up
_PEM_ARMOR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")  # a key's BEGIN/END lines say nothing secret: kept


def value_forms(value: str | bytes) -> set[str]:
    """The forms in which a credential may reappear in text: as it is (stripped), base64 (padded and not), and,
    for a multi-line value, each of its lines of at least MIN_LINE characters, so that a private key's body is
    gone, not only its BEGIN line."""
    raw = value.encode() if isinstance(value, str) else value
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text = ""  # a binary value (a keystore): only its base64 can show in text
    forms: set[str] = set()
    if len(stripped := text.strip()) >= MIN_VALUE:  # stripped: a value's trailing newline is the log line's own
        forms.add(stripped)
        forms.add(base64.b64encode(stripped.encode()).decode())
    if len(raw) >= MIN_VALUE:
        forms.add(base64.b64encode(raw).decode())
    forms.update({f.rstrip("=") for f in forms if f.endswith("=") and len(f.rstrip("=")) >= MIN_VALUE})
    if "\n" in stripped:
        forms.update(s for line in text.splitlines() if len(s := line.strip()) >= MIN_LINE and not _PEM_ARMOR.fullmatch(s))
    return forms


def secret_forms(secret: dict[str, Any]) -> set[str]:
    """value_forms of every value of a Secret object as the API or a manifest holds it: `data` (base64, decoded
    here) and `stringData`, whatever their keys are called."""
    forms: set[str] = set()
    for value in (secret.get("data") or {}).values():
        if value is None:
            continue
        try:
            forms |= value_forms(base64.b64decode(str(value), validate=True))
        except (binascii.Error, ValueError):
            forms |= value_forms(str(value))  # not base64 (a manifest the API would refuse): the text itself
    for value in (secret.get("stringData") or {}).values():
        if value is not None:
            forms |= value_forms(str(value))
    return forms


class Scrubber:
    """Literal credentials to scrub from text and objects, longest first. It keeps them in memory only: its repr
    counts them and names nothing else, so a Scrubber that reaches a log line or an output by mistake shows no value.
    `unread` names the Secrets whose values could not be read (forbidden): only the patterns scrub those."""

    __slots__ = ("_values", "unread")

    def __init__(self, values: Iterable[str] = (), unread: Iterable[str] = ()):
        self._values = tuple(sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_VALUE}, key=len, reverse=True))
        self.unread = tuple(sorted(set(unread)))

    def __or__(self, other: Scrubber | Iterable[str]) -> Scrubber:
        if isinstance(other, Scrubber):
            return Scrubber((*self._values, *other._values), (*self.unread, *other.unread))
        return Scrubber((*self._values, *other), self.unread)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<Scrubber of {len(self._values)} values>"

    __str__ = __repr__

    @property
    def note(self) -> str | None:
        """One short line for a result whose Secrets could not all be read (names, never values)."""
        if not self.unread:
            return None
        return f"could not read {', '.join(self.unread)}: values masked by pattern only, not by value"

    def text(self, text: str, cut: bool = False) -> str:
        """text scrubbed; cut: the text was cut at a byte cap, so a value it ends in the middle of is masked too
        (its first MIN_VALUE characters or more, at the very end)."""
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        if cut:
            start = len(text)
            for value in self._values:
                window_start = max(0, len(text) - len(value) + 1)
                i = text.find(value[:MIN_VALUE], window_start)
                while i != -1 and i < start:
                    if value.startswith(text[i:]):
                        start = i
                        break
                    i = text.find(value[:MIN_VALUE], i + 1)
            if start < len(text):
                return text[:start] + MASK
        return text

    def obj(self, obj: Any) -> Any:
        """A copy of obj whose strings are scrubbed, and whose numbers that equal a value are masked."""
        if not self._values:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {k: self.obj(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.obj(v) for v in obj]
        if isinstance(obj, (int, float)) and not isinstance(obj, bool) and str(obj) in self._values:
            return MASK
        return obj


def scrub_values(text: str, values: set[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
