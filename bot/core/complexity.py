"""How much reasoning a change needs to review: a 0-100 score, the features behind it, and reasons.

Pure: a ChangeSet in, a Complexity out. The score is a sum of points (bot.core.drivers): for the
size that matters (changed lines outside generated files, blanks, comments and whitespace-only
edits; tests, docs and config count less), for the reasoning the code asks for (distinct names,
new decision points, functions called from added lines, definitions whose signature changed),
for the share of the change that is tests (which lowers it), for how cross-cutting it is (files,
areas, languages, names defined in one changed file and used in another) and for risky areas
(auth and crypto, migrations, concurrency, CI and deployment, public API). Known easy patterns
(docs only, tests only, whitespace or typo only, a one-line fix, a dependency bump, renames,
generated files) cap it. The weights are fitted on labelled real patches: `bench/score_fit.py`,
checked by `bench/calibration.py`.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from bot.core.cost import CHARS_PER_TOKEN
from bot.core.counts import counted
from bot.core.diff import ChangeSet, FileChange, Status
from bot.core.drivers import drivers, said
from bot.core.easy_patterns import CAPS, PATTERN_WORDS, easy_patterns
from bot.core.file_stats import KEYWORDS, FileStats, file_stats

# How much a changed line of each kind counts toward size, against a line of code (set by
# judgement, not fitted: the calibration patches are code and tests).
_WEIGHT_CODE = 1.0
_WEIGHT_CONFIG = 0.7
_WEIGHT_TEST = 0.25
_WEIGHT_DOCS = 0.25

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
        """Tokens a review prompt of the whole change needs (an estimate; 0 when unknown)."""
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
    stats = [file_stats(f) for f in reviewable]
    pairs = list(zip(reviewable, stats, strict=True))
    source = [(f, s) for f, s in pairs if not f.kind.test]
    source_lines = sum(s.code_lines for _, s in source)
    test_lines = sum(s.code_lines for f, s in pairs if f.kind.test)
    weighted = sum(s.code_lines * _weight(f) for f, s in pairs)
    # What the code asks of a reviewer is read in program text outside tests (not in docs,
    # config, CI files or deleted files): a test's names and calls are the change's tests.
    logic = [s for f, s in source if _is_program(f) and f.status is not Status.DELETED]
    names = frozenset().union(*(s.identifiers for s in logic)) - KEYWORDS
    code_files = [f for f in reviewable if _is_logic(f)]
    risks = _risks(reviewable, stats)
    patterns = easy_patterns(reviewable, stats)

    features: dict[str, int | float | list[str]] = {
        "files": len(files),
        "reviewable_files": len(reviewable),
        "source_files": len(source),
        "additions": changes.added,
        "deletions": changes.removed,
        "code_lines": source_lines + test_lines,
        "source_lines": source_lines,
        "test_lines": test_lines,
        "test_share": round(test_lines / (source_lines + test_lines), 3) if test_lines else 0.0,
        "weighted_lines": round(weighted, 1),
        "whitespace_only_lines": 2 * sum(s.whitespace_pairs for s in stats),
        "generated_lines": sum(f.added + f.removed for f in files if f.kind.generated),
        "hunks": sum(len(f.hunks) for f in reviewable),
        "names": len(names),
        "new_branches": sum(s.added_branches for s in logic),
        "calls": len(frozenset().union(*(s.calls for s in logic))),
        "signatures": len(frozenset().union(*(s.resigned for s in logic))),
        "areas": sorted({area_of(f.path) for f in code_files}),
        "languages": sorted({f.kind.language for f in code_files if f.kind.language}),
        "coupling": _coupling([s for _, s in source]),
        "risks": sorted(risks),
        "patterns": list(patterns),
        "context_tokens": _context_tokens(reviewable),
    }
    parts = drivers(features, tuple(sorted(risks)))
    cap = min((CAPS[p] for p in patterns), default=100)
    value = max(0, min(100, cap, round(sum(d.points for d in parts))))
    shown = [said(d) for d in parts if d.name == "size" or round(d.points)]
    return Complexity(
        score=value,
        features=features,
        reasons=_reasons(features, patterns, shown, files),
        patterns=patterns,
        risks=tuple(sorted(risks)),
    )


def _weight(f: FileChange) -> float:
    kind = f.kind
    if kind.test:
        return _WEIGHT_TEST
    if kind.docs or f.status is Status.DELETED:
        return _WEIGHT_DOCS
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


def _coupling(stats: list[FileStats]) -> int:
    """Count (name, file) pairs where a name defined or changed in one file is used in another."""
    users = Counter(itertools.chain.from_iterable(s.identifiers for s in stats))
    links = 0
    for source in stats:
        for name in source.defined:
            links += users[name] - (name in source.identifiers)
    return min(links, 50)


def _risks(files: list[FileChange], stats: list[FileStats]) -> set[str]:
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


def _reasons(
    features: dict[str, int | float | list[str]],
    patterns: tuple[str, ...],
    shown: list[str],
    files: tuple[FileChange, ...],
) -> tuple[str, ...]:
    """The easy patterns that capped the score, then its drivers (largest first, each with its
    points), then what was left out."""
    reasons = [f"{PATTERN_WORDS[p]}: scored at most {CAPS[p]}" for p in patterns]
    reasons += shown
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
