"""The rules that find secrets in one line of text, and what each one found.

Pure; detect-secrets loads on the first scan. bot.core.secrets.redaction runs these over every line,
finds what spans lines itself (bot.core.secrets.keyblocks), merges what they find and redacts it.

Detection is detect-secrets' plugins, configured here rather than through its global settings:
its token formats (bot.core.secrets.formats), its keyword detector with the rules for each file
type,
and its high-entropy strings with its default limits (base64 4.5 bits, hex 3.0) and its
heuristic filters. What it lacks is added, each for a leak it misses:

- a password in any URL's user-info (`redis://:pw@`, `amqp://u:pw@`, `mongodb+srv://u:pw@`),
  including passwords with characters detect-secrets' basic-auth rule stops at (`!`, `#`, `$`),
  and Oracle's `jdbc:oracle:thin:user/pw@host`;
- values assigned to names that say they hold a secret (bot.core.secrets.assignments);
- secrets passed to calls, on command lines, in headers and query strings
  (bot.core.secrets.usages), and `.netrc` and `curl -u` credentials;
- secrets written in sentences and code comments (bot.core.secrets.sentences), and in free text an
  unquoted random token, held to a lower randomness when a secret word is on the same line.

Quoted hex strings count only beside a secret-sounding name: alone they are git SHAs, digests
and checksums far more often than keys. Nothing inside an AWS ARN is a secret. Each find says
whether it is sure enough to be reported as a committed secret, or is only redacted.

Measured over the 70 real diffs of the shared corpus (96k lines): 9 finds, 7 of them reported
(test TLS keys, `token=hunter2` in test URLs; a test login's `wrongpassword` only redacted);
over this project's own code: 2 random-looking ids redacted, nothing reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

from bot.core.secrets import sentences
from bot.core.secrets.assignments import assignments, judge, named_line, names_no_secret
from bot.core.secrets.finds import CODE, HIGH_ENTROPY, PROSE, Secret, form_of
from bot.core.secrets.formats import entropy_plugins, formats
from bot.core.secrets.usages import calls, command_lines, headers, queries
from bot.core.secrets.values import credential_like, filtered, literal, placeholder, word_like

if TYPE_CHECKING:  # detect-secrets loads on the first scan, not at import
    from detect_secrets.util.filetype import FileType

__all__ = ["HIGH_ENTROPY", "Secret", "form_of", "in_line"]


# Cheap tests that rule a line out before the rules run: most lines of a diff hold no run of
# 16 token characters, no `://`, and no secret-sounding word.
_LONG_RUN = re.compile(r"[A-Za-z0-9_\-+/=.]{16}")
_SHORT_RUN = re.compile(r"[A-Za-z0-9_\-+=]{12}")
_QUOTED_RUN = re.compile(r"[\"'`][A-Za-z0-9+/=_\-]{20,}[\"'`]")
_SECRET_HINT = re.compile(r"(?i)pass|pwd|pw|secret|token|key|cred|contrase|auth|dsn|conn|sig")
_LOGIN_HINT = re.compile(
    r"(?i)-u\b|--|login|-p|storepass|keypass|sshpass|redis-cli|sqlcmd|sqlplus|password-stdin"
)
_CALL_HINT = re.compile(r"(?i)log_?in|sign_?in|authenticate|credential|securestring")
_HEADER_HINT = re.compile(r"(?i)bearer|authorization|cookie")
_SECRET_WORD = re.compile(
    r"(?i)\b(?:passwords?|passwd|pwd|pw|pass|passphrase|tokens?|api[ _-]?keys?|apikey|secrets?"
    r"|credentials?|creds|keys?)\b"
)
_ARN = re.compile(r"\barn:aws[\w-]*:[\w-]+:[\w-]*:\d{0,12}:[^\s\"'`,;)]+")


def in_line(line: str, path: str, form: str) -> Iterator[Secret]:
    """The secrets in one line of a file at `path` written in `form` (see `form_of`)."""
    if len(line) < 6:
        return
    found = list(_rules(line, path, form))
    if "arn:" in line:
        arns = [(m.start(), m.end()) for m in _ARN.finditer(line)]
        found = [s for s in found if not any(a <= s.start and s.end <= b for a, b in arns)]
    yield from found


def _rules(line: str, path: str, form: str) -> Iterator[Secret]:
    long_run = bool(_LONG_RUN.search(line))
    if long_run:
        yield from (Secret(kind, start, end) for kind, start, end in formats(line))
    if "://" in line or "jdbc:" in line:
        yield from _url_passwords(line)
    named = False
    hinted = bool(_SECRET_HINT.search(line))
    if hinted:
        for secret in assignments(line, form):
            named = True
            yield secret
        yield from _keywords(line, path)
    if hinted or _CALL_HINT.search(line):
        yield from calls(line)
    if "?" in line or "&" in line or "#" in line:
        yield from queries(line)
    if _LOGIN_HINT.search(line):
        yield from command_lines(line)
    if _HEADER_HINT.search(line):
        yield from headers(line)
    if _QUOTED_RUN.search(line):
        yield from _high_entropy(line, named=named or (hinted and named_line(line)))
    if form == PROSE:
        yield from _sentences(line, 0)
        said = bool(_SECRET_WORD.search(line))
        if long_run or (said and _SHORT_RUN.search(line)):
            yield from _bare_tokens(line, hinted=said)
    elif hinted:
        at = sentences.comment(line)
        if at is not None:
            yield from _sentences(line[at:], at)


def _sentences(text: str, at: int) -> Iterator[Secret]:
    for kind, start, end, sure in sentences.said(text):
        yield Secret(kind, start + at, end + at, sure)


# The user-info of a URL: scheme://[user]:password@host. The password runs to the last `@`
# before the host, so an unencoded `@`, `!` or `#` in it does not end it early.
_URL_PASSWORD = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/?#@'\"`<>]{0,200}:(?P<pw>[^\s/'\"`<>]{1,200})@"
    r"[^\s@/'\"`<>]"
    r"|\bjdbc:oracle:[a-z]+:[\w$#]+/(?P<oracle>[^@\s\"'`/]{1,200})@"
)


def _url_passwords(line: str) -> Iterator[Secret]:
    for match in _URL_PASSWORD.finditer(line):
        group = "pw" if match["pw"] else "oracle"
        password = match[group]
        if placeholder(password) or password.startswith("<redacted"):
            continue
        yield Secret("url-password", match.start(group), match.end(group))


# --- detect-secrets' keyword rules --------------------------------------------------------------

_KEYWORD = re.compile(
    r"(?i)api_?key|auth_?key|service_?key|account_?key|db_?key|database_?key|priv_?key"
    r"|private_?key|client_?key|db_?pass|database_?pass|key_?pass|password|passwd|pwd|secret"
    r"|contraseña|contrasena"
)
_RUN = re.compile(r"\w+")


def _keywords(line: str, path: str) -> Iterator[Secret]:
    """detect-secrets' keyword detector, with the rules for this file's type.

    Its rules start `(keyword)\\w*` and are searched from every position; on a long run of
    word characters holding many keywords (`passwordpassword…`) each search is quadratic. A
    match from a later keyword in one run of word characters is also a match from the run's
    first keyword (the `\\w*` takes the rest), so only that one is tried: the same first match,
    in linear time."""
    rules = _keyword_rules(_file_type(path))
    starts: list[int] | None = None
    for rule, group in rules.items():
        if rule.pattern.startswith("(api_?key"):
            if starts is None:
                starts = _keyword_starts(line)
            match = next((m for m in (rule.match(line, s) for s in starts) if m), None)
        else:
            match = rule.search(line)
        if match is None:
            continue
        value = match[group]
        if not value or not literal(value) or filtered(value, line):
            continue
        start = match.start(group)
        if names_no_secret(line[:start]) or judge(value, "secret", form=CODE, quoted=True) is None:
            continue
        kind = "password" if _is_password_line(line) else "secret"
        yield Secret(kind, start, start + len(value), credential_like(value))


def _keyword_starts(line: str) -> list[int]:
    """The first keyword in each run of word characters."""
    starts = []
    for run in _RUN.finditer(line):
        match = _KEYWORD.search(line, run.start(), run.end())
        if match:
            starts.append(match.start())
    return starts


def _is_password_line(line: str) -> bool:
    lowered = line.lower()
    return any(word in lowered for word in ("password", "passwd", "pwd", "contrase"))


# --- random-looking strings --------------------------------------------------------------------

_HASH_CONTEXT = re.compile(
    r"(?i)sha[0-9-]*|md5|hash|digest|checksum|integrity|commit|revision|etag|nonce|uuid|guid|"
    r"fingerprint|\bsum\b|\bref\b|\bsri\b|\bcid\b|\brev\b"
)


def _high_entropy(line: str, *, named: bool) -> Iterator[Secret]:
    """detect-secrets' high-entropy strings (quoted), with its filters; hex only beside a
    secret-sounding name, and nothing on a line that speaks of hashes or commits."""
    base64, hex_plugin = entropy_plugins()
    if _HASH_CONTEXT.search(line):
        return
    candidates = [(base64, v) for v in base64.analyze_string(line)]
    if named:
        candidates += [(hex_plugin, v) for v in hex_plugin.analyze_string(line)]
    for plugin, value in candidates:
        if len(value) < 20 or plugin.calculate_shannon_entropy(value) <= plugin.entropy_limit:
            continue
        if filtered(value, line) or placeholder(value) or word_like(value):
            continue
        if value.isalpha() and value.isalnum() and not named:
            continue  # a long word in CamelCase or a list of letters, not a key
        for start in _occurrences(line, value):
            yield Secret(HIGH_ENTROPY, start, start + len(value))


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BARE_TOKEN = re.compile(r"(?<![\w/.+=\-])[A-Za-z0-9_+=\-]{12,}(?![\w/+=\-]|\.\w)")


def _bare_tokens(line: str, *, hinted: bool) -> Iterator[Secret]:
    """In free text (a question, a pull request's body, docs), an unquoted token of 20 or more
    characters mixing upper case, lower case and digits, as random as detect-secrets' base64
    limit less a little (short tokens measure lower): a key pasted into a sentence. With a
    secret word on the line, 12 characters and 3.0 bits do. Code is left to the quoted-string
    rule, where identifiers like this are common."""
    base64, _ = entropy_plugins()
    shortest, limit = (12, 3.0) if hinted else (20, 4.2)
    for match in _BARE_TOKEN.finditer(line):
        value = match[0]
        if len(value) < shortest or not (
            any(c.isupper() for c in value)
            and any(c.islower() for c in value)
            and any(c.isdigit() for c in value)
        ):
            continue
        if base64.calculate_shannon_entropy(value) < limit or filtered(value, line):
            continue
        if word_like(re.sub(r"[0-9_\-]+", "", value)):
            continue  # `UserProfile2SettingsComponent`: words and a number, a name
        if "=" in value.rstrip("=") or _DATE.search(value):
            continue  # `expires_at=2026-01-01T00`: a field and a time
        yield Secret(HIGH_ENTROPY, match.start(), match.end())


def _occurrences(line: str, value: str) -> Iterator[int]:
    start = line.find(value)
    while start >= 0:
        yield start
        start = line.find(value, start + len(value))


# --- detect-secrets' keyword rules by file type, loaded on first use ---------------------------


def _file_type(path: str) -> FileType:
    from detect_secrets.util.filetype import determine_file_type  # noqa: PLC0415

    return determine_file_type(path)


@cache
def _keyword_rules(file_type: FileType) -> dict[re.Pattern[str], int]:
    from detect_secrets.plugins import keyword  # noqa: PLC0415

    rules: dict[re.Pattern[str], int] = keyword.REGEX_BY_FILETYPE.get(
        file_type, keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
    )
    return rules
