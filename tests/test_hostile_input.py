"""Hostile bytes at the two doors that take them from anyone: the repo settings file and the
webhook. Properties (hypothesis, bounded so CI stays fast) and the known attacks: a YAML bomb,
a 10 MB file, deep nesting, scalars PyYAML cannot build, globs that backtrack for ever; any body
and headers at /webhook, signed or not, answered 4xx or 2xx, never 500.

The diff parser's and the command parser's properties live with their tests (tests/test_diff.py,
tests/test_events.py); tests/fuzz/ has coverage-guided fuzz targets for all four, run briefly
by tests/test_fuzz.py and for longer as scripts.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import time
import tracemalloc
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from bot.adapters.queue import JobQueue
from bot.core.patterns import path_matches
from bot.core.repo_settings import MAX_SETTINGS_BYTES, RepoSettings
from bot.faces.app.delivery import signature
from bot.faces.app.events import EVENTS, EventSettings
from bot.faces.app.web import create_app

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the settings file --------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["**/*.py", "docs/", "*.lock", "2024-99-99", "1" * 5000, ".nan", "-.inf"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=15,
)
_KEYS = st.sampled_from(
    [
        "routing",
        "review",
        "escalation",
        "exclude",
        "budget",
        "threshold",
        "frontier_paths",
        "local_paths",
        "instructions",
        "path_instructions",
        "max_comments",
        "mean_entropy",
        "frontier_usd_month",
        "path",
    ]
)
# Documents shaped like the file: the keys it knows, nested, with any values.
_DOCUMENTS = st.recursive(
    _VALUES, lambda inner: st.dictionaries(_KEYS, inner, max_size=5), max_leaves=25
)


def assert_sane(repo: RepoSettings) -> None:
    """Whatever the file held, the settings are usable values."""
    assert 0 <= repo.threshold <= 101
    assert 0 <= repo.max_comments <= 100
    assert repo.frontier_budget_usd is None or (
        repo.frontier_budget_usd.is_finite() and repo.frontier_budget_usd >= 0
    )
    for value in (repo.escalation.mean_entropy, repo.escalation.quantile_entropy):
        assert math.isfinite(value)
    for pattern in (*repo.exclude, *repo.frontier_paths, *repo.local_paths):
        assert isinstance(path_matches("a/b/c.py", (pattern,)), bool)
    assert all(isinstance(problem, str) and problem for problem in repo.problems)


@BOUNDED
@given(_DOCUMENTS)
def test_any_document_of_known_keys_gives_sane_settings(document: Any) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    assert_sane(RepoSettings.from_yaml(text))


@BOUNDED
@given(st.text(max_size=300) | st.text(alphabet="&*[]{}:- ab\n!#|>'\"", max_size=300))
def test_any_text_gives_sane_settings_or_one_problem(text: str) -> None:
    assert_sane(RepoSettings.from_yaml(text))


def _billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnopqrstuvwxyz"
    for prev, name in itertools.pairwise(names[: levels + 1]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append(f"routing:\n  threshold: *{names[levels]}")  # printed when refused
    return "\n".join(lines) + "\n"


_PREFIX = "review:\n  instructions: "
_AT_THE_LIMIT = _PREFIX + "x" * (MAX_SETTINGS_BYTES - len(_PREFIX) - 1) + "\n"  # read, and cut


def _refused_quickly_and_small(text: str) -> tuple[str, float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        repo = RepoSettings.from_yaml(text)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert repo == RepoSettings(problems=repo.problems)  # the defaults
    [problem] = repo.problems
    return problem, seconds, peak / 1e6


def test_a_billion_laughs_bomb_is_refused_fast_without_expanding() -> None:
    problem, seconds, megabytes = _refused_quickly_and_small(_billion_laughs())
    assert problem == (
        ".github/tierbot.yml stands for more than 10,000 values with its aliases followed "
        "(a YAML bomb?); defaults used"
    )
    assert seconds < 2
    assert megabytes < 50


def test_a_10_mb_file_is_refused_before_it_is_parsed() -> None:
    text = "review:\n  instructions: " + "x" * 10_000_000 + "\n"
    problem, seconds, megabytes = _refused_quickly_and_small(text)
    assert problem == (
        ".github/tierbot.yml is 10,000,025 bytes, over the 65,536 allowed; defaults used"
    )
    assert seconds < 1
    assert megabytes < 50  # the text itself is the caller's; nothing like it is copied


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 40 + "]" * 40, "nests deeper than 32 levels"),
        (
            "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 40)),
            "nests deeper than 32 levels (aliases followed)",
        ),
        ("a: &a [*a]\n", "has an alias that contains itself"),
        ("routing: {threshold: " + "9" * 5000 + "}\n", "is not valid YAML"),
        ("released: 2024-99-99\n", "is not valid YAML"),
        (_AT_THE_LIMIT, None),
    ],
)
def test_files_that_would_cost_too_much_are_refused_with_one_clear_problem(
    text: str, problem: str | None
) -> None:
    repo = RepoSettings.from_yaml(text)
    if problem is None:
        assert repo.problems == ("`review.instructions` is cut to its first 4000 characters",)
        return
    [said] = repo.problems
    assert said == f".github/tierbot.yml {problem}; defaults used"


def test_a_budget_that_is_not_a_finite_amount_is_ignored() -> None:
    for value in (".nan", ".inf", "-1"):
        repo = RepoSettings.from_yaml(f"budget:\n  frontier_usd_month: {value}\n")
        assert repo.frontier_budget_usd is None
        assert len(repo.problems) == 1
    assert RepoSettings.from_yaml("budget: {frontier_usd_month: 12.5}").frontier_budget_usd == (
        Decimal("12.5")
    )


def test_globs_that_would_backtrack_for_ever_are_refused_and_the_rest_kept() -> None:
    hostile = ["*a*a*a*a*a*a*a*a*!", "x/*a*a*a*b/**/c"]
    repo = RepoSettings.from_yaml(yaml.safe_dump({"exclude": [*hostile, "docs/", "**/*.md"]}))
    assert repo.exclude == ("docs/", "**/*.md")
    assert len(repo.problems) == 2
    assert all("too complex" in problem for problem in repo.problems)
    # A run of `**/` is one wildcard, and matches as before.
    repo = RepoSettings.from_yaml("exclude: ['**/**/**/**/**/**/gen/*.py']")
    assert repo.problems == ()
    started = time.perf_counter()
    assert path_matches("a/" * 120 + "gen/x.py", repo.exclude)
    assert not path_matches("a/" * 120 + "x.py", repo.exclude)
    assert time.perf_counter() - started < 0.5


# --- the webhook ------------------------------------------------------------------------------

SECRET = "hostile"
# What JSON can carry and GitHub never sends: ids past 64 bits, and text with lone surrogates
# (`"\\ud800"`), which SQLite refuses (OverflowError, UnicodeEncodeError).
_HOSTILE_INTS = st.sampled_from([2**63, 2**64, 10**30, -(2**63) - 1]) | st.integers(
    min_value=2**63, max_value=2**100
)
_HOSTILE_TEXT = st.builds(
    lambda text, surrogate, at: text[:at] + surrogate + text[at:],
    st.text(max_size=12),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2),
    st.integers(min_value=0, max_value=12),
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | _HOSTILE_INTS
    | st.floats()
    | st.text(max_size=30)
    | _HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=30,
)
_PAYLOADS = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from(["opened", "created", "synchronize", "added"]) | st.text(),
        "pull_request": _JSON,
        "issue": _JSON,
        "comment": _JSON,
        "repository": _JSON,
        "installation": _JSON,
        "sender": _JSON,
    },
)
_BODIES = (
    st.binary(max_size=400)
    | _PAYLOADS.map(lambda data: json.dumps(data).encode())
    | _JSON.map(lambda data: json.dumps(data).encode())
)
_HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)
_EVENT_NAMES = st.sampled_from(sorted(EVENTS)) | _HEADER_TEXT


# Well-formed deliveries of the events that queue jobs, to put one hostile value into.
_USER = {"login": "mona", "type": "User"}
_REPOSITORY = {"name": "app", "owner": {"login": "octo"}}
_WELL_FORMED: dict[str, dict[str, Any]] = {
    "pull_request": {
        "action": "opened",
        "installation": {"id": 1},
        "repository": _REPOSITORY,
        "pull_request": {
            "number": 7,
            "draft": False,
            "user": _USER,
            "head": {"sha": "a" * 40},
            "author_association": "NONE",
        },
    },
    "issue_comment": {
        "action": "created",
        "installation": {"id": 1},
        "repository": _REPOSITORY,
        "issue": {"number": 7, "pull_request": {"url": "https://api.github.com/x"}},
        "comment": {"id": 5, "body": "/ask why?", "user": _USER, "author_association": "NONE"},
    },
    "pull_request_review_comment": {
        "action": "created",
        "installation": {"id": 1},
        "repository": _REPOSITORY,
        "pull_request": {"number": 7},
        "comment": {
            "id": 6,
            "in_reply_to_id": 5,
            "body": "why?",
            "user": _USER,
            "author_association": "NONE",
        },
    },
}


def _leaves(data: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(data, dict):
        return [leaf for key, value in data.items() for leaf in _leaves(value, (*path, key))]
    return [path]


_HOSTILE_DELIVERIES = st.sampled_from(sorted(_WELL_FORMED)).flatmap(
    lambda event: st.tuples(
        st.just(event),
        st.sampled_from(_leaves(_WELL_FORMED[event])),
        _HOSTILE_INTS | _HOSTILE_TEXT,
    )
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    queue = JobQueue(Path(tmp_path_factory.mktemp("hostile")) / "tierbot.db")
    app = create_app(
        secret=SECRET, queue=queue, bot_login="tierbot[bot]", event_settings=EventSettings()
    )
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client
    queue.close()


@BOUNDED
@given(
    body=_BODIES,
    event=_EVENT_NAMES,
    delivery=st.uuids().map(str) | _HEADER_TEXT,
    signed=st.sampled_from(["valid", "none", "wrong"]),
    extra=st.dictionaries(
        st.sampled_from(["content-type", "x-github-hook-id", "user-agent", "x-hub-signature"]),
        _HEADER_TEXT,
        max_size=3,
    ),
)
def test_any_delivery_is_answered_4xx_or_2xx_never_500(
    client: TestClient,
    body: bytes,
    event: str,
    delivery: str,
    signed: str,
    extra: dict[str, str],
) -> None:
    headers = {"x-github-event": event, "x-github-delivery": delivery, **extra}
    if signed == "valid":
        headers["x-hub-signature-256"] = signature(SECRET.encode(), body)
    elif signed == "wrong":
        headers["x-hub-signature-256"] = signature(b"not the secret", body)
    encoded = {k.encode(): v.encode("latin-1") for k, v in headers.items()}
    response = client.post("/webhook", content=body, headers=encoded)
    assert response.status_code in (200, 202, 400, 401, 413), response.text
    if signed != "valid":
        assert response.status_code == 401


@BOUNDED
@given(_HOSTILE_DELIVERIES)
def test_a_signed_delivery_with_an_id_or_text_github_never_sends_is_ignored_not_a_500(
    client: TestClient, delivery: tuple[str, tuple[str, ...], object]
) -> None:
    event, path, value = delivery
    data = copy.deepcopy(_WELL_FORMED[event])
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    body = json.dumps(data).encode()
    headers = {
        "x-github-event": event,
        "x-github-delivery": str(uuid.uuid4()),
        "x-hub-signature-256": signature(SECRET.encode(), body),
    }
    response = client.post("/webhook", content=body, headers=headers)
    assert response.status_code in (200, 202), response.text
    # A field the bot does not need as an id or as text (the draft flag, an association, a
    # comment's body that is not text at all) may still leave something to queue; a surrogate
    # pair is one valid character once the JSON is read.
    read_loosely = path[-1] in ("draft", "author_association", "action", "type", "url") or (
        path[-1] == "body" and isinstance(value, int)
    )
    hostile = isinstance(value, int) or not _encodable(json.loads(json.dumps(value)))
    if hostile and not read_loosely:
        assert response.json()["jobs"] == [], response.text


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
