"""The webhook server while the App's login is not known (GitHub unreachable at start): comment
deliveries are held, whole, in the real SQLite queue and routed once the login is known; other
events are routed at once; `/healthz` reports GitHub's state and still answers 200."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.queue import JobQueue
from bot.adapters.reachability import Reachability
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
)


class Login:
    """The App's login as the server learns it: None until a test says GitHub answered."""

    def __init__(self) -> None:
        self.value: str | None = None

    def __call__(self) -> str | None:
        return self.value


class Door:
    """The real app on a real queue, called through an ASGI client on the test's event loop."""

    def __init__(self, tmp_path: Path, **options: Any) -> None:
        self.queue = JobQueue(tmp_path / "tierbot.db")
        self.login = Login()
        self.github = Reachability(clock=lambda: 1000.0)
        self.wakeups = 0
        self.app = create_app(
            secret=SECRET,
            queue=self.queue,
            bot_login=self.login,
            on_enqueued=self._wake,
            github=self.github,
            **({"event_settings": EventSettings()} | options),
        )
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://tierbot.test")

    def _wake(self) -> None:
        self.wakeups += 1

    async def deliver(
        self, event: str, data: dict[str, Any], delivery: str | None = None
    ) -> dict[str, Any]:
        body = encode(data)
        response = await self.client.post(
            "/webhook", content=body, headers=headers(event, body, delivery=delivery)
        )
        answer: dict[str, Any] = response.json()
        return answer | {"status": response.status_code}

    def jobs(self) -> list[dict[str, Any]]:
        """Every stored job's kind and payload, in id order."""
        found = []
        for job_id in range(1, 100):
            job = self.queue.get(job_id)
            if job is not None:
                found.append({"kind": job.kind, **dict(job.payload)})
        return found


def run(scenario: Any) -> Any:
    return asyncio.run(scenario)


@pytest.fixture(autouse=True)
def real() -> None:
    need_real_deliveries()


def test_a_comment_is_held_until_the_login_is_known_then_routed(tmp_path: Path) -> None:
    door = Door(tmp_path)

    async def scenario() -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
        held = await door.deliver("issue_comment", pr_comment("@tierbot review"), "d-held")
        assert door.jobs() == []
        door.login.value = BOT_LOGIN
        routed = await door.app.state.admit_held()
        return held, routed, door.jobs()

    held, routed, jobs = run(scenario())
    assert held == {
        "status": 202,
        "delivery": "d-held",
        "held": True,
        "ack": "held: routed once the App's login is known (GitHub unreachable)",
    }
    assert routed == 1
    # The @slug command could only be read once the slug was known.
    [job] = jobs
    assert (job["kind"], job["command"]) == ("command", "review")
    assert door.queue.held_count() == 0
    assert door.wakeups == 1


def test_the_bots_own_comment_held_meanwhile_is_ignored_once_routed(tmp_path: Path) -> None:
    door = Door(tmp_path, event_settings=EventSettings(commands_from_bots=True))
    own = pr_comment("/review --frontier", login=BOT_LOGIN, user_type="Bot")

    async def scenario() -> int:
        assert (await door.deliver("issue_comment", own))["status"] == 202
        door.login.value = BOT_LOGIN
        return int(await door.app.state.admit_held())

    assert run(scenario()) == 1
    assert door.jobs() == []
    assert door.queue.held_count() == 0


def test_a_pull_request_is_queued_at_once_without_the_login(tmp_path: Path) -> None:
    door = Door(tmp_path)
    answer = run(door.deliver("pull_request", payload("pull_request", "opened")))
    assert answer["status"] == 202
    assert [job["kind"] for job in door.jobs()] == ["review"]
    assert door.queue.held_count() == 0


def test_a_redelivery_of_a_held_delivery_is_a_duplicate_before_and_after_routing(
    tmp_path: Path,
) -> None:
    door = Door(tmp_path)
    data = pr_comment("/review")

    async def scenario() -> list[dict[str, Any]]:
        first = await door.deliver("issue_comment", data, "d-1")
        again = await door.deliver("issue_comment", data, "d-1")
        door.login.value = BOT_LOGIN
        await door.app.state.admit_held()
        after = await door.deliver("issue_comment", data, "d-1")
        return [first, again, after]

    first, again, after = run(scenario())
    assert first["status"] == 202
    assert again == {"status": 200, "delivery": "d-1", "duplicate": True}
    assert after == {"status": 200, "delivery": "d-1", "duplicate": True}
    assert len(door.jobs()) == 1


def test_past_the_held_bound_a_comment_is_refused_with_503_for_a_redelivery(
    tmp_path: Path,
) -> None:
    door = Door(tmp_path, max_held=1)

    async def scenario() -> list[dict[str, Any]]:
        return [await door.deliver("issue_comment", pr_comment("/review")) for _ in range(2)]

    first, second = run(scenario())
    assert first["status"] == 202
    assert second["status"] == 503
    assert "try later" in second["error"]
    assert door.queue.held_count() == 1


def test_a_comment_held_as_the_login_becomes_known_is_routed_without_another_call(
    tmp_path: Path,
) -> None:
    door = Door(tmp_path)

    class LateQueue:
        """The real queue, but the login becomes known while the delivery is being held."""

        def __getattr__(self, name: str) -> Any:
            return getattr(door.queue, name)

        def hold(self, *args: Any, **kwargs: Any) -> bool | None:
            held = door.queue.hold(*args, **kwargs)
            door.login.value = BOT_LOGIN
            return held

    door.app = create_app(
        secret=SECRET, queue=LateQueue(), bot_login=door.login, event_settings=EventSettings()
    )
    door.client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=door.app), base_url="http://tierbot.test"
    )

    async def scenario() -> None:
        assert (await door.deliver("issue_comment", pr_comment("/review")))["status"] == 202
        for _ in range(100):
            if door.queue.held_count() == 0:
                return
            await asyncio.sleep(0.01)

    run(scenario())
    assert door.queue.held_count() == 0
    assert [job["command"] for job in door.jobs()] == ["review"]


def test_healthz_is_200_and_reports_github_unreachable_and_what_waits(tmp_path: Path) -> None:
    door = Door(tmp_path)
    door.github.record("could not reach GitHub for /app: connection refused")

    async def scenario() -> httpx.Response:
        await door.deliver("issue_comment", pr_comment("/review"))
        await door.deliver("pull_request", payload("pull_request", "opened"))
        return await door.client.get("/healthz")

    response = run(scenario())
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "queue": {"waiting": 1, "running": 0, "done": 0, "failed": 0},
        "held": 1,
        "bot": None,
        "github": {
            "state": "unreachable",
            "since": 1000.0,
            "error": "could not reach GitHub for /app: connection refused",
        },
    }


def test_healthz_is_503_when_the_queue_cannot_be_read(tmp_path: Path) -> None:
    door = Door(tmp_path)
    door.queue.close()
    response = run(door.client.get("/healthz"))
    assert response.status_code == 503
    assert response.json() == {
        "ok": False,
        "error": "the queue cannot be read: the job queue is closed",
    }
