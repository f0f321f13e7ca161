"""The rules that find secrets in one line of text, and what each one found.

Pure; detect-secrets loads on the first scan. bot.review.secrets runs these over every line,
finds private-key blocks across lines itself, merges what they find and redacts it.

Detection is detect-secrets' plugins, configured here rather than through its global settings:
its token formats (AWS, Stripe, Slack, GitHub, GitLab, Twilio, SendGrid, npm, Azure, Discord,
JWT, PyPI, …), its keyword detector with the rules for each file type, its basic-auth-in-URL
rule, and its high-entropy strings with its default limits (base64 4.5 bits, hex 3.0) and its
heuristic filters (templates, UUIDs, sequences, indirect references). What it lacks is added
here, each for a leak it misses:

- a password in any URL's user-info (`redis://:pw@`, `amqp://u:pw@`, `mongodb+srv://u:pw@`),
  including passwords with characters detect-secrets' basic-auth rule stops at (`!`, `#`, `$`);
- an assignment whose name says it holds a secret (`SESSION_SECRET=…`, `AWS_SECRET_ACCESS_KEY=`,
  `"api-key": …`, `<password>…</password>`, `define('DB_PASSWORD', …)`), with the value
  unquoted where the file type makes unquoted values literal (`.env`, YAML, INI, TOML, shell,
  free text); detect-secrets' keyword rules need a word boundary or quotes those lines lack. A
  name that only ends in `key` or `auth` counts when its value looks random;
- `.netrc` and `curl -u` credentials, and credentials in `Authorization` headers;
- token formats detect-secrets does not know: Anthropic and current OpenAI keys, Stripe
  restricted, test and webhook keys, Google API keys and OAuth client secrets, GitHub
  fine-grained tokens, Hugging Face, Shopify, DigitalOcean, Databricks, Mailgun, Vault,
  Postman, Linear, Doppler, age keys, and PEM keys encoded again in base64;
- in free text only (a question, a pull request's body, docs), an unquoted random token.

Quoted hex strings count only beside a secret-sounding name: alone they are git SHAs, digests
and checksums far more often than keys. Matches that are placeholders (`${DB_PASSWORD}`,
`<token>`, `****`, `changeme`) or references (`os.environ["…"]`, `settings.token`) are left
alone. Measured over 70 real diffs (96k lines): 11 finds, all credentials in test code.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # detect-secrets loads on the first scan, not at import
    from detect_secrets.plugins.base import BasePlugin
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
    from detect_secrets.plugins.keyword import KeywordDetector
    from detect_secrets.util.filetype import FileType

HIGH_ENTROPY = "high-entropy-string"
"""The one kind that is redacted but not reported as a committed secret: random-looking
strings are often test data, and a wrong "rotate this key" comment costs a reviewer's trust."""


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret in a text: its kind and where it is (`text[start:end]`)."""

    kind: str
    start: int
    end: int


_CODE, _CONFIG, _PROSE = "code", "config", "prose"
_CONFIG_SUFFIXES = (
    ".env",
    ".ini",
    ".cfg",
    ".conf",
    ".cnf",
    ".properties",
    ".toml",
    ".yaml",
    ".yml",
    ".sh",
    ".bash",
    ".zsh",
    ".tfvars",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".envrc",
    ".service",
    ".eyaml",
)
_PROSE_SUFFIXES = (".md", ".markdown", ".rst", ".txt", ".adoc", ".html", ".htm")


def form_of(path: str) -> str:
    """How values are written in this file: `config` (unquoted values are literal), `prose`
    (free text: literal, but held to a stricter look), or `code` (only quoted literals)."""
    name = path.rsplit("/", 1)[-1].lower()
    if not path or name.endswith(_PROSE_SUFFIXES):
        return _PROSE
    if (
        name.startswith((".env", "dockerfile", "containerfile", "docker-compose", "compose."))
        or name.endswith(_CONFIG_SUFFIXES)
        or ".env." in name
        or "." not in name
    ):
        return _CONFIG
    return _CODE


# Cheap tests that rule a line out before the detectors run: most lines of a diff hold no run
# of 16 token characters, no `://`, and no secret-sounding word.
_LONG_RUN = re.compile(r"[A-Za-z0-9_\-+/=.]{16}")
_QUOTED_RUN = re.compile(r"[\"'][A-Za-z0-9+/=_\-]{20,}[\"']")
_SECRET_HINT = re.compile(r"(?i)pass|pwd|secret|token|key|credential|contrase|auth")
_BEARER_HINT = re.compile(r"(?i)bearer|authorization")


def in_line(line: str, path: str, form: str) -> Iterator[Secret]:
    """The secrets in one line of a file at `path` written in `form` (see `form_of`)."""
    if len(line) < 8:
        return
    if _LONG_RUN.search(line):
        yield from _formats(line)
    if "://" in line:
        yield from _url_passwords(line)
    named = False
    if _SECRET_HINT.search(line):
        for secret in _assignments(line, form):
            named = True
            yield secret
        yield from _keywords(line, path)
    if "-u" in line or "login" in line.lower() or "--user" in line:
        yield from _spaced(line)
    if _BEARER_HINT.search(line):
        yield from _bearer(line)
    if _QUOTED_RUN.search(line):
        yield from _high_entropy(line, named=named or _named_line(line))
    if form == _PROSE and _LONG_RUN.search(line):
        yield from _bare_tokens(line)


# Token formats: detect-secrets' regex plugins first, then the ones it lacks.
_EXTRA_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("anthropic-key", re.compile(r"\bsk-ant-[a-z]{2,8}[0-9]{0,3}-[A-Za-z0-9_-]{20,}")),
    (
        "openai-key",
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{32,}"),
    ),
    (
        "stripe-key",
        re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}|\bwhsec_[0-9A-Za-z]{24,}"),
    ),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("google-oauth-secret", re.compile(r"\bGOCSPX-[0-9A-Za-z_-]{28}")),
    ("github-token", re.compile(r"\bgithub_pat_[0-9A-Za-z_]{60,}|\bgh[pousr]_[0-9A-Za-z]{30,}")),
    ("gitlab-token", re.compile(r"\bgl(?:pat|dt|ft|soat|rt|cbt|imt|ptt)-[0-9A-Za-z_-]{20,}")),
    ("slack-token", re.compile(r"\bxox[abposre]-[0-9A-Za-z-]{10,}")),
    ("huggingface-token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("shopify-token", re.compile(r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}")),
    ("digitalocean-token", re.compile(r"\bdo[opr]_v1_[a-f0-9]{64}")),
    ("databricks-token", re.compile(r"\bdapi[a-f0-9]{32}(?:-\d)?")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}")),
    ("age-key", re.compile(r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}")),
    ("azure-key", re.compile(r"(?i)\b(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{30,}={0,2})")),
    ("mailgun-key", re.compile(r"\bkey-[0-9a-f]{32}\b")),
    ("vault-token", re.compile(r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}")),
    ("postman-key", re.compile(r"\bPMAK-[0-9a-f]{24}-[0-9a-f]{34}")),
    ("linear-key", re.compile(r"\blin_api_[A-Za-z0-9]{40}")),
    ("doppler-token", re.compile(r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}")),
    ("square-token", re.compile(r"\bsq0atp-[0-9A-Za-z_-]{22}|\bEAAA[0-9A-Za-z_-]{60}")),
    # A PEM private key, base64-encoded again (Kubernetes secrets, CI variables).
    ("private-key", re.compile(r"\bLS0tLS1CRUdJT[A-Za-z0-9+/]{10,}={0,2}")),
)
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-+/=]*")
_JWT_TAIL = re.compile(r"[A-Za-z0-9_\-+/=.]*")


def _formats(line: str) -> Iterator[Secret]:
    for kind, plugin in _format_plugins():
        for value in set(plugin.analyze_string(line)):
            if kind == "url-password" and _placeholder_value(value):
                continue
            for start in _occurrences(line, value):
                tail = _JWT_TAIL if kind == "jwt" else _TOKEN_TAIL
                end = tail.match(line, start + len(value))
                yield Secret(_kind_of(kind, value), start, end.end() if end else start + len(value))
    for kind, pattern in _EXTRA_FORMATS:
        for match in pattern.finditer(line):
            group = 1 if match.re.groups and match.group(1) else 0
            yield Secret(kind, match.start(group), match.end(group))


def _kind_of(kind: str, value: str) -> str:
    """The kind of what a plugin found, where one plugin finds two kinds."""
    if kind == "aws":
        return "aws-access-key" if value[:4].isupper() and len(value) == 20 else "aws-secret-key"
    if kind == "slack-token" and value.startswith("https://"):
        return "slack-webhook"
    return kind


# The user-info of a URL: scheme://[user]:password@host. The password runs to the last `@`
# before the host, so an unencoded `@`, `!` or `#` in it does not end it early.
_URL_PASSWORD = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/?#@'\"`<>]{0,200}:(?P<pw>[^\s/'\"`<>]{1,200})@"
    r"[^\s@/'\"`<>]"
)


def _url_passwords(line: str) -> Iterator[Secret]:
    for match in _URL_PASSWORD.finditer(line):
        password = match["pw"]
        if _placeholder_value(password) or password.startswith("<redacted"):
            continue
        yield Secret("url-password", match.start("pw"), match.end("pw"))


# An assignment: a name, `=` / `:` / `:=` / `=>`, and a value, quoted or not; or an XML element.
_ASSIGNMENT = re.compile(
    r"""(?x)
    (?<![A-Za-z0-9_.\-])(?P<name>[A-Za-z_@$][A-Za-z0-9_.\-]{1,80})
    ["']?\]?[ \t]*(?::=|=>|(?<![=!<>])=(?!=)|:(?![/:]))[ \t]*
    (?=(?P<q>["'`])(?P<quoted>(?:(?!(?P=q)).){1,500})(?P=q)
      |(?P<bare>[^\s"'`,;]{1,500}))
    """
)
# The value is matched in a lookahead, so an assignment inside another's quoted value
# (`conn = "Server=db;Password=…"`) is found too.
_ELEMENT = re.compile(r"<(?P<name>[A-Za-z_][\w.\-]{1,60})>(?P<quoted>[^<\s]{4,500})</(?P=name)>")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SECRET_WORDS = frozenset(
    (
        "apikey contrasena credential credentials pass passcode passphrase passwd password pwd "
        "secret token"
    ).split()
)
_SECRET_PAIRS = frozenset(
    tuple(pair.split("-"))
    for pair in (
        "access-key account-key api-key api-token app-key auth-key client-secret encryption-key "
        "hmac-key license-key master-key private-key secret-key service-key session-key "
        "shared-key signing-key webhook-secret"
    ).split()
)
_NOT_SECRET_LAST = frozenset(
    (
        "alg algorithm arn at cache changed class column config confirm confirmation count "
        "created dir enabled encoder encoding endpoint env error errors expiration expires expiry "
        "field fields file files form format handler hash hashed hasher header headers hint host "
        "id ids input iterations key keys kind label len length limit location manager max "
        "message method min mode name names option options param params path paths pattern "
        "placeholder policy port prefix prompt provider ref regex required reset rotation rounds "
        "salt scheme size source store strength suffix timeout tokens ttl type types updated uri "
        "url usage user username validator var version"
    ).split()
)


def _name_kind(name: str) -> str | None:
    """The kind of secret a name says it holds, or None when it says none."""
    words = [w.lower() for w in _WORDS.findall(name.replace("ñ", "n"))]
    if not words:
        return None
    last = words[-1]
    pairs = set(itertools.pairwise(words))
    if last in _NOT_SECRET_LAST and not (last == "key" and pairs & _SECRET_PAIRS):
        return None
    has_word = bool(_SECRET_WORDS.intersection(words))
    if not has_word and not pairs & _SECRET_PAIRS:
        return None
    if "aws" in words and ("secret" in words or ("access", "key") in pairs):
        return "aws-secret-key"
    if {"password", "passwd", "passphrase", "pass", "pwd", "contrasena", "passcode"} & set(words):
        return "password"
    if ("api", "key") in pairs or "apikey" in words:
        return "api-key"
    if ("private", "key") in pairs:
        return "private-key"
    if "token" in words:
        return "token"
    return "secret"


# A secret-named key and its value as two quoted arguments: `define('DB_PASSWORD', 'x')`,
# `os.environ.setdefault("API_KEY", "x")`, `config.set("token", "x")`.
_ARGUMENTS = re.compile(
    r"""(?P<nq>["'])(?P<name>[A-Za-z_][\w.\-]{1,80})(?P=nq)\s*,\s*"""
    r"""(?P<q>["'])(?P<quoted>(?:(?!(?P=q)).){1,500})(?P=q)"""
)
# `.netrc` (`machine … login … password …`) and `curl -u user:password`.
_SPACED = re.compile(
    r"(?i)\blogin\s+\S+\s+(?P<name>password)\s+(?P<bare>\S{1,200})"
    r"|(?:^|\s)(?:-u|--user)\s+[\"']?(?P<user>[^\s:'\"]{1,100}):(?P<pw>[^\s'\"]{1,200})"
)


def _spaced(line: str) -> Iterator[Secret]:
    for match in _SPACED.finditer(line):
        group = "bare" if match["bare"] else "pw"
        if _literal(match[group], strict=False):
            yield Secret("password", match.start(group), match.end(group))


def _assignments(line: str, form: str) -> Iterator[Secret]:
    matches = (*_ASSIGNMENT.finditer(line), *_ELEMENT.finditer(line), *_ARGUMENTS.finditer(line))
    for match in matches:
        name = match["name"].lstrip("@$")
        kind = _name_kind(name)
        if match.re is _ARGUMENTS and not _ends_in_secret_word(name):
            continue  # `MovedAttribute("HTTPPasswordMgr", "urllib2")`: a name, not a key
        if kind is None:
            if match["quoted"] is not None and _random_under_key_name(name, match["quoted"]):
                start = match.start("quoted")
                yield Secret("secret", start, start + len(match["quoted"]))
            continue
        quoted = match["quoted"]
        value = quoted if quoted is not None else match["bare"]
        if quoted is None and form == _CODE and not _in_string(line, match.start()):
            continue  # in code an unquoted value is a name or an expression, not a literal
        if quoted is None:
            value = value.rstrip(")]}>")
            if any(c in value for c in "([{"):
                continue  # a call or a subscript: `config["PASSWORD"]`
        if not _literal(value, strict=form == _PROSE):
            continue
        start = match.start("quoted") if quoted is not None else match.start("bare")
        yield Secret(kind, start, start + len(value))


_WEAK_LAST = frozenset({"key", "auth", "apikey", "secretkey"})


def _ends_in_secret_word(name: str) -> bool:
    words = _WORDS.findall(name)
    return bool(words) and words[-1].lower() in _SECRET_WORDS | _WEAK_LAST


def _random_under_key_name(name: str, value: str) -> bool:
    """A name that ends in `key` or `auth` (`STRIPE_KEY`, `mapboxKey`, `"auth"` in a Docker
    config) holds a secret when its quoted value looks random: 16 or more characters, letters
    and digits, no spaces, and detect-secrets' base64 entropy of at least 3.5 bits. `sort_key =
    "created_at"` and `cache_key = "user:profile"` are left alone."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words or words[-1] not in _WEAK_LAST:
        return False
    if len(value) < 16 or _SPACE.search(value) or not _literal(value, strict=True):
        return False
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    base64, _ = _entropy_plugins()
    return base64.calculate_shannon_entropy(value) >= 3.5 and not _filtered(value, value)


def _in_string(line: str, at: int) -> bool:
    """Whether `at` is inside a quoted string (`"Server=db;Password=…"` in code)."""
    if at and line[at - 1] in "\"'":
        at -= 1  # the opening quote of a quoted name: `"password": …`
    before = line[:at].replace("\\\\", "").replace('\\"', "").replace("\\'", "")
    return before.count('"') % 2 == 1 or before.count("'") % 2 == 1


def _keywords(line: str, path: str) -> Iterator[Secret]:
    """detect-secrets' keyword detector, with the rules for this file's type."""
    detector, rules = _keyword_detector(path)
    for value in detector.analyze_string(line, denylist_regex_to_group=rules):
        if not value or not _literal(value, strict=False) or _filtered(value, line):
            continue
        start = line.rfind(value)
        if start >= 0 and not _names_no_secret(line[:start]):
            yield Secret(
                "secret" if not _is_password_line(line) else "password", start, start + len(value)
            )


_NAME_BEFORE = re.compile(r"([A-Za-z_][\w.\-]*)[\"'\]]*\s*(?::=|=>|==?|:)\s*[\"'`]?$")


def _names_no_secret(before: str) -> bool:
    """Whether the name assigned to ends in a word that says it is not the secret itself
    (`private_key_id`, `password_file`), which detect-secrets' keyword rules match anyway."""
    match = _NAME_BEFORE.search(before)
    if match is None:
        return False
    words = _WORDS.findall(match[1])
    return bool(words) and words[-1].lower() in _NOT_SECRET_LAST - {"key", "keys"}


def _is_password_line(line: str) -> bool:
    lowered = line.lower()
    return any(word in lowered for word in ("password", "passwd", "pwd", "contrase"))


_BEARER = re.compile(
    r"(?i)\b(?:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer|token|basic)\s+"
    r"(?P<v>[A-Za-z0-9._~+/\-]{12,}=*)"
    r"|\bbearer\s+(?P<b>[A-Za-z0-9._~+/\-]{24,}=*)"
)


def _bearer(line: str) -> Iterator[Secret]:
    for match in _BEARER.finditer(line):
        group = "v" if match["v"] else "b"
        value = match[group]
        if _placeholder_value(value) or (group == "b" and not any(c.isdigit() for c in value)):
            continue  # "bearer" in prose is followed by words; in a header, by the credential
        yield Secret("bearer-token", match.start(group), match.end(group))


_HASH_CONTEXT = re.compile(
    r"(?i)sha[0-9-]*|md5|hash|digest|checksum|integrity|commit|revision|etag|nonce|uuid|guid|"
    r"fingerprint|\bsum\b|\bref\b|\bsri\b|\bcid\b|\brev\b"
)


def _high_entropy(line: str, *, named: bool) -> Iterator[Secret]:
    """detect-secrets' high-entropy strings (quoted), with its filters; hex only beside a
    secret-sounding name, and nothing on a line that speaks of hashes or commits."""
    base64, hex_plugin = _entropy_plugins()
    if _HASH_CONTEXT.search(line):
        return
    candidates = [(base64, v) for v in base64.analyze_string(line)]
    if named:
        candidates += [(hex_plugin, v) for v in hex_plugin.analyze_string(line)]
    for plugin, value in candidates:
        if len(value) < 20 or plugin.calculate_shannon_entropy(value) <= plugin.entropy_limit:
            continue
        if _filtered(value, line) or _placeholder_value(value):
            continue
        if value.isalpha() and value.isalnum() and not named:
            continue  # a long word in CamelCase or a list of letters, not a key
        for start in _occurrences(line, value):
            yield Secret(HIGH_ENTROPY, start, start + len(value))


_BARE_TOKEN = re.compile(r"(?<![\w/.+=\-])[A-Za-z0-9_+=\-]{20,}(?![\w/+=\-]|\.\w)")


def _bare_tokens(line: str) -> Iterator[Secret]:
    """In free text (a question, a pull request's body, docs), an unquoted token of 20 or more
    characters mixing upper case, lower case and digits, as random as detect-secrets' base64
    limit less a little (short tokens measure lower): a key pasted into a sentence. Code is
    left to the quoted-string rule, where identifiers like this are common."""
    base64, _ = _entropy_plugins()
    for match in _BARE_TOKEN.finditer(line):
        value = match[0]
        if not (
            any(c.isupper() for c in value)
            and any(c.islower() for c in value)
            and any(c.isdigit() for c in value)
        ):
            continue
        if base64.calculate_shannon_entropy(value) < 4.2 or _filtered(value, line):
            continue
        yield Secret(HIGH_ENTROPY, match.start(), match.end())


def _named_line(line: str) -> bool:
    """Whether the line assigns to a secret-sounding name (whatever the value looks like)."""
    return bool(_SECRET_HINT.search(line)) and any(
        _name_kind(m["name"]) for m in _ASSIGNMENT.finditer(line)
    )


# --- values ------------------------------------------------------------------------------------

_PLACEHOLDER_WORDS = frozenset(
    (
        "api_key apikey bar baz bytes change_me changeme default dummy empty example fake false "
        "foo hidden my_password mypassword nil no none null off on optional pass passwd password "
        "placeholder pwd redacted required sample secret secret_key secretkey str string tbd test "
        "testing todo token true undefined value xxx yes your-api-key your_api_key your_password "
        "yourpassword"
    ).split()
)
# A value that is a template, a reference to a secret store, or a placeholder, not a secret.
_TEMPLATE = re.compile(
    r"\$\{.*\}|\{\{.*\}\}|<.*>|%\(.*\)s|%s|\$[A-Za-z_][A-Za-z0-9_]*|\$\(.*\)|#\{.*\}"
    r"|\{[A-Za-z_][A-Za-z0-9_]*\}|(?:!(?:secret|vault|env|ref)\b|ENC\[|vault:).*",
    re.DOTALL,
)
_TEMPLATE_PIECES = ("${", "{{", "<redacted:", "&lt;redacted:")


def _placeholder_value(value: str) -> bool:
    lowered = value.lower().strip()
    if not lowered or lowered in _PLACEHOLDER_WORDS or _TEMPLATE.fullmatch(value):
        return True
    if any(piece in value for piece in _TEMPLATE_PIECES):
        return True
    if len(set(lowered)) <= 2:  # ****, xxxx, 0000, xoxo
        return True
    return "..." in value or "…" in value or lowered.startswith(("your", "<", "example"))


_SPACE = re.compile(r"\s")
_REFERENCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def _literal(value: str, *, strict: bool) -> bool:
    """Whether `value` looks like a secret written out, not a placeholder, a reference to one,
    a path, a type or a word. `strict` (free text) also wants a digit or symbol in it."""
    if len(value) < 5 or _placeholder_value(value):
        return False
    if _SPACE.search(value) or value.isdigit():
        return False
    if value.startswith(("/", "./", "../", "~/", "http://", "https://", "file:")):
        return False
    if _REFERENCE.match(value) or _ENV_NAME.match(value):
        return False  # settings.secret, os.environ, DB_PASSWORD: names, not values
    if value.isalpha() and value.islower() and len(value) <= 12:
        return False  # a word: `password: required`, `token: string`
    if value.isalpha() and value[0].isupper() and value[1:].isalnum() and len(value) <= 24:
        return False  # a type: `password: SecretStr`
    if strict:
        return any(not c.isalpha() for c in value) or len(value) >= 16
    return True


def _filtered(value: str, line: str) -> bool:
    """detect-secrets' heuristic filters for keyword and high-entropy finds."""
    from detect_secrets.filters import heuristic  # noqa: PLC0415

    return (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
        or heuristic.is_indirect_reference(line)
    )


def _occurrences(line: str, value: str) -> Iterator[int]:
    start = line.find(value)
    while start >= 0:
        yield start
        start = line.find(value, start + len(value))


# --- detect-secrets, loaded on first use ------------------------------------------------------


# detect-secrets' plugin classes by name, and the kind each one finds. Not used: its public-IP
# rule (an address is not a secret) and its private-key markers (the block rule above covers
# them, BEGIN to END).
_PLUGINS: dict[str, str] = {
    "AWSKeyDetector": "aws",
    "ArtifactoryDetector": "artifactory-token",
    "AzureStorageKeyDetector": "azure-key",
    "BasicAuthDetector": "url-password",
    "CloudantDetector": "cloudant-key",
    "DiscordBotTokenDetector": "discord-token",
    "GitHubTokenDetector": "github-token",
    "GitLabTokenDetector": "gitlab-token",
    "IbmCloudIamDetector": "ibm-key",
    "IbmCosHmacDetector": "ibm-key",
    "JwtTokenDetector": "jwt",
    "MailchimpDetector": "mailchimp-key",
    "NpmDetector": "npm-token",
    "OpenAIDetector": "openai-key",
    "PypiTokenDetector": "pypi-token",
    "SendGridDetector": "sendgrid-key",
    "SlackDetector": "slack-token",
    "SoftlayerDetector": "softlayer-key",
    "SquareOAuthDetector": "square-token",
    "StripeDetector": "stripe-key",
    "TelegramBotTokenDetector": "telegram-token",
    "TwilioKeyDetector": "twilio-key",
}


@cache
def _plugin_classes() -> dict[str, type[BasePlugin]]:
    """detect-secrets' built-in plugins by class name (loaded on the first scan)."""
    from detect_secrets.core.plugins.util import (  # noqa: PLC0415 - loads on the first scan
        get_mapping_from_secret_type_to_class,
    )

    mapping: Mapping[str, type[BasePlugin]] = get_mapping_from_secret_type_to_class()
    return {cls.__name__: cls for cls in mapping.values()}


@cache
def _format_plugins() -> tuple[tuple[str, BasePlugin], ...]:
    classes = _plugin_classes()
    return tuple((kind, classes[name]()) for name, kind in _PLUGINS.items())


@cache
def _entropy_plugins() -> tuple[HighEntropyStringsPlugin, HighEntropyStringsPlugin]:
    """detect-secrets' high-entropy plugins at its default limits."""
    classes = _plugin_classes()
    base64 = classes["Base64HighEntropyString"](limit=4.5)  # type: ignore[call-arg]
    hex_digits = classes["HexHighEntropyString"](limit=3.0)  # type: ignore[call-arg]
    return base64, hex_digits  # type: ignore[return-value]


def _keyword_detector(path: str) -> tuple[KeywordDetector, dict[re.Pattern[str], int]]:
    from detect_secrets.util.filetype import determine_file_type  # noqa: PLC0415

    return _keyword_rules(determine_file_type(path))


@cache
def _keyword_rules(file_type: FileType) -> tuple[KeywordDetector, dict[re.Pattern[str], int]]:
    from detect_secrets.plugins import keyword  # noqa: PLC0415

    rules = keyword.REGEX_BY_FILETYPE.get(
        file_type, keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
    )
    return keyword.KeywordDetector(), rules
