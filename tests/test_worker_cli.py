"""`tierbot migrate`, `tierbot worker` and `tierbot serve` on PostgreSQL, as commands: their
refusals (exit 2 for a wrong setting, an unmigrated database) and `migrate` itself, in process;
and the worker's retry decisions. The processes at work are in tests/test_scale_out.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from procrastinate.jobs import Job as ProcrastinateJob

from bot.adapters.jobs import missing_tables
from bot.faces.app.workers_pg import JobRetry
from bot.faces.cli.main import main
from bot.pipeline.services import Retry
from tests.fake_github_api import private_pem
from tests.postgres import fresh_schema


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERBOT_GITHUB_APP_ID", "4242")
    monkeypatch.setenv("TIERBOT_GITHUB_PRIVATE_KEY", private_pem())
    monkeypatch.setenv("TIERBOT_GITHUB_APP_SLUG", "tierbot")
    monkeypatch.setenv("TIERBOT_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")


@pytest.fixture
def pg(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fresh_schema("tierbot_cli") as url:
        monkeypatch.setenv("TIERBOT_DATABASE_URL", url)
        yield url


@pytest.mark.usefixtures("app_env")
def test_serve_and_worker_refuse_an_unmigrated_database_then_migrate_applies_both(
    pg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["worker"], ["serve", "--port", "1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "lacks the ledger's and the queue's schema" in err
        assert "run `tierbot migrate` first" in err
    assert main(["migrate"]) == 0
    assert "the ledger's and the job queue's schema is up to date" in capsys.readouterr().out
    assert missing_tables(pg) == []
    assert main(["migrate"]) == 0  # again: nothing to do, no failure


def test_worker_needs_postgresql_and_known_queues(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIERBOT_DATABASE_URL", "sqlite:///tierbot.sqlite3")
    assert main(["worker"]) == 2
    assert "runs jobs from PostgreSQL" in capsys.readouterr().err
    monkeypatch.setenv("TIERBOT_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    assert main(["worker", "--queues", "local,gpu"]) == 2
    assert "--queues takes local, frontier and default" in capsys.readouterr().err
    assert main(["worker", "--concurrency", "0"]) == 2


@pytest.mark.usefixtures("app_env")
def test_an_unreachable_database_is_a_failure_not_a_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIERBOT_DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none")
    assert main(["worker"]) == 1
    assert "cannot reach the database at 127.0.0.1:9/none" in capsys.readouterr().err


def _job(attempts: int) -> ProcrastinateJob:
    return ProcrastinateJob(
        id=1, queue="frontier", lock=None, queueing_lock=None, task_name="tierbot.job",
        attempts=attempts,
    )  # fmt: skip


def test_retries_back_off_respect_retry_at_and_stop() -> None:
    retry = JobRetry(max_attempts=3, base_seconds=10.0, jitter=lambda: 1.0)
    now = dt.datetime.now(dt.UTC)
    first = retry.get_retry_decision(exception=Retry("503"), job=_job(0))
    assert first is not None
    assert first.retry_at is not None
    assert 9 <= (first.retry_at - now).total_seconds() <= 11
    second = retry.get_retry_decision(exception=Retry("503"), job=_job(1))
    assert second is not None
    assert second.retry_at is not None
    assert 39 <= (second.retry_at - now).total_seconds() <= 41
    later = now.timestamp() + 600
    told = retry.get_retry_decision(exception=Retry("429", retry_at=later), job=_job(0))
    assert told is not None
    assert told.retry_at is not None
    assert told.retry_at.timestamp() == pytest.approx(later)
    assert retry.get_retry_decision(exception=Retry("503"), job=_job(2)) is None  # 3rd run: last
    assert retry.get_retry_decision(exception=ValueError("bug"), job=_job(0)) is None
