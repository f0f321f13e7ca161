"""The webhook server through the real Starlette app: real payloads signed by Octokit, posted to
/webhook, jobs persisted in the real SQLite queue; /healthz and /metrics; the metrics registry."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.adapters.metrics import QUEUE_JOBS, WEBHOOKS, Metrics
from bot.adapters.queue import JobQueue, QueuedJob
from bot.faces.app.delivery import MAX_BODY_BYTES, signature, verify_signature
from bot.faces.app.events import EventSettings
from bot.faces.app.web import create_app
from tests.webhooks import (
    BOT_LOGIN,
    SECRET,
    encode,
    headers,
    need_real_deliveries,
    payload,
    pr_comment,
    sign,
)

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


class Server:
    """The app under test with its queue, and what it told the workers."""

    def __init__(self, tmp_path: Path, **options: Any) -> None:
        self.queue = JobQueue(tmp_path / "tierbot.db")
        self.metrics = Metrics()
        self.wakeups = 0
        self.app = create_app(
            secret=SECRET,
            queue=self.queue,
            bot_login=BOT_LOGIN,
            event_settings=EventSettings(),
            on_enqueued=self._wake,
            metrics=self.metrics,
            **options,
        )
        self.client = TestClient(self.app)

    def _wake(self) -> None:
        self.wakeups += 1

    def deliver(
        self, event: str, data: dict[str, Any], delivery: str | None = None
    ) -> dict[str, Any]:
        """Post a signed delivery; return the JSON answer with its `status`."""
        body = encode(data)
        response = self.client.post(
            "/webhook", content=body, headers=headers(event, body, delivery=delivery)
        )
        answer: dict[str, Any] = response.json()
        return answer | {"status": response.status_code}

    def job(self, job_id: int) -> QueuedJob:
        job = self.queue.get(job_id)
        assert job is not None
        return job

    def persisted(self) -> int:
        return sum(self.queue.depth().values())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    made = Server(tmp_path)
    with made.client:
        yield made
    made.queue.close()


@pytest.fixture
def real() -> None:
    """Skip unless real payloads and Octokit's signing are installed."""
    need_real_deliveries()


def signed_headers(event: str, body: bytes, delivery: str = "d-1") -> dict[str, str]:
    return headers(event, body, delivery=delivery)


# --- /webhook: what is refused ------------------------------------------------------------------


@pytest.mark.usefixtures("real")
def test_a_wrong_signature_is_401_and_nothing_is_persisted(server: Server) -> None:
    body = encode(payload("pull_request", "opened"))
    forged = headers("pull_request", body, delivery="d-forged")
    forged["X-Hub-Signature-256"] = sign("not the secret", body)
    response = server.client.post("/webhook", content=body, headers=forged)
    assert (response.status_code, response.json()) == (401, {"error": "invalid signature"})
    tampered = headers("pull_request", body, delivery="d-tampered")
    response = server.client.post("/webhook", content=body + b" ", headers=tampered)
    assert response.status_code == 401
    assert server.persisted() == 0
    # Not even the delivery was recorded: GitHub's real delivery with that id is still accepted.
    assert server.queue.accept("d-forged", "pull_request", "opened", []) == []


@pytest.mark.usefixtures("real")
def test_a_missing_signature_is_401_with_the_same_answer(server: Server) -> None:
    body = encode(payload("pull_request", "opened"))
    unsigned = headers("pull_request", body)
    del unsigned["X-Hub-Signature-256"]
    response = server.client.post("/webhook", content=body, headers=unsigned)
    assert (response.status_code, response.json()) == (401, {"error": "invalid signature"})
    unsigned["X-Hub-Signature-256"] = "sha1=" + "0" * 40  # the legacy header's format
    assert server.client.post("/webhook", content=body, headers=unsigned).status_code == 401
    assert server.persisted() == 0


def test_an_unsigned_request_without_headers_is_401_before_anything_else(server: Server) -> None:
    response = server.client.post("/webhook", content=b"{}")
    assert response.status_code == 401


def test_a_body_over_the_cap_is_413_from_its_content_length(server: Server) -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    response = server.client.post(
        "/webhook", content=body, headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "d"}
    )
    assert response.status_code == 413
    assert server.persisted() == 0


def test_a_streamed_body_over_the_cap_is_413_while_reading(tmp_path: Path) -> None:
    small = Server(tmp_path, max_body_bytes=1000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(5):
            yield b"x" * 300

    response = small.client.post("/webhook", content=chunks())
    assert response.status_code == 413
    response = small.client.post("/webhook", content=b"x" * 1001)
    assert response.status_code == 413


def test_a_bad_content_length_is_400(server: Server) -> None:
    response = server.client.post("/webhook", content=b"{}", headers={"Content-Length": "2x"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body", [b'{"action": "opened"', b"[1, 2]", b"", "{}\xff".encode("latin-1")]
)
def test_a_body_that_is_not_a_json_object_is_400(server: Server, body: bytes) -> None:
    response = server.client.post(
        "/webhook",
        content=body,
        headers={
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "d-bad",
            # Octokit signs text; these bodies are signed here, as GitHub would sign bytes.
            "X-Hub-Signature-256": signature(SECRET.encode(), body),
        },
    )
    assert response.status_code == 400
    assert server.persisted() == 0


@pytest.mark.usefixtures("real")
def test_malformed_json_signed_by_octokit_is_400(server: Server) -> None:
    body = b'{"action": "opened", '
    response = server.client.post("/webhook", content=body, headers=signed_headers("push", body))
    assert (response.status_code, response.json()) == (400, {"error": "the body is not JSON"})


@pytest.mark.usefixtures("real")
@pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_a_missing_event_or_delivery_header_is_400(server: Server, header: str) -> None:
    body = encode(payload("pull_request", "opened"))
    sent = headers("pull_request", body)
    del sent[header]
    response = server.client.post("/webhook", content=body, headers=sent)
    assert response.status_code == 400
    assert server.persisted() == 0


def test_webhook_takes_only_post(server: Server) -> None:
    assert server.client.get("/webhook").status_code == 405


# --- /webhook: what is accepted -----------------------------------------------------------------


@pytest.mark.usefixtures("real")
def test_ping_is_answered_with_pong(server: Server) -> None:
    answer = server.deliver("ping", payload("ping"), delivery="d-ping")
    assert answer == {"status": 200, "delivery": "d-ping", "ack": "pong"}
    assert server.persisted() == 0


@pytest.mark.usefixtures("real")
def test_an_opened_pull_request_is_persisted_as_a_review_job_before_the_202(
    server: Server,
) -> None:
    answer = server.deliver("pull_request", payload("pull_request", "opened"), delivery="d-42")
    assert answer["status"] == 202
    assert answer["delivery"] == "d-42"
    assert answer["ack"].startswith("queued: review of Codertocat/Hello-World#2")
    [job_id] = answer["jobs"]
    job = server.job(job_id)
    assert (job.kind, job.owner, job.repo, job.number) == ("review", "Codertocat", "Hello-World", 2)
    assert (job.head_sha, job.installation_id, job.state) == (HEAD, 1, "waiting")
    assert job.trigger == "pull_request.opened"
    assert server.wakeups == 1


@pytest.mark.usefixtures("real")
def test_a_redelivery_is_acknowledged_and_not_enqueued_twice(server: Server) -> None:
    data = pr_comment("/route")
    first = server.deliver("issue_comment", data, delivery="d-again")
    again = server.deliver("issue_comment", data, delivery="d-again")
    assert first["status"] == 202
    assert again == {"status": 200, "delivery": "d-again", "duplicate": True}
    assert server.queue.depth()["waiting"] == 1
    assert server.wakeups == 1


@pytest.mark.usefixtures("real")
def test_ignored_deliveries_are_recorded_so_a_redelivery_is_a_duplicate(server: Server) -> None:
    data = payload("star", "created")
    assert server.deliver("star", data, delivery="d-star")["status"] == 200
    assert server.deliver("star", data, delivery="d-star")["duplicate"] is True


@pytest.mark.usefixtures("real")
def test_drafts_and_bot_pull_requests_are_skipped(server: Server) -> None:
    draft = payload("pull_request", "opened")
    draft["pull_request"]["draft"] = True
    by_bot = payload("pull_request", "synchronize")
    by_bot["pull_request"]["user"].update(login="dependabot[bot]", type="Bot")
    answers = [server.deliver("pull_request", draft), server.deliver("pull_request", by_bot)]
    assert [(a["status"], a["jobs"], a["ack"]) for a in answers] == [
        (200, [], "ignored: draft"),
        (200, [], "ignored: opened by a bot (dependabot[bot])"),
    ]
    assert server.persisted() == 0
    assert server.wakeups == 0


@pytest.mark.usefixtures("real")
def test_review_frontier_from_a_contributor_is_flagged_for_the_permission_check(
    server: Server,
) -> None:
    answer = server.deliver("issue_comment", pr_comment("/review --frontier", association="NONE"))
    assert answer["status"] == 202
    job = server.job(answer["jobs"][0])
    assert (job.kind, job.tier_hint) == ("command", "frontier")
    assert job.payload["command"] == "review"
    assert job.payload["needs_permission_check"] is True


@pytest.mark.usefixtures("real")
def test_review_frontier_from_a_contributor_association_is_checked_from_a_member_not(
    server: Server,
) -> None:
    flagged = server.deliver(
        "issue_comment", pr_comment("/review --frontier", association="CONTRIBUTOR")
    )
    allowed = server.deliver(
        "issue_comment", pr_comment("/review --frontier", association="MEMBER")
    )
    assert server.job(flagged["jobs"][0]).payload["needs_permission_check"] is True
    assert server.job(allowed["jobs"][0]).payload["needs_permission_check"] is False


@pytest.mark.usefixtures("real")
@pytest.mark.parametrize(
    "body",
    [
        "> /review --frontier\n\nWhat does that do?",
        "Try this:\n\n```\n/review full\n```",
        "Try this:\n\n    /pause",
    ],
)
def test_commands_in_quotes_and_code_are_ignored(server: Server, body: str) -> None:
    answer = server.deliver("issue_comment", pr_comment(body))
    assert (answer["status"], answer["jobs"], answer["ack"]) == (200, [], "ignored: no command")


@pytest.mark.usefixtures("real")
def test_a_mention_of_the_slug_works_like_a_slash(server: Server) -> None:
    answer = server.deliver("issue_comment", pr_comment("@tierbot review full"))
    job = server.job(answer["jobs"][0])
    assert (job.payload["command"], job.payload["args"]) == ("review", ["full"])


@pytest.mark.usefixtures("real")
def test_an_unknown_command_queues_help(server: Server) -> None:
    answer = server.deliver("issue_comment", pr_comment("@tierbot frobnicate"))
    job = server.job(answer["jobs"][0])
    assert job.payload["command"] == "help"
    assert job.payload["problem"] == "unknown command /frobnicate"


@pytest.mark.usefixtures("real")
def test_the_bots_own_comments_are_ignored(server: Server) -> None:
    data = pr_comment("/review --frontier", login=BOT_LOGIN, user_type="Bot", association="NONE")
    answer = server.deliver("issue_comment", data)
    assert (answer["status"], answer["jobs"]) == (200, [])
    assert server.persisted() == 0


@pytest.mark.usefixtures("real")
def test_a_reply_in_a_review_thread_queues_a_reply_job(server: Server) -> None:
    data = payload("pull_request_review_comment", "created")
    data["comment"]["in_reply_to_id"] = 4242
    answer = server.deliver("pull_request_review_comment", data)
    job = server.job(answer["jobs"][0])
    assert (job.kind, job.number, job.payload["in_reply_to_id"]) == ("reply", 2, 4242)


@pytest.mark.usefixtures("real")
@pytest.mark.parametrize(
    ("event", "action", "ack"),
    [
        ("push", None, "ignored: push"),
        ("star", "created", "ignored: star.created"),
        ("projects_v2_item", "created", "ignored: projects_v2_item.created"),
        ("pull_request", "closed", "ignored: pull_request.closed"),
        ("issue_comment", "deleted", "ignored: issue_comment.deleted"),
    ],
)
def test_unknown_events_and_actions_are_ignored(
    server: Server, event: str, action: str | None, ack: str
) -> None:
    answer = server.deliver(event, payload(event, action))
    assert (answer["status"], answer["jobs"], answer["ack"]) == (200, [], ack)
    assert server.persisted() == 0


@pytest.mark.usefixtures("real")
def test_installation_events_are_recorded(server: Server) -> None:
    answer = server.deliver("installation", payload("installation", "created"))
    assert answer["status"] == 200
    assert answer["ack"].startswith("recorded: installation.created")


# --- /webhook: the command limit ----------------------------------------------------------------

LIMITED = "ignored: command rate limit for Codertocat/Hello-World#1 (10 per 10 minutes)"


@pytest.mark.usefixtures("real")
def test_the_eleventh_review_command_on_a_pr_is_answered_200_and_not_queued(
    server: Server,
) -> None:
    answers = [server.deliver("issue_comment", pr_comment("/review")) for _ in range(10)]
    assert [a["status"] for a in answers] == [202] * 10
    over = server.deliver("issue_comment", pr_comment("/review"), delivery="d-11th")
    assert over == {"status": 200, "delivery": "d-11th", "jobs": [], "ack": LIMITED}
    assert server.persisted() == 10
    assert server.wakeups == 10
    # Handled, so GitHub's redelivery of it is a duplicate and not a second try.
    again = server.deliver("issue_comment", pr_comment("/review"), delivery="d-11th")
    assert again == {"status": 200, "delivery": "d-11th", "duplicate": True}
    labels = {"event": "issue_comment", "result": "rate_limited"}
    assert server.metrics.value(WEBHOOKS, labels) == 1
    assert server.metrics.value(WEBHOOKS, {"event": "issue_comment", "result": "queued"}) == 10


@pytest.mark.usefixtures("real")
def test_the_command_limit_leaves_pushes_and_other_prs_alone(server: Server) -> None:
    for _ in range(10):
        server.deliver("issue_comment", pr_comment("/ask why?"))
    assert server.deliver("issue_comment", pr_comment("@tierbot help"))["ack"] == LIMITED
    push = payload("pull_request", "synchronize")
    push["pull_request"]["number"] = 1
    assert server.deliver("pull_request", push)["status"] == 202
    other = pr_comment("/review")
    other["issue"]["number"] = 3
    answer = server.deliver("issue_comment", other)
    assert answer["status"] == 202
    assert server.job(answer["jobs"][0]).number == 3


@pytest.mark.usefixtures("real")
@pytest.mark.parametrize(
    ("limit", "answers"),
    [
        ((2, 60.0), [202, 202, "(2 per minute)"]),
        ((1, 5400.0), [202, "(1 per 90 minutes)", "(1 per 90 minutes)"]),
        (None, [202, 202, 202]),
    ],
)
def test_the_command_limit_is_set_by_the_app_or_turned_off(
    tmp_path: Path, limit: tuple[int, float] | None, answers: list[int | str]
) -> None:
    made = Server(tmp_path, command_limit=limit)
    try:
        got: list[int | str] = []
        for _ in range(3):
            answer = made.deliver("issue_comment", pr_comment("/route"))
            got.append(answer["status"] if answer["status"] == 202 else answer["ack"])
    finally:
        made.queue.close()
    prefix = "ignored: command rate limit for Codertocat/Hello-World#1 "
    assert got == [a if isinstance(a, int) else prefix + a for a in answers]


def test_a_command_limit_that_allows_nothing_is_refused(tmp_path: Path) -> None:
    with JobQueue(tmp_path / "q.db") as queue, pytest.raises(ValueError, match="command limit"):
        create_app(
            secret=SECRET,
            queue=queue,
            bot_login=BOT_LOGIN,
            event_settings=EventSettings(),
            command_limit=(0, 600.0),
        )


# --- /healthz and /metrics ----------------------------------------------------------------------


def test_healthz_says_ok_with_the_queue_depth(server: Server) -> None:
    response = server.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "queue": {"waiting": 0, "running": 0, "done": 0, "failed": 0},
        "held": 0,
        "bot": BOT_LOGIN,
        "github": {"state": "unknown"},
    }


# One sample line: a name, optional labels with quoted (escaped) values, and a number.
_SAMPLE = re.compile(
    r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\["\\n])*",?)*\})? '
    r"([-+]?[0-9.e+-]+|[-+]Inf|NaN)"
)


def parse_prometheus(text: str) -> dict[str, float]:
    """Samples by their name-and-labels text; fails on any line not in the text format."""
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            types[name] = kind
        elif line.startswith("# HELP "):
            assert len(line.split(" ", 3)) == 4, line
        else:
            assert _SAMPLE.fullmatch(line), f"not a Prometheus sample line: {line!r}"
            series, value = line.rsplit(" ", 1)
            family = re.sub(r"_(bucket|sum|count)$", "", series.split("{")[0])
            assert family in types or series.split("{")[0] in types, f"no TYPE for {line!r}"
            samples[series] = float(value)
    return samples


@pytest.mark.usefixtures("real")
def test_metrics_count_webhooks_by_event_and_result_in_prometheus_text(server: Server) -> None:
    server.deliver("pull_request", payload("pull_request", "opened"))
    server.deliver("pull_request", payload("pull_request", "closed"))
    server.deliver("ping", payload("ping"))
    server.client.post("/webhook", content=b"{}")  # unsigned
    response = server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_prometheus(response.text)
    assert samples['tierbot_webhooks_total{event="pull_request",result="queued"}'] == 1
    assert samples['tierbot_webhooks_total{event="pull_request",result="ignored"}'] == 1
    assert samples['tierbot_webhooks_total{event="ping",result="pong"}'] == 1
    assert samples['tierbot_webhooks_total{event="unverified",result="bad_signature"}'] == 1
    assert samples['tierbot_queue_jobs{state="waiting"}'] == 1
    assert samples['tierbot_webhook_seconds_count{event="pull_request"}'] == 2
    assert samples['tierbot_webhook_seconds_bucket{event="pull_request",le="+Inf"}'] == 2
    assert "# TYPE tierbot_webhooks_total counter" in response.text


@pytest.mark.usefixtures("real")
def test_an_event_the_app_does_not_subscribe_to_is_counted_as_other(server: Server) -> None:
    server.deliver("star", payload("star", "created"))
    assert server.metrics.value(WEBHOOKS, {"event": "other", "result": "ignored"}) == 1


def test_the_lifespan_hook_runs_with_the_app(tmp_path: Path) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    made = Server(tmp_path, lifespan=lifespan)
    with made.client:
        assert events == ["start"]
    assert events == ["start", "stop"]


def test_an_empty_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret is empty"):
        create_app(
            secret="",
            queue=JobQueue(tmp_path / "q.db"),
            bot_login=BOT_LOGIN,
            event_settings=EventSettings(),
        )


@pytest.mark.usefixtures("real")
def test_our_signature_matches_octokits() -> None:
    body = json.dumps(payload("pull_request", "opened")).encode()
    assert signature(SECRET.encode(), body) == sign(SECRET, body)
    assert verify_signature(SECRET.encode(), body, sign(SECRET, body))
    assert not verify_signature(SECRET.encode(), body, None)
    assert not verify_signature(SECRET.encode(), body, "sha256=é")


# --- the metrics registry -----------------------------------------------------------------------


def test_counters_gauges_and_histograms_render_in_the_text_format() -> None:
    metrics = Metrics(buckets=(0.1, 1.0))
    metrics.inc("tierbot_jobs_total", {"kind": "review", "outcome": "done"})
    metrics.inc("tierbot_jobs_total", {"outcome": "done", "kind": "review"}, 2)
    metrics.inc("tierbot_spend_usd_total", {"tier": "frontier"}, 0.125)
    metrics.set_gauge(QUEUE_JOBS, {"state": "waiting"}, 3)
    metrics.observe("tierbot_job_seconds", {"kind": "review"}, 0.05)
    metrics.observe("tierbot_job_seconds", {"kind": "review"}, 0.5)
    metrics.observe("tierbot_job_seconds", {"kind": "review"}, 7.0)
    metrics.describe("tierbot_custom_total", 'A "custom" one\\with a backslash')
    metrics.inc("tierbot_custom_total", {"path": 'a"b\\c\nd'})
    text = metrics.render()
    samples = parse_prometheus(text)
    assert samples['tierbot_jobs_total{kind="review",outcome="done"}'] == 3
    assert samples['tierbot_spend_usd_total{tier="frontier"}'] == 0.125
    assert samples['tierbot_queue_jobs{state="waiting"}'] == 3
    assert samples['tierbot_job_seconds_bucket{kind="review",le="0.1"}'] == 1
    # prometheus-client writes a bound as a float: le="1.0"
    assert samples['tierbot_job_seconds_bucket{kind="review",le="1.0"}'] == 2
    assert samples['tierbot_job_seconds_bucket{kind="review",le="+Inf"}'] == 3
    assert samples['tierbot_job_seconds_sum{kind="review"}'] == 7.55
    assert samples['tierbot_job_seconds_count{kind="review"}'] == 3
    assert 'tierbot_custom_total{path="a\\"b\\\\c\\nd"} 1' in text
    assert '# HELP tierbot_custom_total A "custom" one\\\\with a backslash' in text


def test_misuse_of_the_registry_is_an_error() -> None:
    metrics = Metrics()
    metrics.inc("tierbot_reviews_total", {"tier": "local"})
    with pytest.raises(ValueError, match="is a counter"):
        metrics.set_gauge("tierbot_reviews_total", {"tier": "local"}, 1)
    with pytest.raises(ValueError, match="only goes up"):
        metrics.inc("tierbot_reviews_total", None, -1)
    with pytest.raises(ValueError, match="metric name"):
        metrics.inc("tierbot-reviews")
    with pytest.raises(ValueError, match="label name"):
        metrics.inc("tierbot_reviews_total", {"le": "1"})
    with pytest.raises(ValueError, match="increasing"):
        Metrics(buckets=(1.0, 0.5))


def test_an_empty_registry_renders_nothing() -> None:
    assert Metrics().render() == ""
