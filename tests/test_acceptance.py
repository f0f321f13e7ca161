"""How the bot's comments were received, on SQLite and PostgreSQL: a synthetic ledger whose right
answer is worked out here by hand (each comment, its feedback, and the figures they make), read
back through `Ledger.acceptance` and `tierbot report` (table and JSON), per tier, category and
severity, over a span and a repo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.ledger import Ledger, Received
from bot.core.anchor import Anchored, Comment
from bot.core.answer_schema import Severity
from bot.core.diff import Side
from bot.core.result import Attempt, ReviewResult
from bot.core.routing import Decision, Task, Tier
from bot.core.selection import HeldComment, HeldReason
from bot.core.types import Usage
from bot.faces.cli.main import main
from tests.postgres import fresh_schema

SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tierbot.sqlite3'}"
        return
    with fresh_schema("acceptance_test") as schema_url:
        yield schema_url


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    ledger = Ledger(url)
    ledger.migrate()
    seed(ledger)
    yield ledger
    ledger.close()


def note(fingerprint: str, severity: str, category: str) -> Comment:
    return Comment(
        "app/x.py", 3, Side.RIGHT, Severity(severity), category, "Body.", fingerprint=fingerprint
    )


def reviewed(
    ledger: Ledger,
    tier: Tier,
    repo: str,
    number: int,
    day: datetime,
    posted: tuple[Comment, ...],
    held: tuple[tuple[Comment, str], ...] = (),
) -> None:
    """A review that posted `posted` and held back `held` (each with why), as a review records
    itself in the ledger."""
    model = "qwen" if tier is Tier.LOCAL else "claude-sonnet-5-5"
    result = ReviewResult(
        decision=Decision(tier, model, 30, Task.REVIEW, ("one file",)),
        tier=tier,
        model=model,
        comments=posted,
        summary="",
        coverage=(),
        attempts=(Attempt(tier, model, 1, Usage(1000, 100), 1.0, 0.0),),
        anchored=Anchored(comments=posted),
        held=tuple(HeldComment(c, HeldReason(why)) for c, why in held),
    )
    ledger.record_review(
        repo=repo,
        number=number,
        head_sha="0" * 40,
        trigger="opened",
        result=result,
        spend=None,
        comments_posted=posted,
        at=day,
    )


def seed(ledger: Ledger) -> None:
    """Four reviews: two in octo/app in March (the span), one in February, one in another repo.

    octo/app#1, local: a1 major bug (👍, resolved: acted on); a2 minor bug (👎, resolved: not
    acted on, dismissed); a3 nit maintainability (suggestion committed: acted on); a4 major
    security (👍 from two people: one comment with a 👍); held back: a major bug
    (unconfirmed) and a minor tests comment (duplicate).
    octo/app#2, frontier: b1 critical security (resolved and committed: acted on, once); b2
    major bug (nothing); b3 minor performance (👎); held back: a nit bug (unconfirmed).
    octo/app#3, frontier, in February: c1 major bug, resolved.
    octo/other#1, local, in March: d1 major bug, nothing.
    Feedback on a1's fingerprint in octo/app#2, where no such comment is, counts for nothing."""
    march, february = datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 2, 10, tzinfo=UTC)
    reviewed(
        ledger,
        Tier.LOCAL,
        "octo/app",
        1,
        march,
        (
            note("a1", "major", "bug"),
            note("a2", "minor", "bug"),
            note("a3", "nit", "maintainability"),
            note("a4", "major", "security"),
        ),
        ((note("h1", "major", "bug"), "unconfirmed"), (note("h2", "minor", "tests"), "duplicate")),
    )
    reviewed(
        ledger,
        Tier.FRONTIER,
        "octo/app",
        2,
        march,
        (
            note("b1", "critical", "security"),
            note("b2", "major", "bug"),
            note("b3", "minor", "performance"),
        ),
        ((note("h3", "nit", "bug"), "unconfirmed"),),
    )
    reviewed(ledger, Tier.FRONTIER, "octo/app", 3, february, (note("c1", "major", "bug"),))
    reviewed(ledger, Tier.LOCAL, "octo/other", 1, march, (note("d1", "major", "bug"),))
    for number, fingerprint, kind, actor in (
        (1, "a1", "thumbs_up", "mona"),
        (1, "a1", "resolved", ""),
        (1, "a2", "thumbs_down", "mona"),
        (1, "a2", "resolved", ""),
        (1, "a3", "suggestion_committed", "hubot"),
        (1, "a4", "thumbs_up", "mona"),
        (1, "a4", "thumbs_up", "hubot"),
        (2, "b1", "resolved", ""),
        (2, "b1", "suggestion_committed", "mona"),
        (2, "b3", "thumbs_down", "hubot"),
        (3, "c1", "resolved", ""),
        (2, "a1", "resolved", ""),
    ):
        ledger.record_feedback(
            repo="octo/app", number=number, fingerprint=fingerprint, kind=kind, actor=actor
        )


def figures(
    posted: int,
    held: int = 0,
    up: int = 0,
    down: int = 0,
    resolved: int = 0,
    committed: int = 0,
    acted: int = 0,
    rate: str | None = None,
) -> dict[str, Any]:
    return {
        "posted": posted,
        "held_back": held,
        "thumbs_up": up,
        "thumbs_down": down,
        "resolved": resolved,
        "suggestions_committed": committed,
        "acted_on": acted,
        "acceptance_pct": rate,
    }


MARCH_IN_APP = {
    "total": figures(7, 3, 2, 2, 3, 2, 3, "42.9"),
    "by_tier": {
        "local": figures(4, 2, 2, 1, 2, 1, 2, "50.0"),
        "frontier": figures(3, 1, 0, 1, 1, 1, 1, "33.3"),
    },
    "by_category": {
        "bug": figures(3, 2, 1, 1, 2, 0, 1, "33.3"),
        "security": figures(2, 0, 1, 0, 1, 1, 1, "50.0"),
        "performance": figures(1, 0, 0, 1, 0, 0, 0, "0.0"),
        "tests": figures(0, 1),
        "maintainability": figures(1, 0, 0, 0, 0, 1, 1, "100.0"),
    },
    "by_severity": {
        "critical": figures(1, 0, 0, 0, 1, 1, 1, "100.0"),
        "major": figures(3, 1, 2, 0, 1, 0, 1, "33.3"),
        "minor": figures(2, 1, 0, 2, 1, 0, 0, "0.0"),
        "nit": figures(1, 1, 0, 0, 0, 1, 1, "100.0"),
    },
    "held_back_by_reason": {"duplicate": 1, "unconfirmed": 2},
}


def test_the_figures_of_a_span_and_a_repo_are_the_ones_worked_out_by_hand(ledger: Ledger) -> None:
    found = ledger.acceptance(repo="octo/app", since=SINCE, until=UNTIL).as_dict()
    assert {key: found[key] for key in MARCH_IN_APP} == MARCH_IN_APP
    groups = {(g["tier"], g["category"], g["severity"]): g for g in found["groups"]}
    assert len(groups) == 9
    assert groups["local", "bug", "major"] == {
        "tier": "local",
        "category": "bug",
        "severity": "major",
        **figures(1, 1, 1, 0, 1, 0, 1, "100.0"),
    }
    assert groups["local", "tests", "minor"]["acceptance_pct"] is None


def test_without_a_span_or_a_repo_every_review_counts(ledger: Ledger) -> None:
    everything = ledger.acceptance()
    assert everything.total.as_dict() == figures(9, 3, 2, 2, 4, 2, 4, "44.4")
    assert everything.by_tier()["frontier"].acted_on == 2  # c1 of February too
    assert ledger.acceptance(since=SINCE).total.posted == 8  # not c1
    assert ledger.acceptance(until=SINCE).total.as_dict() == figures(1, 0, 0, 0, 1, 0, 1, "100.0")
    assert ledger.acceptance(repo="octo/none").as_dict()["by_tier"] == {
        "local": figures(0),
        "frontier": figures(0),
    }


def test_held_back_comments_are_not_counted_as_posted_in_the_cost_report(ledger: Ledger) -> None:
    report = ledger.report(repo="octo/app", since=SINCE, until=UNTIL)
    assert report.tier("local").comments == {"major": 2, "minor": 1, "nit": 1}
    assert report.tier("frontier").comments == {"critical": 1, "major": 1, "minor": 1}


@pytest.fixture
def sqlite_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'tierbot.sqlite3'}"
    ledger = Ledger(url)
    ledger.migrate()
    seed(ledger)
    ledger.close()
    monkeypatch.setenv("TIERBOT_DATABASE_URL", url)


@pytest.mark.usefixtures("sqlite_ledger")
def test_the_report_command_shows_the_same_figures_in_json_and_as_a_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    span = ["--repo", "octo/app", "--since", "2026-03-01", "--until", "2026-04-01"]
    assert main(["report", "--format", "json", *span]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {key: data["acceptance"][key] for key in MARCH_IN_APP} == MARCH_IN_APP
    assert (data["since"], data["until"]) == (SINCE.isoformat(), UNTIL.isoformat())

    assert main(["report", *span]) == 0
    table = [line.split() for line in capsys.readouterr().out.splitlines()]
    start = table.index(
        [
            "comments",
            "posted",
            "held_back",
            "thumbs_up",
            "thumbs_down",
            "resolved",
            "committed",
            "acted_on",
            "acceptance_pct",
        ]
    )
    rows = {tuple(row[:2]) if row[0] != "total" else ("total",): row for row in table[start + 1 :]}
    assert rows["tier", "local"][2:] == ["4", "2", "2", "1", "2", "1", "2", "50.0"]
    assert rows["category", "tests"][2:] == ["0", "1", "0", "0", "0", "0", "0", "-"]
    assert rows["severity", "critical"][2:] == ["1", "0", "0", "0", "1", "1", "1", "100.0"]
    assert rows["total",][1:] == ["7", "3", "2", "2", "3", "2", "3", "42.9"]
    assert len(rows) == 2 + 5 + 4 + 1

    assert main(["report", "--until", "April"]) == 2
    assert "--until must be a date like 2026-11-01" in capsys.readouterr().err


def test_rates_round_half_up_to_a_tenth() -> None:
    assert Received(posted=8, acted_on=1).acceptance_pct == Decimal("12.5")
    assert Received(posted=3, acted_on=2).acceptance_pct == Decimal("66.7")
    assert Received(posted=0).acceptance_pct is None
