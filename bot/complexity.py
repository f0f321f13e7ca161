"""How much reasoning a change needs to review: a 0-100 score, the features behind it, and reasons.

Pure: a ChangeSet in, a Complexity out. The score grows with the size that matters (changed
code lines outside generated files, blanks, comments and whitespace-only edits), with the
logic in it (decision points, distinct names), with how cross-cutting the change is (files,
areas, languages, names defined in one changed file and used in another) and with risky areas
(auth and crypto, migrations, concurrency, CI and deployment, public API). Known easy patterns
(docs only, tests only, whitespace or typo only, a dependency bump, renames, generated files)
cap it. The core weights are calibrated on labelled real patches: `bench/calibration.py`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from bot.cost import CHARS_PER_TOKEN
from bot.counts import counted
from bot.diff import ChangeSet, FileChange, Status

# How much a changed line of each kind counts toward size, against a line of code.
_WEIGHT_CODE = 1.0
_WEIGHT_CONFIG = 0.7
_WEIGHT_TEST = 0.5
_WEIGHT_DOCS = 0.25

# Points on the 0-100 scale per unit of the log-scaled sum below.
_SCALE = 9.0

# Caps for the easy patterns: the most such a change may score, however large.
_CAPS: dict[str, int] = {
    "whitespace-only": 5,
    "generated-only": 5,
    "rename-only": 10,
    "typo-only": 10,
    "docs-only": 20,
    "dependency-bump": 25,
    "tests-only": 40,
}

# Extra log-units for each risky area a change touches.
_RISK_POINTS: dict[str, float] = {
    "migration": 1.2,
    "auth": 1.0,
    "concurrency": 0.8,
    "ci": 0.8,
    "public-api": 0.6,
}

# Characters per token for the context estimate: the one estimate the cost module uses too.
_CHARS_PER_TOKEN = float(CHARS_PER_TOKEN)
_TOKENS_PER_FILE = 40
_TOKENS_FIXED = 600

_GENERIC_ROOTS = frozenset(
    {
        "src",
        "lib",
        "libs",
        "pkg",
        "internal",
        "app",
        "apps",
        "packages",
        "source",
        "sources",
        "python",
        "main",
        "java",
        "kotlin",
        "go",
        "cmd",
        "modules",
        "crates",
        "components",
    }
)

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
_MINUS_BODY = re.compile(r"(?m)^-([^\n]*)")
_PLUS_BODY = re.compile(r"(?m)^\+([^\n]*)")
_KEYWORDS = frozenset(
    "if elif else for while try except finally return raise with yield def class import from "
    "as in is not and or None True False self pass break continue lambda async await global "
    "nonlocal del assert func function fn var let const new this null nil true false void int "
    "str bool float public private protected static package switch case default catch throw "
    "throws struct type interface go defer range".split()
)
# Searched for in the distinct names a file's changed lines use, lowercased and space-joined:
# plain substrings, so one pass finds `check_password` and `OAuthClient` alike.
_RISK_NAMES: dict[str, re.Pattern[str]] = {
    "auth": re.compile(
        "authenticat|authoriz|login|logout|passwd|password|credential|secret|apikey|api_key|"
        "access_token|accesstoken|oauth|csrf|permission|privilege|encrypt|decrypt|cipher|"
        "bcrypt|scrypt|sanitiz|hmac|jwt|saml|rbac"
    ),
    "concurrency": re.compile(
        "thread|mutex|rlock|semaphore|atomic|asyncio|goroutine|waitgroup|concurren|deadlock|"
        "multiprocessing|synchronized|volatile"
    ),
}
# Names too short to search for as substrings: they must be whole names.
_RISK_EXACT_NAMES: dict[str, frozenset[str]] = {
    "auth": frozenset({"authn", "authz", "sha1", "sha256", "sha512", "md5", "acl"}),
    "concurrency": frozenset({"lock", "unlock", "chan", "await", "async"}),
}
# Files in languages we do not know (data, certificates, exotic formats) are measured by size
# but only this many of their changed lines are searched for names, logic and risks.
_UNKNOWN_LANGUAGE_LINES = 400
_RISK_PATH = re.compile(r"(?i)(^|/)[^/]*(auth(?!or)|login|security|crypto|permission|oauth|secret)")
_VERSION_LINE = re.compile(
    r"""^[-+]\s*["']?[\w.@/\-\[\]]+["']?\s*(?:[:=<>~^!]=?|@|\s)\s*["']?[v^~<>=!]*\d[\w.\-+*]*["']?,?\s*$"""
)


@dataclass(frozen=True, slots=True)
class Complexity:
    """The score (0-100, higher needs more reasoning), the features it used, and why."""

    score: int
    features: dict[str, int | float | list[str]] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()

    @property
    def context_tokens(self) -> int:
        value = self.features.get("context_tokens", 0)
        return int(value) if isinstance(value, int | float) else 0


def area_of(path: str) -> str:
    """The top-level area a path belongs to: its first two meaningful directories."""
    parts = [p for p in PurePosixPath(path).parts[:-1] if p not in ("/", ".")]
    while parts and parts[0].lower() in _GENERIC_ROOTS:
        parts = parts[1:]
    return "/".join(parts[:2]) + "/" if parts else "(root)"


def score(changes: ChangeSet) -> Complexity:
    """Score a ChangeSet: see the module docstring for the signals and how they combine."""
    files = changes.files
    reviewable = [f for f in files if not f.kind.generated]
    stats = [_file_stats(f) for f in reviewable]

    weighted = sum(s.code_lines * _weight(f) for f, s in zip(reviewable, stats, strict=True))
    # Names and decision points are counted in program text (code and tests), not in docs,
    # config, CI files or deleted files.
    logic = [
        s
        for f, s in zip(reviewable, stats, strict=True)
        if _is_program(f) and f.status is not Status.DELETED
    ]
    names = frozenset().union(*(s.identifiers for s in logic)) - _KEYWORDS
    branches = sum(s.branches for s in logic)
    code_files = [f for f in reviewable if _is_logic(f)]
    areas = sorted({area_of(f.path) for f in code_files})
    languages = sorted({f.kind.language for f in code_files if f.kind.language})
    coupling = _coupling(stats)
    risks = _risks(reviewable, stats)
    patterns = _easy_patterns(reviewable, stats)

    raw = (
        math.log1p(weighted)
        + 0.5 * math.log1p(len(names))
        + 0.5 * math.log1p(branches)
        + 0.5 * math.log(max(1, len(reviewable)))
        + 0.8 * math.log1p(max(len(areas) - 1, 0))
        + 0.5 * math.log1p(max(len(languages) - 1, 0))
        + 0.5 * math.log1p(coupling)
        + sum(_RISK_POINTS[name] for name in risks)
    )
    cap = min((_CAPS[p] for p in patterns), default=100)
    value = min(100, cap, round(_SCALE * raw))

    features: dict[str, int | float | list[str]] = {
        "files": len(files),
        "reviewable_files": len(reviewable),
        "additions": changes.added,
        "deletions": changes.removed,
        "code_lines": sum(s.code_lines for s in stats),
        "weighted_lines": round(weighted, 1),
        "whitespace_only_lines": 2 * sum(s.whitespace_pairs for s in stats),
        "generated_lines": sum(f.added + f.removed for f in files if f.kind.generated),
        "hunks": sum(len(f.hunks) for f in reviewable),
        "branches": branches,
        "names": len(names),
        "areas": areas,
        "languages": languages,
        "coupling": coupling,
        "risks": sorted(risks),
        "patterns": list(patterns),
        "context_tokens": _context_tokens(reviewable),
    }
    return Complexity(
        score=value,
        features=features,
        reasons=_reasons(features, risks, patterns, files),
        patterns=patterns,
        risks=tuple(sorted(risks)),
    )


@dataclass(frozen=True, slots=True)
class _Stats:
    code_lines: int
    whitespace_pairs: int
    branches: int
    identifiers: frozenset[str]
    defined: frozenset[str]
    api_changed: bool
    risk_hits: frozenset[str]


def _weight(f: FileChange) -> float:
    kind = f.kind
    if kind.docs or f.status is Status.DELETED:
        return _WEIGHT_DOCS
    if kind.test:
        return _WEIGHT_TEST
    if kind.migration or kind.is_code:
        return _WEIGHT_CODE
    return _WEIGHT_CONFIG


def _is_program(f: FileChange) -> bool:
    kind = f.kind
    return kind.is_program and not (kind.docs or kind.ci or kind.build)


def _is_logic(f: FileChange) -> bool:
    """Program source: what areas and languages are counted over (not tests, docs or config)."""
    kind = f.kind
    return (kind.is_code or kind.migration) and not (
        kind.test or kind.docs or kind.ci or kind.build
    )


def _file_stats(f: FileChange) -> _Stats:
    """Per-file counts over changed lines that are neither blank nor comments.

    Scanning is done with C-speed string operations (translate, split, count) where a regex
    per feature would cost more than parsing the diff.
    """
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
            plus = _PLUS_BODY.findall(flat)
            common = set(minus).intersection(plus)
            if common:
                whitespace_pairs += sum(min(minus.count(c), plus.count(c)) for c in common)
    if f.status is Status.DELETED:
        # A deleted file is weighed by size; its names and logic are gone from the program.
        return _Stats(
            code_lines=len(changed),
            whitespace_pairs=0,
            branches=0,
            identifiers=frozenset(),
            defined=frozenset(),
            api_changed=f.kind.is_code and bool(_PUBLIC_DEF_REMOVED.search("\n".join(changed))),
            risk_hits=frozenset(),
        )
    sample = changed if f.kind.language else changed[:_UNKNOWN_LANGUAGE_LINES]
    text = "\n".join(sample)
    code = _STRING.sub('""', text) if ("'" in text or '"' in text) else text
    # translate is the fastest tokenizer for ASCII text only; other text takes the regex.
    tokens = code.translate(_NON_WORD).split() if code.isascii() else _WORD.findall(code)
    counts = Counter(tokens)
    identifiers = frozenset(counts)
    branches = sum(counts[word] for word in _BRANCH_WORDS if word in counts)
    branches += code.count("&&") + code.count("||")
    defined = _defined(tokens, counts, text)
    lowered = " ".join(identifiers).lower()
    names = frozenset(lowered.split())
    risk_hits = {
        risk
        for risk, rx in _RISK_NAMES.items()
        if rx.search(lowered) or not names.isdisjoint(_RISK_EXACT_NAMES[risk])
    }
    if _RISK_PATH.search(f.path):
        risk_hits.add("auth")
    return _Stats(
        code_lines=max(len(changed) - 2 * whitespace_pairs, 0),
        whitespace_pairs=whitespace_pairs,
        branches=branches,
        identifiers=identifiers,
        defined=frozenset(defined),
        api_changed=f.kind.is_code and bool(_PUBLIC_DEF_REMOVED.search(text)),
        risk_hits=frozenset(risk_hits),
    )


def _defined(tokens: list[str], counts: Counter[str], text: str) -> set[str]:
    """Names a file's changed lines define: the word after `def`, `class`, `func`, … and
    UPPER_CASE constants assigned on a changed line."""
    spaced = f" {' '.join(tokens)} "
    defined: set[str] = set()
    for keyword in _DEFINING.intersection(counts):
        for after in spaced.split(f" {keyword} ")[1:]:
            name = after.split(" ", 1)[0]
            if len(name) > 2 and not name[0].isdigit():
                defined.add(name)
    constants = [n for n in counts if len(n) > 3 and n.isupper() and _CONSTANT_NAME.fullmatch(n)]
    for name in constants[:_MAX_CONSTANTS]:
        if f"{name} =" in text or f"{name}=" in text or f"{name}:" in text:
            defined.add(name)
    return defined


def _coupling(stats: list[_Stats]) -> int:
    """Count (name, file) pairs where a name defined or changed in one file is used in another."""
    users = Counter(itertools.chain.from_iterable(s.identifiers for s in stats))
    links = 0
    for source in stats:
        for name in source.defined:
            links += users[name] - (name in source.identifiers)
    return min(links, 50)


def _risks(files: list[FileChange], stats: list[_Stats]) -> set[str]:
    risks: set[str] = set()
    for f, s in zip(files, stats, strict=True):
        if f.kind.docs or f.kind.test:
            continue
        if f.kind.migration:
            risks.add("migration")
        if f.kind.ci:
            risks.add("ci")
        if s.api_changed:
            risks.add("public-api")
        risks |= s.risk_hits
    return risks


def _context_tokens(files: list[FileChange]) -> int:
    """Tokens a review prompt needs: hunks with line numbers, plus framing. A deleted file is
    listed, not shown."""
    chars = sum(
        sum(map(len, hunk.lines)) + 6 * len(hunk.lines)
        for f in files
        if f.status is not Status.DELETED
        for hunk in f.hunks
    )
    return _TOKENS_FIXED + _TOKENS_PER_FILE * len(files) + math.ceil(chars / _CHARS_PER_TOKEN)


def _easy_patterns(reviewable: list[FileChange], stats: list[_Stats]) -> tuple[str, ...]:
    """The easy patterns the whole change matches; each requires every file to match it."""
    if not reviewable:
        return ("generated-only",)
    found: list[str] = []
    content = [(f, s) for f, s in zip(reviewable, stats, strict=True) if f.added + f.removed]
    if all(f.status in _RENAME_STATUSES and not f.hunks for f in reviewable):
        found.append("rename-only")
    if content and all(s.code_lines == 0 and s.whitespace_pairs for _, s in content):
        found.append("whitespace-only")
    if all(f.kind.docs for f in reviewable):
        found.append("docs-only")
    if all(f.kind.test for f in reviewable):
        found.append("tests-only")
    if (
        content
        and all(f.kind.dependency_manifest for f in reviewable)
        and all(
            _VERSION_LINE.match(line) or not line[1:].strip()
            for f, _ in content
            for hunk in f.hunks
            for line in hunk.lines
            if line[:1] in ("+", "-")
        )
    ):
        found.append("dependency-bump")
    if content and _typo_only([f for f, _ in content]):
        found.append("typo-only")
    return tuple(found)


_RENAME_STATUSES = (Status.RENAMED, Status.COPIED, Status.MODE_ONLY)


def _typo_only(files: list[FileChange]) -> bool:
    """At most 6 lines, each replaced by one that differs in a few characters."""
    if sum(f.added + f.removed for f in files) > 12:
        return False
    for f in files:
        for hunk in f.hunks:
            minus = [line[1:] for line in hunk.lines if line[:1] == "-"]
            plus = [line[1:] for line in hunk.lines if line[:1] == "+"]
            if len(minus) != len(plus):
                return False
            if any(_char_distance(a, b) > 3 for a, b in zip(minus, plus, strict=True)):
                return False
    return True


def _char_distance(a: str, b: str) -> int:
    """Characters that differ once the common prefix and suffix are removed."""
    limit = min(len(a), len(b))
    start = 0
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return max(len(a), len(b)) - start - end


def _reasons(
    features: dict[str, int | float | list[str]],
    risks: set[str],
    patterns: tuple[str, ...],
    files: tuple[FileChange, ...],
) -> tuple[str, ...]:
    reasons = [f"{_PATTERN_WORDS[p]}: scored at most {_CAPS[p]}" for p in patterns]
    areas = features["areas"]
    languages = features["languages"]
    assert isinstance(areas, list)
    assert isinstance(languages, list)
    if len(areas) > 1:
        shown = ", ".join(areas[:4]) + (", …" if len(areas) > 4 else "")
        reasons.append(f"touches {counted(len(areas), 'area')}: {shown}")
    if len(languages) > 1:
        reasons.append(f"spans {counted(len(languages), 'language')}: {', '.join(languages)}")
    if features["coupling"]:
        reasons.append(
            f"{counted(_whole(features['coupling']), 'use')} in other changed files of names "
            "this change defines"
        )
    reasons.extend(_RISK_WORDS[risk] for risk in sorted(risks))
    reasons.append(
        f"{counted(_whole(features['code_lines']), 'changed line')} of substance, "
        f"{counted(_whole(features['branches']), 'decision point')}, "
        f"{counted(_whole(features['names']), 'distinct name')}, "
        f"in {counted(_whole(features['reviewable_files']), 'file')}"
    )
    if features["generated_lines"]:
        generated = sum(1 for f in files if f.kind.generated)
        reasons.append(
            f"{counted(_whole(features['generated_lines']), 'line')} in {generated} generated "
            f"or lock {'file' if generated == 1 else 'files'} not counted"
        )
    if features["whitespace_only_lines"]:
        whitespace = counted(_whole(features["whitespace_only_lines"]), "whitespace-only line")
        reasons.append(f"{whitespace} not counted")
    return tuple(reasons)


def _whole(value: int | float | list[str]) -> int:
    """A counted feature as a whole number, for the words that give it."""
    assert isinstance(value, int | float)
    return round(value)


_PATTERN_WORDS = {
    "whitespace-only": "whitespace-only change",
    "generated-only": "only generated or lock files",
    "rename-only": "only renames or mode changes",
    "typo-only": "typo-sized edits only",
    "docs-only": "docs only",
    "dependency-bump": "dependency version bump only",
    "tests-only": "tests only",
}
_RISK_WORDS = {
    "auth": "touches authentication, secrets, crypto or permissions",
    "migration": "edits a database migration or schema",
    "concurrency": "changes concurrent code (threads, locks, async)",
    "ci": "changes CI workflows or deployment",
    "public-api": "changes or removes a public definition (API surface)",
}
