"""events.route() and slash-command parsing: pure decisions over real webhook payloads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.queue import MAX_PAYLOAD_BYTES
from bot.faces.app.events import EventSettings, Routed, route
from bot.faces.app.slash import Command, bot_slug, needs_write, parse_command
from tests.webhooks import BOT_LOGIN, payload, pr_comment

SLUG = "tierbot"
DEFAULTS = EventSettings()
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # the head of the examples' pull request


def routed(event: str, data: dict[str, Any], settings: EventSettings = DEFAULTS) -> Routed:
    return route(event, data, bot_login=BOT_LOGIN, settings=settings)


def comment(body: str, **fields: Any) -> Routed:
    return routed("issue_comment", pr_comment(body, **fields))


# --- command parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/review", Command("review", (), "/review")),
        ("/review full", Command("review", ("full",), "/review full")),
        ("/review --local", Command("review", ("--local",), "/review --local")),
        ("/Review --frontier", Command("review", ("--frontier",), "/Review --frontier")),
        ("/route", Command("route", (), "/route")),
        ("/cost", Command("cost", (), "/cost")),
        ("/pause", Command("pause", (), "/pause")),
        ("/resume", Command("resume", (), "/resume")),
        ("/help", Command("help", (), "/help")),
        ("Thanks!\n\n/review full\n", Command("review", ("full",), "/review full")),
        ("   /route", Command("route", (), "/route")),
        ("@tierbot review", Command("review", (), "@tierbot review")),
        ("@TierBot: /review full", Command("review", ("full",), "@TierBot: /review full")),
        ("@tierbot[bot] route", Command("route", (), "@tierbot[bot] route")),
        ("@tierbot", Command("help", (), "@tierbot")),
        ("@tierbot frobnicate now", Command("frobnicate", ("now",), "@tierbot frobnicate now")),
        ("/review\n/pause", Command("review", (), "/review")),
    ],
)
def test_a_command_starts_a_line(body: str, expected: Command) -> None:
    assert parse_command(body, SLUG) == expected


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Looks good to me",
        "Please /review this",  # not at the start of a line
        "> /review --frontier",  # quoted from someone else
        "  > /pause",
        "```\n/review full\n```",  # a fenced code block
        "~~~~\n/review\n~~~\n/pause\n~~~~",  # the fence closes only with one as long
        "    /review",  # an indented code block
        "\t/review",
        "<!-- /review --frontier -->",  # hidden from readers
        "<!--\n/pause\n",  # an unclosed HTML comment runs to the end
        "/usr/bin/python is missing",  # a path, not a command
        "/review.",
        "@tierbotx review",  # another account
        "thanks @tierbot review",  # a mention inside a sentence
        "/",
    ],
)
def test_text_that_only_looks_like_a_command_is_none(body: str) -> None:
    assert parse_command(body, SLUG) is None


def test_a_command_after_a_closed_fence_counts() -> None:
    body = "```py\n/review --frontier\n```\n/route"
    assert parse_command(body, SLUG) == Command("route", (), "/route")


def test_ask_takes_the_rest_of_the_comment_as_its_question() -> None:
    body = "Hi\n/ask why is `retry` unbounded?\n\n```py\nwhile True:\n    retry()\n```"
    command = parse_command(body, SLUG)
    assert command is not None
    assert command.name == "ask"
    assert command.args == ("why is `retry` unbounded?\n\n```py\nwhile True:\n    retry()\n```",)


def test_ask_without_a_question_has_no_args() -> None:
    assert parse_command("/ask   ", SLUG) == Command("ask", (), "/ask")


def test_the_slug_is_the_login_without_bot() -> None:
    assert bot_slug("tierbot[bot]") == "tierbot"
    assert bot_slug("octo-reviewer") == "octo-reviewer"


@pytest.mark.parametrize(
    ("body", "needed"),
    [
        ("/review", False),
        ("/review --local", False),
        ("/review --frontier", True),
        ("/review full", True),
        ("/pause", True),
        ("/resume", True),
        ("/ask why?", False),
        ("/route", False),
        ("/cost", False),
        ("/help", False),
    ],
)
def test_commands_that_spend_or_change_behaviour_need_write(body: str, needed: bool) -> None:
    command = parse_command(body, SLUG)
    assert command is not None
    assert needs_write(command) is needed


# --- pull_request -----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["opened", "reopened", "synchronize", "ready_for_review"])
def test_a_pull_request_event_queues_a_review_of_its_head(action: str) -> None:
    result = routed("pull_request", payload("pull_request", action))
    assert result.result == "queued"
    [job] = result.jobs
    assert (job.kind, job.owner, job.repo, job.number) == ("review", "Codertocat", "Hello-World", 2)
    assert job.head_sha == HEAD
    assert job.installation_id == 1
    assert job.trigger == f"pull_request.{action}"
    assert job.payload == {}
    assert result.reaction is None


@pytest.mark.parametrize("action", ["closed", "labeled", "assigned", "converted_to_draft"])
def test_other_pull_request_actions_are_ignored(action: str) -> None:
    result = routed("pull_request", payload("pull_request", action))
    assert (result.jobs, result.ack) == ([], f"ignored: pull_request.{action}")


def test_a_draft_is_skipped_unless_settings_allow_drafts() -> None:
    data = payload("pull_request", "opened")
    data["pull_request"]["draft"] = True
    assert routed("pull_request", data) == Routed([], "ignored: draft")
    assert routed("pull_request", data, EventSettings(review_drafts=True)).result == "queued"


@pytest.mark.parametrize(("login", "kind"), [("dependabot[bot]", "Bot"), ("renovate[bot]", "User")])
def test_a_pull_request_by_a_bot_is_skipped_unless_settings_allow(login: str, kind: str) -> None:
    data = payload("pull_request", "synchronize")
    data["pull_request"]["user"].update(login=login, type=kind)
    assert routed("pull_request", data).ack == f"ignored: opened by a bot ({login})"
    assert routed("pull_request", data, EventSettings(review_bot_prs=True)).result == "queued"


def test_a_payload_without_the_installation_still_routes() -> None:
    data = payload("pull_request", "opened")
    del data["installation"]
    [job] = routed("pull_request", data).jobs
    assert job.installation_id is None


def test_a_payload_missing_a_needed_field_is_ignored_with_the_field_named() -> None:
    data = payload("pull_request", "opened")
    del data["pull_request"]["head"]
    assert routed("pull_request", data).ack == (
        "ignored: malformed pull_request payload (no pull_request.head)"
    )
    data = payload("pull_request", "opened")
    data["pull_request"]["number"] = 0
    assert routed("pull_request", data).ack == (
        "ignored: malformed pull_request payload (no pull_request.number)"
    )


# Values JSON can carry that GitHub never sends and SQLite cannot store: an id past 64 bits
# (OverflowError) and a lone surrogate (UnicodeEncodeError).
HOSTILE = [
    ("pull_request", ["pull_request", "number"], 10**30),
    ("pull_request", ["pull_request", "number"], 2**63),
    ("pull_request", ["installation", "id"], 10**30),
    ("pull_request", ["pull_request", "head", "sha"], "\ud800"),
    ("pull_request", ["repository", "name"], "r\ud800"),
    ("pull_request", ["repository", "owner", "login"], "\udfff"),
    ("pull_request", ["pull_request", "user", "login"], "u\ud800"),
    ("issue_comment", ["issue", "number"], 2**64),
    ("issue_comment", ["comment", "id"], 10**30),
    ("issue_comment", ["comment", "user", "login"], "\ud800"),
    ("issue_comment", ["comment", "body"], "/ask why \ud800"),
    ("pull_request_review_comment", ["comment", "in_reply_to_id"], 10**30),
    ("pull_request_review_comment", ["comment", "body"], "why \ud800"),
    ("pull_request_review_comment", ["pull_request", "number"], 2**63),
]


@pytest.mark.parametrize(("event", "path", "value"), HOSTILE)
def test_an_id_past_64_bits_or_text_with_a_lone_surrogate_is_malformed(
    event: str, path: list[str], value: object
) -> None:
    data = payload(event, "opened" if event == "pull_request" else "created")
    if event == "issue_comment":
        data["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/1"}
        data["comment"]["body"] = "/ask why"
    if event == "pull_request_review_comment":
        data["comment"]["in_reply_to_id"] = 4242
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert routed(event, data).ack == (f"ignored: malformed {event} payload (no {'.'.join(path)})")


def test_the_largest_64_bit_id_still_routes() -> None:
    data = payload("pull_request", "opened")
    data["pull_request"]["number"] = 2**63 - 1
    data["installation"]["id"] = 2**63 - 1
    [job] = routed("pull_request", data).jobs
    assert (job.number, job.installation_id) == (2**63 - 1, 2**63 - 1)


# --- issue_comment ----------------------------------------------------------------------------


def test_a_slash_command_on_a_pull_request_queues_a_command_job() -> None:
    result = comment("/review --frontier", association="MEMBER", login="mona")
    assert result.result == "queued"
    [job] = result.jobs
    data = pr_comment("")
    comment_id = data["comment"]["id"]
    assert (job.kind, job.owner, job.repo, job.number) == (
        "command",
        "Codertocat",
        "Hello-World",
        data["issue"]["number"],
    )
    assert job.installation_id == 1
    assert job.head_sha is None  # the worker reads the PR's head when it runs
    assert (job.tier_hint, job.trigger) == ("frontier", "/review")
    assert job.payload == {
        "command": "review",
        "args": ["--frontier"],
        "user": "mona",
        "author_association": "MEMBER",
        "comment_id": comment_id,
        "needs_permission_check": False,
    }
    assert result.reaction == (comment_id, "eyes")


@pytest.mark.parametrize("association", ["OWNER", "MEMBER", "COLLABORATOR"])
def test_write_commands_from_trusted_associations_pass(association: str) -> None:
    for body in ("/review --frontier", "/review full", "/pause", "/resume"):
        [job] = comment(body, association=association).jobs
        assert job.payload["needs_permission_check"] is False


@pytest.mark.parametrize("association", ["CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "NONE"])
def test_write_commands_from_others_are_flagged_for_the_permission_api(association: str) -> None:
    for body in ("/review --frontier", "/review full", "/pause", "/resume"):
        [job] = comment(body, association=association).jobs
        assert job.payload["needs_permission_check"] is True
    for body in ("/review", "/review --local", "/route", "/cost", "/ask why?", "/help"):
        [job] = comment(body, association=association).jobs
        assert job.payload["needs_permission_check"] is False


def test_local_is_a_tier_hint() -> None:
    [job] = comment("/review --local").jobs
    assert job.tier_hint == "local"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("@tierbot frobnicate", "unknown command /frobnicate"),
        ("@tierbot please review", "unknown command /please"),
        ("/review now", "unknown option 'now' for /review"),
        ("/review --local --frontier", "/review takes --local or --frontier, not both"),
        ("/ask", "/ask needs a question"),
    ],
)
def test_an_unknown_or_wrong_command_gets_help(body: str, problem: str) -> None:
    result = comment(body)
    [job] = result.jobs
    assert job.payload["command"] == "help"
    assert job.payload["problem"] == problem
    assert job.payload["args"] == []
    assert job.payload["needs_permission_check"] is False
    assert result.reaction is not None


@pytest.mark.parametrize("body", ["/lgtm", "/retest", "/frobnicate now", "/lgtm\n/approve"])
def test_other_bots_slash_commands_are_not_answered(body: str) -> None:
    assert comment(body).jobs == []


def test_a_known_command_after_another_bots_command_is_found() -> None:
    [job] = comment("/lgtm\n/review").jobs
    assert job.payload["command"] == "review"


def test_ask_carries_the_question() -> None:
    [job] = comment("/ask is this thread-safe?\nIt runs in a pool.").jobs
    assert job.payload["command"] == "ask"
    assert job.payload["args"] == ["is this thread-safe?\nIt runs in a pool."]


def test_the_bots_own_comment_is_ignored() -> None:
    result = comment("/review full", login=BOT_LOGIN, user_type="Bot", association="NONE")
    assert result == Routed([], "ignored: the bot's own comment")


def test_other_bots_are_ignored_unless_settings_allow() -> None:
    data = pr_comment("/review", login="helper[bot]", user_type="Bot")
    assert routed("issue_comment", data).ack == "ignored: a comment by a bot (helper[bot])"
    allowed = EventSettings(commands_from_bots=True)
    assert routed("issue_comment", data, allowed).result == "queued"


def test_a_comment_without_a_command_is_ignored() -> None:
    assert comment("Nice work!\n> /review\n") == Routed([], "ignored: no command")


def test_a_comment_on_an_issue_is_ignored() -> None:
    data = payload("issue_comment", "created")
    data["comment"]["body"] = "/review"
    assert routed("issue_comment", data).ack == (
        "ignored: a comment on an issue, not a pull request"
    )


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_edited_and_deleted_comments_are_ignored(action: str) -> None:
    data = payload("issue_comment", action)
    data["comment"]["body"] = "/review"
    assert routed("issue_comment", data).ack == f"ignored: issue_comment.{action}"


# --- pull_request_review_comment --------------------------------------------------------------


def test_a_reply_in_a_review_thread_queues_a_reply_job() -> None:
    data = payload("pull_request_review_comment", "created")
    data["comment"]["in_reply_to_id"] = 4242
    data["comment"]["body"] = "Why is this a problem?"
    result = routed("pull_request_review_comment", data)
    [job] = result.jobs
    assert (job.kind, job.owner, job.repo, job.number) == ("reply", "Codertocat", "Hello-World", 2)
    assert (job.installation_id, job.trigger) == (1, "pull_request_review_comment.created")
    assert job.payload == {
        "comment_id": data["comment"]["id"],
        "in_reply_to_id": 4242,
        "user": data["comment"]["user"]["login"],
        "author_association": data["comment"]["author_association"],
        "question": "Why is this a problem?",
    }
    # No 👀 yet: only the worker can tell whether the thread is the bot's.
    assert result.reaction is None


def test_a_review_comment_that_starts_a_thread_is_ignored() -> None:
    data = payload("pull_request_review_comment", "created")
    assert routed("pull_request_review_comment", data).ack == (
        "ignored: a review comment that is not a reply"
    )


def test_the_bots_own_reply_is_ignored() -> None:
    data = payload("pull_request_review_comment", "created")
    data["comment"]["in_reply_to_id"] = 4242
    data["comment"]["user"].update(login=BOT_LOGIN, type="Bot")
    assert routed("pull_request_review_comment", data).ack == "ignored: the bot's own comment"


# --- everything else --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "action"),
    [("installation", "created"), ("installation", "deleted"), ("installation_repositories", None)],
)
def test_installation_events_are_recorded(event: str, action: str | None) -> None:
    data = payload(event, action)
    result = routed(event, data)
    assert result.jobs == []
    assert result.result == "recorded"
    assert f"installation {data['installation']['id']}" in result.ack


@pytest.mark.parametrize(("event", "action"), [("push", None), ("star", "created")])
def test_other_events_are_ignored(event: str, action: str | None) -> None:
    result = routed(event, payload(event, action))
    assert result.jobs == []
    assert result.ack == (f"ignored: {event}.{action}" if action else f"ignored: {event}")


def test_ping_is_pong() -> None:
    assert routed("ping", payload("ping")) == Routed([], "pong: ping")


# --- properties -------------------------------------------------------------------------------

# Comment-like text: pieces of commands, quotes, fences and HTML comments in any order.
_COMMENT_TEXT = st.lists(
    st.sampled_from(
        [*"/@>`~ \t\n-ab<!😀", "review", "tierbot", "full", "--frontier", "ask", "```", "<!--"]
    )
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(st.text(), _COMMENT_TEXT), association=st.sampled_from(["MEMBER", "NONE"]))
def test_any_comment_body_routes_without_raising(body: str, association: str) -> None:
    result = comment(body, association=association)
    assert result.result in ("queued", "ignored")
    for job in result.jobs:
        assert len(json.dumps(dict(job.payload)).encode()) <= MAX_PAYLOAD_BYTES


def test_the_longest_comment_still_fits_a_job() -> None:
    # GitHub allows 65,536 characters; as escaped JSON an emoji takes 12 bytes.
    result = comment("/ask " + "😀" * 65_530)
    [job] = result.jobs
    assert len(json.dumps(dict(job.payload)).encode()) <= MAX_PAYLOAD_BYTES
    result = comment("/review " + " ".join(["😀" * 200] * 200))
    [job] = result.jobs
    assert len(json.dumps(dict(job.payload)).encode()) <= MAX_PAYLOAD_BYTES


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    event=st.sampled_from(
        ["pull_request", "issue_comment", "pull_request_review_comment", "installation", "push"]
    ),
    data=st.dictionaries(
        st.sampled_from(
            ["action", "pull_request", "issue", "comment", "repository", "installation"]
        ),
        _JSON,
    ),
)
def test_any_payload_routes_without_raising(event: str, data: dict[str, Any]) -> None:
    assert routed(event, data).result in ("queued", "recorded", "ignored")


_FIELDS = {
    "pull_request": [
        "action",
        "pull_request",
        "pull_request.user",
        "pull_request.user.login",
        "pull_request.head",
        "pull_request.head.sha",
        "pull_request.number",
        "pull_request.draft",
        "repository",
        "repository.owner",
        "repository.owner.login",
        "repository.name",
        "installation",
        "installation.id",
    ],
    "issue_comment": [
        "issue",
        "issue.pull_request",
        "issue.number",
        "comment",
        "comment.id",
        "comment.body",
        "comment.user",
        "comment.user.login",
        "comment.author_association",
        "repository.owner.login",
    ],
}


@settings(max_examples=200, deadline=None)
@given(
    event=st.sampled_from(sorted(_FIELDS)),
    index=st.integers(min_value=0, max_value=20),
    value=_JSON,
)
def test_a_real_payload_with_any_field_replaced_routes_without_raising(
    event: str, index: int, value: object
) -> None:
    data = pr_comment("/review full") if event == "issue_comment" else payload(event, "opened")
    *parents, last = _FIELDS[event][index % len(_FIELDS[event])].split(".")
    target = data
    for key in parents:
        target = target[key]
    target[last] = value
    assert routed(event, data).result in ("queued", "ignored")
