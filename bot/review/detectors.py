"""The rules that find secrets in one line of text, and what each one found.

Pure; detect-secrets loads on the first scan. bot.review.secrets runs these over every line,
finds what spans lines itself (bot.review.keyblocks), merges what they find and redacts it.

Detection is detect-secrets' plugins, configured here rather than through its global settings:
its token formats (bot.review.formats), its keyword detector with the rules for each file type,
and its high-entropy strings with its default limits (base64 4.5 bits, hex 3.0) and its
heuristic filters. What it lacks is added here, each for a leak it misses:

- a password in any URL's user-info (`redis://:pw@`, `amqp://u:pw@`, `mongodb+srv://u:pw@`),
  including passwords with characters detect-secrets' basic-auth rule stops at (`!`, `#`, `$`),
  and Oracle's `jdbc:oracle:thin:user/pw@host` and `sqlplus user/pw@db`;
- an assignment whose name says it holds a secret (`SESSION_SECRET=…`, `"api-key": …`,
  `<password>…</password>`, `define('DB_PASSWORD', …)`), the name's secret word also found
  inside joined names (`PGPASSWORD`, `DBPASS`, `rootpw`, `db_pw`, `myApiKey`): detect-secrets'
  keyword rules need a word boundary or quotes those lines lack. The value is the whole quoted
  string; unquoted, in config files (`.env`, YAML, TOML, INI, properties) it is the rest of the
  line, in shell one shell word. It is a secret unless it is exactly a placeholder, template or
  reference (bot.review.values); in code an unquoted value is a name or an expression and
  counts only inside a string (`"Server=db;Password=…"`). A name that only ends in `key` or
  `auth` counts when its value looks random;
- `.netrc` and `curl -u` credentials; passwords on command lines (`mysql -pPW`,
  `sshpass -p PW`, `docker login -p PW`, `--password=PW`, `--api-key PW`); passwords passed to
  setters and logins (`setPassword("…")`, `login("user", "…")`, `auth=("user", "…")`);
- credentials in `Authorization` headers, cookies in `Cookie:` headers, and secrets in URL
  query strings (`?access_token=`, `&sig=`, `?key=`), in any kind of string;
- secrets written in sentences and code comments (bot.review.sentences), and in free text an
  unquoted random token, held to a lower randomness when a secret word is on the same line.

Quoted hex strings count only beside a secret-sounding name: alone they are git SHAs, digests
and checksums far more often than keys. What only looks like a secret is left alone: values
that are placeholders (`${DB_PASSWORD}`, `<token>`, `****`, `changeme`) or references
(`os.environ["…"]`, `settings.token`), a tokenizer's special tokens (`unk_token="[UNK]"`),
lowercase identifiers under `*_token` and `*_key` names (`stop_token = "end_of_turn"`), and
anything inside an AWS ARN. Each find says whether it is sure enough to be reported as a
committed secret, or is only redacted (a word-like password, a short number).

Measured over the 70 real diffs of the shared corpus (96k lines): 9 finds, 7 of them reported
(test TLS keys, `token=hunter2` in test URLs; a test login's `wrongpassword` only redacted);
over this project's own code: 2 random-looking ids redacted, nothing reported.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from bot.review import sentences
from bot.review.formats import entropy_plugins, formats
from bot.review.values import (
    credential_like,
    identifier_like,
    path_like,
    placeholder,
    word_like,
)

if TYPE_CHECKING:  # detect-secrets loads on the first scan, not at import
    from detect_secrets.util.filetype import FileType

HIGH_ENTROPY = "high-entropy-string"
"""The one kind that is redacted but never reported as a committed secret: random-looking
strings are often test data, and a wrong "rotate this key" comment costs a reviewer's trust."""


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret in a text: its kind, where it is (`text[start:end]`), and whether it is sure
    enough to report as a committed secret (otherwise it is only redacted)."""

    kind: str
    start: int
    end: int
    sure: bool = True


_CODE, _CONFIG, _SHELL, _PROSE = "code", "config", "shell", "prose"
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
    ".tfvars",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".service",
    ".eyaml",
)
_SHELL_SUFFIXES = (".sh", ".bash", ".zsh", ".ksh", ".envrc", ".mk", ".bashrc", ".profile")
_SHELL_NAMES = ("dockerfile", "containerfile", "makefile", "gnumakefile", "justfile", "procfile")
_PROSE_SUFFIXES = (".md", ".markdown", ".rst", ".txt", ".adoc", ".html", ".htm")


def form_of(path: str) -> str:
    """How values are written in this file: `config` (an unquoted value is the rest of the
    line), `shell` (an unquoted value is one shell word), `prose` (free text: a value is a
    word, held to a stricter look), or `code` (only quoted literals)."""
    name = path.rsplit("/", 1)[-1].lower()
    if not path or name.endswith(_PROSE_SUFFIXES):
        return _PROSE
    if name.endswith(_SHELL_SUFFIXES) or name.startswith(_SHELL_NAMES):
        return _SHELL
    if (
        name.startswith((".env", "docker-compose", "compose."))
        or name.endswith(_CONFIG_SUFFIXES)
        or ".env." in name
        or "." not in name
    ):
        return _CONFIG
    return _CODE


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
        for secret in _assignments(line, form):
            named = True
            yield secret
        yield from _keywords(line, path)
    if hinted or _CALL_HINT.search(line):
        yield from _calls(line)
    if "?" in line or "&" in line or "#" in line:
        yield from _queries(line)
    if _LOGIN_HINT.search(line):
        yield from _command_lines(line)
    if _HEADER_HINT.search(line):
        yield from _headers(line)
    if _QUOTED_RUN.search(line):
        yield from _high_entropy(line, named=named or _named_line(line))
    if form == _PROSE:
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


# An assignment: a name, `=` / `:` / `:=` / `=>`, and a value, quoted or not; or an XML element.
# The value is matched in a lookahead, so an assignment inside another's quoted value
# (`conn = "Server=db;Password=…"`) is found too.
_ASSIGNMENT = re.compile(
    r"""(?x)
    (?<![A-Za-z0-9_.\-])(?P<name>[A-Za-z_@$][A-Za-z0-9_.\-]{1,80})
    ["'`]?\]?[ \t]*(?::=|=>|(?<![=!<>])=(?!=)|:(?![/:]))[ \t]*
    (?=(?P<tq>\"\"\"|''')(?P<triple>(?:(?!(?P=tq)).)+)(?P=tq)
      |(?P<q>["'`])(?P<quoted>(?:\\.|(?!(?P=q))[^\\])+)(?P=q)
      |(?P<bare>\S))
    """
)
_LIST_BEFORE = re.compile(r"[\"']\s*,\s*$")
_ELEMENT = re.compile(r"<(?P<name>[A-Za-z_][\w.\-]{1,60})>(?P<quoted>[^<\s]{4,})</(?P=name)>")
# A secret-named key and its value as two quoted arguments: `define('DB_PASSWORD', 'x')`,
# `os.environ.setdefault("API_KEY", "x")`, `config.set("token", "x")`.
_ARGUMENTS = re.compile(
    r"""(?P<nq>["'])(?P<name>-{0,2}[A-Za-z_][\w.\-]{1,80})(?P=nq)\s*,\s*"""
    r"""(?=(?P<q>["'])(?P<quoted>(?:\\.|(?!(?P=q))[^\\])+)(?P=q))"""
)
# .NET's `<add key="ApiKey" value="…" />`.
_KEY_VALUE = re.compile(
    r"""\bkey\s*=\s*(?P<nq>["'])(?P<name>[A-Za-z_][\w.:\-]{1,80})(?P=nq)\s+value\s*=\s*"""
    r"""(?P<q>["'])(?P<quoted>(?:(?!(?P=q)).)+)(?P=q)"""
)
# A Dockerfile's `ENV NAME value` (no `=`): the value is the rest of the line.
_DOCKER_ENV = re.compile(r"^\s*(?:ENV|ARG)\s+(?P<name>[A-Za-z_]\w*)[ \t]+(?P<bare>[^\s=].*)$")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SECRET_WORDS = frozenset(
    (
        "apikey contrasena credential credentials creds pass passcode passphrase passwd password "
        "pwd pw secret token"
    ).split()
)
_SECRET_PAIRS = frozenset(
    tuple(pair.split("-"))
    for pair in (
        "access-key account-key api-key api-token app-key auth-key client-secret encryption-key "
        "hmac-key license-key master-key private-key secret-key service-key session-key "
        "shared-key signing-key webhook-secret connection-string conn-str"
    ).split()
)
_NOT_SECRET_LAST = frozenset(
    (
        "age alg algorithm alphabet arn at attempts backend builder button cache callback caption "
        "changed char chars charset check checker class column component config confirm "
        "confirmation count created days description desc detector dialog dir disabled display "
        "duration enabled encoder encoding endpoint entry env error errors event expiration "
        "expires expiry factory field fields file files filter flag form format generator handler "
        "hash hashed hasher header headers help hint host hours icon id ids input interval "
        "invalid iterations key keys kind label len length lifetime limit loader location manager "
        "mask matcher max message method middleware min mins minutes mode ms msg name names "
        "option options page param params parser path paths pattern placeholder plugin policy "
        "port prefix prompt provider rate ref regex required reset result retries rotation rounds "
        "rule salt schema scheme score scope scopes screen sec secs seconds serializer size source "
        "state status stdin store strategy strength suffix template text threshold timeout title "
        "tokens tooltip ttl type types updated uri url urls usage user username valid validation "
        "validator var verifier version view visible visibility widget"
    ).split()
)
# Words that end in `pass` but are not passwords.
_NOT_PASS = ("bypass", "compass", "surpass", "trespass", "overpass", "underpass", "bandpass")


def _word_kind(word: str) -> str | None:
    """The kind of secret one word of a name says, joined names included (`PGPASSWORD`,
    `DBPASS`, `rootpw`, `myApiKey`, `connstr`)."""
    if word in ("pass", "pwd", "pw", "contrasena") or "passw" in word or "passphrase" in word:
        return "password"
    if "passcode" in word or (word.endswith("pass") and not word.endswith(_NOT_PASS)):
        return "password"  # `DBPASS`, `PGPASS`, `rootpass`
    if word.endswith(("pwd", "pw")) and word != "oldpwd":
        return "password"
    if word in ("credential", "credentials", "creds"):
        return "secret"
    if "secret" in word and "secretar" not in word:
        return "secret"
    if "token" in word and "tokeni" not in word and not word.endswith("tokens"):
        return "token"
    if "apikey" in word:
        return "api-key"
    if word in ("dsn", "connstr", "connectionstring"):
        return "connection"
    return None


def _name_kind(name: str) -> str | None:
    """The kind of secret a name says it holds, or None when it says none. Of a dotted name,
    its last two parts say it (`spring.datasource.password`, `auth.token.value`; not
    `Token.Name.Builtin`, a path in a namespace)."""
    name = ".".join(name.split(".")[-2:])
    words = [w.lower() for w in _WORDS.findall(name.replace("ñ", "n"))]
    if not words:
        return None
    last = words[-1]
    pairs = set(itertools.pairwise(words))
    if last in _NOT_SECRET_LAST and not (last == "key" and pairs & _SECRET_PAIRS):
        return None
    kinds = {k for k in map(_word_kind, words) if k}
    if not kinds and not pairs & _SECRET_PAIRS:
        return None
    if ("connection", "string") in pairs or ("conn", "str") in pairs or kinds == {"connection"}:
        return "connection"
    if "aws" in words and ("secret" in kinds or ("access", "key") in pairs):
        return "aws-secret-key"
    if "password" in kinds:
        return "password"
    if ("api", "key") in pairs or "api-key" in kinds:
        return "api-key"
    if ("private", "key") in pairs:
        return "private-key"
    if "token" in kinds:
        return "token"
    return "secret"


def _assignments(line: str, form: str) -> Iterator[Secret]:
    covered = -1
    comment = len(line) if form == _PROSE else sentences.comment(line)
    matches = (
        *_ASSIGNMENT.finditer(line),
        *_ELEMENT.finditer(line),
        *_ARGUMENTS.finditer(line),
        *(_KEY_VALUE.finditer(line) if "value" in line else ()),
        *(_DOCKER_ENV.finditer(line) if form == _SHELL else ()),
    )
    for match in matches:
        if match.start() < covered:
            continue  # inside a value already taken whole (`A=b=c=…`)
        name = match["name"].lstrip("@$")
        kind = _name_kind(name)
        if match.re is _ARGUMENTS and (
            not _ends_in_secret_word(name)
            or (name[:1] != "-" and _LIST_BEFORE.search(line, 0, match.start()))
        ):
            continue  # `MovedAttribute("HTTPPasswordMgr", …)`, `("pass", "pwd")`: names
        quoted = _quoted(match)
        if comment is not None and match.start() >= comment:
            form = _PROSE  # a comment is written as prose, whatever the file
        if kind is None:
            if quoted is None and "bare" in match.re.groupindex and match["bare"]:
                bare = _bare_value(line, match.start("bare"), form, _in_string(line, match.start()))
                quoted = (bare[0], bare[1]) if bare else None
            if quoted is not None and _random_under_key_name(name, quoted[0]):
                value, start = quoted
                yield Secret("secret", start, start + len(value))
            continue
        if quoted is not None:
            value, start = quoted
        else:
            bare = _bare_value(line, match.start("bare"), form, _in_string(line, match.start()))
            if bare is None:
                continue
            value, start = bare
        if quoted is None:
            covered = start + len(value)  # judged whole: what is inside is part of it
        if kind == "connection":
            yield from _connection(value, start)
            continue
        sure = _judge(value, kind, form=form, quoted=quoted is not None)
        if sure is None or (match.re is _ARGUMENTS and not sure):
            continue
        yield Secret(kind, start, start + len(value), sure)


def _quoted(match: re.Match[str]) -> tuple[str, int] | None:
    """A match's quoted value and where it starts, if it is quoted."""
    for group in ("triple", "quoted"):
        if group in match.re.groupindex and match[group] is not None:
            return match[group], match.start(group)
    return None


# In config, a value ends at a comment (`  # …`); in a YAML flow collection, at `,` or `}`.
_CONFIG_END = re.compile(r"\s+[#;]\s|\s+#|\s*$")
_FLOW_END = re.compile(r"\s*[,}\]]|\s+#|\s*$")
_SHELL_WORD = re.compile(r"""(?:[^\s;&|()<>`"'\\]|\\.|"[^"\n]*"|'[^'\n]*')+""")
_STRING_VALUE = re.compile(r"[^\s\"'`,;&]+")
_PROSE_VALUE = re.compile(r"[^\s\"'`,;]+")


def _bare_value(line: str, at: int, form: str, in_string: bool) -> tuple[str, int] | None:
    """An unquoted value starting at `at` and where it starts, by how the file writes values:
    in a string, to the next separator (`;`, `&`, a quote); in config, the rest of the line;
    in shell, one shell word; in prose, one word. In code, outside a string, none: an
    unquoted value there is a name or an expression."""
    if in_string:
        match = _STRING_VALUE.match(line, at)
    elif form == _CONFIG:
        if line[at] == "#" and (at == 0 or line[at - 1].isspace()):
            return None  # `password: # set in CI`: a comment, no value
        flow = line.count("{", 0, at) > line.count("}", 0, at) or line.lstrip()[:1] == "["
        end = (_FLOW_END if flow else _CONFIG_END).search(line, at)
        value = line[at : end.start() if end else len(line)]
        if value[:1] in "{[" or (value[:1] in "\"'" and value[-1:] != value[:1]):
            return None  # a nested structure, or a quoted value continued on the next line
        return (value, at) if value else None
    elif form == _SHELL:
        match = _SHELL_WORD.match(line, at)
        if match and match[0][:1] in "\"'" and match[0][-1:] == match[0][:1]:
            return match[0][1:-1], at + 1
    elif form == _PROSE:
        match = _PROSE_VALUE.match(line, at)
        if match:
            value = match[0].rstrip(".:)]}?")
            return (value, at) if value else None
    else:
        return None
    if match is None:
        return None
    value = match[0]
    if form == _CODE or in_string:
        value = re.split(r"[)\]}>]", value, maxsplit=1)[0]
        if any(c in value for c in "([{"):
            return None  # a call or a subscript: `config["PASSWORD"]`
    return value, at


def _judge(value: str, kind: str, *, form: str, quoted: bool) -> bool | None:
    """Whether a value under a secret's name is one: None when it is not (a placeholder, a
    reference, a path), else whether it is sure enough to report (see bot.review.values)."""
    if placeholder(value) or path_like(value):
        return None
    if value.startswith("arn:") or value.startswith("<redacted") or _COLOUR.fullmatch(value):
        return None
    if kind != "password" and (_SPECIAL_TOKEN.fullmatch(value) or identifier_like(value)):
        return None  # `unk_token="[UNK]"`, `stop_token = "end_of_turn"`
    if form == _PROSE:
        code = any(c in value for c in "()[]=`")  # `ds.setPassword("…")` quoted in a sentence
        return True if credential_like(value) and not code else None
    if form == _CODE and quoted and not credential_like(value):
        if any(c.isspace() for c in value):
            return None  # a phrase: `"password": "a password"` maps names to descriptions
        if kind != "password" and value.isalpha() and value.islower() and len(value) <= 12:
            return None  # `SECRET_KEY = 'dev'`, `credentials: 'include'`: a word, not a key
    if form == _CODE and not quoted and _name_like(value):
        return None  # a bare value inside a string in code is more often a name
    return credential_like(value)


def _name_like(value: str) -> bool:
    """A reference, an environment variable's name, a type or a word: what an unquoted value
    in code is more often than a secret."""
    return bool(
        _REFERENCE.match(value)
        or _ENV_NAME.match(value)
        or value.isdigit()
        or (value.isalpha() and value.islower() and len(value) <= 12)
        or (value.isalpha() and value[0].isupper() and len(value) <= 24)
    )


_COLOUR = re.compile(r"(?:[a-z]+ )*#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_SPECIAL_TOKEN = re.compile(r"\[[A-Z_]+\]|<\|?[\w.\-]+\|?>|</?[a-z]{1,8}>")
_REFERENCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
# A password inside a connection string: `scott/tiger@db`, `user:pw@host` with no scheme.
_CONNECTION_PASSWORD = re.compile(
    r"(?:^|[\s;:=(])[\w.$#-]{1,64}[/:](?P<pw>[^@\s/;:'\"]{1,200})@[\w.\-\[]"
)


def _connection(value: str, at: int) -> Iterator[Secret]:
    """A connection string's password, where it is not written as `Password=` (found as an
    assignment) or in a URL with a scheme (found as a URL password)."""
    for match in _CONNECTION_PASSWORD.finditer(value):
        if not placeholder(match["pw"]):
            yield Secret("password", at + match.start("pw"), at + match.end("pw"))


_WEAK_LAST = frozenset({"key", "auth", "apikey", "secretkey"})


def _ends_in_secret_word(name: str) -> bool:
    words = _WORDS.findall(name)
    return bool(words) and (
        words[-1].lower() in _SECRET_WORDS | _WEAK_LAST or _word_kind(words[-1].lower()) is not None
    )


def _random_under_key_name(name: str, value: str) -> bool:
    """A name that ends in `key` or `auth` (`STRIPE_KEY`, `mapboxKey`, `"auth"` in a Docker
    config) holds a secret when its quoted value looks random: 16 or more characters, letters
    and digits, no spaces, and detect-secrets' base64 entropy of at least 3.5 bits. `sort_key =
    "created_at"` and `cache_key = "user:profile"` are left alone."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words or words[-1] not in _WEAK_LAST:
        return False
    if len(value) < 16 or any(c.isspace() for c in value) or placeholder(value):
        return False
    if path_like(value) or _REFERENCE.match(value) or identifier_like(value):
        return False
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    base64, _ = entropy_plugins()
    return base64.calculate_shannon_entropy(value) >= 3.5 and not _filtered(value, value)


def _in_string(line: str, at: int) -> bool:
    """Whether `at` is inside a quoted string (`"Server=db;Password=…"` in code), a template
    literal included."""
    if at and line[at - 1] in "\"'`":
        at -= 1  # the opening quote of a quoted name: `"password": …`
    before = line[:at].replace("\\\\", "").replace('\\"', "").replace("\\'", "")
    return any(before.count(q) % 2 == 1 for q in "\"'`")


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
        if not value or not _literal(value) or _filtered(value, line):
            continue
        start = match.start(group)
        if (
            _names_no_secret(line[:start])
            or _judge(value, "secret", form=_CODE, quoted=True) is None
        ):
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


def _literal(value: str) -> bool:
    """For detect-secrets' broad keyword rules, the old look: not a placeholder, a path, a
    reference, a type or a word (its own rules match `password: str` and `token = self.x`)."""
    if len(value) < 5 or placeholder(value) or path_like(value):
        return False
    if any(c.isspace() for c in value) or value.isdigit():
        return False
    if _REFERENCE.match(value) or _ENV_NAME.match(value):
        return False
    if value.isalpha() and value.islower() and len(value) <= 12:
        return False
    return not (value.isalpha() and value[0].isupper() and len(value) <= 24)


_NAME_BEFORE = re.compile(r"([A-Za-z_][\w.\-]*)[\"'\]]*\s*(?::=|=>|==?|:)\s*[\"'`]?$")


def _names_no_secret(before: str) -> bool:
    """Whether the name assigned to ends in a word that says it is not the secret itself
    (`private_key_id`, `password_file`), which detect-secrets' keyword rules match anyway."""
    match = _NAME_BEFORE.search(before[-200:])
    if match is None:
        return False
    words = _WORDS.findall(match[1])
    return bool(words) and words[-1].lower() in _NOT_SECRET_LAST - {"key", "keys"}


def _is_password_line(line: str) -> bool:
    lowered = line.lower()
    return any(word in lowered for word in ("password", "passwd", "pwd", "contrase"))


# --- calls, command lines, headers, query strings ----------------------------------------------

_QUOTED_ARG = r"""(?P<q>["'`])(?P<value>(?:\\.|(?!(?P=q))[^\\])+)(?P=q)"""
# A setter or builder given a password: `ds.setPassword("…")`, `.withApiKey('…')`,
# `.password("…")`.
_SETTER = re.compile(
    r"(?<![\w$])(?:(?:set|with|use|put)_?[A-Za-z_]*?(?:Password|password|Passwd|passwd|Passphrase"
    r"|passphrase|Secret|secret|Token|token|ApiKey|api_key|apiKey|Credentials?|credentials?)\s*"
    r"|(?<=\.)(?:password|passwd|passphrase))\(\s*" + _QUOTED_ARG + r"\s*[,)]"
)
# A login given a user and a password: `ftp.login("admin", "…")`, `auth=("user", "…")`,
# `HTTPBasicAuth("user", "…")`, `new NetworkCredential("user", "…")`.
_LOGIN_CALL = re.compile(
    r"(?i)(?<![\w$])(?:log_?in|sign_?in|authenticate|basic_?auth|http(?:basic|digest)auth"
    r"|networkcredential|usernamepasswordcredentials?|passwordcredentials?|passwordauthentication"
    r"|auth|credentials)"
    r"\s*(?:=\s*)?[(\[{]\s*(?P<uq>[\"'`])[^\"'`\n]{1,100}(?P=uq)\s*,\s*" + _QUOTED_ARG
)


# PowerShell's plain-text secure string: `ConvertTo-SecureString "…" -AsPlainText`.
_SECURE_STRING = re.compile(
    r"(?i)ConvertTo-SecureString\s+(?:-String\s+)?" + _QUOTED_ARG + r"\s+-AsPlainText"
)


def _calls(line: str) -> Iterator[Secret]:
    for pattern in (_SETTER, _LOGIN_CALL, _SECURE_STRING):
        for match in pattern.finditer(line):
            value = match["value"]
            sure = credential_like(value)
            if placeholder(value) or path_like(value) or (" " in value and not sure):
                continue
            yield Secret("password", match.start("value"), match.end("value"), sure)


# `.netrc` (`machine … login … password …`) and `curl -u user:password`.
_SPACED = re.compile(
    r"(?i)\blogin\s+\S+\s+password\s+(?P<bare>\S{1,200})"
    r"|(?:^|\s)(?:-u|--user)\s+[\"']?[^\s:'\"`]{1,100}:(?P<pw>[^\s'\"`]{1,200})"
)
_OPTION_VALUE = r"""(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s"'`;|&)]+)"""
# A long option whose name says it holds a secret: `--password=…`, `--api-key …`.
_LONG_OPTION = re.compile(
    r"(?<![\w-])--(?P<name>[A-Za-z][\w-]{1,40})(?P<join>=|[ \t]+)" + _OPTION_VALUE
)
# `-p` given a password: attached (`mysql -pPW`, `-p"PW"`), or after commands whose `-p` is a
# password (`sshpass -p PW`, `docker login -p PW`, `mongo -p PW`); `sqlcmd -P`, `redis-cli -a`.
_MYSQL = re.compile(r"(?i)\b(?:mysql\w*|mariadb[\w-]*)\b")
_SHORT_ATTACHED = re.compile(
    r"(?<![\w\"'-])-p(?P<value>\"[^\"\n]+\"|'[^'\n]+')"
    r"|(?<![\w-])-p(?P<bare>[^\s\"'`,;)-][^\s\"'`,;)]*)"
)
_SHORT_SPACED = re.compile(
    r"(?i)\b(?:sshpass|login|mongo\w*)\b[^|;&\n]*?(?<![\w-])-p[ \t]+"
    + _OPTION_VALUE
    + r"|\bsqlcmd\b[^|;&\n]*?(?<![\w-])-P[ \t]*"
    + _OPTION_VALUE.replace("value", "v2")
    + r"|\bredis-cli\b[^|;&\n]*?(?<![\w-])-a[ \t]+"
    + _OPTION_VALUE.replace("value", "v3")
)
# keytool's and jarsigner's `-storepass PW`, OpenSSL's `-passin pass:PW`.
_JAVA_TOOL_OPTION = re.compile(
    r"(?<![\w-])-(?:(?:src|dest|new)?storepass|(?:src|dest|new)?keypass|passin|passout|password)"
    r"[ \t]+(?:pass:)?" + _OPTION_VALUE
)
# A password piped to a login: `echo "PW" | docker login --password-stdin`.
_ECHO_STDIN = re.compile(
    r"\b(?:echo|printf)\s+(?:-n\s+)?" + _OPTION_VALUE + r"\s*\|[^|\n]*--password-stdin"
)
_SQLPLUS = re.compile(
    r"(?i)\b(?:sqlplus|rman|expdp|impdp|sqlldr)\s+(?:-\w+\s+)*[\"']?[\w$#]+/(?P<value>[^@\s\"'/]+)"
)


def _command_lines(line: str) -> Iterator[Secret]:
    for match in _SPACED.finditer(line):
        group = "bare" if match["bare"] else "pw"
        if _literal(match[group]):
            yield Secret("password", match.start(group), match.end(group))
    for match in _LONG_OPTION.finditer(line):
        if _name_kind(match["name"]) is None:
            continue
        yield from _option(match, "value", spaced=match["join"] != "=")
    if _MYSQL.search(line) or '-p"' in line or "-p'" in line:
        for match in _SHORT_ATTACHED.finditer(line):
            if match["value"]:
                yield from _option(match, "value", spaced=False, kind="password")
            elif _MYSQL.search(line):
                yield from _option(match, "bare", spaced=False, kind="password")
    for match in _SHORT_SPACED.finditer(line):
        group = next(g for g in ("value", "v2", "v3") if match[g])
        yield from _option(match, group, spaced=True, kind="password")
    for match in _SQLPLUS.finditer(line):
        yield from _option(match, "value", spaced=False, kind="password")
    for match in _JAVA_TOOL_OPTION.finditer(line):
        yield from _option(match, "value", spaced=False, kind="password")
    for match in _ECHO_STDIN.finditer(line):
        yield from _option(match, "value", spaced=False, kind="password")


def _option(
    match: re.Match[str], group: str, *, spaced: bool, kind: str | None = None
) -> Iterator[Secret]:
    """An option's value, unquoted: with a space before it (`--token VALUE`), it must look
    like a credential (`--password to set it` is a sentence); with `=` or attached, it only
    must not be a placeholder."""
    value, start = match[group], match.start(group)
    if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) > 1:
        value, start = value[1:-1], start + 1
    if not value or value.startswith("-") or placeholder(value) or path_like(value):
        return
    sure = credential_like(value)
    if spaced and not sure:
        return
    name_kind = _name_kind(match["name"]) if "name" in match.re.groupindex else None
    yield Secret(kind or name_kind or "password", start, start + len(value), sure)


_BEARER = re.compile(
    r"(?i)\b(?:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer|token|basic)\s+"
    r"(?P<v>[A-Za-z0-9._~+/\-]{12,}=*)"
    r"|\bbearer\s+(?P<b>[A-Za-z0-9._~+/\-]{24,}=*)"
)
_COOKIE = re.compile(r"(?i)\b(?:set-)?cookie[\"']?\s*[:=]\s*[\"']?(?P<pairs>[^\"'`\n]+)")
_COOKIE_PAIR = re.compile(r"(?:^|;)\s*(?P<name>[^=;\s]{1,80})=(?P<value>[^;\s\"'`]+)")
_COOKIE_ATTRIBUTES = frozenset("path domain expires max-age samesite secure httponly".split())


def _headers(line: str) -> Iterator[Secret]:
    for match in _BEARER.finditer(line):
        group = "v" if match["v"] else "b"
        value = match[group]
        if placeholder(value) or (group == "b" and not any(c.isdigit() for c in value)):
            continue  # "bearer" in prose is followed by words; in a header, by the credential
        yield Secret("bearer-token", match.start(group), match.end(group))
    for match in _COOKIE.finditer(line):
        at = match.start("pairs")
        for pair in _COOKIE_PAIR.finditer(match["pairs"]):
            value = pair["value"]
            if pair["name"].lower() in _COOKIE_ATTRIBUTES or len(value) < 8 or placeholder(value):
                continue
            sure = len(value) >= 12 and credential_like(value)
            yield Secret("cookie", at + pair.start("value"), at + pair.end("value"), sure)


# A query string's parameter (`?access_token=…`, `&sig=…`, `#access_token=…`), in any kind of
# string, template literals included.
_QUERY = re.compile(r"[?&#;](?P<name>[A-Za-z][\w.\-]{0,40})=(?P<value>[^&#\s\"'`<>;)]{4,})")
_SIGNATURES = frozenset({"sig", "signature", "x-amz-signature", "x-goog-signature"})
_QUERY_KEYS = frozenset({"key", "auth", "sas", "code_verifier"})


def _queries(line: str) -> Iterator[Secret]:
    for match in _QUERY.finditer(line):
        name, value = match["name"].lower(), match["value"]
        if placeholder(value) or value.startswith("<redacted"):
            continue
        if name in _SIGNATURES:
            kind: str | None = "signed-url"
        elif name in _QUERY_KEYS:
            kind = "secret" if len(value) >= 16 and credential_like(value) else None
        else:
            kind = _name_kind(match["name"])
            if kind == "connection":
                kind = None
        if kind is None:
            continue
        sure = credential_like(value) and not identifier_like(value)
        if not sure and kind != "password":
            continue  # `?token=refresh_token`: a parameter's ordinary value
        yield Secret(kind, match.start("value"), match.end("value"), sure)


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
        if _filtered(value, line) or placeholder(value) or word_like(value):
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
        if base64.calculate_shannon_entropy(value) < limit or _filtered(value, line):
            continue
        if word_like(re.sub(r"[0-9_\-]+", "", value)):
            continue  # `UserProfile2SettingsComponent`: words and a number, a name
        if "=" in value.rstrip("=") or _DATE.search(value):
            continue  # `expires_at=2026-01-01T00`: a field and a time
        yield Secret(HIGH_ENTROPY, match.start(), match.end())


def _named_line(line: str) -> bool:
    """Whether the line assigns to a secret-sounding name (whatever the value looks like)."""
    return bool(_SECRET_HINT.search(line)) and any(
        _name_kind(m["name"]) for m in _ASSIGNMENT.finditer(line)
    )


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
