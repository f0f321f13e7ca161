"""What the pipeline needs from outside: GitHub, the queue's record of pushes, and the services
a process makes once (settings, prices, model backends, metrics, ledger)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bot.adapters.github import CommentFeedback, PostedReview, PullRef, PullRequest, Tree
from bot.adapters.metrics import Metrics
from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings
from bot.core.anchor import Comment
from bot.core.markers import Markers
from bot.core.routing import Models, Tier
from bot.core.types import Backend

if TYPE_CHECKING:  # the ledger (SQLAlchemy) loads only in processes that keep one
    from bot.adapters.ledger import Ledger


class Retry(Exception):
    """A transient failure: the job should be tried again later, and not before `retry_at`
    (epoch seconds) when the service said when."""

    def __init__(self, message: str, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class GitHubClient(Protocol):
    """What the pipeline needs of GitHub (bot.github.GitHub provides it)."""

    async def pull(self, ref: PullRef) -> PullRequest: ...
    async def pull_diff(self, ref: PullRef) -> bytes: ...
    async def compare(self, owner: str, repo: str, base: str, head: str) -> bytes: ...
    async def file_text(self, owner: str, repo: str, path: str, ref: str) -> str | None: ...
    async def tree(self, owner: str, repo: str, tree: str) -> Tree | None: ...
    def markers(self, ref: PullRef) -> Markers: ...
    async def find_comment(self, ref: PullRef, marker: str) -> tuple[int, str] | None: ...
    async def upsert_comment(
        self, ref: PullRef, marker: str, body: str, *, known: tuple[int, str] | None = None
    ) -> int: ...
    async def post_review(
        self, ref: PullRef, head_sha: str, body: str, comments: list[Comment]
    ) -> PostedReview: ...
    async def review_comment_fingerprints(self, ref: PullRef) -> set[str]: ...
    async def add_reaction(self, owner: str, repo: str, comment_id: int, content: str) -> None: ...
    async def reply(self, ref: PullRef, body: str) -> int: ...
    async def permission(self, owner: str, repo: str, login: str) -> str: ...
    async def review_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any]: ...
    async def reply_in_thread(self, ref: PullRef, review_comment_id: int, body: str) -> int: ...
    @property
    def bot_login(self) -> str | None: ...


@runtime_checkable
class FeedbackSource(Protocol):
    """A GitHub client that also lists the bot's inline comments with their reactions
    and the fingerprints of its resolved threads (bot.github.GitHub does); a review and the
    periodic pass (`collect_feedback`) read the ledger's feedback from it."""

    async def review_comment_feedback(self, ref: PullRef) -> list[CommentFeedback]: ...
    async def resolved_fingerprints(self, ref: PullRef) -> set[str]: ...


class Pushes(Protocol):
    """Whether a pull request was pushed to after a time (bot.adapters.queue.JobQueue knows,
    from the deliveries it received)."""

    def pushed_since(self, owner: str, repo: str, number: int, since: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a job needs, made once per process. `pushes` is the queue the jobs come
    from, where there is one (not in the Action). `settings_text` replaces the repo's settings
    file on its default branch when given (the Action's `config` input, `tierbot review
    --config`)."""

    settings: Settings
    prices: PriceTable
    backends: Mapping[Tier, Backend]
    models: Models
    github_for: Callable[[int | None], Awaitable[GitHubClient]]
    metrics: Metrics | None = None
    ledger: Ledger | None = None
    pushes: Pushes | None = None
    settings_text: str | None = None
