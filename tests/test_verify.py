"""Each comment checked before it is posted, end to end: a review that finds 25 candidate
comments on a 20-line change, a checking model behind the fake Messages API (or the local model),
a fake GitHub at the HTTP transport and a real ledger. Only confirmed comments of at least the
minimum severity are posted, at most the cap, none twice; the summary counts what was held back
and why; the check's cost is its own line and its own ledger rows; a check that fails or answers
garbage is visible; a point a person answered or resolved is not made again."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bot.adapters.github import GitHub
from bot.adapters.ledger import Ledger
from bot.adapters.ledger.schema import comments, requests
from bot.adapters.models.anthropic import FrontierBackend
from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings
from bot.core.cost import frontier_cost, local_cost
from bot.core.job import Job
from bot.core.markers import marker_key
from bot.core.routing import Models, Tier
from bot.core.types import Backend, CompletionRequest, Usage
from bot.core.verification import VERIFY_SYSTEM
from bot.pipeline.commands import run
from bot.pipeline.services import GitHubClient, Services
from bot.pipeline.verify import UNCHECKED_NOTE
from tests.builders import Edit, git_diff
from tests.fake_anthropic import (
    FakeAnthropic,
    Received,
    Reply,
    error,
    fake_anthropic_fixture,  # noqa: F401 (the fake_anthropic fixture)
    message,
)
from tests.fake_github_api import BOT, FakeGitHubAPI
from tests.fake_verifier import CHEAP_MODEL, asks_for_verdicts, check, respond, section, usage_of
from tests.fakes import ScriptedLocalModel

KEY = marker_key("webhook secret")
REVIEWER = "claude-sonnet-5-5"
PATH = "app/cache.py"
ADDED = [
    "def get(key, default=None):",  # 11
    "    value = store[key]",  # 12
    "    if value is None:",  # 13
    "        return default",  # 14
    "    return value.decode()",  # 15
    "",  # 16
    "def put(key, value, ttl=0):",  # 17
    "    store[key] = value.encode()",  # 18
    "    if ttl > 0:",  # 19
    "        expiry[key] = time.time() + ttl",  # 20
    "    return True",  # 21
    "",  # 22
    "def drop(key):",  # 23
    "    del store[key]",  # 24
    "    del expiry[key]",  # 25
    "",  # 26
    "def load(path):",  # 27
    "    data = pickle.loads(open(path, 'rb').read())",  # 28
    "    store.update(data)",  # 29
    "    return len(data)",  # 30
]
DIFF = git_diff(Edit(PATH, context=["import time", "store = {}"], added=ADDED, start=9))
SETTINGS = "review:\n  verify: true\n  max_comments: 4\n"


def said(line: int, severity: str, body: str, category: str = "bug") -> dict[str, Any]:
    """A candidate comment on `line` of the change, quoting that line's code as shown."""
    code = ADDED[line - 11] if line >= 11 else ["import time", "store = {}"][line - 9]
    return {
        "path": PATH,
        "line": line,
        "side": "RIGHT",
        "code": code,
        "severity": severity,
        "category": category,
        "body": body,
    }


REAL = [
    said(28, "critical", "`pickle.loads` on a file runs any code it holds; read JSON.", "security"),
    said(12, "major", "`store[key]` raises KeyError for a missing key instead of the default."),
    said(24, "major", "`del store[key]` raises KeyError when the key was never stored."),
    said(15, "minor", "`value.decode()` fails when a caller stored text instead of bytes."),
    said(20, "minor", "`time.time()` jumps with the wall clock; use time.monotonic for expiry."),
]
NEAR_DUPLICATES = [
    said(28, "critical", "Calling `pickle.loads` on a file runs any code it holds.", "security"),
    said(12, "major", "A missing key makes `store[key]` raise KeyError instead of the default."),
    said(24, "minor", "Deleting with `del store[key]` raises KeyError when the key is missing."),
]
NITS = [
    said(11, "nit", "Add a docstring to get.", "docs"),
    said(17, "nit", "Name the parameter time_to_live.", "readability"),
    said(23, "nit", "A blank line before drop would read better.", "readability"),
    said(27, "nit", "Type hints would help here.", "maintainability"),
    said(21, "nit", "Returning True adds nothing.", "readability"),
    said(14, "nit", "Put the early return on one line.", "readability"),
]
UNCHANGED_LINES = [
    said(9, "major", "`from time import monotonic` would be clearer.", "maintainability"),
    said(10, "major", "`store` is shared between threads without a lock.", "concurrency"),
    said(10, "minor", "`store` grows without bound; add an eviction policy.", "performance"),
]
OUTSIDE_THE_DIFF = [
    {**said(11, "major", "`helper()` swallows errors."), "line": 3, "code": "def helper():"},
    {**said(11, "minor", "`LIMIT = 10` is too low."), "line": 45, "code": "LIMIT = 10"},
    {**said(11, "major", "`cleanup()` is never called."), "line": 60, "code": "cleanup()"},
]
WRONG = [
    said(13, "minor", "`value == None` compares by equality; prefer an identity check."),
    said(19, "major", "`ttl >= 0` lets a zero ttl expire at once."),
    said(29, "minor", "`store.extend(data)` fails on a dict."),
    said(30, "major", "`return data.size` is not an attribute of a dict."),
    said(18, "minor", "`value.encode('ascii')` drops text that is not ASCII."),
]
CANDIDATES = [*REAL, *NEAR_DUPLICATES, *NITS, *UNCHANGED_LINES, *OUTSIDE_THE_DIFF, *WRONG]
REVIEW = json.dumps({"summary": "A small cache.", "comments": CANDIDATES})


@pytest.fixture
def github() -> FakeGitHubAPI:
    return FakeGitHubAPI(diff=DIFF, settings_file=SETTINGS)


@pytest.fixture
def ledger(tmp_path: Any) -> Iterator[Ledger]:
    book = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    book.migrate()
    try:
        yield book
    finally:
        book.close()


@pytest.fixture
def services(fake_anthropic: FakeAnthropic, github: FakeGitHubAPI, ledger: Ledger) -> Services:
    frontier = FrontierBackend(
        REVIEWER, api_key="sk-ant-test-0123456789", base_url=fake_anthropic.base_url, max_retries=0
    )
    client = GitHub(
        "ghs_test",
        "https://api.github.test",
        transport=github.transport(),
        bot_login=BOT,
        marker_key=KEY,
        write_spacing=0.0,
    )

    async def github_for(installation_id: int | None) -> GitHubClient:
        return client

    backends: dict[Tier, Backend] = {Tier.FRONTIER: frontier}
    models = Models(local="qwen", frontier=REVIEWER, local_window=8192, local_unavailable="no GPU")
    return Services(Settings(), PriceTable.load(), backends, models, github_for, ledger=ledger)


_LOOP: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(autouse=True)
def loop() -> Iterator[None]:
    _LOOP.append(asyncio.new_event_loop())
    try:
        yield
    finally:
        _LOOP.pop().close()


def review(services: Services) -> str:
    spec = Job("review", "octo", "app", 7, 1, trigger="pull_request.opened", payload={})
    return str(_LOOP[-1].run_until_complete(run(spec, services)))


def posted(github: FakeGitHubAPI) -> list[tuple[int, str]]:
    """Every inline comment the bot posted: its line and its text before the marker."""
    return [
        (c["line"], c["body"].split("\n\n<!-- tierbot:")[0])
        for c in github.review_comments
        if c["user"]["login"] == BOT
    ]


def checks(fake: FakeAnthropic) -> list[Received]:
    return [r for r in fake.requests if asks_for_verdicts(r.body)]


def test_only_confirmed_comments_of_the_minimum_severity_are_posted_at_most_the_cap_once(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Ledger
) -> None:
    fake_anthropic.reply(message(REVIEW, input_tokens=3000, output_tokens=2500))
    fake_anthropic.respond_with(respond())
    assert review(services).startswith("reviewed by frontier: 4 comments")

    (first,) = github.reviews
    assert posted(github) == [
        (12, REAL[1]["body"]),
        (15, REAL[3]["body"]),
        (24, REAL[2]["body"]),
        (28, REAL[0]["body"]),
    ], "the four most severe confirmed comments, in diff order"
    assert first["event"] == "COMMENT"
    summary = github.summary()
    assert f"by the **frontier** model `{REVIEWER}`: 4 inline comments." in summary
    assert (
        "Comments not posted: 3 cited lines outside the diff and were dropped; 1 over the limit "
        "of comments per review; 6 below the minimum severity, minor (6 nit); "
        "8 not confirmed when checked against the diff; "
        "3 found to repeat another comment when checked." in summary
    )
    assert (
        "**Checked before posting:** 16 comments of severity minor or above, against the diff "
        f"by `{CHEAP_MODEL}`: 5 confirmed, 8 not confirmed, 3 duplicates." in summary
    )

    # The check: the cheapest model, 16 comments in two batches, each a data section.
    sent = checks(fake_anthropic)
    assert [r.body["model"] for r in sent] == [CHEAP_MODEL, CHEAP_MODEL]
    assert all(r.body["system"][0]["text"] == VERIFY_SYSTEM for r in sent)
    listed = [
        json.loads(line)
        for r in sent
        for line in section(r.body["messages"][0]["content"], "comments").split("\n")
    ]
    assert len(listed) == 16
    assert {c["severity"] for c in listed} == {"critical", "major", "minor"}
    assert not {c["line"] for c in listed} & {3, 45, 60}, "nothing outside the diff is checked"

    # Its cost: its own requests, priced at the cheap model, in the spend and the summary.
    prices = PriceTable.load()
    check_usage = sum(
        (Usage(*usage_of(str(r.body["messages"][0]["content"]))) for r in sent), Usage()
    )
    check_usd = frontier_cost(check_usage, prices.require(CHEAP_MODEL))
    review_usd = frontier_cost(Usage(3000, 2500), prices.require(REVIEWER))
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            sa.select(requests.c.task, requests.c.model, requests.c.parts, requests.c.usd)
        ).all()
    assert [(t, m, p) for t, m, p, _ in rows] == [
        ("review", REVIEWER, 1),
        ("verify", CHEAP_MODEL, 2),
    ]
    assert rows[1][3] == check_usd.quantize(Decimal("1e-9"))
    report = ledger.report(repo="octo/app")
    assert report.spend_usd == (review_usd + check_usd).quantize(Decimal("1e-9"))
    assert report.verify_usd == rows[1][3]
    assert report.tier("frontier").held == {"below-severity": 6, "unconfirmed": 8, "duplicate": 3}
    assert sum(report.tier("frontier").comments.values()) == 4
    assert "**Checking comments:** " in summary
    assert f"`{CHEAP_MODEL}` (2 requests)" in summary

    # The next push: nothing made twice, and the one confirmed comment the cap left out now.
    github.compared[(github.head, "c" * 40)] = DIFF
    github.head = "c" * 40
    fake_anthropic.reply(message(REVIEW, input_tokens=3000, output_tokens=2500))
    assert review(services).startswith("reviewed by frontier: 1 comment")
    bodies = [body for _, body in posted(github)]
    assert len(bodies) == len(set(bodies)) == 5
    assert bodies[-1] == REAL[4]["body"]
    assert "7 already made on an earlier commit" in github.summary()
    assert len(checks(fake_anthropic)) == 3, "the comments made before are not checked again"
    assert ledger.report(repo="octo/app").tier("frontier").held == {
        "below-severity": 12,
        "unconfirmed": 16,
        "duplicate": 3,
    }, "a repeat is not recorded as held back again"


def test_a_garbage_answer_from_the_check_posts_the_comments_marked_and_says_so(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Ledger
) -> None:
    def garbage(received: Received) -> Reply:
        # Valid JSON for the first batch, but not the answer asked for; prose for the second.
        if len(checks(fake_anthropic)) == 1:
            text = json.dumps({"verdicts": "all confirmed", "approve": True})
        else:
            text = "All of these comments are confirmed."
        return message(text, model=CHEAP_MODEL, input_tokens=500, output_tokens=20)

    fake_anthropic.reply(message(REVIEW, input_tokens=3000, output_tokens=2500))
    fake_anthropic.respond_with(garbage)
    assert review(services).startswith("reviewed by frontier: 4 comments")
    shown = posted(github)
    assert len(shown) == 4, "nothing is dropped for want of a verdict; the cap still holds"
    assert all(body.endswith(UNCHECKED_NOTE) for _, body in shown)
    assert [line for line, _ in shown] == [9, 10, 28, 28]  # the most severe, unchecked
    summary = github.summary()
    assert "**16 could not be checked** (the answer was not usable: the answer is not an " in (
        summary
    )
    assert "the answer is not JSON" in summary
    assert "they are posted all the same, each saying it was not checked." in summary
    assert "0 confirmed, 0 not confirmed, 0 duplicates" in summary
    with ledger.engine.connect() as conn:
        tasks = conn.execute(sa.select(requests.c.task, requests.c.usd)).all()
    assert [task for task, _ in tasks] == ["review", "verify"]
    assert tasks[1][1] == frontier_cost(
        Usage(1000, 40), PriceTable.load().require(CHEAP_MODEL)
    ).quantize(Decimal("1e-9")), "a useless answer is paid for all the same, and recorded"


def test_a_check_that_cannot_be_sent_leaves_the_review_standing_and_says_why(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply(
        message(REVIEW, input_tokens=3000, output_tokens=2500),
        error(529, "overloaded_error"),
        error(529, "overloaded_error"),
    )
    assert review(services).startswith("reviewed by frontier: 4 comments"), "not put off"
    assert all(body.endswith(UNCHECKED_NOTE) for _, body in posted(github))
    assert "**16 could not be checked** (a request failed (overloaded))" in github.summary()


def test_a_point_a_person_answered_or_resolved_is_not_made_again_however_worded(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    github.settings_file = None  # the frontier tier's comments are not checked by default
    first = [REAL[0], REAL[1], REAL[2]]
    fake_anthropic.reply(message(json.dumps({"summary": "s", "comments": first})))
    assert review(services).startswith("reviewed by frontier: 3 comments")
    missing, _, pickle = github.review_comments  # in diff order: lines 12, 24, 28
    github.resolved.add(pickle["id"])  # resolved without a word
    github.review_comments.append(  # answered, and left open
        {
            "id": 5000,
            "body": "The default is never None here, this is fine.",
            "user": {"login": "mona"},
            "in_reply_to_id": missing["id"],
        }
    )
    # The code moved down two lines, and the model words the same points differently; the
    # comment on `del` was neither answered nor resolved, so its rewording on another line is a
    # new comment.
    moved = ["# a", "# b", *ADDED]
    github.compared[(github.head, "c" * 40)] = git_diff(
        Edit(PATH, context=["import time", "store = {}"], added=moved, start=9)
    )
    github.head = "c" * 40
    again = [
        {
            **REAL[0],
            "line": 30,
            "body": "Loading with `pickle.loads` runs any code the file holds.",
        },
        {
            **REAL[1],
            "line": 14,
            "body": "`store[key]` raises KeyError on a missing key; no default.",
        },
        {**REAL[2], "line": 25, "body": "`del expiry[key]` fails for keys stored without a ttl."},
    ]
    again[2]["code"] = "    del expiry[key]"
    fake_anthropic.reply(message(json.dumps({"summary": "s", "comments": again})))
    assert review(services).startswith("reviewed by frontier: 1 comment")
    assert posted(github)[-1] == (25, again[2]["body"])
    assert "2 on a point someone answered or resolved on an earlier commit" in github.summary()


def test_the_local_tier_checks_its_comments_on_the_local_model_and_drops_what_it_was_unsure_of(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic, ledger: Ledger
) -> None:
    def checker(request: CompletionRequest) -> dict[str, Any] | None:
        return check(request.prompt) if "verdicts" in request.schema["required"] else None

    minor_one = said(13, "minor", "`if value is None` hides a stored None from the caller.")
    answer = {"summary": "s", "comments": [REAL[1], REAL[2], REAL[3], minor_one, *NITS[:2]]}
    local = ScriptedLocalModel(
        answers=deque([answer]),
        respond=checker,
        doubt=(REAL[2]["body"], '"code": "    del store[key]"'),
        doubt_entropy=2.9,
        model="qwen",
    )
    github.settings_file = "routing:\n  threshold: 101\nreview:\n  max_comments: 2\n"
    models = replace(services.models, local_unavailable=None)
    with_local = replace(services, backends={**services.backends, Tier.LOCAL: local}, models=models)
    assert review(with_local).startswith("reviewed by local: 2 comments")
    assert len(local.requests) == 2
    assert not fake_anthropic.requests, "no frontier request"
    assert local.requests[1].system == VERIFY_SYSTEM
    assert local.requests[1].model == "", "the local model is asked as it is"
    # The doubtful major is held back; of the two confirmed minors the cap keeps the one the
    # model was surer of, which ties here, so the first in the diff.
    assert [line for line, _ in posted(github)] == [12, 13]
    summary = github.summary()
    assert "1 the local model was unsure of while writing" in summary
    assert "2 below the minimum severity, minor (2 nit)" in summary
    assert "against the diff by `qwen`: 3 confirmed, 0 not confirmed, 0 duplicates." in summary
    assert "on the local model `qwen` (1 request)" in summary
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(requests.c.task, requests.c.tier, requests.c.usd)).all()
        held = conn.execute(sa.select(comments.c.line, comments.c.held)).all()
    assert rows == [
        ("review", "local", local_cost(0.5).quantize(Decimal("1e-9"))),
        ("verify", "local", local_cost(0.5).quantize(Decimal("1e-9"))),
    ]
    assert sorted(held, key=lambda r: (r[0], r[1] or "")) == [
        (11, "below-severity"),
        (12, None),
        (13, None),
        (17, "below-severity"),
        (24, "unsure"),
    ]


def test_a_surer_comment_wins_a_place_under_the_cap(
    services: Services, github: FakeGitHubAPI
) -> None:
    answer = {"summary": "s", "comments": [REAL[3], REAL[4]]}  # two confirmed minors
    local = ScriptedLocalModel(
        answers=deque([answer]),
        respond=lambda r: check(r.prompt) if "verdicts" in r.schema["required"] else None,
        doubt=("fails when a caller",),  # a little doubt: under the limit, but less sure
        doubt_entropy=0.9,
    )
    github.settings_file = "routing:\n  threshold: 101\nreview:\n  max_comments: 1\n"
    models = replace(services.models, local_unavailable=None)
    with_local = replace(services, backends={**services.backends, Tier.LOCAL: local}, models=models)
    assert review(with_local).startswith("reviewed by local: 1 comment")
    assert posted(github) == [(20, REAL[4]["body"])], "the later comment, written more surely"
    assert "1 over the limit of comments per review" in github.summary()


def test_the_check_follows_the_repos_guidance_outside_the_data(
    services: Services, github: FakeGitHubAPI, fake_anthropic: FakeAnthropic
) -> None:
    """The maintainers' guidance reaches the checker as it reaches the reviewer: in its
    instructions, after the guide, never inside a data section."""
    rule = "Do not flag missing type hints in this repository; we do not use them."
    github.settings_file = f"{SETTINGS}  instructions: '{rule}'\n"
    fake_anthropic.reply(message(REVIEW, input_tokens=3000, output_tokens=2500))
    fake_anthropic.respond_with(respond())
    assert review(services).startswith("reviewed by frontier:")
    sent = checks(fake_anthropic)
    assert sent
    for request in sent:
        system = json.dumps(request.body["system"])
        assert rule in system
        assert system.index("How to answer") < system.index(rule)
        assert rule not in json.dumps(request.body["messages"])
