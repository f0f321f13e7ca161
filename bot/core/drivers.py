"""What drives the complexity score: the signals a change is measured by, the points each is
worth, and the words that say so.

Pure: the measured features in, the signals and the drivers (name, points, words) out. The score
is the sum of the drivers' points, from 0 to 100; at or above the default threshold (45) a review
goes to the frontier model.

The six signals of what a change asks of its reviewer are weighted by a fit on human-labelled
real bug fixes (`bench/score_fit.py` on `difficulty-calibration.jsonl`, each patch with its tests
as one change): an ordinal logistic regression of the label (`<15 min fix`, `15 min - 1 hour`,
`1-4 hours`) on the signals, L2-regularised on standardised signals with the strength chosen by
repeated stratified 5-fold cross-validation, each weight held to its expected sign (more of a
signal never makes a change easier, except the share that is tests, which never makes it
harder). The cut between local and frontier is chosen in each training fold as the one that best
keeps `<15 min` fixes local and `>= 1 hour` ones on the frontier; the final cut sits where those
cuts sit on average (relative to each fold's own ordinal cut-points), and the weights are scaled
to points so that it falls on the default threshold. The
calibration patches each change one source file and rarely touch a risky area, so spread (files,
areas, languages, coupling) and the risky areas are not fitted: they keep the weight they had
before the fit, relative to size. The weights of line kinds (tests, docs, config) are set by
judgement in bot.core.complexity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.counts import counted

Features = Mapping[str, int | float | list[str]]

# Points per unit of each fitted signal (the unit beside each). Fitted by
# `uv run python bench/score_fit.py` on difficulty-calibration.jsonl (138 patches): ordinal
# logistic regression, L2 strength 10 on standardised signals (chosen from 0.3, 1, 3, 10 and 30 by
# held-out log-likelihood over 20 x 5 stratified folds); routing cut 2.443 logits = 45 points,
# so 1 logit = 18.4 points.
FITTED_POINTS: dict[str, float] = {
    "size": 8.7,  # per unit of log(1 + weighted changed lines of substance)
    "names": 9.5,  # per unit of log(1 + distinct names in changed code outside tests)
    "flow": 6.8,  # per unit of log(1 + decision points on added lines outside tests)
    "fanout": 6.8,  # per unit of log(1 + distinct functions called on added lines outside tests)
    "contracts": 14.6,  # per unit of log(1 + definitions whose signature line changed)
    "tests": -19.3,  # per unit of the share of changed lines of substance that are tests (0-1)
}

# Not fitted (the calibration patches do not vary in them): the earlier weights, as a share of the
# size weight, so that spread and risk keep their old place against size.
_SPREAD_SHARE: dict[str, float] = {
    "files": 0.5,  # per unit of log(files changed besides tests)
    "areas": 0.8,  # per unit of log(1 + areas beyond the first)
    "languages": 0.5,  # per unit of log(1 + languages beyond the first)
    "coupling": 0.5,  # per unit of log(1 + uses across files of names the change defines)
}
_RISK_SHARE: dict[str, float] = {
    "migration": 1.2,
    "auth": 1.0,
    "concurrency": 0.8,
    "ci": 0.8,
    "public-api": 0.6,
}
PRIOR_POINTS: dict[str, float] = {
    name: round(share * FITTED_POINTS["size"], 1) for name, share in _SPREAD_SHARE.items()
}
RISK_POINTS: dict[str, float] = {
    name: round(share * FITTED_POINTS["size"], 1) for name, share in _RISK_SHARE.items()
}

RISK_WORDS = {
    "auth": "touches authentication, secrets, crypto or permissions",
    "migration": "edits a database migration or schema",
    "concurrency": "changes concurrent code (threads, locks, async)",
    "ci": "changes CI workflows or deployment",
    "public-api": "changes or removes a public definition (API surface)",
}


@dataclass(frozen=True, slots=True)
class Driver:
    """One part of the score: what it is, the points it adds (or takes away), and why in words."""

    name: str
    points: float
    words: str


def signals(features: Features) -> dict[str, float]:
    """The fitted signals of a change, from its measured features (see FITTED_POINTS)."""
    return {
        "size": math.log1p(_number(features, "weighted_lines")),
        "names": math.log1p(_number(features, "names")),
        "flow": math.log1p(_number(features, "new_branches")),
        "fanout": math.log1p(_number(features, "calls")),
        "contracts": math.log1p(_number(features, "signatures")),
        "tests": _number(features, "test_share"),
    }


def drivers(features: Features, risks: tuple[str, ...]) -> list[Driver]:
    """Every part of the score: the risky areas first (what a change touches says most to a
    reader), then the rest largest first, whether they add or take away. The score is their sum
    (rounded, 0-100)."""
    measured = signals(features)
    areas = _names(features, "areas")
    languages = _names(features, "languages")
    spread = {
        "files": math.log(max(1, _number(features, "source_files"))),
        "areas": math.log1p(max(len(areas) - 1, 0)),
        "languages": math.log1p(max(len(languages) - 1, 0)),
        "coupling": math.log1p(_number(features, "coupling")),
    }
    whole = {key: round(_number(features, key)) for key in _COUNTED}
    parts = [
        Driver(name, FITTED_POINTS[name] * value, _words(name, features, whole))
        for name, value in measured.items()
    ]
    parts += [
        Driver(name, PRIOR_POINTS[name] * value, _words(name, features, whole))
        for name, value in spread.items()
    ]
    named = [Driver(risk, RISK_POINTS[risk], RISK_WORDS[risk]) for risk in risks]
    return named + sorted(parts, key=lambda d: -abs(d.points))


def said(driver: Driver) -> str:
    """A driver in words with its points: `12 changed lines of substance (+21)`."""
    points = round(driver.points)
    sign = "+" if points >= 0 else "\u2212"
    return f"{driver.words} ({sign}{abs(points)})"


def _words(name: str, features: Features, whole: dict[str, int]) -> str:
    if name == "size":
        tests = whole["test_lines"]
        return (
            f"{counted(whole['source_lines'], 'changed line')} of substance in "
            f"{counted(whole['source_files'], 'file')}"
            + (f", {tests} more in tests" if tests else "")
        )
    if name == "tests":
        return f"tests are {_number(features, 'test_share'):.0%} of the changed lines"
    if name == "areas":
        areas = _names(features, "areas")
        shown = ", ".join(areas[:4]) + (", …" if len(areas) > 4 else "")
        return f"touches {counted(len(areas), 'area')}: {shown}"
    if name == "languages":
        languages = _names(features, "languages")
        return f"spans {counted(len(languages), 'language')}: {', '.join(languages)}"
    noun, rest = _NOUNS[name]
    return f"{counted(whole[_COUNT_OF[name]], *noun)}{rest}"


_COUNTED = (
    "source_lines",
    "test_lines",
    "source_files",
    "names",
    "new_branches",
    "calls",
    "signatures",
    "coupling",
)
_COUNT_OF = {
    "names": "names",
    "flow": "new_branches",
    "fanout": "calls",
    "contracts": "signatures",
    "files": "source_files",
    "coupling": "coupling",
}
_NOUNS: dict[str, tuple[tuple[str, ...], str]] = {
    "names": (("distinct name",), " in changed code"),
    "flow": (("new decision point",), ""),
    "fanout": (("function",), " called on added lines"),
    "contracts": (("definition",), " whose signature changed"),
    "files": (("file",), " changed besides tests"),
    "coupling": (("use",), " in other changed files of names this change defines"),
}


def _number(features: Features, key: str) -> float:
    value = features.get(key, 0)
    return float(value) if isinstance(value, int | float) else 0.0


def _names(features: Features, key: str) -> list[str]:
    value = features.get(key, [])
    return [str(v) for v in value] if isinstance(value, list) else []
