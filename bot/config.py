"""Settings: the process's, from environment variables, and each repo's, from `.github/tierbot.yml`.

Both are built from data passed in (a mapping, a YAML text), never read at import time. A repo
file is untrusted input: every key is optional, a bad value falls back to its default, and every
unknown key or bad value is kept as a problem to show in the review summary.

A repo file must also not cost the worker its time or memory. PyYAML keeps an alias as a
reference, so a "billion laughs" file loads small but expands to billions of values wherever it
is walked or printed (https://github.com/yaml/pyyaml/issues/235); its composer recurses once per
level of nesting; its constructors raise ValueError on some scalars (a 5,000-digit integer, the
date 2024-99-99). So the file is refused, with one clear problem and the defaults, when it is
over MAX_SETTINGS_BYTES, nests deeper than MAX_DEPTH levels, or would expand (aliases followed)
to more than MAX_VALUES values. Path patterns are bounded too: each glob becomes a backtracking
regular expression, whose time grows as the path length to the power of its wildcards, so a
pattern may have at most MAX_WILDCARDS of them.
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
DEFAULT_JOB_GIVE_UP_SECONDS = 7200
DEFAULT_HEADER_TIMEOUT_SECONDS = 10
DEFAULT_BODY_TIMEOUT_SECONDS = 20
DEFAULT_MAX_CONNECTIONS = 2048
DEFAULT_LOCAL_CONTEXT_TOKENS = 8192
DEFAULT_THRESHOLD = 45
DEFAULT_MAX_COMMENTS = 15
REPO_SETTINGS_PATH = ".github/tierbot.yml"
MAX_SETTINGS_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_VALUES = 10_000
MAX_WILDCARDS = 3
MAX_PATTERNS = 100
MAX_PATTERN_CHARS = 200


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
    github_app_slug: str | None = None
    job_give_up_seconds: int = DEFAULT_JOB_GIVE_UP_SECONDS
    header_timeout_seconds: int = DEFAULT_HEADER_TIMEOUT_SECONDS
    body_timeout_seconds: int = DEFAULT_BODY_TIMEOUT_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
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
            github_app_slug=_env_slug(env, "TIERBOT_GITHUB_APP_SLUG"),
            job_give_up_seconds=_env_whole(env, "TIERBOT_JOB_GIVE_UP_SECONDS", 1)
            or DEFAULT_JOB_GIVE_UP_SECONDS,
            header_timeout_seconds=_env_whole(env, "TIERBOT_HEADER_TIMEOUT_SECONDS", 1)
            or DEFAULT_HEADER_TIMEOUT_SECONDS,
            body_timeout_seconds=_env_whole(env, "TIERBOT_BODY_TIMEOUT_SECONDS", 1)
            or DEFAULT_BODY_TIMEOUT_SECONDS,
            max_connections=_env_whole(env, "TIERBOT_MAX_CONNECTIONS", 1)
            or DEFAULT_MAX_CONNECTIONS,
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


def _env_slug(env: Mapping[str, str], name: str) -> str | None:
    """An App's slug as GitHub spells it in the App's URL: letters, digits and hyphens."""
    value = env.get(name, "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,98}[A-Za-z0-9])?", value):
        raise SettingsError(
            f"{name} must be the App's slug (letters, digits and hyphens, as in "
            f"github.com/apps/SLUG), not {value!r}"
        )
    return value


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
    redact_local: bool = True
    untrusted_authors: Untrusted = Untrusted.LOCAL
    problems: tuple[str, ...] = field(default=())

    @classmethod
    def from_yaml(cls, text: str) -> RepoSettings:
        """Parse the settings file; a file that is not YAML, or too big to read safely (see the
        module doc), gives defaults and one problem. Never raises."""
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_SETTINGS_BYTES:
            return cls(
                problems=(
                    f"{REPO_SETTINGS_PATH} is {size:,} bytes, over the {MAX_SETTINGS_BYTES:,} "
                    "allowed; defaults used",
                )
            )
        try:
            data = _load_yaml(text) if text.strip() else {}
        except _TooBig as exc:
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
        problems: list[str] = []
        for key in data:
            if key not in _KEYS:
                problems.append(f"unknown key `{key}` ignored")
        routing = _section(data, "routing", problems)
        review = _section(data, "review", problems)
        escalation = _section(data, "escalation", problems)
        budget = _section(data, "budget", problems)
        privacy = _section(data, "privacy", problems)
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
            redact_local=_flag(privacy, "privacy.redact_local", True, problems),
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


class _TooBig(Exception):
    """A settings file that would take too much to read; the message says what."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses nesting deeper than MAX_DEPTH while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooBig(f"nests deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _load_yaml(text: str) -> Any:
    """The one document in `text`, built only once its node graph, aliases followed, is known
    to hold at most MAX_VALUES values at most MAX_DEPTH deep."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node) -> None:
    """Count the values and levels the node graph stands for with every alias expanded: each
    node is walked once (its count remembered), so a bomb is measured without expanding it."""
    counts: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels)
    open_nodes: set[int] = set()

    def walk(node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise _TooBig(f"nests deeper than {MAX_DEPTH} levels (aliases followed)")
        key = id(node)
        if key in counts:
            values, levels = counts[key]
        elif key in open_nodes:
            raise _TooBig("has an alias that contains itself")
        else:
            if isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            else:
                children = []
            open_nodes.add(key)
            values, levels = 1, 1
            for child in children:
                child_values, child_levels = walk(child, depth + 1)
                values += child_values
                levels = max(levels, child_levels + 1)
                if values > MAX_VALUES:
                    break
            open_nodes.discard(key)
            counts[key] = (values, levels)
        if depth + levels > MAX_DEPTH + 1:
            raise _TooBig(f"nests deeper than {MAX_DEPTH} levels (aliases followed)")
        if values > MAX_VALUES:
            raise _TooBig(
                f"stands for more than {MAX_VALUES:,} values with its aliases followed "
                "(a YAML bomb?)"
            )
        return values, levels

    walk(root, 0)


_KEYS: dict[str, frozenset[str]] = {
    "routing": frozenset({"threshold", "frontier_paths", "local_paths"}),
    "review": frozenset({"instructions", "path_instructions", "max_comments", "untrusted_authors"}),
    "escalation": frozenset(
        {"mean_entropy", "quantile_entropy", "max_unanchored_share", "max_hedges"}
    ),
    "exclude": frozenset(),
    "budget": frozenset({"frontier_usd_month"}),
    # Secrets are redacted before any model sees a change; `redact_local: false` lets the
    # local model (on the team's own GPU) see them. The frontier model never does.
    "privacy": frozenset({"redact_local"}),
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
    if len(value) > MAX_PATTERNS:
        problems.append(f"`{prefix}{key}` has more than {MAX_PATTERNS} patterns; ignored")
        return ()
    kept = []
    for pattern in (v.strip() for v in value):
        if len(pattern) > MAX_PATTERN_CHARS or _wildcards(pattern) > MAX_WILDCARDS:
            problems.append(
                f"`{prefix}{key}` pattern `{pattern[:MAX_PATTERN_CHARS]}` is too complex (over "
                f"{MAX_PATTERN_CHARS} characters or {MAX_WILDCARDS} wildcards); ignored"
            )
            continue
        kept.append(pattern)
    return tuple(kept)


def _wildcards(pattern: str) -> int:
    """How many runs of `*` the pattern's regular expression will hold, counting the `**/`
    that a pattern without a slash gets in front."""
    pattern = _normal(pattern)
    return len(re.findall(r"\*+", pattern))


def _normal(pattern: str) -> str:
    """The pattern as `_glob` reads it: no leading slash, `dir/` as `dir/**`, a name without a
    slash as `**/name`, and a run of `**/` as one."""
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    if "/" not in pattern:
        pattern = "**/" + pattern
    return re.sub(r"(?:\*\*/)+", "**/", pattern)


def path_matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether `path` matches any glob: `*` within a folder, `**` across folders, a pattern
    without a slash matches the file name in any folder, and `dir/` matches everything under it.
    """
    return any(_glob(pattern).fullmatch(path) for pattern in patterns)


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    pattern = _normal(pattern)
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
