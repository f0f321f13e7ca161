"""Settings: the process's, from environment variables, and each repo's, from `.github/tierbot.yml`.

Both are built from data passed in (a mapping, a YAML text), never read at import time. A repo
file is untrusted input: every key is optional, a bad value falls back to its default, and every
unknown key or bad value is kept as a problem to show in the review summary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import yaml

DEFAULT_FRONTIER_MODEL = "claude-sonnet-5-5"
DEFAULT_LOCAL_CONTEXT_TOKENS = 8192
DEFAULT_THRESHOLD = 45
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

    @property
    def local_model(self) -> str:
        """A name for the local model: its folder's name, or `local` when none is configured."""
        if self.local_model_dir:
            return PurePosixPath(self.local_model_dir.rstrip("/")).name or "local"
        return "local"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping (pass `os.environ` at the edge)."""
        window = env.get("TIERBOT_LOCAL_CONTEXT_TOKENS", "").strip()
        tokens = DEFAULT_LOCAL_CONTEXT_TOKENS
        if window:
            if not window.isdigit() or int(window) < 512:
                raise SettingsError(
                    f"TIERBOT_LOCAL_CONTEXT_TOKENS must be a whole number >= 512, not {window!r}"
                )
            tokens = int(window)
        return cls(
            frontier_model=env.get("TIERBOT_FRONTIER_MODEL", "").strip() or DEFAULT_FRONTIER_MODEL,
            local_model_dir=env.get("TIERBOT_LOCAL_MODEL_DIR", "").strip() or None,
            local_context_tokens=tokens,
            anthropic_api_key=env.get("ANTHROPIC_API_KEY") or None,
        )


@dataclass(frozen=True, slots=True)
class RepoSettings:
    """What a repo's `.github/tierbot.yml` may set; `problems` lists what was ignored and why."""

    threshold: int = DEFAULT_THRESHOLD
    frontier_paths: tuple[str, ...] = ()
    local_paths: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
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
        routing = data.get("routing", {})
        if not isinstance(routing, dict):
            problems.append("`routing` must be a mapping; ignored")
            routing = {}
        for key in data:
            if key not in _TOP_KEYS:
                problems.append(f"unknown key `{key}` ignored")
        for key in routing:
            if key not in _ROUTING_KEYS:
                problems.append(f"unknown key `routing.{key}` ignored")

        threshold = routing.get("threshold", DEFAULT_THRESHOLD)
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int)
            or not 0 <= threshold <= 101
        ):
            problems.append(
                f"`routing.threshold` must be a whole number from 0 to 101, not {threshold!r}; "
                f"{DEFAULT_THRESHOLD} used"
            )
            threshold = DEFAULT_THRESHOLD
        return cls(
            threshold=threshold,
            frontier_paths=_patterns(routing, "frontier_paths", "routing.", problems),
            local_paths=_patterns(routing, "local_paths", "routing.", problems),
            exclude=_patterns(data, "exclude", "", problems),
            problems=tuple(problems),
        )


_TOP_KEYS = frozenset({"routing", "exclude"})
_ROUTING_KEYS = frozenset({"threshold", "frontier_paths", "local_paths"})


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
