"""Secrets written in sentences: a pull request's title and body, an `/ask` question, thread
text, docs, and code comments.

Pure. detect-secrets' keyword rules want code (`password = "…"`) and its entropy limits want
long random strings; a person writes `Please use password T0T2T7oKNYNQdsWoAFEH for staging`,
`the api key is 23ee…`, `creds: admin / J7qrtoZQpCQe` or ``login with `root:…` ``. Here a
secret word (password, passwd, pw, pass, passphrase, token, api key, secret, credentials,
creds, key, …) followed by `is`, `:`, `=` or a space takes the next word when it looks like a
credential and not like an ordinary word; `user:password` and `user / password` pairs after
such a word (or after `login`) are passwords.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.core.secrets.values import credential_like, path_like, placeholder, word_like

_WORD = (
    r"(?P<word>passwords?|passwd|passphrase|passcode|pass|pwd|pw|pin|tokens?|api[ _-]?keys?"
    r"|apikey|secrets?|credentials?|creds|keys?|login|log[ -]?in|sign[ -]?in)"
)
# A secret word, what joins it to its value, and the value (maybe quoted or in backticks).
_SAID = re.compile(
    rf"(?i)(?<![\w-]){_WORD}(?![\w-])(?P<join>\s*(?:(?:is|was)\b\s*:?|:=|=>|->|[=:])\s*|\s+)"
    r"(?P<quote>[`'\"]?)(?P<value>[^\s`'\"]+)"
)
# `user:password`, `user / password` after a secret word (not `a/b`: `and/or`, `client/server`).
_PAIR = re.compile(
    r"(?<![\w.@+/:-])(?P<user>[\w.@+-]{1,64})(?:[ \t]+/[ \t]+|:[ \t]*)"
    r"(?P<pw>[A-Za-z0-9!#$%^&*+=.,?~@_-]+)(?![^\s`'\"])"
)
# The other order: "use Xk8… as the password".
_USED_AS = re.compile(
    r"(?i)\b(?:use|try|set|enter|type)\s+(?P<value>[`'\"]?[^\s`'\"]{6,}[`'\"]?)\s+as\s+"
    r"(?:the\s+|your\s+|a\s+)?(?:\w+\s+)?" + _WORD
)
_HASH_WORDS = re.compile(r"(?i)sha[0-9-]*|md5|hash|digest|checksum|commit|fingerprint|\bsum\b")
_HEX = re.compile(r"[0-9a-f]{32,64}|[0-9A-F]{32,64}")
_TRAILING = ".,;:)]}?>"
_PASSWORD_WORDS = ("pass", "pw", "pwd", "pin")
_LOGIN_WORDS = ("login", "log in", "log-in", "sign in", "sign-in", "signin")


def said(text: str) -> Iterator[tuple[str, int, int, bool]]:
    """Each secret written in `text` (a sentence, a comment): its kind, start, end, and
    whether it is sure enough to report as committed."""
    for match in _USED_AS.finditer(text):
        value = match["value"].strip("`'\"")
        if credential_like(value) and not (placeholder(value) or _code(value)):
            start = match.start("value") + match["value"].index(value)
            yield _kind(match["word"].lower()), start, start + len(value), True
    if not _SAID.search(text):
        return
    for match in _SAID.finditer(text):
        word = match["word"].lower()
        kind = _kind(word)
        after = match.end("word")
        if word not in _LOGIN_WORDS:
            found = _value(match, word, text)
            if found is not None:
                yield kind, *found
                continue
        if word.startswith(("key", "pin")):
            continue
        pair = _PAIR.search(text, after, min(len(text), after + 80))
        if pair is None:
            continue
        pw = pair["pw"].rstrip(_TRAILING)
        if "@" in pw:
            pw = pw[: pw.rindex("@")]  # `root:pw@db`: the host is not the password
        if credential_like(pw) and not (placeholder(pw) or path_like(pw) or _code(pw)):
            yield "password", pair.start("pw"), pair.start("pw") + len(pw), True


def _kind(word: str) -> str:
    if word.startswith(_PASSWORD_WORDS) or word in _LOGIN_WORDS:
        return "password"
    if word.startswith("token"):
        return "token"
    if word.startswith("api") and "key" in word:
        return "api-key"
    return "secret"


def _value(match: re.Match[str], word: str, text: str) -> tuple[int, int, bool] | None:
    value = match["value"]
    if match["quote"] and value.endswith(match["quote"]):
        value = value[:-1]
    value = value.rstrip(_TRAILING)
    if not value or placeholder(value) or path_like(value) or _code(value):
        return None
    if ":" in value:
        return None  # `user:pass` is a pair, not one value
    explicit = bool(match["join"].strip())
    hexadecimal = bool(_HEX.fullmatch(value)) and not _HASH_WORDS.search(text)
    if explicit:
        if not _stated(word, value, hexadecimal=hexadecimal):
            return None
    elif match["quote"]:
        if not credential_like(value):
            return None  # quoted after the word ("the secret `…`"), it is meant as a value
    elif not (_strong(value) or (hexadecimal and not word.startswith(("key", "pin")))):
        return None
    start = match.start("value")
    return start, start + len(value), True


def _stated(word: str, value: str, *, hexadecimal: bool) -> bool:
    """Whether a value stated as a secret word's (`pw: …`, `the key is …`) is a credential."""
    if word == "pin" and value.isdigit() and 4 <= len(value) <= 12:
        return True  # "the PIN is 4821"
    if word.startswith(("key", "pin")):
        return hexadecimal or _strong(value)  # "key: value", "Key: the function …" are words
    if not (credential_like(value) or hexadecimal):
        return False
    # "tokens: ATATT3, …": a prefix or a name; a token is longer than a password may be.
    return len(value) >= 8 or word.startswith(_PASSWORD_WORDS)


def _code(value: str) -> bool:
    """Code quoted in a sentence (`ds.setPassword(`, `--password=…`), not a value."""
    return any(c in value for c in "()[]{}=<>") or bool(_DOTTED.fullmatch(value))


_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def _strong(value: str) -> bool:
    """A value with no `is`/`:` before it must look random on its own: eight or more
    characters mixing cases with digits or symbols, digits with symbols, or twelve letters in
    no word's case; with none of `=`, `/`, `.`, `@` that would make it an assignment, a path,
    a file name or an address."""
    if len(value) < 8 or any(c in value for c in "=/.@"):
        return False
    digits = any(c.isdigit() for c in value)
    upper = any(c.isupper() for c in value)
    lower = any(c.islower() for c in value)
    symbol = any(not c.isalnum() and c not in "_-" for c in value)
    if upper and lower and (digits or symbol):
        return True
    return (digits and symbol) or (upper and lower and len(value) >= 12 and not word_like(value))


_COMMENT = re.compile(r"^\s*(?:#+|//+|/\*+|\*+|--|;+|<!--|%|REM\b)|\s(?:#+|//+)\s")


def comment(line: str) -> int | None:
    """Where the comment in a line of code or config starts, if it has one."""
    match = _COMMENT.search(line)
    return match.end() if match else None
