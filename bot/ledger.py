"""The cost ledger: every review, model request, posted comment and piece of feedback, in SQL.

SQLAlchemy Core on the SQLite file of the embedded defaults, or on PostgreSQL when the URL says so
(`postgresql://` is driven by psycopg 3). The schema is Alembic's (`bot/migrations`), applied by
`Ledger.migrate` with its own version table, `ledger_alembic_version`, so the ledger shares the
SQLite file with the job queue's `queue_*` tables and never touches them.

What a row means:
- `ledger_reviews`: one review of one head commit (tier, score, reasons, coverage, outcome, and
  what it cost against the all-frontier baseline);
- `ledger_requests`: one tier's attempt at a task (a review, an /ask answer): its `parts` model
  calls together, tokens by kind, dollars, GPU and wall seconds, whether it was an escalation (a
  frontier redo of a local attempt) and its errors. Its dollars come from the caller's `Spend`:
  the local attempt gets `Spend.local_usd` and the frontier attempt `Spend.frontier_usd` (or pass
  `attempt_usd` when two attempts share a tier). The all-frontier baseline of the task is carried
  whole by its last attempt, the one whose result stood, and is 0 on the others, so summing
  requests gives spend and baseline for any mix of reviews and answers;
- `ledger_comments`: one inline comment posted, by fingerprint, with the tier that wrote it;
- `ledger_feedback`: one reaction, resolved thread or committed suggestion, recorded once;
- `ledger_charges`: one frontier request's money, held against the month's budgets before the
  request is sent (at the most it can cost) and settled to what it cost (bot.budget); the
  budgets count these, so requests in flight count too.

Text that came from elsewhere (reasons, coverage, failures, errors, paths) is stored with any
secret in it replaced (bot.review.secrets.scrub); comment bodies are not stored.

Money is exact: amounts are stored to the nano-dollar (9 places, rounded half-even), as
NUMERIC(18, 9) on PostgreSQL and, because SQLite's NUMERIC is a float, as an integer count of
nano-dollars on SQLite; either way SQL's SUM is exact and comes back as a Decimal. Seconds are
kept the same way, to the microsecond. Times are UTC.

Thread safety: the methods are synchronous (callers use `asyncio.to_thread`) and may run on any
thread; each Ledger has its own engine and connection pool. On SQLite the journal is WAL (readers
never block the writer), a busy timeout makes a writer wait its turn, and every write transaction
starts with BEGIN IMMEDIATE, so concurrent writers queue instead of failing on a lock upgrade.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine

from bot.budget import Limit, over
from bot.cost import Spend
from bot.review.anchor import Comment
from bot.review.secrets import scrub
from bot.review.summary import MonthToDate
from bot.reviewer import Attempt, ReviewResult

VERSION_TABLE = "ledger_alembic_version"
FEEDBACK_KINDS = frozenset({"thumbs_up", "thumbs_down", "resolved", "suggestion_committed"})
POSITIVE_FEEDBACK = frozenset({"thumbs_up", "resolved", "suggestion_committed"})
TIERS = ("local", "frontier")
BUSY_TIMEOUT_SECONDS = 30
_MIGRATIONS = Path(__file__).with_name("migrations")
# The key of the PostgreSQL advisory lock that serialises `migrate` across processes ("tierbotL").
_MIGRATION_LOCK = int.from_bytes(b"tierbotL", "big") & 0x7FFF_FFFF_FFFF_FFFF


class _Exact(sa.types.TypeDecorator[Decimal]):
    """An exact decimal of `scale` places: NUMERIC(18, scale) on PostgreSQL, an integer count of
    10**-scale units on SQLite. A float is read by its repr (0.1 is 0.1)."""

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, scale: int) -> None:
        super().__init__(18, scale, asdecimal=True)
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(18, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        exact = _exact(value, self.scale)
        return int(exact.scaleb(self.scale)) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value)


class _UTC(sa.types.TypeDecorator[datetime]):
    """A point in time, stored in UTC; a naive datetime is refused rather than guessed at."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"ledger times must be timezone-aware, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _exact(value: object, scale: int) -> Decimal:
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def _where() -> list[sa.Column[Any]]:
    return [
        sa.Column("at", _UTC(), nullable=False),
        sa.Column("installation_id", sa.BigInteger()),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
    ]


METADATA = sa.MetaData()
"""The ledger's tables as the code reads them; `bot/migrations` creates them."""
reviews = sa.Table(
    "ledger_reviews",
    METADATA,
    _id(),
    *_where(),
    sa.Column("head_sha", sa.String(64), nullable=False),
    sa.Column("triggered_by", sa.String(50), nullable=False),
    sa.Column("task", sa.String(20), nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("score", sa.Integer(), nullable=False),
    sa.Column("reasons", sa.JSON(), nullable=False),
    sa.Column("coverage", sa.JSON(), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("failure", sa.Text()),
    sa.Column("escalated", sa.Boolean(), nullable=False),
    sa.Column("escalation", sa.JSON(), nullable=False),
    sa.Column("comments_posted", sa.Integer(), nullable=False),
    sa.Column("spent_usd", _Exact(9)),
    sa.Column("baseline_usd", _Exact(9)),
    sa.Column("baseline_estimated", sa.Boolean()),
)
requests = sa.Table(
    "ledger_requests",
    METADATA,
    _id(),
    sa.Column("review_id", sa.ForeignKey("ledger_reviews.id", ondelete="CASCADE")),
    *_where(),
    sa.Column("task", sa.String(20), nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("parts", sa.Integer(), nullable=False),
    sa.Column("input_tokens", sa.BigInteger(), nullable=False),
    sa.Column("output_tokens", sa.BigInteger(), nullable=False),
    sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
    sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
    sa.Column("usd", _Exact(9)),
    sa.Column("baseline_usd", _Exact(9)),
    sa.Column("baseline_estimated", sa.Boolean()),
    sa.Column("gpu_seconds", _Exact(6), nullable=False),
    sa.Column("wall_seconds", _Exact(6), nullable=False),
    sa.Column("escalated", sa.Boolean(), nullable=False),
    sa.Column("error", sa.Text()),
)
comments = sa.Table(
    "ledger_comments",
    METADATA,
    _id(),
    sa.Column("review_id", sa.ForeignKey("ledger_reviews.id", ondelete="CASCADE"), nullable=False),
    sa.Column("repo", sa.String(200), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("line", sa.Integer(), nullable=False),
    sa.Column("side", sa.String(5), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("category", sa.String(100), nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
)
feedback = sa.Table(
    "ledger_feedback",
    METADATA,
    _id(),
    sa.Column("at", _UTC(), nullable=False),
    sa.Column("repo", sa.String(200), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
)
charges = sa.Table(
    "ledger_charges",
    METADATA,
    _id(),
    *_where(),
    sa.Column("usd", _Exact(9), nullable=False),
    sa.Column("settled", sa.Boolean(), nullable=False),
)
_FEEDBACK_KEY = ("repo", "number", "fingerprint", "kind", "actor")
# The key of the PostgreSQL advisory lock that serialises budget holds ("tierbotB").
_BUDGET_LOCK = int.from_bytes(b"tierbotB", "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class Tokens:
    """Tokens by kind, which are billed at different prices."""

    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0


@dataclass(frozen=True, slots=True)
class TierReport:
    """One tier's share of the work: `reviews` that ended on this tier, `requests` (model calls)
    and `attempts` made on it, with their tokens, dollars and GPU time; `escalations` are attempts
    that redid a local attempt's work on this tier; comments posted by severity, and how many of
    them got positive feedback (a 👍, a resolved thread, a committed suggestion) and no 👎."""

    tier: str
    reviews: int = 0
    failed_reviews: int = 0
    requests: int = 0
    attempts: int = 0
    escalations: int = 0
    tokens: Tokens = Tokens()
    usd: Decimal = Decimal(0)
    baseline_usd: Decimal = Decimal(0)
    gpu_seconds: Decimal = Decimal(0)
    comments: Mapping[str, int] = field(default_factory=dict)
    positive_comments: int = 0

    @property
    def positive_share_pct(self) -> Decimal | None:
        """The percentage of this tier's comments with positive feedback; None with no comments."""
        total = sum(self.comments.values())
        return _pct(Decimal(self.positive_comments), Decimal(total)) if total else None


@dataclass(frozen=True, slots=True)
class Report:
    """The ledger over a repo (or all) in a span of time (or ever). `spend_usd` and `baseline_usd`
    cover every task, reviews and answers; `estimated_baseline_usd` is the part of the baseline
    estimated from local prompts (no frontier request was made); `unpriced_requests` had no Spend
    and count as $0."""

    repo: str | None
    since: datetime | None
    until: datetime | None
    tiers: tuple[TierReport, ...]
    unpriced_requests: int = 0
    estimated_baseline_usd: Decimal = Decimal(0)

    def tier(self, name: str) -> TierReport:
        """The figures of tier `name` (all zero when it did no work)."""
        return next((t for t in self.tiers if t.tier == name), TierReport(name))

    @property
    def spend_usd(self) -> Decimal:
        return sum((t.usd for t in self.tiers), Decimal(0))

    @property
    def baseline_usd(self) -> Decimal:
        return sum((t.baseline_usd for t in self.tiers), Decimal(0))

    @property
    def saved_pct(self) -> Decimal | None:
        """(baseline - spend) / baseline in percent, to 0.1 (half up); None with no baseline."""
        baseline = self.baseline_usd
        return _pct(baseline - self.spend_usd, baseline) if baseline else None

    @property
    def reviews(self) -> int:
        return sum(t.reviews for t in self.tiers)

    @property
    def escalations(self) -> int:
        return sum(t.escalations for t in self.tiers)

    @property
    def gpu_hours(self) -> Decimal:
        return _hours(sum((t.gpu_seconds for t in self.tiers), Decimal(0)))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form with the derived figures; every Decimal is its exact string."""
        derived = ("reviews", "escalations", "spend_usd", "baseline_usd", "saved_pct", "gpu_hours")
        figures: dict[str, Any] = {
            **{name: getattr(self, name) for name in ("repo", "since", "until", *derived)},
            "estimated_baseline_usd": self.estimated_baseline_usd,
            "unpriced_requests": self.unpriced_requests,
            "tiers": {
                t.tier: {
                    **asdict(t),
                    "gpu_hours": _hours(t.gpu_seconds),
                    "positive_share_pct": t.positive_share_pct,
                }
                for t in self.tiers
            },
        }
        return {name: _plain(value) for name, value in figures.items()}


class Ledger:
    """The ledger in the database at `url`: `sqlite:///PATH` (or a bare path) or `postgresql://…`
    (`postgres://` and `postgresql+psycopg://` too). Call `migrate` once at start, before use."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = _engine(_url(url))

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
        """Record a review, each of its attempts and each comment posted, in one transaction;
        returns the review's id. `outcome` defaults to "failed" when the result failed, else
        "reviewed"; `attempt_usd` (aligned with `result.attempts`) overrides the split of
        `spend` between them."""
        where = _where_row(repo, number, at, installation_id)
        rows = _request_rows(str(result.decision.task), result.attempts, spend, attempt_usd)
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
            "baseline_usd": _exact(spend.baseline_usd, 9) if spend is not None else None,
            "baseline_estimated": spend.baseline_estimated if spend is not None else None,
        }
        with self._write() as conn:
            insert = reviews.insert().values(review).returning(reviews.c.id)
            review_id: int = conn.execute(insert).scalar_one()
            if rows:
                conn.execute(
                    requests.insert(), [{**where, **r, "review_id": review_id} for r in rows]
                )
            if comments_posted:
                conn.execute(
                    comments.insert(),
                    [
                        _comment_row(c, review_id, repo, number, str(result.tier))
                        for c in comments_posted
                    ],
                )
        return review_id

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
        where = _where_row(repo, number, at, installation_id)
        rows = _request_rows(task, attempts, spend, attempt_usd)
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
        values |= {"actor": actor, "at": _when(at)}
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(feedback).values(values)
        with self._write() as conn:
            statement = statement.on_conflict_do_nothing(index_elements=_FEEDBACK_KEY)
            return conn.execute(statement.returning(feedback.c.id)).first() is not None

    def month_to_date(self, repo: str, now: datetime) -> MonthToDate:
        """The repo's reviews (any outcome), and its spend and baseline (all tasks), in the UTC
        calendar month of `now`."""
        start = _when(now).astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        with self._read() as conn:
            count = conn.scalar(
                sa.select(sa.func.count())
                .select_from(reviews)
                .where(*_span(reviews, repo, start, end))
            )
            spent, baseline = conn.execute(
                sa.select(sa.func.sum(requests.c.usd), sa.func.sum(requests.c.baseline_usd)).where(
                    *_span(requests, repo, start, end)
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
            requests.c.tier == "frontier", *_span(requests, repo, since, None)
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
            return _charged(conn, since, repo, installation_id)

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
        when = _when(at)
        since = when.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_BUDGET_LOCK)))
            for limit in limits:
                charged = _charged(conn, since, limit.repo, limit.installation_id)
                refusal = over(limit, charged, usd)
                if refusal is not None:
                    return refusal
            row = {**_where_row(repo, number, when, installation_id), "usd": usd, "settled": False}
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
        """A purse (bot.budget.Purse) holding one pull request's frontier requests here."""
        return LedgerPurse(self, tuple(limits), repo, number, installation_id)

    def recent_pulls(self, *, since: datetime) -> list[tuple[str, int, int | None]]:
        """The (repo, number, installation_id) of the pull requests reviewed since `since`, each
        once, in that order."""
        query = (
            sa.select(reviews.c.repo, reviews.c.number, reviews.c.installation_id)
            .where(*_span(reviews, None, since, None))
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
        r, c = requests.c, comments.c
        zero = sa.literal(0)
        request_sums = sa.select(
            r.tier,
            sa.func.count(),
            sa.func.sum(r.parts),
            *(sa.func.sum(col) for col in (r.input_tokens, r.output_tokens)),
            *(sa.func.sum(col) for col in (r.cache_write_tokens, r.cache_read_tokens)),
            sa.func.sum(r.usd),
            sa.func.sum(r.baseline_usd),
            sa.func.sum(r.gpu_seconds),
            sa.func.sum(sa.case((r.escalated, 1), else_=zero)),
            sa.func.sum(sa.case((r.usd.is_(None), 1), else_=zero)),
            sa.func.sum(sa.case((r.baseline_estimated, r.baseline_usd), else_=None)),
        ).where(*_span(requests, repo, since, until))
        review_sums = sa.select(
            reviews.c.tier,
            sa.func.count(),
            sa.func.sum(sa.case((reviews.c.outcome == "failed", 1), else_=zero)),
        ).where(*_span(reviews, repo, since, until))
        posted = sa.select(c.tier, c.severity, sa.func.count()).join_from(comments, reviews)
        posted = posted.where(*_span(reviews, repo, since, until))
        kinds = sa.select(feedback.c.kind).where(
            feedback.c.repo == c.repo,
            feedback.c.number == c.number,
            feedback.c.fingerprint == c.fingerprint,
        )
        liked = posted.where(
            kinds.where(feedback.c.kind.in_(POSITIVE_FEEDBACK)).exists(),
            ~kinds.where(feedback.c.kind == "thumbs_down").exists(),
        )
        with self._read() as conn:
            by_request = conn.execute(request_sums.group_by(r.tier)).all()
            by_review = {
                t: (n, f) for t, n, f in conn.execute(review_sums.group_by(reviews.c.tier))
            }
            by_severity = conn.execute(posted.group_by(c.tier, c.severity)).all()
            by_liked = conn.execute(liked.group_by(c.tier, c.severity)).all()
        tiers: dict[str, dict[str, Any]] = {t: {} for t in TIERS}
        unpriced, estimated = 0, Decimal(0)
        # int(): PostgreSQL sums BIGINT columns as NUMERIC.
        for tier, n, parts, i, o, cw, cr, usd, base, gpu, esc, unp, est in by_request:
            tiers.setdefault(tier, {}).update(
                attempts=n,
                requests=int(parts or 0),
                tokens=Tokens(*(int(tokens or 0) for tokens in (i, o, cw, cr))),
                usd=usd or Decimal(0),
                baseline_usd=base or Decimal(0),
                gpu_seconds=gpu or Decimal(0),
                escalations=int(esc or 0),
            )
            unpriced += int(unp or 0)
            estimated += est or Decimal(0)
        for tier, (n, failed) in by_review.items():
            tiers.setdefault(tier, {}).update(reviews=n, failed_reviews=int(failed or 0))
        for tier, severity, n in by_severity:
            tiers.setdefault(tier, {}).setdefault("comments", {})[severity] = n
        for tier, _, n in by_liked:
            fields = tiers.setdefault(tier, {})
            fields["positive_comments"] = fields.get("positive_comments", 0) + n
        ordered = [*TIERS, *sorted(set(tiers) - set(TIERS))]
        return Report(
            repo=repo,
            since=since,
            until=until,
            tiers=tuple(TierReport(t, **tiers[t]) for t in ordered),
            unpriced_requests=unpriced,
            estimated_baseline_usd=estimated,
        )

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
    """bot.budget.Purse on the ledger, for one pull request's requests."""

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


def _charged(
    conn: Connection, since: datetime, repo: str | None, installation_id: int | None
) -> Decimal:
    query = sa.select(sa.func.sum(charges.c.usd)).where(*_span(charges, repo, since, None))
    if installation_id is not None:
        query = query.where(charges.c.installation_id == installation_id)
    return conn.scalar(query) or Decimal(0)


def _url(url: str) -> sa.URL:
    parsed = sa.make_url(url if "://" in url else f"sqlite:///{url}")
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"the ledger needs a sqlite:/// or postgresql:// URL, got {parsed!r}")
    return parsed


def _engine(url: sa.URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not begin transactions itself, or DDL would run outside them and a write
    # could not take the lock up front; `_sqlite_begin` emits BEGIN instead. See
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    _wal(cursor)
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _wal(cursor: Any) -> None:
    """Put the file in WAL mode once. The switch needs the file to itself and SQLite answers
    "locked" at once, without its busy wait, while another connection (another process
    starting up) holds it, so it is tried again for a few seconds. WAL then stays on the file."""
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("ledger_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _where_row(
    repo: str, number: int, at: datetime | None, installation_id: int | None
) -> dict[str, Any]:
    return {"at": _when(at), "installation_id": installation_id, "repo": repo, "number": number}


def _when(at: datetime | None) -> datetime:
    if at is not None and at.tzinfo is None:
        raise ValueError(f"ledger times must be timezone-aware, got {at!r}")
    return at or datetime.now(UTC)


def _request_rows(
    task: str, attempts: Sequence[Attempt], spend: Spend | None, given: Sequence[Decimal] | None
) -> list[dict[str, Any]]:
    """The request rows of a task's attempts, priced as the module docstring says."""
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
            "usd": None if cost is None else _exact(cost, 9),
            "baseline_usd": None
            if spend is None
            else _exact(spend.baseline_usd if i == last else 0, 9),
            "baseline_estimated": None if spend is None else spend.baseline_estimated,
            "gpu_seconds": a.gpu_seconds,
            "wall_seconds": a.wall_seconds,
            "escalated": i > 0,
            "error": scrub("; ".join(a.errors)) or None,
        }
        for i, (a, cost) in enumerate(zip(attempts, usd, strict=True))
    ]


def _comment_row(
    comment: Comment, review_id: int, repo: str, number: int, tier: str
) -> dict[str, Any]:
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
    }


def _span(
    table: sa.Table, repo: str | None, since: datetime | None, until: datetime | None
) -> list[sa.ColumnElement[bool]]:
    found = [table.c.repo == repo] if repo is not None else []
    found += [table.c.at >= _when(since)] if since is not None else []
    return found + ([table.c.at < _when(until)] if until is not None else [])


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _hours(seconds: Decimal) -> Decimal:
    return (seconds / 3600).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value
