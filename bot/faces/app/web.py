"""The webhook server: a Starlette app with `POST /webhook`, `GET /healthz` and `GET /metrics`.

`POST /webhook` verifies, decides and enqueues, then answers; the slow work (GitHub, models) is
the workers'. In order, for each delivery
(https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers):

1. the body, at most 25 MB (GitHub caps payloads at 25 MB; a bigger body is not GitHub's):
   413 when `Content-Length` says more, or when more arrives while reading (chunked bodies);
2. `X-Hub-Signature-256`, the HMAC-SHA256 of the raw body under the webhook secret, compared in
   constant time (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries):
   401 when missing or wrong, with the same short answer for both;
3. `X-GitHub-Event` and `X-GitHub-Delivery`: 400 when missing or not plausible; the body must be a
   JSON object: 400 otherwise (a GitHub App always sends `application/json`);
4. `ping` answers 200 "pong"; every other event goes through `events.route()` (pure), and the
   delivery with its jobs is persisted by `queue.admit()` in one transaction before the answer:
   202 with `{"delivery", "jobs", "ack"}` when jobs were queued, 200 with the same body when the
   event was recorded or ignored, 200 `{"duplicate": true}` for a redelivery of a delivery id
   already accepted, which is not acted on again
   (https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks);
5. until the App's login is known (GitHub unreachable when the server started), an
   `issue_comment` or `pull_request_review_comment` delivery, whose routing needs the login (to
   ignore the bot's own comments and to read `@slug` commands), is held in the queue, body and
   all, and answered 202 `{"delivery", "held": true, "ack"}`; `admit_held` routes the held
   deliveries as above once the login is known. When MAX_HELD deliveries wait already, the
   answer is 503: GitHub records the delivery as failed, to be redelivered. Other events route
   at once;
6. slash commands are limited per pull request (`command_limit`, by default 10 per 10 minutes,
   counted by the queue in the same transaction): a command over the limit is not queued and is
   answered 200 with `ack` "ignored: command rate limit for owner/repo#N (10 per 10 minutes)",
   counted as result `rate_limited`. Nothing is posted about it, no reaction and no reply: the
   worker posts those from a job, and answering a flood would be a flood;
6. work by accounts without write access is capped per account and per repository per hour
   (`caps`, bot.core.caps, counted by the queue in the same transaction): work over a cap is not
   queued and is answered with `ack` "ignored: review cap for `login` on owner/repo (10 per
   hour)", counted as result `rate_limited` and in `tierbot_capped_total` by work and scope; the
   first refusal of an account's work in the hour queues a notice job, which tells the pull
   request why (the answer is then 202 with that job).

The signature covers the body only: the event and delivery headers are not signed, so someone
holding one captured delivery could replay its body under a new delivery id or another event
name. `route()` only acts on payloads shaped like their event, and the worker's effects are
idempotent (one review per PR, head commit and tier), which bounds what such a replay can do.

`GET /healthz` answers 200 while deliveries can be accepted and persisted, with the queue's
depth, the held deliveries, the App's login (null until known) and whether GitHub answered the
last request; 503 only when the queue cannot be read. GitHub being unreachable is reported, not
failed on: a 503 would make a load balancer or orchestrator drop or restart the one process that
keeps deliveries safe until GitHub is back.

GitHub waits 10 seconds for an answer
(https://docs.github.com/en/webhooks/using-webhooks/best-practices-for-using-webhooks): nothing
here calls GitHub or a model; the queue's SQLite calls run in a thread (`asyncio.to_thread`), and
so do the HMAC and the JSON parsing of bodies over 1 MiB, so the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Lifespan

from bot.adapters.metrics import (
    CAPPED,
    CONTENT_TYPE,
    QUEUE_JOBS,
    WEBHOOK_SECONDS,
    WEBHOOKS,
    Metrics,
)
from bot.adapters.queue import Admitted, HeldDelivery, check_command_limit
from bot.adapters.reachability import Reachability
from bot.core.caps import Caps, span
from bot.core.job import Job
from bot.faces.app import events
from bot.faces.app.delivery import (
    MAX_BODY_BYTES,
    Refused,
    json_object,
    read_body,
    verify_signature,
)
from bot.faces.app.events import EventSettings

log = structlog.get_logger("tierbot.web")

_OFFLOAD_BYTES = 1024 * 1024
_EVENT = re.compile(r"[a-z0-9_]{1,64}")  # e.g. projects_v2_item
_DELIVERY = re.compile(r"[\x21-\x7e]{1,128}")  # a GUID from GitHub; any short printable id
COMMAND_LIMIT = (10, 600.0)
"""Slash commands per pull request, per window of seconds: more in the window are not queued."""
LOGIN_EVENTS = frozenset({"issue_comment", "pull_request_review_comment"})
"""The events whose routing reads the App's login: held while it is not known."""
MAX_HELD = 10_000
"""Deliveries held at most while the App's login is not known (comment deliveries are KiBs)."""
DEFAULT_CAPS = Caps()


class WebhookQueue(Protocol):
    """What the web app needs of the queue (bot.adapters.queue.JobQueue provides it). Blocking
    calls."""

    def admit(
        self,
        delivery_id: str,
        event: str,
        action: str | None,
        jobs: list[Job],
        *,
        command_limit: tuple[int, float] | None = None,
        caps: Caps | None = None,
    ) -> Admitted | None: ...

    def depth(self) -> Mapping[str, int]: ...

    def hold(self, delivery_id: str, event: str, body: bytes, *, max_held: int) -> bool | None: ...

    def held(self, limit: int = 100) -> list[HeldDelivery]: ...

    def release(self, delivery_id: str) -> None: ...

    def held_count(self) -> int: ...


def create_app(
    *,
    secret: str,
    queue: WebhookQueue,
    bot_login: str | Callable[[], str | None],
    event_settings: EventSettings,
    max_body_bytes: int = MAX_BODY_BYTES,
    on_enqueued: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
    lifespan: Lifespan[Starlette] | None = None,
    command_limit: tuple[int, float] | None = COMMAND_LIMIT,
    caps: Caps | None = DEFAULT_CAPS,
    github: Reachability | None = None,
    max_held: int = MAX_HELD,
) -> Starlette:
    """The app. `bot_login` is the App's login (`<slug>[bot]`), or a function giving it, None
    while it is not known; `on_enqueued` is called (on the event loop) after a delivery queued
    jobs, to wake the workers; `lifespan` is where the caller starts and stops them; `metrics`
    is the process's registry (a fresh one when not given), also at `app.state.metrics`;
    `command_limit` is (max slash commands, window seconds) per pull request, None for no
    limit; `caps` are the hourly caps on work by accounts without write access (bot.core.caps), None
    for none; `github` is GitHub's reachability, for `/healthz`; `max_held` bounds the
    deliveries held while the login is not known.

    `app.state.admit_held` is a coroutine function that routes the held deliveries (call it
    once the login is known); it returns how many it routed."""
    if not secret:
        raise ValueError("the webhook secret is empty: anyone could sign a delivery")
    if command_limit is not None:
        check_command_limit(command_limit)
    registry = metrics if metrics is not None else Metrics()
    key = secret.encode()
    login = bot_login if callable(bot_login) else _constant(bot_login)
    door = _Door(queue, event_settings, command_limit, caps, registry, on_enqueued)
    draining = asyncio.Lock()

    async def admit_held() -> int:
        async with draining:
            return await _admit_held(door, login)

    passes: set[asyncio.Task[int]] = set()  # referenced until done, as asyncio asks

    def held_one() -> None:
        # The login may have become known while this delivery was being held, after the last
        # pass over the held ones: route it now rather than at the next start.
        if login() is not None:
            task = asyncio.get_running_loop().create_task(admit_held())
            passes.add(task)
            task.add_done_callback(passes.discard)

    async def webhook(request: Request) -> Response:
        started = time.perf_counter()
        label, result = "unverified", "error"
        try:
            response, label, result = await _webhook(
                request, key, door, login, max_body_bytes, held_one, max_held
            )
        finally:
            registry.inc(WEBHOOKS, {"event": label, "result": result})
            registry.observe(WEBHOOK_SECONDS, {"event": label}, time.perf_counter() - started)
        return response

    async def healthz(request: Request) -> Response:
        try:
            depth = await asyncio.to_thread(queue.depth)
            held = await asyncio.to_thread(queue.held_count)
        except (sqlite3.Error, OSError, RuntimeError) as exc:  # a closed queue is a RuntimeError
            return JSONResponse({"ok": False, "error": f"the queue cannot be read: {exc}"}, 503)
        state = github.as_json() if github is not None else {"state": "unknown"}
        answer = {"ok": True, "queue": dict(depth), "held": held, "bot": login(), "github": state}
        return JSONResponse(answer)

    async def metrics_text(request: Request) -> Response:
        depth = await asyncio.to_thread(queue.depth)
        for state, count in depth.items():
            registry.set_gauge(QUEUE_JOBS, {"state": state}, count)
        return Response(registry.render(), media_type=CONTENT_TYPE)

    app = Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_text, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.metrics = registry
    app.state.queue = queue
    app.state.admit_held = admit_held
    return app


def _constant(login: str) -> Callable[[], str | None]:
    return lambda: login


async def _webhook(
    request: Request,
    key: bytes,
    door: _Door,
    login: Callable[[], str | None],
    max_body_bytes: int,
    on_held: Callable[[], None],
    max_held: int,
) -> tuple[Response, str, str]:
    """The answer to one delivery, with the metric labels: the event (or `unverified`) and the
    result."""
    label = "unverified"
    try:
        body = await read_body(request, max_body_bytes)
        header = request.headers.get("x-hub-signature-256")
        if len(body) > _OFFLOAD_BYTES:
            valid = await asyncio.to_thread(verify_signature, key, body, header)
        else:
            valid = verify_signature(key, body, header)
        if not valid:
            raise Refused(401, "invalid signature", "bad_signature")
        event = request.headers.get("x-github-event", "")
        delivery = request.headers.get("x-github-delivery", "")
        if not _EVENT.fullmatch(event) or not _DELIVERY.fullmatch(delivery):
            raise Refused(400, "X-GitHub-Event and X-GitHub-Delivery are required", "bad_request")
        label = event if event in events.EVENTS else "other"
        payload = (
            await asyncio.to_thread(json_object, body)
            if len(body) > _OFFLOAD_BYTES
            else json_object(body)
        )
    except Refused as refused:
        return JSONResponse({"error": refused.message}, refused.status), label, refused.result

    if event == "ping":
        return JSONResponse({"delivery": delivery, "ack": "pong"}), label, "pong"
    bot_login = login()
    if bot_login is None and event in LOGIN_EVENTS:
        response, result = await _hold(door.queue, delivery, event, body, max_held)
        if result == "held":
            on_held()
        return response, label, result
    if bot_login is None:
        bot_login = ""  # no other event reads it
    answer, status, result = await _admit(door, delivery, event, payload, bot_login)
    return JSONResponse(answer, status), label, result


@dataclass(frozen=True, slots=True)
class _Door:
    """What admitting a verified delivery needs: the queue, the routing settings, the per-PR
    command limit and the hourly caps, the registry that counts capped work, and whom to wake
    when jobs were queued."""

    queue: WebhookQueue
    settings: EventSettings
    command_limit: tuple[int, float] | None
    caps: Caps | None
    metrics: Metrics
    on_enqueued: Callable[[], None] | None


async def _hold(
    queue: WebhookQueue, delivery: str, event: str, body: bytes, max_held: int
) -> tuple[Response, str]:
    """Keep a delivery that cannot be routed yet (see the module doc); the answer and result."""
    held = await asyncio.to_thread(queue.hold, delivery, event, body, max_held=max_held)
    if held is False:
        return JSONResponse({"delivery": delivery, "duplicate": True}), "duplicate"
    if held is None:
        message = f"{max_held} deliveries wait for the App's login (GitHub unreachable); try later"
        return JSONResponse({"error": message}, 503, headers={"Retry-After": "60"}), "unavailable"
    ack = "held: routed once the App's login is known (GitHub unreachable)"
    return JSONResponse({"delivery": delivery, "held": True, "ack": ack}, 202), "held"


async def _admit_held(door: _Door, login: Callable[[], str | None]) -> int:
    """Route every held delivery, oldest first, as if it had just come; how many were routed."""
    bot_login = login()
    if bot_login is None:
        return 0
    routed = 0
    while batch := await asyncio.to_thread(door.queue.held, 100):
        for held in batch:
            answer, _, result = await _admit(
                door,
                held.delivery_id,
                held.event,
                json_object(held.body),  # parsed once already, before it was held
                bot_login,
            )
            await asyncio.to_thread(door.queue.release, held.delivery_id)
            log.info("held delivery routed", result=result, **answer)
            routed += 1
    return routed


async def _admit(
    door: _Door, delivery: str, event: str, payload: dict[str, Any], bot_login: str
) -> tuple[dict[str, Any], int, str]:
    """Route a verified delivery and persist it with its jobs, within the command limit and the
    caps: the answer, its status and the result for the metrics. Capped work is counted."""
    routed = events.route(event, payload, bot_login=bot_login, settings=door.settings)
    admitted = await asyncio.to_thread(
        door.queue.admit,
        delivery,
        event,
        routed.action,
        routed.jobs,
        command_limit=door.command_limit,
        caps=door.caps,
    )
    if admitted is None:
        return {"delivery": delivery, "duplicate": True}, 200, "duplicate"
    for refusal in admitted.capped:
        door.metrics.inc(CAPPED, {"work": refusal.work, "scope": refusal.scope})
    ids = admitted.ids
    if ids and door.on_enqueued is not None:
        door.on_enqueued()
    ack, result = routed.ack, routed.result
    if admitted.refused and door.command_limit is not None:
        ack, result = _rate_limited(admitted.refused[0], door.command_limit), "rate_limited"
    elif admitted.capped:
        ack, result = admitted.capped[0].ack, "rate_limited"
    answer = {"delivery": delivery, "jobs": ids, "ack": ack}
    return answer, 202 if ids else 200, result


def _rate_limited(job: Job, limit: tuple[int, float]) -> str:
    """The ack of a command refused by the limit, e.g. "... (10 per 10 minutes)"."""
    most, window = limit
    where = f"{job.owner}/{job.repo}#{job.number}"
    return f"ignored: command rate limit for {where} ({most} per {span(window)})"
