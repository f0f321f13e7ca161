"""The ledger itself: record reviews, requests, feedback and budget holds; read them back.

Thread safety: the methods are synchronous (callers use `asyncio.to_thread`) and may run on any
thread; each Ledger has its own engine and connection pool (bot.adapters.ledger.engine).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from bot.adapters.budget import Limit, over
from bot.adapters.ledger.acceptance import Acceptance, tally_acceptance
from bot.adapters.ledger.engine import engine_for, ledger_url
from bot.adapters.ledger.report import Report, tally
from bot.adapters.ledger.rows import (
    charged_since,
    comment_row,
    moment,
    request_rows,
    span,
    verify_row,
    where_row,
)
from bot.adapters.ledger.schema import (
    BUDGET_LOCK,
    FEEDBACK_KEY,
    FEEDBACK_KINDS,
    VERSION_TABLE,
    charges,
    comments,
    feedback,
    requests,
    reviews,
    to_exact,
)
from bot.adapters.ledger.shadows import TradeOff, insert_shadow, read_trade_off
from bot.core.anchor import Comment
from bot.core.cost import Spend
from bot.core.result import Attempt, ReviewResult
from bot.core.secrets.redaction import scrub
from bot.core.selection import HeldReason
from bot.core.shadow import Shadow
from bot.core.summary import MonthToDate

_MIGRATIONS = Path(__file__).with_name("migrations")
# The key of the PostgreSQL advisory lock that serialises `migrate` across processes ("tierbotL").
_MIGRATION_LOCK = int.from_bytes(b"tierbotL", "big") & 0x7FFF_FFFF_FFFF_FFFF


class Ledger:
    """The ledger in the database at `url`: `sqlite:///PATH` (or a bare path) or `postgresql://…`
    (`postgres://` and `postgresql+psycopg://` too). Call `migrate` once at start, before use."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = engine_for(ledger_url(url))

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it is there. Safe when several
        processes start at once: they take turns under a lock (SQLite's write lock, a PostgreSQL
        advisory lock) held for the whole transaction, and each migration is transactional."""
        # Alembic is needed only here, at start-up: not imported for every ledger read.
        from alembic import command  # noqa: PLC0415
        from alembic.config import Config  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.set_main_option("path_separator", "os")
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def migrated(self) -> bool:
        """Whether the schema is at the newest revision (`migrate` would do nothing)."""
        from alembic.runtime.migration import MigrationContext  # noqa: PLC0415
        from alembic.script import ScriptDirectory  # noqa: PLC0415

        heads = set(ScriptDirectory(str(_MIGRATIONS)).get_heads())
        with self.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return set(context.get_current_heads()) == heads

    def record_review(
        self,
        *,
        repo: str,
        number: int,
        head_sha: str,
        trigger: str,
        result: ReviewResult,
        spend: Spend | None,
        comments_posted: Sequence[Comment],
        at: datetime | None = None,
        installation_id: int | None = None,
        outcome: str | None = None,
        attempt_usd: Sequence[Decimal] | None = None,
    ) -> int:
        """Record a review, each of its attempts (and the checking of its comments, as a
        request of the task `verify`), each comment posted and each held back (`result.held`,
        with why; not a repeat of one made before), in one transaction; returns the review's
        id. `outcome` defaults to "failed" when the result failed, else "reviewed";
        `attempt_usd` (aligned with `result.attempts`) overrides the split of `spend` between
        them."""
        where = where_row(repo, number, at, installation_id)
        rows = request_rows(str(result.decision.task), result.attempts, spend, attempt_usd)
        check = result.verification.attempt if result.verification is not None else None
        if check is not None:
            rows.append(verify_row(check, spend))
        priced = spend is not None and all(r["usd"] is not None for r in rows)
        review = {
            **where,
            "head_sha": head_sha,
            "triggered_by": trigger,
            "task": str(result.decision.task),
            "tier": str(result.tier),
            "model": result.model,
            "score": result.decision.score,
            "reasons": [scrub(r) for r in result.decision.reasons],
            "coverage": [
                {"path": scrub(c.path), "state": c.state, "reason": scrub(c.reason)}
                for c in result.coverage
            ],
            "outcome": outcome or ("failed" if result.failed else "reviewed"),
            "failure": scrub(result.failed) if result.failed else None,
            "escalated": len(result.attempts) > 1,
            "escalation": [scrub(e) for e in result.escalation],
            "comments_posted": len(comments_posted),
            "spent_usd": sum((r["usd"] for r in rows), Decimal(0)) if priced else None,
            "baseline_usd": to_exact(spend.baseline_usd, 9) if spend is not None else None,
            "baseline_estimated": spend.baseline_estimated if spend is not None else None,
        }
        with self._write() as conn:
            insert = reviews.insert().values(review).returning(reviews.c.id)
            review_id: int = conn.execute(insert).scalar_one()
            if rows:
                conn.execute(
                    requests.insert(), [{**where, **r, "review_id": review_id} for r in rows]
                )
            tier = str(result.tier)
            listed = [comment_row(c, review_id, repo, number, tier) for c in comments_posted]
            listed += [  # a repeat was recorded when it was first made
                comment_row(h.comment, review_id, repo, number, tier, str(h.reason))
                for h in result.held
                if h.reason is not HeldReason.REPEAT
            ]
            if listed:
                conn.execute(comments.insert(), listed)
        return review_id

    def record_shadow(
        self,
        *,
        review_id: int,
        repo: str,
        number: int,
        shadow: Shadow,
        spend: Spend,
        installation_id: int | None = None,
        at: datetime | None = None,
    ) -> int:
        """Record a shadow review of the review `review_id`, its findings and its request (task
        `shadow`, priced by `spend`) in one transaction (bot.adapters.ledger.shadows); its id."""
        where = where_row(repo, number, at, installation_id)
        with self._write() as conn:
            return insert_shadow(conn, review_id, where, shadow, spend)

    def trade_off(
        self,
        *,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> TradeOff:
        """The calibration samples, shadow reviews and spend by day of `repo` (or all) from
        `since` up to, not including, `until` (or ever), in one snapshot
        (bot.adapters.ledger.shadows)."""
        with self._read() as conn:
            return read_trade_off(conn, repo, since, until)

    def record_request(
        self,
        *,
        repo: str,
        number: int,
        attempts: Sequence[Attempt],
        spend: Spend | None,
        task: str = "ask",
        at: datetime | None = None,
        installation_id: int | None = None,
        attempt_usd: Sequence[Decimal] | None = None,
    ) -> tuple[int, ...]:
        """Record the attempts of a task that is not a review (an /ask answer: `task` "ask"), one
        row each, priced like a review's; returns their ids."""
        where = where_row(repo, number, at, installation_id)
        rows = request_rows(task, attempts, spend, attempt_usd)
        with self._write() as conn:
            insert = requests.insert().returning(requests.c.id)
            return tuple(conn.execute(insert, {**where, **r}).scalar_one() for r in rows)

    def record_feedback(
        self,
        *,
        repo: str,
        number: int,
        fingerprint: str,
        kind: str,
        actor: str = "",
        at: datetime | None = None,
    ) -> bool:
        """Record feedback on the comment `fingerprint` of PR `number` once per (kind, actor);
        returns whether it was new. `kind` is one of FEEDBACK_KINDS."""
        if kind not in FEEDBACK_KINDS:
            raise ValueError(f"unknown feedback kind {kind!r}; known: {sorted(FEEDBACK_KINDS)}")
        values = {"repo": repo, "number": number, "fingerprint": fingerprint, "kind": kind}
        values |= {"actor": actor, "at": moment(at)}
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(feedback).values(values)
        with self._write() as conn:
            statement = statement.on_conflict_do_nothing(index_elements=FEEDBACK_KEY)
            return conn.execute(statement.returning(feedback.c.id)).first() is not None

    def month_to_date(self, repo: str, now: datetime) -> MonthToDate:
        """The repo's reviews (any outcome), and its spend and baseline (all tasks), in the UTC
        calendar month of `now`."""
        start = (
            moment(now).astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        )
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        with self._read() as conn:
            count = conn.scalar(
                sa.select(sa.func.count())
                .select_from(reviews)
                .where(*span(reviews, repo, start, end))
            )
            spent, baseline = conn.execute(
                sa.select(sa.func.sum(requests.c.usd), sa.func.sum(requests.c.baseline_usd)).where(
                    *span(requests, repo, start, end)
                )
            ).one()
        return MonthToDate(
            spent_usd=spent or Decimal(0), baseline_usd=baseline or Decimal(0), reviews=count or 0
        )

    def frontier_spent(
        self, *, since: datetime, repo: str | None = None, installation_id: int | None = None
    ) -> Decimal:
        """The dollars of frontier requests (all tasks) since `since`, for a repo, an installation
        or all."""
        query = sa.select(sa.func.sum(requests.c.usd)).where(
            requests.c.tier == "frontier", *span(requests, repo, since, None)
        )
        if installation_id is not None:
            query = query.where(requests.c.installation_id == installation_id)
        with self._read() as conn:
            return conn.scalar(query) or Decimal(0)

    def frontier_charged(
        self, *, since: datetime, repo: str | None = None, installation_id: int | None = None
    ) -> Decimal:
        """The dollars of frontier requests spent or held since `since` (the budgets' count),
        for a repo, an installation or all."""
        with self._read() as conn:
            return charged_since(conn, since, repo, installation_id)

    def hold(
        self,
        usd: Decimal,
        *,
        limits: Sequence[Limit],
        repo: str,
        number: int,
        installation_id: int | None = None,
        at: datetime | None = None,
    ) -> int | str:
        """Hold `usd` for one frontier request of `repo`#`number` against each of `limits` for
        the UTC calendar month of `at`: the charge's id, or why it does not fit (nothing is
        written then). The check and the write are one transaction that concurrent holders,
        in this process or another, take one at a time (SQLite's write lock, a PostgreSQL
        advisory lock), so together they never pass a budget."""
        when = moment(at)
        since = when.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(BUDGET_LOCK)))
            for limit in limits:
                charged = charged_since(conn, since, limit.repo, limit.installation_id)
                refusal = over(limit, charged, usd)
                if refusal is not None:
                    return refusal
            row = {**where_row(repo, number, when, installation_id), "usd": usd, "settled": False}
            return int(
                conn.execute(charges.insert().values(row).returning(charges.c.id)).scalar_one()
            )

    def settle(self, charge: int, usd: Decimal) -> None:
        """Set a held charge to what its request cost."""
        with self._write() as conn:
            conn.execute(
                charges.update().where(charges.c.id == charge).values(usd=usd, settled=True)
            )

    def purse(
        self, limits: Sequence[Limit], *, repo: str, number: int, installation_id: int | None
    ) -> LedgerPurse:
        """A purse (bot.adapters.budget.Purse) holding one pull request's frontier requests here."""
        return LedgerPurse(self, tuple(limits), repo, number, installation_id)

    def recent_pulls(self, *, since: datetime) -> list[tuple[str, int, int | None]]:
        """The (repo, number, installation_id) of the pull requests reviewed since `since`, each
        once, in that order."""
        query = (
            sa.select(reviews.c.repo, reviews.c.number, reviews.c.installation_id)
            .where(*span(reviews, None, since, None))
            .distinct()
            .order_by(reviews.c.repo, reviews.c.number, reviews.c.installation_id)
        )
        with self._read() as conn:
            return [
                (str(r), int(n), None if i is None else int(i)) for r, n, i in conn.execute(query)
            ]

    def report(
        self,
        *,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Report:
        """Reviews, requests, tokens, dollars, GPU time, comments and feedback by tier, for `repo`
        (or all) from `since` up to, not including, `until` (or ever)."""
        with self._read() as conn:
            return tally(conn, repo, since, until)

    def acceptance(
        self,
        *,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Acceptance:
        """How the comments of `repo`'s (or all) reviews from `since` up to, not including,
        `until` (or ever) were received, by tier, category and severity
        (bot.adapters.ledger.acceptance)."""
        with self._read() as conn:
            return tally_acceptance(conn, repo, since, until)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock at its start (BEGIN IMMEDIATE)."""
        with self.engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction whose queries all see one snapshot."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn


@dataclass(frozen=True, slots=True)
class LedgerPurse:
    """bot.adapters.budget.Purse on the ledger, for one pull request's requests."""

    ledger: Ledger
    limits: tuple[Limit, ...]
    repo: str
    number: int
    installation_id: int | None

    def hold(self, usd: Decimal) -> int | str:
        return self.ledger.hold(
            usd,
            limits=self.limits,
            repo=self.repo,
            number=self.number,
            installation_id=self.installation_id,
        )

    def settle(self, hold: int, usd: Decimal) -> None:
        self.ledger.settle(hold, usd)
