"""Each repo's settings, from its `.github/tierbot.yml`, with the guidance its default branch
gives reviewers (bot.core.guidance: `review.instructions` and files such as `AGENTS.md`).

Built from the file's text, never read at import time. A repo file is untrusted input: every key
is optional, a bad value falls back to its default, and every unknown key or bad value is kept as
a problem to show in the review summary. A file over MAX_SETTINGS_BYTES, or one that would take
too much to read (bot.core.safe_yaml), gives the defaults and one clear problem; PyYAML's
constructors raise ValueError on some scalars (a 5,000-digit integer, the date 2024-99-99), which
is a problem too. Path patterns are bounded (bot.core.patterns).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import yaml

from bot.core.answer_schema import Severity
from bot.core.confidence import Thresholds
from bot.core.guidance import Dropped, Guidance, gather
from bot.core.patterns import path_matches, read_patterns
from bot.core.safe_yaml import TooBig, load_yaml
from bot.core.trust import Untrusted

DEFAULT_THRESHOLD = 45
DEFAULT_MAX_COMMENTS = 15
DEFAULT_MIN_SEVERITY = Severity.MINOR
# Whether each tier's comments are checked before they are posted (`review.verify`).
DEFAULT_VERIFY = {"local": True, "frontier": False}
REPO_SETTINGS_PATH = ".github/tierbot.yml"
MAX_SETTINGS_BYTES = 64 * 1024
DEFAULT_SHADOW_SHARE = Decimal("0.1")
"""The share of the local model's reviews that the frontier model also does, without posting
(bot.core.shadow)."""


@dataclass(frozen=True, slots=True)
class PathInstruction:
    """Extra review instructions for the files that match `patterns`."""

    patterns: tuple[str, ...]
    instructions: str


@dataclass(frozen=True, slots=True)
class RepoSettings:
    """What a repo's `.github/tierbot.yml` may set; `problems` lists what was ignored and why.

    `guide_files` are the guidance files read from the default branch (path, text) and
    `unread` those that could not be used; `guidance` is what they and `instructions` give a
    prompt, redacted and capped (bot.core.guidance), made when the settings are."""

    threshold: int = DEFAULT_THRESHOLD
    frontier_paths: tuple[str, ...] = ()
    local_paths: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    instructions: str = ""
    path_instructions: tuple[PathInstruction, ...] = ()
    max_comments: int = DEFAULT_MAX_COMMENTS
    min_severity: Severity = DEFAULT_MIN_SEVERITY
    verify_local: bool = DEFAULT_VERIFY["local"]
    verify_frontier: bool = DEFAULT_VERIFY["frontier"]
    escalation: Thresholds = field(default_factory=Thresholds)
    frontier_budget_usd: Decimal | None = None
    redact_local: bool = True
    untrusted_authors: Untrusted = Untrusted.LOCAL
    shadow_share: Decimal = DEFAULT_SHADOW_SHARE
    problems: tuple[str, ...] = field(default=())
    guide_files: tuple[tuple[str, str], ...] = ()
    unread: tuple[Dropped, ...] = ()
    guidance: Guidance = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        guidance = gather(dict(self.guide_files), self.instructions, self.unread)
        object.__setattr__(self, "guidance", guidance)  # derived once: redaction is not free

    def with_files(
        self, files: Mapping[str, str], unread: tuple[Dropped, ...] = ()
    ) -> RepoSettings:
        """These settings with the guidance files read from the default branch."""
        return replace(self, guide_files=tuple(files.items()), unread=unread)

    @classmethod
    def too_big(cls, size: int) -> RepoSettings:
        """The defaults, for a settings file of `size` bytes, over MAX_SETTINGS_BYTES."""
        return cls(
            problems=(
                f"{REPO_SETTINGS_PATH} is {size:,} bytes, over the {MAX_SETTINGS_BYTES:,} "
                "allowed; defaults used",
            )
        )

    @classmethod
    def from_yaml(cls, text: str) -> RepoSettings:
        """Parse the settings file; a file that is not YAML, or too big to read safely (see the
        module doc), gives defaults and one problem. Never raises."""
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_SETTINGS_BYTES:
            return cls.too_big(size)
        try:
            data = load_yaml(text) if text.strip() else {}
        except TooBig as exc:
            return cls(problems=(f"{REPO_SETTINGS_PATH} {exc}; defaults used",))
        except (yaml.YAMLError, ValueError) as exc:  # ValueError: a scalar PyYAML cannot build
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            return cls(problems=(f"{REPO_SETTINGS_PATH} is not valid YAML{where}; defaults used",))
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return cls(problems=(f"{REPO_SETTINGS_PATH} must be a mapping; defaults used",))
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RepoSettings:
        """Settings from the parsed file; every unknown key or bad value is a problem."""
        problems: list[str] = []
        for key in data:
            if key not in _KEYS:
                problems.append(f"unknown key `{key}` ignored")
        routing = _section(data, "routing", problems)
        review = _section(data, "review", problems)
        escalation = _section(data, "escalation", problems)
        budget = _section(data, "budget", problems)
        privacy = _section(data, "privacy", problems)
        verify = _verify(review, problems)
        shadow = _section(data, "shadow", problems)
        return cls(
            threshold=_whole(routing, "routing.threshold", DEFAULT_THRESHOLD, 0, 101, problems),
            frontier_paths=read_patterns(routing, "frontier_paths", "routing.", problems),
            local_paths=read_patterns(routing, "local_paths", "routing.", problems),
            exclude=read_patterns(data, "exclude", "", problems),
            instructions=_text(review, "review.instructions", problems),
            path_instructions=_path_instructions(review, problems),
            max_comments=_whole(
                review, "review.max_comments", DEFAULT_MAX_COMMENTS, 0, 100, problems
            ),
            min_severity=_severity(review, problems),
            verify_local=verify["local"],
            verify_frontier=verify["frontier"],
            escalation=_thresholds(escalation, problems),
            frontier_budget_usd=_budget(budget, problems),
            redact_local=_flag(privacy, "privacy.redact_local", True, problems),
            untrusted_authors=_untrusted(review, problems),
            shadow_share=_share(shadow, problems),
            problems=tuple(problems),
        )

    def verifies(self, tier: str) -> bool:
        """Whether comments of a review that stood on `tier` (`local` or `frontier`) are
        checked against the diff before they are posted (`review.verify`)."""
        return self.verify_frontier if tier == "frontier" else self.verify_local

    def instructions_for(self, paths: tuple[str, ...]) -> list[str]:
        """The per-path instructions that apply to any of `paths`, in file order."""
        return [
            f"For files matching {', '.join(rule.patterns)}: {rule.instructions}"
            for rule in self.path_instructions
            if any(path_matches(p, rule.patterns) for p in paths)
        ]


_KEYS: dict[str, frozenset[str]] = {
    "routing": frozenset({"threshold", "frontier_paths", "local_paths"}),
    "review": frozenset(
        {
            "instructions",
            "path_instructions",
            "max_comments",
            "min_severity",
            "verify",
            "untrusted_authors",
        }
    ),
    "escalation": frozenset(
        {"mean_entropy", "quantile_entropy", "max_unanchored_share", "max_hedges"}
    ),
    "exclude": frozenset(),
    "budget": frozenset({"frontier_usd_month"}),
    # Secrets are redacted before any model sees a change; `redact_local: false` lets the
    # local model (on the team's own GPU) see them. The frontier model never does.
    "privacy": frozenset({"redact_local"}),
    # The share of local reviews the frontier model also does, unposted (bot.core.shadow).
    "shadow": frozenset({"share"}),
}
_MAX_INSTRUCTIONS_CHARS = 4000


def _section(data: Mapping[str, Any], name: str, problems: list[str]) -> Mapping[str, Any]:
    value = data.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"`{name}` must be a mapping; ignored")
        return {}
    for key in value:
        if key not in _KEYS[name]:
            problems.append(f"unknown key `{name}.{key}` ignored")
    return value


def _whole(
    data: Mapping[str, Any], name: str, default: int, low: int, high: int, problems: list[str]
) -> int:
    value = data.get(name.rsplit(".", maxsplit=1)[-1], default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(
            f"`{name}` must be a whole number from {low} to {high}, not {value!r}; {default} used"
        )
        return default
    return value


def _flag(data: Mapping[str, Any], name: str, default: bool, problems: list[str]) -> bool:
    value = data.get(name.rsplit(".", maxsplit=1)[-1], default)
    if not isinstance(value, bool):
        problems.append(
            f"`{name}` must be true or false, not {value!r}; {str(default).lower()} used"
        )
        return default
    return value


def _thresholds(data: Mapping[str, Any], problems: list[str]) -> Thresholds:
    """The escalation thresholds, each within a sane range, else its documented default."""
    default = Thresholds()
    values: dict[str, Any] = {}
    for key, high in (("mean_entropy", 20.0), ("quantile_entropy", 20.0)):
        values[key] = _fraction(data, key, getattr(default, key), high, problems)
    values["max_unanchored_share"] = _fraction(
        data, "max_unanchored_share", default.max_unanchored_share, 1.0, problems
    )
    values["max_hedges"] = _whole(
        data, "escalation.max_hedges", default.max_hedges, 0, 100, problems
    )
    return replace(default, **values)


def _budget(data: Mapping[str, Any], problems: list[str]) -> Decimal | None:
    """The repo's own monthly frontier budget; it can only lower the operator's."""
    value = data.get("frontier_usd_month")
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value < float("inf")  # also refuses NaN, which Decimal cannot compare
    ):
        problems.append(
            f"`budget.frontier_usd_month` must be an amount in dollars, not {value!r}; ignored"
        )
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _severity(review: Mapping[str, Any], problems: list[str]) -> Severity:
    """The least severity posted inline (`review.min_severity`); less severe comments are only
    counted in the summary."""
    value = review.get("min_severity", DEFAULT_MIN_SEVERITY.value)
    names = [s.value for s in Severity]
    if not isinstance(value, str) or value.strip().lower() not in names:
        problems.append(
            f"`review.min_severity` must be one of {', '.join(names)}, not {value!r}; "
            f"{DEFAULT_MIN_SEVERITY.value} used"
        )
        return DEFAULT_MIN_SEVERITY
    return Severity(value.strip().lower())


def _verify(review: Mapping[str, Any], problems: list[str]) -> dict[str, bool]:
    """`review.verify`: true or false for both tiers, or a mapping with `local` and `frontier`
    (each optional, each true or false); anything else keeps the defaults."""
    value = review.get("verify")
    if value is None:
        return dict(DEFAULT_VERIFY)
    if isinstance(value, bool):
        return dict.fromkeys(DEFAULT_VERIFY, value)
    if not isinstance(value, dict):
        problems.append(
            f"`review.verify` must be true, false or a mapping of `local` and `frontier` to "
            f"true or false, not {value!r}; the defaults used"
        )
        return dict(DEFAULT_VERIFY)
    found = dict(DEFAULT_VERIFY)
    for key in value:
        if key not in DEFAULT_VERIFY:
            problems.append(f"unknown key `review.verify.{key}` ignored")
    for tier, default in DEFAULT_VERIFY.items():
        found[tier] = _flag(value, f"review.verify.{tier}", default, problems)
    return found


def _share(data: Mapping[str, Any], problems: list[str]) -> Decimal:
    """The share (0 to 1) of the local model's reviews that get a shadow review."""
    if "share" not in data:
        return DEFAULT_SHADOW_SHARE
    value = data["share"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        problems.append(
            f"`shadow.share` must be a number from 0 to 1, not {value!r}; "
            f"{DEFAULT_SHADOW_SHARE} used"
        )
        return DEFAULT_SHADOW_SHARE
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _untrusted(review: Mapping[str, Any], problems: list[str]) -> Untrusted:
    """What pull requests and questions by accounts without write access get (bot.core.trust)."""
    value = review.get("untrusted_authors", Untrusted.LOCAL.value)
    if not isinstance(value, str) or value.strip().lower() not in {u.value for u in Untrusted}:
        problems.append(
            f"`review.untrusted_authors` must be none, local or auto, not {value!r}; local used"
        )
        return Untrusted.LOCAL
    return Untrusted(value.strip().lower())


def _fraction(
    data: Mapping[str, Any], key: str, default: float, high: float, problems: list[str]
) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        problems.append(
            f"`escalation.{key}` must be a number from 0 to {high:g}, not {value!r}; "
            f"{default:g} used"
        )
        return default
    return float(value)


def _text(data: Mapping[str, Any], name: str, problems: list[str]) -> str:
    value = data.get(name.rsplit(".", maxsplit=1)[-1], "")
    if not isinstance(value, str):
        problems.append(f"`{name}` must be text; ignored")
        return ""
    if len(value) > _MAX_INSTRUCTIONS_CHARS:
        problems.append(f"`{name}` is cut to its first {_MAX_INSTRUCTIONS_CHARS} characters")
    return value.strip()[:_MAX_INSTRUCTIONS_CHARS]


def _path_instructions(
    review: Mapping[str, Any], problems: list[str]
) -> tuple[PathInstruction, ...]:
    value = review.get("path_instructions", [])
    if not isinstance(value, list):
        problems.append("`review.path_instructions` must be a list; ignored")
        return ()
    rules: list[PathInstruction] = []
    for index, item in enumerate(value):
        where = f"review.path_instructions[{index}]"
        if not isinstance(item, dict) or set(item) != {"path", "instructions"}:
            problems.append(f"`{where}` must have exactly `path` and `instructions`; ignored")
            continue
        patterns = read_patterns(item, "path", f"{where}.", problems)
        text = _text(item, f"{where}.instructions", problems)
        if patterns and text:
            rules.append(PathInstruction(patterns, text))
    return tuple(rules)
