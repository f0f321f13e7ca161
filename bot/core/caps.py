"""Hourly caps on the work accounts without write access can cause: a pure decision.

One account opening 100 pull requests, or posting 500 `/ask` comments, must not cause 100
reviews or 500 answers; many accounts together must not either. So, per repository and per
hour, for accounts without write access (see bot.core.trust; accounts with it are not counted: they
can change the settings and budgets anyway, and a flood by others must not lock them out):

- reviews (pull requests opened, pushed to, reopened) per author, and for all such authors;
- commands per commenter, and for all such commenters;
- replies in review threads likewise, counted apart from commands: the webhook cannot tell a
  reply to the bot (which it answers with a model) from a reply to a person, so a contributor
  answering their reviewers must not use up their commands. A reply over the cap is dropped
  without a notice (it may not have been meant for the bot).

The defaults, each set by an environment variable:

- `TIERBOT_REVIEWS_PER_AUTHOR_HOUR`, 10: more than a person pushes to their pull requests in an
  hour (pushes to a PR whose review still waits replace it and are not counted again);
- `TIERBOT_REVIEWS_PER_REPO_HOUR`, 60: about what one GPU reviews in an hour;
- `TIERBOT_COMMANDS_PER_AUTHOR_HOUR`, 20: twice the per-PR flood limit (10 in 10 minutes);
- `TIERBOT_COMMANDS_PER_REPO_HOUR`, 120: two a minute from all outside contributors together;
- replies in review threads: the same numbers as commands.

The App counts in its queue (bot.adapters.queue, in the transaction that stores the jobs, so
concurrent deliveries cannot overshoot); the Action counts the workflow's recent runs through the
GitHub API (bot.faces.action.gate). Either way, a refusal is visible: in the metrics, and on the
pull request at
most once per account, kind of work and hour (`Refusal.text`), so that a flood is not answered
with a flood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from bot.core.counts import counted
from bot.core.markdown.safe import code_span, plain_text

Work = Literal["review", "command", "reply"]
WINDOW_SECONDS: Final = 3600.0
DEFAULT_REVIEWS_PER_AUTHOR: Final = 10
DEFAULT_REVIEWS_PER_REPO: Final = 60
DEFAULT_COMMANDS_PER_AUTHOR: Final = 20
DEFAULT_COMMANDS_PER_REPO: Final = 120
_CAP_FIELDS: Final = (
    "reviews_per_author",
    "reviews_per_repo",
    "commands_per_author",
    "commands_per_repo",
)


@dataclass(frozen=True, slots=True)
class Caps:
    """The caps per account and per repository, for each kind of work, per `window_seconds`."""

    reviews_per_author: int = DEFAULT_REVIEWS_PER_AUTHOR
    reviews_per_repo: int = DEFAULT_REVIEWS_PER_REPO
    commands_per_author: int = DEFAULT_COMMANDS_PER_AUTHOR
    commands_per_repo: int = DEFAULT_COMMANDS_PER_REPO
    window_seconds: float = WINDOW_SECONDS

    def __post_init__(self) -> None:
        for name in _CAP_FIELDS:
            _check(self, name)
        if not self.window_seconds > 0:
            raise ValueError(f"the caps' window must be positive, got {self.window_seconds!r}")

    def limits(self, work: Work) -> tuple[int, int]:
        """(per author, per repository) for `work`."""
        if work == "review":
            return self.reviews_per_author, self.reviews_per_repo
        return self.commands_per_author, self.commands_per_repo  # commands; replies alike

    def check(
        self, work: Work, author: str, repo: str, by_author: int, by_repo: int
    ) -> Refusal | None:
        """The refusal of one more `work` by `author` on `repo` (owner/name), when `by_author`
        (theirs) and `by_repo` (everyone's counted) were done in the window; None when allowed."""
        per_author, per_repo = self.limits(work)
        if by_author >= per_author:
            return Refusal(work, "author", author, repo, per_author, self.window_seconds)
        if by_repo >= per_repo:
            return Refusal(work, "repo", author, repo, per_repo, self.window_seconds)
        return None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Work refused by a cap: which cap (`scope` "author" or "repo"), whose work, and the cap."""

    work: Work
    scope: Literal["author", "repo"]
    author: str
    repo: str
    limit: int
    window_seconds: float

    def text(self) -> str:
        """The reason in words, as safe Markdown for the pull request and the logs: the login is
        in a code span, so it does not notify anyone, and the repo's name is plain text."""
        cap = counted(self.limit, self.work, "replies" if self.work == "reply" else None)
        window = span(self.window_seconds)
        if self.scope == "author":
            return (
                f"{code_span(self.author)} has reached the cap of {cap} per {window} "
                f"that an account without write access gets on {plain_text(self.repo)}"
            )
        return (
            f"accounts without write access have together reached the cap of {cap} "
            f"per {window} on {plain_text(self.repo)}"
        )

    @property
    def ack(self) -> str:
        """The webhook's answer to the delivery (`ignored: ...`)."""
        kind = self.work
        whose = (
            f"`{self.author}`" if self.scope == "author" else "all accounts without write access"
        )
        return (
            f"ignored: {kind} cap for {whose} on {self.repo} "
            f"({self.limit} per {span(self.window_seconds)})"
        )


def _check(caps: Caps, name: str) -> None:
    value = getattr(caps, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"cap {name} must be a whole number >= 1, got {value!r}")


def span(seconds: float) -> str:
    """A window in words: "hour", "10 minutes", "90 seconds"."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return "second" if seconds == 1 else f"{seconds:g} seconds"
