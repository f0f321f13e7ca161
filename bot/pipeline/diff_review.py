"""A diff with no pull request through the pipeline's own steps, as a dry run: read and
exclude (bot.pipeline.change), decide (bot.pipeline.allowance), review (bot.pipeline.review,
which checks the comments as the App does: bot.pipeline.verify) and price
(bot.pipeline.posting). `tierbot review --diff` reviews one diff file this way and `tierbot eval`
each change of a dataset: the same routing, prompt and review as the App's, with no budget
(there is no pull request to charge), no ledger and nothing posted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.adapters.github import GitHubError
from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings
from bot.core.cost import Spend
from bot.core.repo_settings import RepoSettings
from bot.core.result import ReviewResult
from bot.core.routing import Models, Tier
from bot.core.types import Backend
from bot.pipeline.allowance import Decided, decide_change
from bot.pipeline.change import Change, Unreadable, read_change
from bot.pipeline.posting import spend_of
from bot.pipeline.review import review_change
from bot.pipeline.services import GitHubClient, Services
from bot.pipeline.verify import verifier_for

NO_PULL_REQUEST = "a diff file has no pull request on GitHub"


async def _no_github(_installation: int | None) -> GitHubClient:
    raise GitHubError(NO_PULL_REQUEST)


def diff_services(
    settings: Settings,
    prices: PriceTable,
    backends: Mapping[Tier, Backend],
    models: Models,
) -> Services:
    """The services of a diff's review: the process's models and prices, and no GitHub."""
    return Services(settings, prices, backends, models, _no_github)


@dataclass(frozen=True, slots=True)
class Ready:
    """A diff read and decided, its review not yet run."""

    change: Change
    decided: Decided

    def nothing_to_review(self) -> str | None:
        """Why a model would be sent nothing (see `Decided.nothing_to_review`), or None."""
        return self.decided.nothing_to_review()


async def decide_diff(
    diff: str | bytes,
    repo: RepoSettings,
    services: Services,
    *,
    override: Tier | None = None,
) -> Ready | Unreadable:
    """The diff read, without the files `repo` excludes, and its decision (`override`: a
    forced tier); or why nothing is left to decide on."""
    read = read_change(diff, repo)
    if isinstance(read, Unreadable):
        return read
    decided = await decide_change(read, repo, "", services, override=override)
    return Ready(read, decided)


async def review_ready(
    ready: Ready, repo: RepoSettings, services: Services
) -> tuple[ReviewResult, Spend]:
    """The review of a decided diff on its tier (escalating as the App does), and its cost.
    A model's failure is in the result's `failed`, not raised."""
    decided = ready.decided
    result = await review_change(
        ready.change.kept,
        decided.decision,
        decided.backends,
        repo,
        verifier=verifier_for(decided.backends, services.prices),
    )
    return result, spend_of(result.attempts, services, result)
