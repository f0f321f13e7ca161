"""The monthly frontier budget as a hard cap (bot.adapters.budget): holds in the ledger, taken one
at a
time by concurrent holders, and concurrent reviews that cannot overshoot the budget together.

The ledger runs on SQLite and, where a server answers, PostgreSQL (the `url` fixture of
tests/test_ledger.py); the reviews run through the pipeline against a fake repository with
many pull requests (at the HTTP transport) and the fake Messages API, which holds its answers
back so that every review is in flight at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.adapters.budget import FRAMING_TOKENS, Limit, request_ceiling
from bot.adapters.github import GitHub
from bot.adapters.ledger import Ledger
from bot.adapters.models.anthropic import FrontierBackend
from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings
from bot.core.cost import frontier_cost
from bot.core.diff import parse
from bot.core.job import Job
from bot.core.markers import marker_key
from bot.core.prompt import plan_review, request_for
from bot.core.repo_settings import RepoSettings
from bot.core.routing import Models, Tier
from bot.core.types import Backend, CompletionRequest, Usage
from bot.pipeline.commands import run
from bot.pipeline.review import budget_for
from bot.pipeline.services import GitHubClient, Services
from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture, message  # noqa: F401
from tests.fake_github_api import BOT, FakeGitHubHost
from tests.fakes import ScriptedLocalModel
from tests.test_ledger import url  # noqa: F401 (the fixture: SQLite, and PostgreSQL if any)
from tests.test_pipeline import FIRST, FIRST_ANSWER

PRICES = PriceTable.load()
MODEL = "claude-sonnet-5-5"
PRICE = PRICES.require(MODEL)
NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
INSTALLATION = 1


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:  # noqa: F811 (the imported fixture)
    book = Ledger(url)
    book.migrate()
    yield book
    book.close()


def hold(book: Ledger, usd: str, limits: list[Limit], repo: str = "octo/app") -> int | str:
    """Hold `usd` for a pull request of `repo` by the installation."""
    return book.hold(
        Decimal(usd), limits=limits, repo=repo, number=1, installation_id=INSTALLATION, at=NOW
    )


# --- the most a request can cost ----------------------------------------------------------------


def test_a_request_is_held_at_one_token_per_byte_and_every_output_token() -> None:
    request = CompletionRequest(
        "sys", "stable ü", "diff", {"type": "object"}, max_output_tokens=100
    )
    text_bytes = len(b"sysstable \xc3\xbcdiff") + len(json.dumps({"type": "object"}))
    tokens = text_bytes + FRAMING_TOKENS
    dearest = max(PRICE.input, PRICE.cache_write_5m, PRICE.cache_write_1h)
    assert request_ceiling(request, PRICE) == (tokens * dearest + 100 * PRICE.output) / 1_000_000
    # Above what the same request costs at any real token count (at most one per byte).
    worst = frontier_cost(Usage(cache_write_tokens=tokens, output_tokens=100), PRICE)
    assert request_ceiling(request, PRICE) >= worst


# --- holds in the ledger ------------------------------------------------------------------------


def test_holds_are_granted_until_the_budget_is_held_then_refused_with_the_figures(
    ledger: Ledger,
) -> None:
    limits = [Limit(Decimal("1.00"), "this installation", installation_id=INSTALLATION)]
    first = hold(ledger, "0.40", limits)
    second = hold(ledger, "0.40", limits)
    assert isinstance(first, int)
    assert isinstance(second, int)
    refused = hold(ledger, "0.40", limits)
    assert refused == (
        "the month's frontier budget would be exceeded: the request may cost up to $0.4000 and "
        "$0.2000 of the $1.00 budget of this installation is left ($0.8000 spent or held)"
    )
    # Settled at what it cost, a hold makes room again.
    ledger.settle(first, Decimal("0.05"))
    assert isinstance(hold(ledger, "0.40", limits), int)
    since = NOW.replace(day=1, hour=0)
    assert ledger.frontier_charged(since=since, installation_id=INSTALLATION) == Decimal("0.85")


def test_every_budget_that_applies_must_have_room(ledger: Ledger) -> None:
    installation = Limit(Decimal("10"), "this installation", installation_id=INSTALLATION)
    repo = Limit(Decimal("0.50"), "this repo", repo="octo/app")
    assert isinstance(hold(ledger, "0.30", [installation, repo]), int)
    assert "budget of this repo" in str(hold(ledger, "0.30", [installation, repo]))
    other = Limit(Decimal("0.50"), "this repo", repo="octo/other")
    assert isinstance(hold(ledger, "0.30", [installation, other], repo="octo/other"), int)


def test_last_months_charges_do_not_count(ledger: Ledger) -> None:
    limits = [Limit(Decimal("1.00"), "this repo", repo="octo/app")]
    assert isinstance(hold(ledger, "0.90", limits), int)
    later = NOW.replace(month=4, day=1)
    assert isinstance(
        ledger.hold(Decimal("0.90"), limits=limits, repo="octo/app", number=1, at=later), int
    )


def test_sixteen_holders_in_two_processes_at_once_never_pass_the_budget(
    ledger: Ledger,
    url: str,  # noqa: F811
) -> None:
    other = Ledger(url)  # another process's ledger on the same database
    try:
        limits = [Limit(Decimal("1.00"), "this installation", installation_id=INSTALLATION)]
        barrier = threading.Barrier(16)
        granted: list[int | str] = []
        lock = threading.Lock()

        def take(book: Ledger) -> None:
            barrier.wait()
            got = book.hold(
                Decimal("0.30"), limits=limits, repo="octo/app", number=1, installation_id=1, at=NOW
            )
            with lock:
                granted.append(got)

        threads = [
            threading.Thread(target=take, args=(ledger if n % 2 else other,)) for n in range(16)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert sum(isinstance(g, int) for g in granted) == 3  # 3 x $0.30 fit in $1.00, not 4
    since = NOW.replace(day=1, hour=0)
    assert ledger.frontier_charged(since=since) == Decimal("0.90")


# --- concurrent reviews through the pipeline ----------------------------------------------------


def services_for(
    host: FakeGitHubHost, fake: FakeAnthropic, book: Ledger, budget: Decimal
) -> Services:
    frontier = FrontierBackend(MODEL, api_key="sk-ant-test", base_url=fake.base_url, max_retries=0)
    client = GitHub("ghs_test", "https://api.github.test", transport=host.transport(),
                    bot_login=BOT, write_spacing=0.0,
                    marker_key=marker_key(None))  # fmt: skip

    async def github_for(_installation: int | None) -> GitHubClient:
        return client

    backends: dict[Tier, Backend] = {Tier.FRONTIER: frontier}
    models = Models(local="qwen", frontier=MODEL, local_window=8192, local_unavailable="no GPU")
    settings = Settings(frontier_budget_usd=budget)
    return Services(settings, PRICES, backends, models, github_for, ledger=book)


def one_review_ceiling(host: FakeGitHubHost, context_tokens: int) -> Decimal:
    """What one review of the fake's pull request holds: its one request's ceiling."""
    changes = parse(FIRST.encode())
    repo = RepoSettings()
    paths = tuple(f.path for f in changes.files)
    budget = budget_for(Tier.FRONTIER, context_tokens, repo, paths)
    pull = host.pull(1)._pull()
    plan = plan_review(changes, budget, repo, f"{pull['title']}\n\n{pull['body']}")
    (part,) = plan.parts
    return request_ceiling(request_for(plan, part, budget), PRICE)


def test_eight_reviews_at_once_send_only_what_the_budget_holds(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    host = FakeGitHubHost(diff=FIRST)
    book = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    book.migrate()
    # Every answer waits, so all eight reviews hold before any settles.
    fake_anthropic.reply(*[message(FIRST_ANSWER, delay=2.0) for _ in range(8)])
    ceiling = one_review_ceiling(host, FrontierBackend(MODEL, api_key="k").context_tokens)
    budget = ceiling * 3 + ceiling / 2  # room for three reviews' requests, not four
    services = services_for(host, fake_anthropic, book, budget)

    async def eight() -> list[str]:
        jobs = [
            Job("review", "octo", "app", n, INSTALLATION, trigger="opened") for n in range(1, 9)
        ]
        return [str(o) for o in await asyncio.gather(*(run(job, services) for job in jobs))]

    try:
        outcomes = asyncio.run(eight())
        charged = book.frontier_charged(since=NOW.replace(year=2000))
    finally:
        book.close()
    assert len(fake_anthropic.requests) == 3
    assert (
        sorted(o.split(":")[0] for o in outcomes) == ["failed"] * 5 + ["reviewed by frontier"] * 3
    )
    assert charged <= budget
    refused = [n for n, pull in host.pulls.items() if not pull.reviews]
    assert len(refused) == 5
    for number in refused:
        assert "the month's frontier budget would be exceeded" in host.pull(number).summary()


def test_an_escalation_the_budget_has_no_room_for_keeps_the_local_review(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    host = FakeGitHubHost(diff=FIRST)
    book = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    book.migrate()
    services = services_for(host, fake_anthropic, book, Decimal("0.000001"))
    # Unsure of its summary, not of its comment: the review asks for escalation, and the
    # comment stands on its own confidence.
    unsure = ScriptedLocalModel(
        answers=deque([json.loads(FIRST_ANSWER)]), doubt=("Cache helpers.",), doubt_entropy=5.0
    )
    services = replace(
        services,
        backends={**services.backends, Tier.LOCAL: unsure},
        models=replace(services.models, local_unavailable=None),
    )
    try:
        outcome = asyncio.run(run(Job("review", "octo", "app", 1, 1), services))
    finally:
        book.close()
    assert str(outcome).startswith("reviewed by local: 1 comment")
    assert fake_anthropic.requests == []
    summary = host.pull(1).summary()
    assert "the month's frontier budget would be exceeded" in summary


# --- the Action ----------------------------------------------------------------------------------


def review_in_the_action(
    tmp_path: Path, host: FakeGitHubHost, fake: FakeAnthropic, env: dict[str, str], number: int
) -> str:
    """`tierbot action` in review mode on PR `number` (an OWNER's), with `env` for settings;
    its log."""
    from tests.test_gate import Workflows, fork_pull_request

    with host.served() as api:
        flows = Workflows(tmp_path, host, api, {"ANTHROPIC_BASE_URL": fake.base_url, **env})
        data = fork_pull_request(number, author="octocat")
        data["pull_request"]["head"]["repo"]["full_name"] = data["repository"]["full_name"]
        data["pull_request"]["author_association"] = "OWNER"
        flows.start("review.yml", "pull_request", data)
    return flows.log.getvalue()


def test_the_action_holds_its_requests_in_the_ledger_the_workflow_names(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    from tests.test_app_e2e import DIFF, OWNER, REPO, answer
    from tests.webhooks import need_real_deliveries

    need_real_deliveries(signing=False)
    host = FakeGitHubHost(
        owner=OWNER, repo=REPO, diff=DIFF, author="octocat", author_association="OWNER",
        settings_file="routing:\n  threshold: 0\n",
    )  # fmt: skip
    database = f"sqlite:///{tmp_path / 'shared.sqlite3'}"  # a PostgreSQL server, in real life
    fake_anthropic.reply(answer())
    budget = {"TIERBOT_FRONTIER_BUDGET_USD": "5", "TIERBOT_DATABASE_URL": database}
    log = review_in_the_action(tmp_path, host, fake_anthropic, budget, 1)
    assert "::error::" not in log, log
    assert len(fake_anthropic.requests) == 1
    book = Ledger(database)
    try:
        charged = book.frontier_charged(
            since=datetime(2000, 1, 1, tzinfo=UTC), repo=f"{OWNER}/{REPO}"
        )
    finally:
        book.close()
    assert charged == Decimal("0.004")  # 1,000 tokens in, 200 out: settled at what it cost
    # A budget without room for another review: nothing is sent, and the summary says why.
    small = {"TIERBOT_FRONTIER_BUDGET_USD": "0.01", "TIERBOT_DATABASE_URL": database}
    review_in_the_action(tmp_path, host, fake_anthropic, small, 2)
    assert len(fake_anthropic.requests) == 1
    assert (
        "frontier budget is spent ($0.0040 of $0.0100 spent by this repository's workflows)"
        in host.pull(2).summary()
    )


def test_the_action_sends_nothing_to_the_frontier_model_under_a_budget_it_cannot_count(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    from tests.test_app_e2e import DIFF, OWNER, REPO
    from tests.webhooks import need_real_deliveries

    need_real_deliveries(signing=False)
    host = FakeGitHubHost(
        owner=OWNER, repo=REPO, diff=DIFF, author="octocat", author_association="OWNER",
        settings_file="budget:\n  frontier_usd_month: 50\n",
    )  # fmt: skip
    review_in_the_action(tmp_path, host, fake_anthropic, {}, 1)
    assert fake_anthropic.requests == []
    assert "there is no ledger to count it in (TIERBOT_DATABASE_URL)" in host.pull(1).summary()
