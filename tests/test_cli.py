"""`tierbot score`: the JSON contract, the table, stdin, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.cost import Spend
from bot.core.routing import Tier
from bot.core.types import Usage
from bot.faces.cli.main import main
from tests.builders import Edit, code_lines, git_diff

CONTRACT_FIELDS = {
    "path",
    "score",
    "tier",
    "reasons",
    "features",
    "files",
    "additions",
    "deletions",
}


@pytest.fixture
def simple(tmp_path: Path) -> Path:
    path = tmp_path / "simple.diff"
    path.write_text(git_diff(Edit("app/util.py", removed=["x = 1"], added=["x = 2"])))
    return path


@pytest.fixture
def complex_diff(tmp_path: Path) -> Path:
    edits = [Edit(f"{area}/mod.py", added=code_lines(80, area)) for area in ("api", "db", "auth")]
    edits.append(Edit("db/migrations/0007_accounts.py", added=code_lines(30)))
    path = tmp_path / "complex.diff"
    path.write_text(git_diff(*edits))
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]]]:
    code = main(["score", "--json", *argv])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


def test_json_has_the_contract_fields_one_object_per_input(
    capsys: pytest.CaptureFixture[str], simple: Path, complex_diff: Path
) -> None:
    code, rows = run_json(capsys, str(simple), str(complex_diff))
    assert code == 0
    assert [r["path"] for r in rows] == [str(simple), str(complex_diff)]
    for row in rows:
        assert row.keys() >= CONTRACT_FIELDS
    low, high = rows
    assert low["tier"] == "local"
    assert high["tier"] == "frontier"
    assert isinstance(low["score"], int)
    assert isinstance(high["score"], int)
    assert low["score"] < high["score"]
    assert (low["files"], low["additions"], low["deletions"]) == (1, 1, 1)
    assert high["files"] == 4
    assert any("migration" in reason for reason in high["reasons"])  # type: ignore[attr-defined]


def test_a_bad_input_gives_an_error_object_and_exit_2_without_losing_the_others(
    capsys: pytest.CaptureFixture[str], simple: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.diff"
    bad.write_text("@@ -1,2 +1,2 @@\n-a\n+b\n")
    missing = tmp_path / "missing.diff"
    code = main(["score", "--json", str(bad), str(simple), str(missing)])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 2
    assert "malformed diff" in rows[0]["error"]
    assert "score" not in rows[0]
    assert rows[1]["tier"] == "local"
    assert "cannot read" in rows[2]["error"]
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 2
    assert err_lines[0].startswith(f"tierbot: {bad}: malformed diff")


def test_the_table_shows_score_tier_and_what_drove_the_score(
    capsys: pytest.CaptureFixture[str], simple: Path, complex_diff: Path
) -> None:
    """WHY gives the reasons behind the score, not the threshold rule the columns already show."""
    assert main(["score", str(simple), str(complex_diff)]) == 0
    header, low, high = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["SCORE", "TIER", "FILES"]
    assert "local" in low
    assert str(simple) in low
    assert "threshold" not in low + high
    assert "1 changed line of substance" in low or "typo-sized" in low
    assert "edits a database migration or schema" in high
    assert "in 1 files" not in low


def test_a_repo_settings_file_changes_the_decision(
    capsys: pytest.CaptureFixture[str], simple: Path, tmp_path: Path
) -> None:
    config = tmp_path / "tierbot.yml"
    config.write_text("routing:\n  frontier_paths: ['app/**']\nunknown: 1\n")
    code, rows = run_json(capsys, "--config", str(config), str(simple))
    assert code == 0
    assert rows[0]["tier"] == "frontier"


def test_excluded_files_are_listed_and_an_all_excluded_diff_is_an_error(
    capsys: pytest.CaptureFixture[str], simple: Path, tmp_path: Path
) -> None:
    config = tmp_path / "tierbot.yml"
    config.write_text("exclude: ['app/']\n")
    code, rows = run_json(capsys, "--config", str(config), str(simple))
    assert code == 2
    assert rows[0]["error"] == "every changed file is excluded by the repo settings"
    assert rows[0]["excluded"] == ["app/util.py"]


def test_stdin_is_read_with_a_dash(simple: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "score", "--json", "-"],
        input=simple.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["path"] == "-"
    assert row["tier"] == "local"


def test_a_bad_setting_in_the_environment_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], simple: Path
) -> None:
    monkeypatch.setenv("TIERBOT_LOCAL_CONTEXT_TOKENS", "many")
    assert main(["score", str(simple)]) == 2
    assert "TIERBOT_LOCAL_CONTEXT_TOKENS" in capsys.readouterr().err


def test_the_local_window_setting_reaches_routing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "wide.diff"
    path.write_text(git_diff(Edit("docs/guide.md", added=["words " * 40] * 200)))
    monkeypatch.setenv("TIERBOT_LOCAL_CONTEXT_TOKENS", "1024")
    _, rows = run_json(capsys, "--task", "ask", str(path))
    assert rows[0]["tier"] == "frontier"
    assert rows[0]["task"] == "ask"


def test_report_prints_the_ledger_as_json_csv_and_a_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIERBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    assert main(["report", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"spend_usd", "baseline_usd", "saved_pct", "tiers"} <= data.keys()
    assert set(data["tiers"]) == {"local", "frontier"}
    assert main(["report", "--format", "csv", "--repo", "octo/app", "--since", "2026-11-01"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("tier,reviews,requests")
    assert main(["report"]) == 0
    assert "all-frontier" in capsys.readouterr().out
    assert main(["report", "--since", "last week"]) == 2


def test_report_shows_the_break_even_utilisation_in_text_and_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A local review of 360 GPU-s that replaced $0.40 of frontier work, on a GPU rented at
    $2.00 an hour: 0.1 h x $2.00 / u = $0.40 at u = 50%."""
    from bot.adapters.ledger import Ledger
    from tests.test_ledger import attempt, record, review

    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger = Ledger(url)
    ledger.migrate()
    spent = Spend(Decimal("0.04"), Decimal("0.40"), True, Decimal(0), Decimal("0.04"))
    record(ledger, review(attempt(Tier.LOCAL, Usage(4_000, 900), gpu=360.0)), spend=spent)
    ledger.close()
    monkeypatch.setenv("TIERBOT_DATABASE_URL", url)
    monkeypatch.setenv("TIERBOT_GPU_BILLING", "rented")
    monkeypatch.setenv("TIERBOT_GPU_HOUR_USD", "2.00")
    monkeypatch.setenv("TIERBOT_GPU_UTILISATION", "0.25")

    assert main(["report", "--format", "json"]) == 0
    economics = json.loads(capsys.readouterr().out)["economics"]
    assert economics["break_even_utilisation_pct"] == "50.0"
    assert economics["gpu"]["busy_hour_usd"] == "8.000000"  # $2.00 over 25% utilisation
    assert economics["local_usd"] == "0.800000000"  # 0.1 busy hours at $8
    assert economics["throughput"] is None  # one request cannot separate the two rates
    assert main(["report"]) == 0
    text = capsys.readouterr().out
    assert "routed spend $0.040000000 against $0.400000000 all-frontier: 90.0% saved" in text
    assert (
        "local GPU: rented at $2.00 an hour busy or idle, plus $0.00 per busy hour, taken as busy "
        "25.0% of the time: $8.00 per busy hour" in text
    )
    assert (
        "local tier: 0.100000 GPU-hours, $0.8000 at that price, against $0.4000 for the same work "
        "on the frontier model" in text
    )
    assert "break-even GPU utilisation: 50.0%: busy less than that, the local tier costs" in text


def test_score_sends_a_simple_change_to_the_frontier_when_the_local_gpu_would_cost_more(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, simple: Path
) -> None:
    """On the default owned card a one-line change stays local; on an H100 rented at $2.50 an
    hour and busy 5% of the time ($50 per busy hour), its ~20 GPU-seconds cost more than the
    frontier model would charge for the same review."""
    _, rows = run_json(capsys, str(simple))
    assert rows[0]["tier"] == "local"
    monkeypatch.setenv("TIERBOT_GPU_BILLING", "rented")
    monkeypatch.setenv("TIERBOT_GPU_HOUR_USD", "2.50")
    monkeypatch.setenv("TIERBOT_GPU_UTILISATION", "0.05")
    _, rows = run_json(capsys, str(simple))
    assert rows[0]["tier"] == "frontier"
    reasons = rows[0]["reasons"]
    assert isinstance(reasons, list)
    assert reasons[0].startswith("complexity ")
    assert reasons[1].startswith("the local GPU would cost ~$0.2")
    assert "more than the frontier model's ~$0.0" in reasons[1]
    assert main(["score", str(simple)]) == 0
    assert "the local GPU would cost" in capsys.readouterr().out  # the WHY column names the rule
