"""The ledger's rows: what a review's attempts and comments write, and the span of a query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.ledger.schema import TIERS, charges, to_exact
from bot.core.anchor import Comment
from bot.core.cost import Spend
from bot.core.result import Attempt
from bot.core.secrets.redaction import scrub


def charged_since(
    conn: Connection, since: datetime, repo: str | None, installation_id: int | None
) -> Decimal:
    """The dollars held or spent on frontier requests since `since`, for a repo, an installation
    or all."""
    query = sa.select(sa.func.sum(charges.c.usd)).where(*span(charges, repo, since, None))
    if installation_id is not None:
        query = query.where(charges.c.installation_id == installation_id)
    return conn.scalar(query) or Decimal(0)


def where_row(
    repo: str, number: int, at: datetime | None, installation_id: int | None
) -> dict[str, Any]:
    """The columns that say where and when a row happened."""
    return {"at": moment(at), "installation_id": installation_id, "repo": repo, "number": number}


def moment(at: datetime | None) -> datetime:
    """`at`, or now; a naive time is refused rather than guessed at."""
    if at is not None and at.tzinfo is None:
        raise ValueError(f"ledger times must be timezone-aware, got {at!r}")
    return at or datetime.now(UTC)


def request_rows(
    task: str, attempts: Sequence[Attempt], spend: Spend | None, given: Sequence[Decimal] | None
) -> list[dict[str, Any]]:
    """The request rows of a task's attempts, priced as bot.adapters.ledger says."""
    usd: list[Decimal | None]
    if given is not None:
        if len(given) != len(attempts):
            raise ValueError(f"attempt_usd has {len(given)} amounts for {len(attempts)} attempts")
        usd = list(given)
    elif spend is None:
        usd = [None] * len(attempts)
    else:
        tiers = [str(a.tier) for a in attempts]
        if len(set(tiers)) != len(tiers) or not set(tiers) <= set(TIERS):
            raise ValueError(f"cannot split a Spend over attempts on {tiers}; pass attempt_usd")
        usd = [spend.local_usd if t == "local" else spend.frontier_usd for t in tiers]
    last = len(attempts) - 1
    return [
        {
            "task": task,
            "tier": str(a.tier),
            "model": a.model,
            "parts": a.parts,
            "input_tokens": a.usage.input_tokens,
            "output_tokens": a.usage.output_tokens,
            "cache_write_tokens": a.usage.cache_write_tokens,
            "cache_read_tokens": a.usage.cache_read_tokens,
            "usd": None if cost is None else to_exact(cost, 9),
            "baseline_usd": None
            if spend is None
            else to_exact(spend.baseline_usd if i == last else 0, 9),
            "baseline_estimated": None if spend is None else spend.baseline_estimated,
            "gpu_seconds": a.gpu_seconds,
            "wall_seconds": a.wall_seconds,
            "escalated": i > 0,
            "error": scrub("; ".join(a.errors)) or None,
        }
        for i, (a, cost) in enumerate(zip(attempts, usd, strict=True))
    ]


def verify_row(attempt: Attempt, spend: Spend | None) -> dict[str, Any]:
    """The request row of the checking of a review's comments (task `verify`): its own cost,
    outside the all-frontier baseline (bot.core.cost.Spend)."""
    given = None
    if spend is not None:
        frontier = str(attempt.tier) == "frontier"
        given = [spend.verify_frontier_usd if frontier else spend.verify_local_usd]
    [row] = request_rows("verify", [attempt], None, given)
    return row | {
        "baseline_usd": None if spend is None else Decimal(0),
        "baseline_estimated": None if spend is None else False,
    }


def comment_row(
    comment: Comment,
    review_id: int,
    repo: str,
    number: int,
    tier: str,
    held: str | None = None,
) -> dict[str, Any]:
    """The row of one comment, posted or (`held`: why) held back; its body is not stored."""
    return {
        "review_id": review_id,
        "repo": repo,
        "number": number,
        "fingerprint": comment.fingerprint,
        "path": scrub(comment.path),
        "line": comment.line,
        "side": str(comment.side),
        "severity": str(comment.severity),
        "category": comment.category,
        "tier": tier,
        "held": held,
    }


def span(
    table: sa.Table, repo: str | None, since: datetime | None, until: datetime | None
) -> list[sa.ColumnElement[bool]]:
    """The conditions that keep `table` to `repo` (or all) from `since` up to `until`."""
    found = [table.c.repo == repo] if repo is not None else []
    found += [table.c.at >= moment(since)] if since is not None else []
    return found + ([table.c.at < moment(until)] if until is not None else [])
