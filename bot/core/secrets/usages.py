"""Secrets where they are used: passed to calls, on command lines, in headers and in URLs'
query strings.

Pure. detect-secrets looks for names followed by `=` or `:`; a secret handed to a program has
none: `ds.setPassword("…")`, `ftp.login("admin", "…")`, `auth=("svc", "…")`,
`mysql -u root -p…`, `sshpass -p "…"`, `--password=…`, `--api-key …`, `keytool -storepass …`,
`openssl … -passin pass:…`, `echo "…" | docker login --password-stdin`,
`ConvertTo-SecureString "…" -AsPlainText`, `Cookie: session=…`, `?access_token=…`, `&sig=…`
(in any kind of string, template literals included). With a space before it, an option's value
must look like a credential (`--password to set it` is a sentence); `-p` counts where it means
a password (`mysql`, `sshpass`, logins, `mongo`), not in `mkdir -p` or `ssh -p 22`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.core.secrets.assignments import name_kind
from bot.core.secrets.finds import Secret
from bot.core.secrets.values import (
    credential_like,
    identifier_like,
    literal,
    path_like,
    placeholder,
)

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


def calls(line: str) -> Iterator[Secret]:
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


def command_lines(line: str) -> Iterator[Secret]:
    for match in _SPACED.finditer(line):
        group = "bare" if match["bare"] else "pw"
        if literal(match[group]):
            yield Secret("password", match.start(group), match.end(group))
    for match in _LONG_OPTION.finditer(line):
        if name_kind(match["name"]) is None:
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
    named = name_kind(match["name"]) if "name" in match.re.groupindex else None
    yield Secret(kind or named or "password", start, start + len(value), sure)


_BEARER = re.compile(
    r"(?i)\b(?:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer|token|basic)\s+"
    r"(?P<v>[A-Za-z0-9._~+/\-]{12,}=*)"
    r"|\bbearer\s+(?P<b>[A-Za-z0-9._~+/\-]{24,}=*)"
)
_COOKIE = re.compile(r"(?i)\b(?:set-)?cookie[\"']?\s*[:=]\s*[\"']?(?P<pairs>[^\"'`\n]+)")
_COOKIE_PAIR = re.compile(r"(?:^|;)\s*(?P<name>[^=;\s]{1,80})=(?P<value>[^;\s\"'`]+)")
_COOKIE_ATTRIBUTES = frozenset("path domain expires max-age samesite secure httponly".split())


def headers(line: str) -> Iterator[Secret]:
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


def queries(line: str) -> Iterator[Secret]:
    for match in _QUERY.finditer(line):
        name, value = match["name"].lower(), match["value"]
        if placeholder(value) or value.startswith("<redacted"):
            continue
        if name in _SIGNATURES:
            kind: str | None = "signed-url"
        elif name in _QUERY_KEYS:
            kind = "secret" if len(value) >= 16 and credential_like(value) else None
        else:
            kind = name_kind(match["name"])
            if kind == "connection":
                kind = None
        if kind is None:
            continue
        sure = credential_like(value) and not identifier_like(value)
        if not sure and kind != "password":
            continue  # `?token=refresh_token`: a parameter's ordinary value
        yield Secret(kind, match.start("value"), match.end("value"), sure)
