"""Shadow reviews: which changes the local model reviewed the frontier model reviews too, without
posting, so that what the local model misses can be measured on the team's own changes.

Pure. The choice is a hash of the pull request and its head commit against the repo's
`shadow.share` (default 10%): the same commit is always chosen, or never, whichever worker asks
and however often the job is retried, and about that share of commits are chosen. The pipeline
(bot.pipeline.shadow) runs the review and says what happened in a `Shadow`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.core.matching import Matched
from bot.core.result import Attempt

_BUCKETS = 10_000


def chosen(repo: str, number: int, head_sha: str, share: Decimal) -> bool:
    """Whether commit `head_sha` of pull request `repo`#`number` gets a shadow review at
    `share` (0 to 1): its hash falls in the first `share` of the hash space, to 1/10,000."""
    digest = hashlib.sha256(f"{repo.casefold()}#{number}@{head_sha}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % _BUCKETS
    return bucket < share * _BUCKETS


class ShadowState(StrEnum):
    """How a shadow review ended: done (every part answered), partial (some parts failed or
    broke the schema: its findings are not a fair measure), failed (none answered)."""

    DONE = "done"
    PARTIAL = "partial"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Shadow:
    """A shadow review that ran: how it ended (`failure` says why it failed or is partial), the
    local attempt it shadows (whose verdict holds the local model's confidence measures), its
    own frontier attempt (None: nothing was sent) and what that cost, and the findings matched
    against the local review's."""

    state: ShadowState
    model: str
    local: Attempt
    frontier: Attempt | None
    usd: Decimal
    matched: Matched
    failure: str | None = None
