"""What one file's changed lines hold: lines of substance, decision points, names, risks.

Pure: a FileChange in, FileStats out, over changed lines that are neither blank nor comments.
Scanning is done with C-speed string operations (translate, split, count) where a regex per
feature would cost more than parsing the diff. bot.core.complexity combines the files' stats.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections import Counter
from dataclasses import dataclass

from bot.core.diff import FileChange, Status

_DEFINING = frozenset(
    {
        "def",
        "class",
        "func",
        "function",
        "fn",
        "struct",
        "enum",
        "trait",
        "interface",
        "type",
        "module",
        "record",
    }
)
_CONSTANT_NAME = re.compile(r"[A-Z][A-Z0-9_]{3,}")
_MAX_CONSTANTS = 50
_PUBLIC_DEF_REMOVED = re.compile(
    r"(?m)^-(?:def [a-zA-Z]\w*\(|class [A-Za-z]\w*|func (?:\([^)\n]*\)\s*)?[A-Z]\w*\(|"
    r"export\s|pub\s+(?:fn|struct|enum|trait|mod|type)\s|\s*public\s|__all__\s*=)"
)
_NON_WORD = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")})
# Decision points, counted as cyclomatic complexity counts them (with `&&` and `||`).
_BRANCH_WORDS = ("if", "elif", "for", "while", "except", "catch", "case", "and", "or")
_STRING = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'")
_COMMENT = r"(?:#|//|/\*|\*/|\*(?:[ \t]|$)|\"\"\"|''')"
# Changed lines that are neither blank nor comment-only, sign included.
_CODE_LINE = re.compile(rf"(?m)^[-+](?![ \t\r\f\v]*$)(?![ \t]*{_COMMENT})[^\n]*")
_WORD = re.compile(r"\w+")
# Calls are counted on added lines only (the name of a definition on an added line is left out):
# in the reversed text, a `(`, spaces, then the name.
_CALLED_BACKWARDS = re.compile(r"\([ \t]*(\w+)")
_MINUS_BODY = re.compile(r"(?m)^-([^\n]*)")
_PLUS_BODY = re.compile(r"(?m)^\+([^\n]*)")
KEYWORDS = frozenset(
    "if elif else for while try except finally return raise with yield def class import from "
    "as in is not and or None True False self pass break continue lambda async await global "
    "nonlocal del assert func function fn var let const new this null nil true false void int "
    "str bool float public private protected static package switch case default catch throw "
    "throws struct type interface go defer range".split()
)
# Searched for in the distinct names a file's changed lines use, lowercased and space-joined:
# plain substrings, so one pass finds `check_password` and `OAuthClient` alike. `in` per term is
# about three times faster than one regular expression of the alternatives (no literal prefix
# for the engine to skip ahead with), measured on bench/score.py's synthetic diff.
_RISK_NAMES: dict[str, tuple[str, ...]] = {
    "auth": (
        "authenticat", "authoriz", "login", "logout", "passwd", "password", "credential",
        "secret", "apikey", "api_key", "access_token", "accesstoken", "oauth", "csrf",
        "permission", "privilege", "encrypt", "decrypt", "cipher", "bcrypt", "scrypt", "sanitiz",
        "hmac", "jwt", "saml", "rbac",
    ),
    "concurrency": (
        "thread", "mutex", "rlock", "semaphore", "atomic", "asyncio", "goroutine", "waitgroup",
        "concurren", "deadlock", "multiprocessing", "synchronized", "volatile",
    ),
}  # fmt: skip
# Names too short to search for as substrings: they must be whole names.
_RISK_EXACT_NAMES: dict[str, frozenset[str]] = {
    "auth": frozenset({"authn", "authz", "sha1", "sha256", "sha512", "md5", "acl"}),
    "concurrency": frozenset({"lock", "unlock", "chan", "await", "async"}),
}
# Files in languages we do not know (data, certificates, exotic formats) are measured by size
# but only this many of their changed lines are searched for names, logic and risks.
_UNKNOWN_LANGUAGE_LINES = 400
_RISK_PATH = re.compile(r"(?i)(^|/)[^/]*(auth(?!or)|login|security|crypto|permission|oauth|secret)")


@dataclass(frozen=True, slots=True)
class FileStats:
    """One file's changed lines of substance, whitespace-only pairs, decision points (on all
    changed lines, and on added lines alone), the names it uses and defines, the definitions whose
    signature line it edits (defined on a removed and on an added line), the names it calls on
    added lines (in program files outside tests), whether it removes a public definition, and the
    risky areas it names."""

    code_lines: int
    whitespace_pairs: int
    added_branches: int
    identifiers: frozenset[str]
    defined: frozenset[str]
    resigned: frozenset[str]
    calls: frozenset[str]
    api_changed: bool
    risk_hits: frozenset[str]


def file_stats(f: FileChange) -> FileStats:
    """Per-file counts over changed lines that are neither blank nor comments."""
    changed: list[str] = []
    whitespace_pairs = 0
    for hunk in f.hunks:
        lines = _CODE_LINE.findall("\n".join(hunk.lines))
        changed += lines
        if hunk.added and hunk.removed and lines:
            # A line removed and added back with only whitespace changed (re-indented or
            # re-wrapped) is no change to review.
            flat = "\n".join(lines).replace(" ", "").replace("\t", "").replace("\r", "")
            minus = _MINUS_BODY.findall(flat)
            if minus:
                plus = _PLUS_BODY.findall(flat)
                if not set(minus).isdisjoint(plus):
                    whitespace_pairs += sum((Counter(minus) & Counter(plus)).values())
    if f.status is Status.DELETED:
        # A deleted file is weighed by size; its names and logic are gone from the program.
        return FileStats(
            code_lines=len(changed),
            whitespace_pairs=0,
            added_branches=0,
            identifiers=frozenset(),
            defined=frozenset(),
            resigned=frozenset(),
            calls=frozenset(),
            api_changed=f.kind.is_code and bool(_PUBLIC_DEF_REMOVED.search("\n".join(changed))),
            risk_hits=frozenset(),
        )
    sample = changed if f.kind.language else changed[:_UNKNOWN_LANGUAGE_LINES]
    # Added and removed lines are read apart (the same work as once together), so that the
    # decision points and calls of the added lines are known on their own.
    added_mask = [line[0] == "+" for line in sample]  # every changed line has its sign
    added_text = "\n".join(itertools.compress(sample, added_mask))
    removed_text = "\n".join(itertools.compress(sample, map(operator.not_, added_mask)))
    added, removed = _code(added_text), _code(removed_text)
    added_tokens = _tokens(added)
    added_counts = Counter(added_tokens)
    added_branches = _branches(added_counts, added)
    removed_tokens = _tokens(removed)
    removed_counts = Counter(removed_tokens)
    identifiers = frozenset(added_counts).union(removed_counts)
    added_defined = _keyword_defined(added_tokens, added_counts)
    removed_defined = _keyword_defined(removed_tokens, removed_counts)
    constants = _constants(added_counts, removed_counts, f"{added_text}\n{removed_text}")
    defined = added_defined | removed_defined | constants
    # Calls are what the change asks of the code it calls: read outside tests only.
    reads_calls = f.kind.is_program and not f.kind.test
    calls = _calls(added) - added_defined if reads_calls and "(" in added else frozenset()
    lowered = " ".join(identifiers).lower()
    names = frozenset(lowered.split())
    risk_hits = {
        risk
        for risk, terms in _RISK_NAMES.items()
        if any(term in lowered for term in terms) or not names.isdisjoint(_RISK_EXACT_NAMES[risk])
    }
    if _RISK_PATH.search(f.path):
        risk_hits.add("auth")
    return FileStats(
        code_lines=max(len(changed) - 2 * whitespace_pairs, 0),
        whitespace_pairs=whitespace_pairs,
        added_branches=added_branches,
        identifiers=identifiers,
        defined=frozenset(defined),
        resigned=frozenset(added_defined & removed_defined),
        calls=calls,
        api_changed=f.kind.is_code and bool(_PUBLIC_DEF_REMOVED.search(removed_text)),
        risk_hits=frozenset(risk_hits),
    )


def _code(text: str) -> str:
    """Text with its string literals emptied: their words are not names or logic."""
    return _STRING.sub('""', text) if ("'" in text or '"' in text) else text


def _tokens(code: str) -> list[str]:
    """The words of code: translate is the fastest tokenizer for ASCII text only; other text
    takes the regex."""
    return code.translate(_NON_WORD).split() if code.isascii() else _WORD.findall(code)


def _branches(counts: Counter[str], code: str) -> int:
    """Decision points in code whose words are counted in `counts`."""
    found = sum(counts[word] for word in _BRANCH_WORDS if word in counts)
    return found + code.count("&&") + code.count("||")


def _keyword_defined(tokens: list[str], counts: Counter[str]) -> set[str]:
    """Names the tokens define: the word after `def`, `class`, `func`, …"""
    defined: set[str] = set()
    keywords = _DEFINING.intersection(counts)
    if not keywords:
        return defined
    spaced = f" {' '.join(tokens)} "
    for keyword in keywords:
        for after in spaced.split(f" {keyword} ")[1:]:
            name = after.split(" ", 1)[0]
            if len(name) > 2 and not name[0].isdigit():
                defined.add(name)
    return defined


def _calls(added: str) -> frozenset[str]:
    """Names called on added lines: the name right before each `(` (spaces allowed between),
    keywords left out. Read backwards, where each `(` comes first: a regular expression finds a
    literal first character fast, and the name after it with no backtracking."""
    backwards = set(_CALLED_BACKWARDS.findall(added[::-1]))
    return frozenset(n[::-1] for n in backwards if not n[-1].isdigit()) - KEYWORDS


def _constants(added: Counter[str], removed: Counter[str], text: str) -> set[str]:
    """UPPER_CASE constants assigned on a changed line (the first ones met, added lines first)."""
    seen = itertools.chain(added, (n for n in removed if n not in added))
    constants = [n for n in seen if len(n) > 3 and n.isupper() and _CONSTANT_NAME.fullmatch(n)]
    return {
        name
        for name in constants[:_MAX_CONSTANTS]
        if f"{name} =" in text or f"{name}=" in text or f"{name}:" in text
    }
