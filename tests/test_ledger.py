"""The cost ledger, on SQLite and on PostgreSQL: its migrations, the rows a review or an answer
leaves, concurrent writers, the month to date, feedback, and a report whose every figure is
recomputed here from the raw rows.

The PostgreSQL runs use the server at 127.0.0.1:5432 (database `test`; another with
TIERBOT_TEST_POSTGRES_URL), each test in a schema of its own that is dropped after it; they are
skipped, with the reason, where no server answers.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.adapters.ledger import METADATA, TIERS, VERSION_TABLE, Ledger
from bot.adapters.prices import PriceTable
from bot.core.anchor import Anchored, Comment
from bot.core.answer_schema import Severity
from bot.core.cost import Spend, frontier_cost, local_cost, review_spend
from bot.core.diff import Side
from bot.core.economics import GpuBilling, GpuCost
from bot.core.packing import Coverage
from bot.core.result import Attempt, ReviewResult
from bot.core.routing import Decision, Task, Tier
from bot.core.types import Usage
from tests.postgres import fresh_schema

PRICES = PriceTable.load()
FRONTIER = "claude-sonnet-5-5"
NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
TYPICAL = Usage(3000, 400)
HEAD = "0123456789abcdef0123456789abcdef01234567"
LEDGER_TABLES = {"ledger_reviews", "ledger_requests", "ledger_comments", "ledger_feedback"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no ledger in it: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tierbot.sqlite3'}"
        return
    with fresh_schema("ledger_test") as schema_url:
        yield schema_url


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    ledger = Ledger(url)
    ledger.migrate()
    yield ledger
    ledger.close()


# -- builders and raw rows ------------------------------------------------------------------------


def attempt(
    tier: Tier,
    usage: Usage = TYPICAL,
    *,
    gpu: float = 0.0,
    parts: int = 1,
    errors: tuple[str, ...] = (),
) -> Attempt:
    model = "qwen" if tier is Tier.LOCAL else FRONTIER
    return Attempt(tier, model, parts, usage, 2.5, gpu, errors, prompt_tokens_estimate=3100)


def comment(fingerprint: str, severity: Severity = Severity.MAJOR, line: int = 3) -> Comment:
    return Comment("app/x.py", line, Side.RIGHT, severity, "bug", "Body.", fingerprint=fingerprint)


def review(
    *attempts: Attempt, comments: tuple[Comment, ...] = (), failed: str | None = None
) -> ReviewResult:
    first = attempts[0].tier if attempts else Tier.LOCAL
    last = attempts[-1] if attempts else attempt(first)
    return ReviewResult(
        decision=Decision(first, "qwen", 31, Task.REVIEW, ("below the threshold 45", "1 file")),
        tier=last.tier,
        model=last.model,
        comments=comments,
        summary="Adds a cache.",
        coverage=(Coverage("app/x.py", "reviewed"), Coverage("poetry.lock", "skipped", "lock")),
        attempts=attempts,
        anchored=Anchored(comments=comments),
        escalation=("hedging: 'might'",) if len(attempts) > 1 else (),
        failed=failed,
    )


def priced(result: ReviewResult) -> Spend:
    return review_spend(result.attempts, PRICES, FRONTIER)


def record(ledger: Ledger, result: ReviewResult, **fields: Any) -> int:
    values: dict[str, Any] = {
        "repo": "octo/app",
        "number": 7,
        "head_sha": HEAD,
        "trigger": "pull_request.opened",
        "result": result,
        "spend": priced(result),
        "comments_posted": result.comments,
        "at": NOW,
    }
    values.update(fields)
    return ledger.record_review(**values)


def rows(ledger: Ledger, table: str) -> list[dict[str, Any]]:
    """Every row of `table`, read with plain SQL (no ledger code decodes them)."""
    with ledger.engine.connect() as conn:
        found = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))
        return [dict(row._mapping) for row in found]


def exact(value: Any, scale: int = 9) -> Decimal | None:
    """A stored amount: a NUMERIC on PostgreSQL, an integer of 10**-scale units on SQLite."""
    if value is None:
        return None
    return Decimal(value).scaleb(-scale) if isinstance(value, int) else Decimal(value)


def when(value: Any) -> datetime:
    """A stored time: an aware datetime on PostgreSQL, a naive UTC ISO string on SQLite."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stored_json(value: Any) -> Any:
    """A stored JSON value: decoded by psycopg on PostgreSQL, text on SQLite."""
    return json.loads(value) if isinstance(value, str) else value


def nanos(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("1e-9"))


# -- migrations -----------------------------------------------------------------------------------


def test_migrate_builds_the_schema_from_empty_and_a_second_run_changes_nothing(url: str) -> None:
    first, second = Ledger(url), Ledger(url)
    assert not LEDGER_TABLES & set(sa.inspect(first.engine).get_table_names())
    with first.engine.begin() as conn:  # the job queue's tables share the SQLite file
        conn.execute(sa.text("CREATE TABLE queue_schema (version INTEGER NOT NULL)"))
        conn.execute(sa.text("INSERT INTO queue_schema VALUES (3)"))
    first.migrate()
    first.migrate()
    second.migrate()
    inspector = sa.inspect(first.engine)
    assert {*LEDGER_TABLES, VERSION_TABLE} <= set(inspector.get_table_names())
    assert rows(first, VERSION_TABLE) == [{"version_num": "0003"}]
    assert rows(first, "queue_schema") == [{"version": 3}]
    for table in METADATA.sorted_tables:
        on_disk = {column["name"] for column in inspector.get_columns(table.name)}
        assert on_disk == set(table.columns.keys()), table.name
    first.close()
    second.close()


def test_two_processes_migrating_at_once_both_succeed(url: str) -> None:
    ledgers = [Ledger(url) for _ in range(3)]
    start = threading.Barrier(len(ledgers))

    def migrate(ledger: Ledger) -> None:
        start.wait()
        ledger.migrate()

    with ThreadPoolExecutor(len(ledgers)) as pool:
        list(pool.map(migrate, ledgers))
    assert rows(ledgers[0], VERSION_TABLE) == [{"version_num": "0003"}]
    for ledger in ledgers:
        ledger.close()


# -- what a review leaves -------------------------------------------------------------------------


def test_a_local_review_leaves_one_review_one_request_and_the_comments_posted(
    ledger: Ledger,
) -> None:
    local = attempt(Tier.LOCAL, Usage(3000, 400), gpu=12.5, parts=2)
    result = review(local, comments=(comment("a" * 16), comment("b" * 16, Severity.NIT, 9)))
    spend = priced(result)
    review_id = record(ledger, result, comments_posted=result.comments[:1], installation_id=42)

    [row] = rows(ledger, "ledger_reviews")
    assert row["id"] == review_id
    assert (row["repo"], row["number"], row["head_sha"]) == ("octo/app", 7, HEAD)
    assert (row["triggered_by"], row["task"], row["tier"], row["model"]) == (
        "pull_request.opened",
        "review",
        "local",
        "qwen",
    )
    assert (row["score"], row["outcome"], row["failure"]) == (31, "reviewed", None)
    assert stored_json(row["reasons"]) == ["below the threshold 45", "1 file"]
    assert stored_json(row["coverage"])[1] == {
        "path": "poetry.lock",
        "state": "skipped",
        "reason": "lock",
    }
    assert not row["escalated"]
    assert row["comments_posted"] == 1
    assert exact(row["spent_usd"]) == nanos(local_cost(12.5)) == nanos(spend.spent_usd)
    assert exact(row["baseline_usd"]) == nanos(spend.baseline_usd)
    assert row["baseline_estimated"]
    assert when(row["at"]) == NOW

    [request] = rows(ledger, "ledger_requests")
    assert (request["review_id"], request["installation_id"], request["task"]) == (
        review_id,
        42,
        "review",
    )
    assert (request["tier"], request["model"], request["parts"]) == ("local", "qwen", 2)
    tokens = [
        request[f"{kind}_tokens"] for kind in ("input", "output", "cache_write", "cache_read")
    ]
    assert tokens == [3000, 400, 0, 0]
    assert exact(request["usd"]) == nanos(local_cost(12.5))
    assert exact(request["baseline_usd"]) == nanos(spend.baseline_usd)
    assert exact(request["gpu_seconds"], 6) == Decimal("12.5")
    assert exact(request["wall_seconds"], 6) == Decimal("2.5")
    assert not request["escalated"]
    assert request["error"] is None

    [posted] = rows(ledger, "ledger_comments")
    assert {k: posted[k] for k in ("review_id", "fingerprint", "path", "line", "side")} == {
        "review_id": review_id,
        "fingerprint": "a" * 16,
        "path": "app/x.py",
        "line": 3,
        "side": "RIGHT",
    }
    assert (posted["severity"], posted["category"], posted["tier"]) == ("major", "bug", "local")


def test_an_escalated_review_records_both_requests_each_with_its_own_cost(ledger: Ledger) -> None:
    local = attempt(Tier.LOCAL, Usage(5000, 900), gpu=30.0, errors=("part 2: timed out",))
    frontier = attempt(Tier.FRONTIER, Usage(4000, 1200, 2000, 8000), parts=2)
    result = review(local, frontier, comments=(comment("c" * 16),))
    record(ledger, result)

    local_usd = local_cost(30.0)
    frontier_usd = frontier_cost(frontier.usage, PRICES.require(FRONTIER))
    # (4000 x $2 + 1200 x $10 + 2000 x $2.5 + 8000 x $0.2) / 1e6
    assert frontier_usd == Decimal("0.0266")
    [row] = rows(ledger, "ledger_reviews")
    assert row["escalated"]
    assert (row["tier"], row["model"]) == ("frontier", FRONTIER)
    assert stored_json(row["escalation"]) == ["hedging: 'might'"]
    assert exact(row["spent_usd"]) == nanos(local_usd) + frontier_usd
    assert exact(row["baseline_usd"]) == frontier_usd
    assert not row["baseline_estimated"]

    first, second = rows(ledger, "ledger_requests")
    assert (first["tier"], bool(first["escalated"])) == ("local", False)
    assert first["error"] == "part 2: timed out"
    assert (second["tier"], bool(second["escalated"]), second["parts"]) == ("frontier", True, 2)
    assert [exact(first["usd"]), exact(second["usd"])] == [nanos(local_usd), frontier_usd]
    # The all-frontier review is the frontier attempt: the local attempt adds nothing to it.
    assert [exact(first["baseline_usd"]), exact(second["baseline_usd"])] == [0, frontier_usd]
    assert [second[f"cache_{kind}_tokens"] for kind in ("write", "read")] == [2000, 8000]
    assert rows(ledger, "ledger_comments")[0]["tier"] == "frontier"


def test_a_review_that_could_not_run_is_recorded_as_failed_with_no_requests(
    ledger: Ledger,
) -> None:
    result = review(failed="the local model cannot run: no GPU")
    record(ledger, result, spend=None)
    [row] = rows(ledger, "ledger_reviews")
    assert (row["outcome"], row["failure"]) == ("failed", "the local model cannot run: no GPU")
    assert row["spent_usd"] is None
    assert row["baseline_usd"] is None
    assert rows(ledger, "ledger_requests") == []


def test_an_answer_is_recorded_as_ask_requests_and_counts_in_the_spend(ledger: Ledger) -> None:
    local, frontier = attempt(Tier.LOCAL, gpu=4.0), attempt(Tier.FRONTIER, Usage(2000, 300))
    spend = review_spend((local, frontier), PRICES, FRONTIER)
    ids = ledger.record_request(
        repo="octo/app", number=7, attempts=(local, frontier), spend=spend, at=NOW
    )
    assert len(ids) == 2
    found = rows(ledger, "ledger_requests")
    assert [(r["id"], r["task"], r["review_id"], bool(r["escalated"])) for r in found] == [
        (ids[0], "ask", None, False),
        (ids[1], "ask", None, True),
    ]
    assert ledger.report().spend_usd == nanos(spend.local_usd) + spend.frontier_usd
    assert ledger.month_to_date("octo/app", NOW).reviews == 0


def test_costs_that_cannot_be_split_by_tier_must_be_given(ledger: Ledger) -> None:
    two_local = review(attempt(Tier.LOCAL, gpu=1.0), attempt(Tier.LOCAL, gpu=2.0))
    with pytest.raises(ValueError, match="pass attempt_usd"):
        record(ledger, two_local)
    with pytest.raises(ValueError, match="1 amounts for 2 attempts"):
        record(ledger, two_local, attempt_usd=[Decimal(1)])
    record(ledger, two_local, attempt_usd=[Decimal("0.1"), Decimal("0.2")])
    assert [exact(r["usd"]) for r in rows(ledger, "ledger_requests")] == [
        Decimal("0.1"),
        Decimal("0.2"),
    ]
    assert exact(rows(ledger, "ledger_reviews")[0]["spent_usd"]) == Decimal("0.3")
    with pytest.raises(ValueError, match="timezone-aware"):
        record(ledger, review(attempt(Tier.LOCAL)), at=datetime(2026, 3, 1))


# -- concurrent writers ---------------------------------------------------------------------------


def test_concurrent_writers_lose_nothing_and_the_totals_stay_exact(ledger: Ledger) -> None:
    """8 threads record 40 reviews at once, at amounts a float sum would get wrong."""
    threads, each = 8, 5
    start = threading.Barrier(threads)

    def spend(k: int) -> Spend:
        cost = Decimal("0.1") + Decimal(k) * Decimal("0.000000001")
        return Spend(cost, cost * 3, True, Decimal(0), cost)

    def write(thread: int) -> None:
        start.wait()
        for i in range(each):
            k = thread * each + i
            fingerprints = (f"{k:015x}a", f"{k:015x}b")
            result = review(attempt(Tier.LOCAL), comments=tuple(map(comment, fingerprints)))
            record(ledger, result, number=k, spend=spend(k))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(threads)))

    total = threads * each
    assert len(rows(ledger, "ledger_reviews")) == total
    assert len(rows(ledger, "ledger_requests")) == total
    assert len(rows(ledger, "ledger_comments")) == 2 * total
    spent = sum((spend(k).spent_usd for k in range(total)), Decimal(0))
    assert spent == Decimal("4.00000078")
    report = ledger.report()
    assert (report.reviews, report.spend_usd, report.baseline_usd) == (total, spent, 3 * spent)
    month = ledger.month_to_date("octo/app", NOW)
    assert (month.reviews, month.spent_usd, month.baseline_usd) == (total, spent, 3 * spent)


# -- month to date and budgets --------------------------------------------------------------------


def test_month_to_date_counts_only_the_utc_calendar_month(ledger: Ledger) -> None:
    amounts = {
        datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC): Decimal("1"),
        datetime(2026, 3, 1, tzinfo=UTC): Decimal("0.02"),
        datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC): Decimal("0.003"),
        # 1 April 01:00 in UTC+2 is still 31 March in UTC.
        datetime(2026, 4, 1, 1, tzinfo=timezone(timedelta(hours=2))): Decimal("0.0004"),
        datetime(2026, 4, 1, tzinfo=UTC): Decimal("50"),
    }
    for at, cost in amounts.items():
        spend = Spend(cost, cost * 10, False, Decimal(0), cost)
        record(ledger, review(attempt(Tier.LOCAL)), at=at, spend=spend)
    other = Spend(Decimal(7), Decimal(7), False, Decimal(7), Decimal(0))
    record(ledger, review(attempt(Tier.FRONTIER)), repo="octo/other", spend=other)

    march = ledger.month_to_date("octo/app", NOW)
    assert (march.reviews, march.spent_usd, march.baseline_usd) == (
        3,
        Decimal("0.0234"),
        Decimal("0.234"),
    )
    # The same instant seen from UTC-5 on the evening of 28 February is already March in UTC.
    evening = datetime(2026, 2, 28, 20, tzinfo=timezone(timedelta(hours=-5)))
    assert ledger.month_to_date("octo/app", evening) == march
    assert ledger.month_to_date("octo/app", datetime(2026, 12, 5, tzinfo=UTC)).reviews == 0
    assert ledger.month_to_date("octo/other", NOW).spent_usd == 7


def test_frontier_spent_counts_frontier_requests_by_time_repo_and_installation(
    ledger: Ledger,
) -> None:
    def spend(frontier: str, local: str = "0") -> Spend:
        amount = Decimal(frontier) + Decimal(local)
        return Spend(amount, Decimal(frontier), False, Decimal(frontier), Decimal(local))

    escalated = review(attempt(Tier.LOCAL), attempt(Tier.FRONTIER))
    record(ledger, escalated, spend=spend("0.5", "0.25"), installation_id=1)
    record(ledger, review(attempt(Tier.FRONTIER)), spend=spend("0.125"), installation_id=1)
    record(ledger, review(attempt(Tier.FRONTIER)), spend=spend("2"), repo="o/b", installation_id=2)
    old = NOW - timedelta(days=40)
    record(ledger, review(attempt(Tier.FRONTIER)), spend=spend("100"), at=old, installation_id=1)
    record(ledger, review(attempt(Tier.LOCAL)), spend=spend("0", "9"), installation_id=1)

    since = NOW - timedelta(days=1)
    assert ledger.frontier_spent(since=since) == Decimal("2.625")
    assert ledger.frontier_spent(since=since, repo="octo/app") == Decimal("0.625")
    assert ledger.frontier_spent(since=since, installation_id=2) == Decimal(2)
    assert ledger.frontier_spent(since=old) == Decimal("102.625")
    assert ledger.frontier_spent(since=NOW + timedelta(seconds=1)) == 0


def test_recent_pulls_lists_each_pull_reviewed_since_once(ledger: Ledger) -> None:
    record(ledger, review(attempt(Tier.LOCAL)), installation_id=1)
    record(ledger, review(attempt(Tier.FRONTIER)), installation_id=1, at=NOW - timedelta(hours=1))
    record(ledger, review(attempt(Tier.LOCAL)), repo="octo/b", number=2)
    record(ledger, review(attempt(Tier.LOCAL)), repo="octo/a", number=5, installation_id=3)
    old = NOW - timedelta(days=15)
    record(ledger, review(attempt(Tier.LOCAL)), repo="octo/old", number=1, at=old)

    since = NOW - timedelta(days=14)
    assert ledger.recent_pulls(since=since) == [
        ("octo/a", 5, 3),
        ("octo/app", 7, 1),
        ("octo/b", 2, None),
    ]
    assert ("octo/old", 1, None) in ledger.recent_pulls(since=old)
    assert ledger.recent_pulls(since=NOW + timedelta(seconds=1)) == []


# -- feedback -------------------------------------------------------------------------------------


def test_feedback_is_recorded_once_and_the_positive_share_is_per_tier(ledger: Ledger) -> None:
    local = review(attempt(Tier.LOCAL), comments=tuple(comment(fp) for fp in "abcd"))
    frontier = review(attempt(Tier.FRONTIER), comments=tuple(comment(fp) for fp in "efg"))
    record(ledger, local)
    record(ledger, frontier)

    def feedback(fingerprint: str, kind: str, actor: str = "", number: int = 7) -> bool:
        return ledger.record_feedback(
            repo="octo/app", number=number, fingerprint=fingerprint, kind=kind, actor=actor, at=NOW
        )

    assert feedback("a", "thumbs_up", "alice")
    assert not feedback("a", "thumbs_up", "alice")
    assert feedback("a", "thumbs_up", "bob")
    assert feedback("b", "resolved")
    assert not feedback("b", "resolved")
    assert feedback("c", "thumbs_up", "alice")
    assert feedback("c", "thumbs_down", "bob")  # a 👎 outweighs: c is not liked
    assert feedback("d", "thumbs_up", number=8)  # another PR's comment with the same fingerprint
    assert feedback("e", "suggestion_committed")
    assert feedback("f", "thumbs_down")
    with pytest.raises(ValueError, match="unknown feedback kind"):
        feedback("g", "heart")
    assert len(rows(ledger, "ledger_feedback")) == 8

    report = ledger.report()
    assert report.tier("local").positive_comments == 2
    assert report.tier("local").positive_share_pct == Decimal("50.0")
    assert report.tier("frontier").positive_comments == 1
    assert report.tier("frontier").positive_share_pct == Decimal("33.3")
    assert report.tier("local").comments == {"major": 4}


# -- the report against the raw rows --------------------------------------------------------------


def seed(ledger: Ledger) -> None:
    """A month of mixed work on two repos: local, frontier, escalated, failed, answers."""
    day = timedelta(days=1)
    severities = list(Severity)
    for n in range(12):
        at = NOW - day * n
        repo = "octo/app" if n % 3 else "octo/lib"
        coms = tuple(
            comment(f"{n:02d}{i:014x}", severities[(n + i) % 4], i + 1) for i in range(n % 4)
        )
        if n % 4 == 0:
            result = review(
                attempt(Tier.FRONTIER, Usage(9000 + n, 700, 100 * n, 50 * n)), comments=coms
            )
        elif n % 4 == 1:
            result = review(
                attempt(Tier.LOCAL, Usage(4000, 500), gpu=20.0 + n / 7, parts=2),
                attempt(Tier.FRONTIER, Usage(8000, 900)),
                comments=coms,
            )
        else:
            result = review(attempt(Tier.LOCAL, Usage(3000 + n, 400), gpu=n * 1.1), comments=coms)
        record(ledger, result, repo=repo, number=n, at=at)
        for i, c in enumerate(coms):
            kind = ("thumbs_up", "thumbs_down", "resolved")[(n + i) % 3]
            ledger.record_feedback(repo=repo, number=n, fingerprint=c.fingerprint, kind=kind)
    record(ledger, review(failed="no backend"), spend=None, at=NOW - day)
    unpriced = review(attempt(Tier.LOCAL, gpu=3.0))
    record(ledger, unpriced, spend=None, at=NOW - day * 2, outcome="superseded")
    answer = (attempt(Tier.LOCAL, gpu=2.0), attempt(Tier.FRONTIER, Usage(1500, 200)))
    spend = review_spend(answer, PRICES, FRONTIER)
    ledger.record_request(repo="octo/lib", number=3, attempts=answer, spend=spend, at=NOW)


def recomputed(
    ledger: Ledger, repo: str | None, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """The report's figures, summed here from the raw rows."""

    def wanted(row: dict[str, Any]) -> bool:
        at = when(row["at"])
        return (
            (repo is None or row["repo"] == repo)
            and (since is None or at >= since)
            and (until is None or at < until)
        )

    reviews = {r["id"]: r for r in rows(ledger, "ledger_reviews") if wanted(r)}
    requests = [r for r in rows(ledger, "ledger_requests") if wanted(r)]
    tiers: dict[str, Counter[str]] = defaultdict(Counter)
    money: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in requests:
        count = tiers[r["tier"]]
        count["attempts"] += 1
        count["requests"] += r["parts"]
        count["escalations"] += bool(r["escalated"])
        count["unpriced"] += r["usd"] is None
        for kind in ("input", "output", "cache_write", "cache_read"):
            count[kind] += r[f"{kind}_tokens"]
        money[r["tier"]]["usd"] += exact(r["usd"]) or 0
        money[r["tier"]]["baseline_usd"] += exact(r["baseline_usd"]) or 0
        money[r["tier"]]["gpu_seconds"] += exact(r["gpu_seconds"], 6) or 0
        if r["baseline_estimated"]:
            money["all"]["estimated"] += exact(r["baseline_usd"]) or 0
    for r in reviews.values():
        tiers[r["tier"]]["reviews"] += 1
        tiers[r["tier"]]["failed_reviews"] += r["outcome"] == "failed"
    kinds = defaultdict(set)
    for f in rows(ledger, "ledger_feedback"):
        kinds[f["repo"], f["number"], f["fingerprint"]].add(f["kind"])
    severities: dict[str, Counter[str]] = defaultdict(Counter)
    for c in rows(ledger, "ledger_comments"):
        if c["review_id"] in reviews:
            severities[c["tier"]][c["severity"]] += 1
            got = kinds[c["repo"], c["number"], c["fingerprint"]]
            liked = bool(got & {"thumbs_up", "resolved", "suggestion_committed"})
            tiers[c["tier"]]["positive_comments"] += liked and "thumbs_down" not in got
    spend = sum((m["usd"] for t, m in money.items() if t != "all"), Decimal(0))
    baseline = sum((m["baseline_usd"] for t, m in money.items() if t != "all"), Decimal(0))
    return {
        "tiers": tiers,
        "money": money,
        "severities": severities,
        "spend": spend,
        "baseline": baseline,
        "saved_pct": ((baseline - spend) / baseline * 100).quantize(Decimal("0.1"), ROUND_HALF_UP),
    }


@pytest.mark.parametrize(
    ("repo", "days", "until_days"),
    [(None, None, None), ("octo/app", None, None), (None, 5, None), ("octo/lib", 8, 2)],
)
def test_the_report_equals_sums_recomputed_from_the_rows(
    ledger: Ledger, repo: str | None, days: int | None, until_days: int | None
) -> None:
    seed(ledger)
    since = NOW - timedelta(days=days, hours=1) if days is not None else None
    until = NOW - timedelta(days=until_days) if until_days is not None else None
    report = ledger.report(repo=repo, since=since, until=until)
    expected = recomputed(ledger, repo, since, until)

    assert [t.tier for t in report.tiers] == list(TIERS)
    for tier in report.tiers:
        count, money = expected["tiers"][tier.tier], expected["money"][tier.tier]
        assert tier.reviews == count["reviews"]
        assert tier.failed_reviews == count["failed_reviews"]
        assert (tier.requests, tier.attempts) == (count["requests"], count["attempts"])
        assert tier.escalations == count["escalations"]
        assert tier.tokens.input == count["input"]
        assert tier.tokens.output == count["output"]
        assert tier.tokens.cache_write == count["cache_write"]
        assert tier.tokens.cache_read == count["cache_read"]
        assert tier.usd == money["usd"]
        assert tier.baseline_usd == money["baseline_usd"]
        assert tier.gpu_seconds == money["gpu_seconds"]
        assert dict(tier.comments) == dict(expected["severities"][tier.tier])
        assert tier.positive_comments == count["positive_comments"]
    assert report.spend_usd == expected["spend"]
    assert report.baseline_usd == expected["baseline"]
    assert report.saved_pct == expected["saved_pct"]
    assert report.estimated_baseline_usd == expected["money"]["all"]["estimated"]
    assert report.unpriced_requests == sum(c["unpriced"] for c in expected["tiers"].values())
    assert report.reviews == sum(c["reviews"] for c in expected["tiers"].values())
    gpu = sum((m["gpu_seconds"] for m in expected["money"].values()), Decimal(0))
    assert report.gpu_hours == (gpu / 3600).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    assert report.spend_usd < report.baseline_usd

    figures = json.loads(json.dumps(report.as_dict()))
    assert Decimal(figures["spend_usd"]) == report.spend_usd
    assert Decimal(figures["saved_pct"]) == report.saved_pct
    assert (
        figures["tiers"]["frontier"]["tokens"]["cache_read"]
        == report.tier("frontier").tokens.cache_read
    )


def test_the_local_tiers_economics_on_a_ledger_whose_answer_is_known(ledger: Ledger) -> None:
    """Two local reviews (180 GPU-s each, all-frontier $0.40 and $0.60) and one escalated
    (360 GPU-s wasted locally, then $0.30 on frontier): 0.2 busy hours that replaced $1.00 of
    frontier work. On a GPU rented at $2.50 an hour, 0.2 h x $2.50 / u = $1.00 at u = 50%."""

    def spend(frontier: str, local: str, baseline: str) -> Spend:
        spent = Decimal(frontier) + Decimal(local)
        return Spend(spent, Decimal(baseline), frontier == "0", Decimal(frontier), Decimal(local))

    # GPU-seconds = prompt / 100 + output / 1: a worker at 100 prompt and 1 output tokens/s.
    first = review(attempt(Tier.LOCAL, Usage(8_000, 100), gpu=180.0))
    second = review(attempt(Tier.LOCAL, Usage(3_000, 150), gpu=180.0))
    escalated = review(
        attempt(Tier.LOCAL, Usage(6_000, 300), gpu=360.0), attempt(Tier.FRONTIER, TYPICAL)
    )
    for number, (result, spent) in enumerate(
        [
            (first, spend("0", "0.01", "0.40")),
            (second, spend("0", "0.01", "0.60")),
            (escalated, spend("0.30", "0.02", "0.30")),
        ]
    ):
        record(ledger, result, number=number, spend=spent, at=NOW - timedelta(hours=number + 1))
    report = ledger.report(since=NOW - timedelta(hours=20), until=NOW)
    rented = GpuCost(GpuBilling.RENTED, Decimal("2.50"), Decimal(0), Decimal("0.5"))
    figures = report.economics(rented)
    assert figures.gpu_seconds == 720
    assert figures.baseline_usd == Decimal("1.00")
    assert figures.break_even == Decimal("0.5")
    assert figures.usd == Decimal(1)  # 0.2 busy hours at $5 (half the paid hours idle)
    assert report.span_hours == 20
    assert figures.span_utilisation == Decimal("0.01")
    assert report.throughput is not None
    assert report.throughput.prefill_tokens_per_second == 100
    assert report.throughput.decode_tokens_per_second == 1
    assert report.throughput.requests == 3

    data = json.loads(json.dumps(report.as_dict(rented)))
    assert (data["spend_usd"], data["baseline_usd"], data["saved_pct"]) == (
        "0.340000000",
        "1.300000000",
        "73.8",
    )
    economics = data["economics"]
    assert economics["gpu"] == {
        "billing": "rented",
        "hour_usd": "2.50",
        "marginal_hour_usd": "0",
        "utilisation_pct": "50.0",
        "busy_hour_usd": "5.000000",
    }
    assert economics["break_even_utilisation_pct"] == "50.0"
    assert economics["break_even"] == "50.0%"
    assert (economics["local_gpu_hours"], economics["local_usd"]) == ("0.200000", "1.000000000")
    assert Decimal(economics["local_baseline_usd"]) == Decimal("1.00")
    assert (economics["span_hours"], economics["span_utilisation_pct"]) == ("20.00", "1.000")
    assert economics["throughput"] == {
        "prefill_tokens_per_second": "100.0",
        "decode_tokens_per_second": "1.0",
        "requests": 3,
    }
    owned = report.economics(GpuCost(GpuBilling.OWNED, Decimal("0.20"), Decimal("0.05")))
    assert owned.break_even == Decimal("0.04") / Decimal("0.99")  # 0.2 h x $0.20 / ($1 - $0.01)


def test_an_empty_ledger_reports_zeros_and_no_saving(ledger: Ledger) -> None:
    report = ledger.report()
    assert (report.reviews, report.spend_usd, report.baseline_usd) == (0, Decimal(0), Decimal(0))
    assert report.saved_pct is None
    assert report.tier("local").positive_share_pct is None


# -- URLs -----------------------------------------------------------------------------------------


def test_database_urls_map_to_their_drivers(tmp_path: Path) -> None:
    assert Ledger("postgresql://u@db.test/tierbot").engine.url.drivername == "postgresql+psycopg"
    assert Ledger("postgres://u@db.test/tierbot").engine.url.drivername == "postgresql+psycopg"
    bare = Ledger(str(tmp_path / "t.sqlite3")).engine.url
    assert (bare.drivername, bare.database) == ("sqlite", str(tmp_path / "t.sqlite3"))
    with pytest.raises(ValueError, match=r"sqlite:/// or postgresql://"):
        Ledger("mysql://u@db.test/tierbot")
