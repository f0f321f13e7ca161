"""`tierbot eval`: labelled changes reviewed through the real command with a scripted model behind
the fake Messages API, so the right figures are known in advance: hits, misses, precision with
clean changes' false positives, a model failure counted and the run going on, a forced tier,
both dataset formats, and malformed lines named by their number."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.faces.cli.main import main
from tests.builders import Edit, code_lines, git_diff
from tests.fake_anthropic import (
    FakeAnthropic,
    fake_anthropic_fixture,  # noqa: F401 (the fake_anthropic fixture)
)
from tests.scripted_reviewer import INPUT_TOKENS, OUTPUT_TOKENS, Said, ScriptedReviewer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "eval" / "sample.jsonl"
CODEREVIEWER_SAMPLE = ROOT / "examples" / "eval" / "codereviewer-sample.jsonl"


def change(id: str, *edits: Edit, findings: list[dict[str, Any]] | None = None) -> str:
    """One line of tierbot's format."""
    return json.dumps({"id": id, "diff": git_diff(*edits), "findings": findings or []})


def edit(path: str) -> Edit:
    """A file with lines 10 (context) and 11-20 (added) shown on the new side."""
    return Edit(path, added=code_lines(10, path.split(".", maxsplit=1)[0]), start=10)


@pytest.fixture
def frontier(monkeypatch: pytest.MonkeyPatch, fake_anthropic: FakeAnthropic) -> FakeAnthropic:
    """The frontier model behind the fake server; no local model."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.base_url)
    monkeypatch.delenv("TIERBOT_LOCAL_MODEL_DIR", raising=False)
    monkeypatch.delenv("TIERBOT_FRONTIER_MODEL", raising=False)
    return fake_anthropic


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Six changes whose scores are known: a hit, a miss (too far), a clean change with a
    comment, a clean change without, a comment on the wrong file, and a change the model
    fails on."""
    lines = [
        change("near", edit("a.py"), findings=[{"path": "a.py", "line": 11, "severity": "major"}]),
        change("far", edit("b.py"), findings=[{"path": "b.py", "line": 11, "severity": "minor"}]),
        change("clean-noisy", edit("c.py")),
        "",  # a blank line is skipped
        change("clean-quiet", edit("d.py")),
        change(
            "other-file", edit("e1.py"), edit("e2.py"), findings=[{"path": "e1.py", "line": 12}]
        ),
        change("fails", edit("f.py"), findings=[{"path": "f.py", "line": 15}]),
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


REVIEWER = ScriptedReviewer(
    comments={
        "a.py": [Said(13, body="Off by one.")],  # 2 lines from the finding: a hit
        "b.py": [Said(19)],  # 8 lines away: a miss, and a false positive
        "c.py": [Said(12, severity="minor")],  # a clean change: a false positive
        "e2.py": [Said(12)],  # the right line of the wrong file: a miss and a false positive
    },
    failing={"f.py"},
)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["eval", *argv, "--format", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def by_id(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in out["results"]}


def test_hits_misses_and_precision_count_clean_changes_as_false_positives(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic, dataset: Path
) -> None:
    frontier.respond_with(REVIEWER)
    code, out, err = run_json(capsys, str(dataset), "--tier", "frontier")
    assert code == 1  # one change could not be reviewed
    assert "1 of 6 changes could not be reviewed" in err
    assert (out["changes"], out["reviewed"], out["not_reviewed"], out["skipped"]) == (6, 5, 1, 0)
    quality = out["quality"]
    assert quality["expected_findings"] == 3  # near, far, other-file (fails is not reviewed)
    assert quality["found"] == 1
    assert quality["hit_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert quality["comments"] == 4
    assert quality["true_positives"] == 1
    assert quality["false_positives"] == 3
    assert quality["precision"] == 0.25
    assert quality["comments_per_change"] == 0.8
    assert quality["clean"] == {"reviewed": 2, "with_comments": 1, "false_positives": 1}
    assert out["by_severity"]["major"] == {"expected": 1, "found": 1, "hit_rate": 1.0}
    assert out["by_severity"]["minor"]["found"] == 0
    assert out["by_severity"]["unrated"]["expected"] == 1

    results = by_id(out)
    assert [c["hit"] for c in results["near"]["comments"]] == [True]
    assert results["near"]["expected"][0]["found"] is True
    assert [c["hit"] for c in results["far"]["comments"]] == [False]
    assert results["clean-noisy"]["comments"][0]["severity"] == "minor"
    assert results["clean-quiet"]["comments"] == []
    assert results["other-file"]["expected"][0]["found"] is False
    failed = results["fails"]
    assert failed["status"] == "not reviewed"
    assert "the model refused this change" in failed["why"]
    assert failed["comments"] == []

    # Every change was sent once, the failing one included: the run went on after it.
    assert len(frontier.requests) == 6
    frontier_use = out["by_tier"]["frontier"]
    assert frontier_use["attempts"] == 6
    assert frontier_use["requests"] == 6  # one part each
    assert frontier_use["tokens"]["input"] == 5 * INPUT_TOKENS
    assert frontier_use["tokens"]["output"] == 5 * OUTPUT_TOKENS
    # claude-sonnet-5-5 at $2 / $10 per million tokens: $0.003 for each answered change.
    assert Decimal(frontier_use["usd"]) == Decimal("0.015")
    assert Decimal(out["spent_usd"]) == Decimal("0.015")
    assert out["by_tier"]["frontier"]["quality"]["reviewed"] == 5
    assert out["by_tier"]["local"]["attempts"] == 0
    assert out["models"]["local"]["unavailable"] == "TIERBOT_LOCAL_MODEL_DIR is not set"


def test_a_wider_window_turns_the_far_comment_into_a_hit(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic, dataset: Path
) -> None:
    frontier.respond_with(REVIEWER)
    _, out, _ = run_json(capsys, str(dataset), "--tier", "frontier", "--within", "8")
    assert out["within_lines"] == 8
    assert out["quality"]["found"] == 2
    assert out["quality"]["true_positives"] == 2


def test_a_forced_local_tier_that_cannot_run_says_so_for_each_change(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic, dataset: Path
) -> None:
    frontier.respond_with(REVIEWER)
    code, out, _ = run_json(capsys, str(dataset), "--tier", "local")
    assert code == 1
    assert out["tier"] == "local"
    assert out["reviewed"] == 0
    assert out["not_reviewed"] == 6
    for item in out["results"]:
        assert item["status"] == "not reviewed"
        assert item["tier"] == "local"
        assert "TIERBOT_LOCAL_MODEL_DIR is not set" in item["why"]
    assert out["quality"]["hit_rate"] is None  # not reviewed is never "no issues"
    assert out["quality"]["comments"] == 0
    assert frontier.requests == []  # nothing fell through to the frontier model


def test_auto_routing_without_a_local_model_reviews_on_frontier_and_says_why(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic, tmp_path: Path
) -> None:
    """A small change the router would keep local goes to the frontier model, as in the App,
    and the change's reasons say so."""
    path = tmp_path / "small.jsonl"
    path.write_text(
        change(
            "small", Edit("small.py", added=["x = 1"]), findings=[{"path": "small.py", "line": 11}]
        )
        + "\n"
    )
    frontier.respond_with(ScriptedReviewer(comments={"small.py": [Said(11)]}))
    code, out, _ = run_json(capsys, str(path))
    assert code == 0
    assert out["tier"] == "auto"
    (item,) = out["results"]
    assert item["tier"] == "frontier"
    assert any("no local model is available" in r for r in item["reasons"])
    assert out["quality"]["hit_rate"] == 1.0


def test_limit_takes_the_first_changes(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic, dataset: Path
) -> None:
    frontier.respond_with(REVIEWER)
    code, out, _ = run_json(capsys, str(dataset), "--limit", "2", "--tier", "frontier")
    assert code == 0
    assert [item["id"] for item in out["results"]] == ["near", "far"]
    assert len(frontier.requests) == 2


def test_the_text_report_gives_each_change_and_the_figures(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic, dataset: Path
) -> None:
    frontier.respond_with(REVIEWER)
    assert main(["eval", str(dataset), "--tier", "frontier"]) == 1
    captured = capsys.readouterr()
    text = captured.out
    assert "The local model is not available: TIERBOT_LOCAL_MODEL_DIR is not set." in text
    assert "Reviewed 5 of 6 changes (1 not reviewed, 0 skipped)." in text
    assert "Hit rate: 1 of 3 expected findings hit (33.3%)." in text
    assert (
        "Precision: 1 of 4 comments hit an expected finding (25.0%); 3 false positives, "
        "1 of them on clean changes." in text
    )
    assert "Clean changes: 1 of 2 got a comment." in text
    assert "Comments per change: 0.80." in text
    row = next(line for line in text.splitlines() if line.startswith("fails "))
    assert "not reviewed: no part of the review could be done" in row
    assert "\r" not in captured.err  # no progress line when stderr is not a terminal


def test_codereviewer_hunks_get_a_file_and_the_comment_is_expected_on_the_changed_lines(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic, tmp_path: Path
) -> None:
    records = [
        {  # the comment's line is unknown: any comment near the changed lines hits it
            "oldf": "def total(xs):\n    return sum(xs)\n",
            "patch": "@@ -1,2 +1,3 @@\n def total(xs):\n-    return sum(xs)\n+    s = 0\n"
            "+    return s",
            "msg": "s is never added to.",
            "lang": "py",
        },
        {  # no comment: a clean change; the counts in the header are wrong and are recounted
            "id": "clean-one",
            "oldf": "x = 1\n",
            "patch": "@@ -1,9 +1,9 @@\n-x = 1\n+x = 2\n",
            "msg": "",
            "lang": "py",
        },
    ]
    path = tmp_path / "msg-test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    frontier.respond_with(
        ScriptedReviewer(comments={"change-1.py": [Said(3)], "change-2.py": [Said(1)]})
    )
    code, out, _ = run_json(capsys, str(path), "--tier", "frontier")
    assert code == 0
    results = by_id(out)
    first = results["line 1"]
    assert first["expected"][0]["path"] == "change-1.py"
    assert first["expected"][0]["spans"] == [
        {"side": "RIGHT", "first": 2, "last": 3},
        {"side": "LEFT", "first": 2, "last": 2},
    ]
    assert [c["hit"] for c in first["comments"]] == [True]
    assert results["clean-one"]["expected"] == []
    assert results["clean-one"]["comments"][0]["hit"] is False
    assert out["quality"]["precision"] == 0.5
    assert out["quality"]["hit_rate"] == 1.0
    assert out["quality"]["clean"]["false_positives"] == 1
    # The model saw the hunk as the App would show it, under the made-up file header.
    prompt = str(frontier.requests[0].body["messages"][0]["content"])
    assert "### change-1.py (modified, Python)" in prompt
    assert "3 +    return s" in prompt


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 3: not JSON"),
        ('["a", "list"]', "line 3: a change must be a JSON object"),
        (
            '{"id": "x", "diff": "--- a/a.py\\n+++ b/a.py\\n@@ -1 +1 @@\\n-a\\n+b\\n"}',
            "line 3: `findings` must be a list",
        ),
        (
            '{"diff": "--- a/a.py\\n+++ b/a.py\\n@@ -1 +1 @@\\n-a\\n+b\\n", '
            '"findings": [{"path": "b.py", "line": 1}]}',
            "line 3: finding 1: b.py is not a file the diff changes (a.py)",
        ),
        (
            '{"diff": "--- a/a.py\\n+++ b/a.py\\n@@ -1 +1 @@\\n-a\\n+b\\n", '
            '"findings": [{"path": "a.py", "line": 0}]}',
            "line 3: finding 1: `line` must be a line number",
        ),
        (
            '{"diff": "--- a/a.py\\n+++ b/a.py\\n@@ -1 +1 @@\\n-a\\n+b\\n", '
            '"findings": [{"path": "a.py", "line": 1, "severity": "urgent"}]}',
            "line 3: finding 1: `severity` must be one of critical, major, minor, nit",
        ),
        ('{"patch": "-a\\n+b", "msg": "x"}', "line 3: `patch` must be a diff hunk"),
        ('{"msg": "no patch"}', "line 3: neither tierbot's format"),
        (
            '{"id": "near", "diff": "--- a/a.py\\n+++ b/a.py\\n@@ -1 +1 @@\\n-a\\n+b\\n", '
            '"findings": []}',
            "line 3: the id 'near' is also on line 1",
        ),
    ],
)
def test_a_malformed_line_is_exit_2_with_its_line_number(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(change("near", edit("a.py")) + "\n\n" + line + "\n")
    assert main(["eval", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert main(["eval", str(path), "--format", "json"]) == 2
    assert message in json.loads(capsys.readouterr().out)["error"]


def test_a_missing_dataset_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["eval", str(tmp_path / "nowhere.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def _perfect_reviewer(path: Path) -> ScriptedReviewer:
    """A reviewer that comments exactly where each finding of the dataset is, and nowhere
    else."""
    comments: dict[str, list[Said]] = {}
    for raw in path.read_text().splitlines():
        for finding in json.loads(raw)["findings"]:
            comments.setdefault(finding["path"], []).append(Said(finding["line"]))
    return ScriptedReviewer(comments=comments)


def test_the_shipped_sample_scores_a_perfect_reviewer_at_100_percent(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic
) -> None:
    frontier.respond_with(_perfect_reviewer(SAMPLE))
    code, out, _ = run_json(capsys, str(SAMPLE), "--tier", "frontier")
    assert code == 0
    assert out["reviewed"] == out["changes"] >= 8
    assert out["quality"]["clean"]["reviewed"] >= 3  # clean changes are part of the sample
    assert out["quality"]["expected_findings"] >= 5
    assert out["quality"]["hit_rate"] == 1.0
    assert out["quality"]["precision"] == 1.0


def test_the_shipped_codereviewer_sample_reads(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic
) -> None:
    frontier.respond_with(ScriptedReviewer())
    code, out, _ = run_json(capsys, str(CODEREVIEWER_SAMPLE), "--tier", "frontier")
    assert code == 0
    assert out["reviewed"] == out["changes"] == 3
    assert out["quality"]["expected_findings"] == 2
    assert out["quality"]["found"] == 0  # a reviewer that says nothing finds nothing
    assert out["quality"]["hit_rate"] == 0.0
    assert out["quality"]["precision"] is None


def test_an_unreadable_diff_is_not_reviewed_and_a_deletion_only_one_is_skipped(
    capsys: pytest.CaptureFixture[str], frontier: FakeAnthropic, tmp_path: Path
) -> None:
    path = tmp_path / "odd.jsonl"
    lines = [
        json.dumps({"id": "garbled", "diff": "not a diff at all\n", "findings": []}),
        change("gone", Edit("old.py", removed=["x = 1"], status="deleted")),
        change("near", edit("a.py"), findings=[{"path": "a.py", "line": 11}]),
    ]
    path.write_text("\n".join(lines) + "\n")
    frontier.respond_with(REVIEWER)
    code, out, _ = run_json(capsys, str(path), "--tier", "frontier")
    assert code == 1
    results = by_id(out)
    assert results["garbled"]["status"] == "not reviewed"
    assert "the diff could not be read" in results["garbled"]["why"]
    assert results["gone"]["status"] == "skipped"
    assert "no changed file has lines a model could review" in results["gone"]["why"]
    assert results["near"]["status"] == "reviewed"
    assert (out["reviewed"], out["not_reviewed"], out["skipped"]) == (1, 1, 1)
    assert len(frontier.requests) == 1  # only the readable change went to the model
