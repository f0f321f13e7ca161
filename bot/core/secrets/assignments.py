"""Secrets assigned to names that say what they hold: `SESSION_SECRET=…`, `"api-key": …`,
`<password>…</password>`, `define('DB_PASSWORD', …)`, `<add key="ApiKey" value="…" />`.

Pure. detect-secrets' keyword rules need a word boundary or quotes these lines lack, stop a value
at characters a password may hold (`,`, `;`, `'`, a space), cap its length, and let through
values a person chose because they do not look random. Here:

- a name's secret word is found inside joined names too (`PGPASSWORD`, `DBPASS`, `rootpw`,
  `db_pw`, `myApiKey`, `connection_string`), unless its last word says it is about the secret,
  not the secret (`password_file`, `token_ttl`, `secret_name`); of a dotted name, its last two
  parts count (`spring.datasource.password`, not `Token.Name.Builtin`);
- the value is the whole quoted string (triple quotes too), with no length cap; unquoted, in
  config files (`.env`, YAML, TOML, INI, properties) it is the rest of the line, in shell one
  shell word, in prose one word; in code an unquoted value is a name or an expression and
  counts only inside a string (`"Server=db;Password=…"`);
- it is a secret unless it is exactly a placeholder, template or reference
  (bot.core.secrets.values), a colour, a tokenizer's special token (`unk_token="[UNK]"`), a
  lowercase
  identifier under a `*_token` or `*_key` name (`stop_token = "end_of_turn"`), an ARN, or in
  code a phrase or a short lowercase word under a key or token name (`SECRET_KEY = 'dev'`);
  whether it is reported as committed, or only redacted, depends on how much it looks like a
  credential (`credential_like`);
- a name that only ends in `key` or `auth` counts when its value looks random; a connection
  string's name makes its `user/password@host` part a password.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from bot.core.secrets import sentences
from bot.core.secrets.finds import CODE, CONFIG, PROSE, SHELL, Secret
from bot.core.secrets.formats import entropy_plugins
from bot.core.secrets.values import (
    credential_like,
    filtered,
    identifier_like,
    name_like,
    path_like,
    placeholder,
    reference,
)

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


def name_kind(name: str) -> str | None:
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


def assignments(line: str, form: str) -> Iterator[Secret]:
    covered = -1
    comment = len(line) if form == PROSE else sentences.comment(line)
    matches = (
        *_ASSIGNMENT.finditer(line),
        *_ELEMENT.finditer(line),
        *_ARGUMENTS.finditer(line),
        *(_KEY_VALUE.finditer(line) if "value" in line else ()),
        *(_DOCKER_ENV.finditer(line) if form == SHELL else ()),
    )
    for match in matches:
        if match.start() < covered:
            continue  # inside a value already taken whole (`A=b=c=…`)
        name = match["name"].lstrip("@$")
        kind = name_kind(name)
        if match.re is _ARGUMENTS and (
            not _ends_in_secret_word(name)
            or (name[:1] != "-" and _LIST_BEFORE.search(line, 0, match.start()))
        ):
            continue  # `MovedAttribute("HTTPPasswordMgr", …)`, `("pass", "pwd")`: names
        quoted = _quoted(match)
        if comment is not None and match.start() >= comment:
            form = PROSE  # a comment is written as prose, whatever the file
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
        sure = judge(value, kind, form=form, quoted=quoted is not None)
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
    elif form == CONFIG:
        if line[at] == "#" and (at == 0 or line[at - 1].isspace()):
            return None  # `password: # set in CI`: a comment, no value
        flow = line.count("{", 0, at) > line.count("}", 0, at) or line.lstrip()[:1] == "["
        end = (_FLOW_END if flow else _CONFIG_END).search(line, at)
        value = line[at : end.start() if end else len(line)]
        if value[:1] in "{[" or (value[:1] in "\"'" and value[-1:] != value[:1]):
            return None  # a nested structure, or a quoted value continued on the next line
        return (value, at) if value else None
    elif form == SHELL:
        match = _SHELL_WORD.match(line, at)
        if match and match[0][:1] in "\"'" and match[0][-1:] == match[0][:1]:
            return match[0][1:-1], at + 1
    elif form == PROSE:
        match = _PROSE_VALUE.match(line, at)
        if match:
            value = match[0].rstrip(".:)]}?")
            return (value, at) if value else None
    else:
        return None
    if match is None:
        return None
    value = match[0]
    if form == CODE or in_string:
        value = re.split(r"[)\]}>]", value, maxsplit=1)[0]
        if any(c in value for c in "([{"):
            return None  # a call or a subscript: `config["PASSWORD"]`
    return value, at


def judge(value: str, kind: str, *, form: str, quoted: bool) -> bool | None:
    """Whether a value under a secret's name is one: None when it is not (a placeholder, a
    reference, a path), else whether it is sure enough to report (see bot.core.secrets.values)."""
    if placeholder(value) or path_like(value):
        return None
    if value.startswith("arn:") or value.startswith("<redacted") or _COLOUR.fullmatch(value):
        return None
    if kind != "password" and (_SPECIAL_TOKEN.fullmatch(value) or identifier_like(value)):
        return None  # `unk_token="[UNK]"`, `stop_token = "end_of_turn"`
    if form == PROSE:
        code = any(c in value for c in "()[]=`")  # `ds.setPassword("…")` quoted in a sentence
        return True if credential_like(value) and not code else None
    if form == CODE and quoted and not credential_like(value):
        if any(c.isspace() for c in value):
            return None  # a phrase: `"password": "a password"` maps names to descriptions
        if kind != "password" and value.isalpha() and value.islower() and len(value) <= 12:
            return None  # `SECRET_KEY = 'dev'`, `credentials: 'include'`: a word, not a key
    if form == CODE and not quoted and name_like(value):
        return None  # a bare value inside a string in code is more often a name
    return credential_like(value)


_COLOUR = re.compile(r"(?:[a-z]+ )*#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_SPECIAL_TOKEN = re.compile(r"\[[A-Z_]+\]|<\|?[\w.\-]+\|?>|</?[a-z]{1,8}>")
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


_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_WEAK_LAST = frozenset({"key", "auth", "apikey", "secretkey"})


def _ends_in_secret_word(name: str) -> bool:
    words = _WORDS.findall(name)
    return bool(words) and (
        words[-1].lower() in _SECRET_WORDS | _WEAK_LAST or _word_kind(words[-1].lower()) is not None
    )


def _random_under_key_name(name: str, value: str) -> bool:
    """A name that ends in `key` or `auth` (`STRIPE_KEY`, `mapboxKey`, `"auth"` in a Docker
    config, `_auth=` in `.npmrc`) holds a secret when its value looks random: 16 or more
    characters, letters and digits, no spaces, and detect-secrets' base64 entropy of at least
    3.5 bits. `sort_key = "created_at"`, `cache_key = "user:profile"` and a digest under a bare
    `key` (`key: 3f7868…`, a cache key or a commit) are left alone."""
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words or words[-1] not in _WEAK_LAST:
        return False
    if _HEX.fullmatch(value) and (len(words) == 1 or len(value) in (40, 64)):
        return False
    if len(value) < 16 or any(c.isspace() for c in value) or placeholder(value):
        return False
    if path_like(value) or reference(value) or identifier_like(value):
        return False
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    base64, _ = entropy_plugins()
    return base64.calculate_shannon_entropy(value) >= 3.5 and not filtered(value, value)


def _in_string(line: str, at: int) -> bool:
    """Whether `at` is inside a quoted string (`"Server=db;Password=…"` in code), a template
    literal included."""
    if at and line[at - 1] in "\"'`":
        at -= 1  # the opening quote of a quoted name: `"password": …`
    before = line[:at].replace("\\\\", "").replace('\\"', "").replace("\\'", "")
    return any(before.count(q) % 2 == 1 for q in "\"'`")


_NAME_BEFORE = re.compile(r"([A-Za-z_][\w.\-]*)[\"'\]]*\s*(?::=|=>|==?|:)\s*[\"'`]?$")


def names_no_secret(before: str) -> bool:
    """Whether the name assigned to ends in a word that says it is not the secret itself
    (`private_key_id`, `password_file`), which detect-secrets' keyword rules match anyway."""
    match = _NAME_BEFORE.search(before[-200:])
    if match is None:
        return False
    words = _WORDS.findall(match[1])
    return bool(words) and words[-1].lower() in _NOT_SECRET_LAST - {"key", "keys"}


def named_line(line: str) -> bool:
    """Whether the line assigns to a secret-sounding name (whatever the value looks like)."""
    return any(name_kind(m["name"]) for m in _ASSIGNMENT.finditer(line))
