"""Secrets in text: where they are, what kind each is, and the text with each one replaced.

Pure: text in, spans and text out; no I/O, no environment. Anything a pull request carries (its
lines, title, body, file paths, questions, thread text) goes through here before a model sees
it, and everything the bot writes (comments, logs, ledger, step summary) goes through `scrub`
before it leaves. A secret is replaced whole by a labelled placeholder, `<redacted:KIND>`, so a
reader (or a model) can still say that a key is committed there without seeing it.

Detection is detect-secrets' plugins, configured here rather than through its global settings:
its token formats (AWS, Stripe, Slack, GitHub, GitLab, Twilio, SendGrid, npm, Azure, Discord,
JWT, PyPI, …), its keyword detector with the rules for each file type, its basic-auth-in-URL
rule, its private-key markers, and its high-entropy strings with its default limits (base64
4.5 bits, hex 3.0) and its heuristic filters (templates, UUIDs, sequences, indirect references).
What it lacks is added here, each for a reason measured against real leaks:

- a private key is redacted from its BEGIN line to its END line (or to the end of the text),
  across lines and through a diff's +/- prefixes; detect-secrets reports only the BEGIN line;
- a password in any URL's user-info (`redis://:pw@`, `amqp://u:pw@`, `mongodb+srv://u:pw@`),
  including passwords with characters detect-secrets' basic-auth rule stops at (`!`, `$`, `;`);
- an assignment whose name says it holds a secret (`SESSION_SECRET=…`, `AWS_SECRET_ACCESS_KEY=`,
  `"api-key": …`, `<password>…</password>`), with the value unquoted where the file type makes
  unquoted values literal (`.env`, YAML, INI, TOML, shell, free text); detect-secrets' keyword
  rules need a word boundary or quotes those lines lack;
- token formats detect-secrets does not know: Anthropic and current OpenAI keys, Stripe
  restricted, test and webhook keys, Google API keys and OAuth client secrets, GitHub
  fine-grained tokens, Hugging Face, Shopify, DigitalOcean, Databricks, age keys, and bearer
  tokens in `Authorization` headers.

Quoted hex strings count only beside a secret-sounding name: alone they are git SHAs, digests
and checksums far more often than keys. Matches that are placeholders (`${DB_PASSWORD}`,
`<token>`, `****`, `changeme`) are left alone.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
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

_KINDS: dict[str, str] = {
    "private-key": "a private key",
    "aws-access-key": "an AWS access key ID",
    "aws-secret-key": "an AWS secret access key",
    "url-password": "a password in a URL",
    "password": "a password",
    "secret": "a secret value",
    "token": "an access token",
    "api-key": "an API key",
    "jwt": "a JSON Web Token",
    "bearer-token": "a bearer token in an Authorization header",
    "stripe-key": "a Stripe secret key",
    "slack-token": "a Slack token",
    "slack-webhook": "a Slack webhook URL",
    "github-token": "a GitHub token",
    "gitlab-token": "a GitLab token",
    "twilio-key": "a Twilio key",
    "sendgrid-key": "a SendGrid API key",
    "npm-token": "an npm token",
    "pypi-token": "a PyPI token",
    "azure-key": "an Azure storage or service key",
    "discord-token": "a Discord bot token",
    "telegram-token": "a Telegram bot token",
    "mailchimp-key": "a Mailchimp API key",
    "square-token": "a Square OAuth secret",
    "artifactory-token": "an Artifactory credential",
    "ibm-key": "an IBM Cloud credential",
    "softlayer-key": "a SoftLayer credential",
    "cloudant-key": "a Cloudant credential",
    "anthropic-key": "an Anthropic API key",
    "openai-key": "an OpenAI API key",
    "google-api-key": "a Google API key",
    "google-oauth-secret": "a Google OAuth client secret",
    "huggingface-token": "a Hugging Face token",
    "shopify-token": "a Shopify access token",
    "digitalocean-token": "a DigitalOcean token",
    "databricks-token": "a Databricks token",
    "age-key": "an age secret key",
    HIGH_ENTROPY: "a random-looking string",
}


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret in a text: its kind and where it is (`text[start:end]`)."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Redaction:
    """A text with its secrets replaced, and what was found in the original."""

    text: str
    found: tuple[Secret, ...]


def placeholder(kind: str) -> str:
    """What a secret of `kind` is replaced with."""
    return f"<redacted:{kind}>"


def describe(kind: str) -> str:
    """A kind in words, for a comment: `an AWS secret access key`."""
    return _KINDS.get(kind, "a secret")


def reported(kind: str) -> bool:
    """Whether a secret of this kind is a finding to comment on (not only redacted)."""
    return kind != HIGH_ENTROPY


def find_secrets(text: str, path: str = "") -> tuple[Secret, ...]:
    """Every secret in `text`, in order, overlapping finds merged. `path` is the file the text
    comes from (its type decides which assignment forms count); "" for free text."""
    if not text:
        return ()
    spans = list(_blocks(text))
    form = _form(path)
    for start, line in _lines(text):
        for offset, window in _windows(line):
            at = start + offset
            spans.extend(
                Secret(s.kind, s.start + at, s.end + at) for s in _in_line(window, path, form)
            )
    return _merged(spans, text)


def redact(text: str, path: str = "") -> Redaction:
    """`text` with each secret replaced by its placeholder."""
    found = find_secrets(text, path)
    if not found:
        return Redaction(text, ())
    out: list[str] = []
    at = 0
    for secret in found:
        out.append(text[at : secret.start])
        out.append(placeholder(secret.kind))
        at = secret.end
    out.append(text[at:])
    return Redaction("".join(out), found)


def redact_text(text: str, path: str = "") -> str:
    """`text` with each secret replaced by its placeholder (the text alone)."""
    return redact(text, path).text


_MARKER = re.compile(r"<!-- tierbot:[^>]*-->")


def scrub(text: str) -> str:
    """Outbound text (a comment, a log line, a ledger field) with any secret replaced, the bot's
    own hidden markers left as they are."""
    pieces = _MARKER.split(text)
    if len(pieces) == 1:
        return redact_text(text)
    markers = _MARKER.findall(text)
    out = [redact_text(pieces[0])]
    for marker, piece in zip(markers, pieces[1:], strict=True):
        out += [marker, redact_text(piece)]
    return "".join(out)


def scrub_bodies(payload: object) -> object:
    """A JSON payload for GitHub with every `body` text in it scrubbed (a comment, a review and
    its inline comments, a reply); other fields (paths, SHAs, queries) are left as they are."""
    if isinstance(payload, dict):
        return {
            key: scrub(value) if key == "body" and isinstance(value, str) else scrub_bodies(value)
            for key, value in payload.items()
        }
    if isinstance(payload, list):
        return [scrub_bodies(item) for item in payload]
    return payload


# --- multi-line blocks -------------------------------------------------------------------------

_KEY_BLOCK = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
    r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
    r"|---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----.*?(?:---- END SSH2 ENCRYPTED PRIVATE KEY ----|\Z)"
    r"|PuTTY-User-Key-File-[0-9]+:.*?(?:Private-MAC:[ \t]*[0-9a-fA-F]+|\Z)",
    re.DOTALL,
)


def _blocks(text: str) -> Iterator[Secret]:
    """Private keys, from the BEGIN line to the END line (or the end of the text)."""
    if "PRIVATE KEY" not in text and "PuTTY-User-Key-File" not in text:
        return
    for match in _KEY_BLOCK.finditer(text):
        yield Secret("private-key", match.start(), match.end())


# --- one line ----------------------------------------------------------------------------------

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


def _form(path: str) -> str:
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


_WINDOW = 2000
_OVERLAP = 500


def _windows(line: str) -> Iterator[tuple[int, str]]:
    """A long line (minified code, a hostile comment) in overlapping pieces, so the cost of
    scanning it grows with its length, not with its square (some of detect-secrets' rules scan
    from every keyword to the end of the line). A secret shorter than the overlap is whole in
    at least one piece; finds in two pieces merge."""
    if len(line) <= _WINDOW:
        yield 0, line
        return
    for offset in range(0, len(line) - _OVERLAP, _WINDOW - _OVERLAP):
        yield offset, line[offset : offset + _WINDOW]


def _lines(text: str) -> Iterator[tuple[int, str]]:
    at = 0
    for line in text.split("\n"):
        yield at, line
        at += len(line) + 1


# Cheap tests that rule a line out before the detectors run: most lines of a diff hold no run
# of 16 token characters, no `://`, and no secret-sounding word.
_LONG_RUN = re.compile(r"[A-Za-z0-9_\-+/=.]{16}")
_QUOTED_RUN = re.compile(r"[\"'][A-Za-z0-9+/=_\-]{20,}[\"']")
_SECRET_HINT = re.compile(r"(?i)pass|pwd|secret|token|key|credential|contrase")
_BEARER_HINT = re.compile(r"(?i)bearer|authorization")


def _in_line(line: str, path: str, form: str) -> Iterator[Secret]:
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
                yield Secret(
                    _aws_kind(value) if kind == "aws" else kind,
                    start,
                    end.end() if end else start + len(value),
                )
    for kind, pattern in _EXTRA_FORMATS:
        for match in pattern.finditer(line):
            group = 1 if match.re.groups and match.group(1) else 0
            yield Secret(kind, match.start(group), match.end(group))


def _aws_kind(value: str) -> str:
    return "aws-access-key" if value[:4].isupper() and len(value) == 20 else "aws-secret-key"


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
    {
        "password",
        "passwd",
        "passphrase",
        "pass",
        "pwd",
        "secret",
        "token",
        "apikey",
        "credential",
        "credentials",
        "contrasena",
        "passcode",
    }
)
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("access", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("auth", "key"),
        ("account", "key"),
        ("client", "secret"),
        ("app", "key"),
        ("session", "key"),
        ("service", "key"),
        ("license", "key"),
        ("api", "token"),
        ("shared", "key"),
        ("hmac", "key"),
        ("webhook", "secret"),
    }
)
_NOT_SECRET_LAST = frozenset(
    {
        "id",
        "ids",
        "name",
        "names",
        "file",
        "files",
        "path",
        "paths",
        "dir",
        "url",
        "uri",
        "host",
        "port",
        "user",
        "username",
        "type",
        "types",
        "length",
        "len",
        "size",
        "ttl",
        "timeout",
        "expiry",
        "expires",
        "expiration",
        "header",
        "headers",
        "prefix",
        "suffix",
        "field",
        "fields",
        "env",
        "var",
        "enabled",
        "required",
        "policy",
        "min",
        "max",
        "count",
        "hash",
        "hashed",
        "version",
        "label",
        "mode",
        "format",
        "algorithm",
        "alg",
        "scheme",
        "kind",
        "source",
        "location",
        "ref",
        "arn",
        "reset",
        "changed",
        "updated",
        "created",
        "at",
        "pattern",
        "regex",
        "rotation",
        "strength",
        "hint",
        "input",
        "prompt",
        "placeholder",
        "message",
        "error",
        "errors",
        "endpoint",
        "method",
        "class",
        "provider",
        "store",
        "manager",
        "handler",
        "cache",
        "key",
        "keys",
        "tokens",
        "usage",
        "limit",
        "param",
        "params",
        "option",
        "options",
        "config",
        "confirmation",
        "confirm",
        "validator",
        "form",
        "salt",
        "rounds",
        "iterations",
        "encoding",
        "encoder",
        "hasher",
        "column",
    }
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


def _assignments(line: str, form: str) -> Iterator[Secret]:
    for match in (*_ASSIGNMENT.finditer(line), *_ELEMENT.finditer(line)):
        kind = _name_kind(match["name"].lstrip("@$"))
        if kind is None:
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
        if _placeholder_value(value) or not any(c.isdigit() for c in value):
            continue
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
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "token",
        "changeme",
        "change_me",
        "example",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "yes",
        "no",
        "on",
        "off",
        "required",
        "optional",
        "redacted",
        "hidden",
        "dummy",
        "test",
        "testing",
        "fake",
        "foo",
        "bar",
        "baz",
        "todo",
        "tbd",
        "empty",
        "string",
        "str",
        "bytes",
        "your_password",
        "yourpassword",
        "mypassword",
        "my_password",
        "your-api-key",
        "your_api_key",
        "apikey",
        "api_key",
        "secretkey",
        "secret_key",
        "xxx",
        "sample",
        "placeholder",
        "default",
        "value",
    }
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


# --- merging -----------------------------------------------------------------------------------

_RANK: dict[str, int] = {
    "private-key": 0,
    "url-password": 2,
    "password": 3,
    "secret": 3,
    "token": 3,
    "api-key": 3,
    "aws-secret-key": 1,
    HIGH_ENTROPY: 4,
}


def _rank(kind: str) -> int:
    return _RANK.get(kind, 1)


def _merged(spans: list[Secret], text: str) -> tuple[Secret, ...]:
    """Overlapping finds as one span, of the most specific kind; a placeholder (also as HTML
    escapes it, `&lt;redacted:…&gt;`) is never redacted again."""
    kept = list(_PLACEHOLDER.finditer(text)) if "redacted:" in text else []
    spans = [
        s
        for s in spans
        if s.end > s.start and not any(p.start() < s.end and s.start < p.end() for p in kept)
    ]
    spans.sort(key=lambda s: (s.start, -s.end))
    out: list[Secret] = []
    for span in spans:
        if out and span.start < out[-1].end:
            last = out[-1]
            kind = last.kind if _rank(last.kind) <= _rank(span.kind) else span.kind
            out[-1] = Secret(kind, last.start, max(last.end, span.end))
        else:
            out.append(span)
    return tuple(out)


_PLACEHOLDER = re.compile(r"<redacted:[a-z0-9-]+>|&lt;redacted:[a-z0-9-]+&gt;")


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

    return {cls.__name__: cls for cls in get_mapping_from_secret_type_to_class().values()}


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
