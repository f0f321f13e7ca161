"""Settings: the process's, from environment variables, and each repo's, from `.github/tierbot.yml`.

Both are built from data passed in (a mapping, a YAML text), never read at import time. A repo
file is untrusted input: every key is optional, a bad value falls back to its default, and every
unknown key or bad value is kept as a problem to show in the review summary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import yaml

from bot.caps import (
    DEFAULT_COMMANDS_PER_AUTHOR,
    DEFAULT_COMMANDS_PER_REPO,
    DEFAULT_REVIEWS_PER_AUTHOR,
    DEFAULT_REVIEWS_PER_REPO,
    Caps,
)
from bot.confidence import Thresholds
from bot.trust import Untrusted

DEFAULT_FRONTIER_MODEL = "claude-sonnet-5-5"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_DATABASE_URL = "sqlite:///tierbot.sqlite3"
DEFAULT_WORKERS = 2
DEFAULT_LEASE_SECONDS = 60
DEFAULT_FEEDBACK_INTERVAL_SECONDS = 3600
DEFAULT_LOCAL_CONTEXT_TOKENS = 8192
DEFAULT_THRESHOLD = 45
DEFAULT_MAX_COMMENTS = 15
REPO_SETTINGS_PATH = ".github/tierbot.yml"


class SettingsError(ValueError):
    """A process setting that cannot be used; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Process settings. Names of the environment variables are part of the contract."""

    frontier_model: str = DEFAULT_FRONTIER_MODEL
    local_model_dir: str | None = None
    local_context_tokens: int = DEFAULT_LOCAL_CONTEXT_TOKENS
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    github_token: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    gpu_hour_usd: Decimal | None = None
    frontier_budget_usd: Decimal | None = None
    prices_file: str | None = None
    github_app_id: int | None = None
    github_private_key: str | None = None
    github_private_key_file: str | None = None
    webhook_secret: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    workers: int = DEFAULT_WORKERS
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    feedback_interval_seconds: int = DEFAULT_FEEDBACK_INTERVAL_SECONDS
    untrusted_authors: Untrusted = Untrusted.AUTO
    reviews_per_author_hour: int = DEFAULT_REVIEWS_PER_AUTHOR
    reviews_per_repo_hour: int = DEFAULT_REVIEWS_PER_REPO
    commands_per_author_hour: int = DEFAULT_COMMANDS_PER_AUTHOR
    commands_per_repo_hour: int = DEFAULT_COMMANDS_PER_REPO

    @property
    def caps(self) -> Caps:
        """The hourly caps on work for accounts without write access (bot.caps)."""
        return Caps(
            reviews_per_author=self.reviews_per_author_hour,
            reviews_per_repo=self.reviews_per_repo_hour,
            commands_per_author=self.commands_per_author_hour,
            commands_per_repo=self.commands_per_repo_hour,
        )

    @property
    def database_path(self) -> str:
        """The SQLite file of the embedded defaults, from a `sqlite:///PATH` URL or a bare path."""
        url = self.database_url
        if url.startswith("sqlite:///"):
            return url[len("sqlite:///") :]
        if "://" in url:
            raise SettingsError(
                f"TIERBOT_DATABASE_URL {url.split('://')[0]}:// needs the scale-out mode, which "
                "this version does not have; use a SQLite file (sqlite:///PATH)"
            )
        return url

    @property
    def local_model(self) -> str:
        """A name for the local model: its folder's name, or `local` when none is configured."""
        if self.local_model_dir:
            return PurePosixPath(self.local_model_dir.rstrip("/")).name or "local"
        return "local"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping (pass `os.environ` at the edge)."""

        def text(name: str) -> str | None:
            return env.get(name, "").strip() or None

        return cls(
            frontier_model=text("TIERBOT_FRONTIER_MODEL") or DEFAULT_FRONTIER_MODEL,
            local_model_dir=text("TIERBOT_LOCAL_MODEL_DIR"),
            local_context_tokens=_env_whole(env, "TIERBOT_LOCAL_CONTEXT_TOKENS", 512)
            or DEFAULT_LOCAL_CONTEXT_TOKENS,
            anthropic_api_key=text("ANTHROPIC_API_KEY"),
            anthropic_base_url=text("ANTHROPIC_BASE_URL"),
            github_token=text("GITHUB_TOKEN"),
            github_api_url=text("TIERBOT_GITHUB_API_URL") or DEFAULT_GITHUB_API_URL,
            gpu_hour_usd=_env_dollars(env, "TIERBOT_GPU_HOUR_USD"),
            frontier_budget_usd=_env_dollars(env, "TIERBOT_FRONTIER_BUDGET_USD"),
            prices_file=text("TIERBOT_PRICES_FILE"),
            github_app_id=_env_whole(env, "TIERBOT_GITHUB_APP_ID", 1),
            github_private_key=text("TIERBOT_GITHUB_PRIVATE_KEY"),
            github_private_key_file=text("TIERBOT_GITHUB_PRIVATE_KEY_FILE"),
            webhook_secret=text("TIERBOT_WEBHOOK_SECRET"),
            database_url=text("TIERBOT_DATABASE_URL") or DEFAULT_DATABASE_URL,
            workers=_env_whole(env, "TIERBOT_WORKERS", 1) or DEFAULT_WORKERS,
            lease_seconds=_env_whole(env, "TIERBOT_LEASE_SECONDS", 1) or DEFAULT_LEASE_SECONDS,
            feedback_interval_seconds=_env_whole(env, "TIERBOT_FEEDBACK_INTERVAL_SECONDS", 1)
            or DEFAULT_FEEDBACK_INTERVAL_SECONDS,
            untrusted_authors=_env_untrusted(env, "TIERBOT_UNTRUSTED_AUTHORS"),
            reviews_per_author_hour=_env_whole(env, "TIERBOT_REVIEWS_PER_AUTHOR_HOUR", 1)
            or DEFAULT_REVIEWS_PER_AUTHOR,
            reviews_per_repo_hour=_env_whole(env, "TIERBOT_REVIEWS_PER_REPO_HOUR", 1)
            or DEFAULT_REVIEWS_PER_REPO,
            commands_per_author_hour=_env_whole(env, "TIERBOT_COMMANDS_PER_AUTHOR_HOUR", 1)
            or DEFAULT_COMMANDS_PER_AUTHOR,
            commands_per_repo_hour=_env_whole(env, "TIERBOT_COMMANDS_PER_REPO_HOUR", 1)
            or DEFAULT_COMMANDS_PER_REPO,
        )

    def app_problems(self) -> list[str]:
        """What the GitHub App mode still needs, in the names of the variables to set."""
        problems = []
        if self.github_app_id is None:
            problems.append("TIERBOT_GITHUB_APP_ID (the App's id)")
        if not (self.github_private_key or self.github_private_key_file):
            problems.append(
                "TIERBOT_GITHUB_PRIVATE_KEY or TIERBOT_GITHUB_PRIVATE_KEY_FILE (the App's key)"
            )
        if not self.webhook_secret:
            problems.append("TIERBOT_WEBHOOK_SECRET (the App's webhook secret)")
        return problems


def _env_whole(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < minimum:
        raise SettingsError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return int(value)


def _env_untrusted(env: Mapping[str, str], name: str) -> Untrusted:
    """The most any repo may let accounts without write access have (bot.trust.Untrusted)."""
    value = env.get(name, "").strip().lower()
    if not value:
        return Untrusted.AUTO
    if value not in {u.value for u in Untrusted}:
        raise SettingsError(f"{name} must be none, local or auto, not {value!r}")
    return Untrusted(value)


def _env_dollars(env: Mapping[str, str], name: str) -> Decimal | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise SettingsError(f"{name} must be an amount in US dollars, like 0.25, not {value!r}")
    return amount


@dataclass(frozen=True, slots=True)
class PathInstruction:
    """Extra review instructions for the files that match `patterns`."""

    patterns: tuple[str, ...]
    instructions: str


@dataclass(frozen=True, slots=True)
class RepoSettings:
    """What a repo's `.github/tierbot.yml` may set; `problems` lists what was ignored and why."""

    threshold: int = DEFAULT_THRESHOLD
    frontier_paths: tuple[str, ...] = ()
    local_paths: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    instructions: str = ""
    path_instructions: tuple[PathInstruction, ...] = ()
    max_comments: int = DEFAULT_MAX_COMMENTS
    escalation: Thresholds = field(default_factory=Thresholds)
    frontier_budget_usd: Decimal | None = None
    untrusted_authors: Untrusted = Untrusted.LOCAL
    problems: tuple[str, ...] = field(default=())

    @classmethod
    def from_yaml(cls, text: str) -> RepoSettings:
        """Parse the settings file; a file that is not YAML gives defaults and one problem."""
        try:
            data = yaml.safe_load(text) if text.strip() else {}
        except yaml.YAMLError as exc:
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
        problems: list[str] = []
        for key in data:
            if key not in _KEYS:
                problems.append(f"unknown key `{key}` ignored")
        routing = _section(data, "routing", problems)
        review = _section(data, "review", problems)
        escalation = _section(data, "escalation", problems)
        budget = _section(data, "budget", problems)
        return cls(
            threshold=_whole(routing, "routing.threshold", DEFAULT_THRESHOLD, 0, 101, problems),
            frontier_paths=_patterns(routing, "frontier_paths", "routing.", problems),
            local_paths=_patterns(routing, "local_paths", "routing.", problems),
            exclude=_patterns(data, "exclude", "", problems),
            instructions=_text(review, "review.instructions", problems),
            path_instructions=_path_instructions(review, problems),
            max_comments=_whole(
                review, "review.max_comments", DEFAULT_MAX_COMMENTS, 0, 100, problems
            ),
            escalation=_thresholds(escalation, problems),
            frontier_budget_usd=_budget(budget, problems),
            untrusted_authors=_untrusted(review, problems),
            problems=tuple(problems),
        )

    def instructions_for(self, paths: tuple[str, ...]) -> list[str]:
        """The per-path instructions that apply to any of `paths`, in file order."""
        return [
            f"For files matching {', '.join(rule.patterns)}: {rule.instructions}"
            for rule in self.path_instructions
            if any(path_matches(p, rule.patterns) for p in paths)
        ]


_KEYS: dict[str, frozenset[str]] = {
    "routing": frozenset({"threshold", "frontier_paths", "local_paths"}),
    "review": frozenset({"instructions", "path_instructions", "max_comments", "untrusted_authors"}),
    "escalation": frozenset(
        {"mean_entropy", "quantile_entropy", "max_unanchored_share", "max_hedges"}
    ),
    "exclude": frozenset(),
    "budget": frozenset({"frontier_usd_month"}),
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
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        problems.append(
            f"`budget.frontier_usd_month` must be an amount in dollars, not {value!r}; ignored"
        )
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _untrusted(review: Mapping[str, Any], problems: list[str]) -> Untrusted:
    """What pull requests and questions by accounts without write access get (bot.trust)."""
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
        patterns = _patterns(item, "path", f"{where}.", problems)
        text = _text(item, f"{where}.instructions", problems)
        if patterns and text:
            rules.append(PathInstruction(patterns, text))
    return tuple(rules)


def _patterns(
    data: Mapping[str, Any], key: str, prefix: str, problems: list[str]
) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"`{prefix}{key}` must be a list of path patterns; ignored")
        return ()
    return tuple(v.strip() for v in value)


def path_matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether `path` matches any glob: `*` within a folder, `**` across folders, a pattern
    without a slash matches the file name in any folder, and `dir/` matches everything under it.
    """
    return any(_glob(pattern).fullmatch(path) for pattern in patterns)


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    if "/" not in pattern:
        pattern = "**/" + pattern
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
