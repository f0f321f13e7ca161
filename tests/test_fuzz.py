"""The fuzz targets in tests/fuzz/ (atheris, coverage-guided libFuzzer), each run briefly in its
own process from its seed inputs: the diff parser, the repo settings parser, slash commands and
the webhook handler. A target that finds a crash exits non-zero with the input and its
traceback, which this test shows. For longer runs, start a target as a script (see its doc).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent / "fuzz"
ROOT = FUZZ.parents[1]
RUNS = 1000  # a second or two each on a small machine; libFuzzer's own mutations, seeded


@pytest.mark.parametrize("target", sorted(FUZZ.glob("fuzz_*.py")), ids=lambda path: path.stem)
def test_the_fuzz_target_finds_no_crash_in_a_short_run(target: Path, tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (it has wheels for Linux only)")
    corpus = tmp_path / "corpus"
    shutil.copytree(FUZZ / "seeds" / target.stem.removeprefix("fuzz_"), corpus)
    run = subprocess.run(
        [
            sys.executable,
            str(target),
            f"-runs={RUNS}",
            "-max_len=4096",
            "-timeout=10",  # seconds for one input: a hang is a finding too
            "-rss_limit_mb=1024",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = sorted(path.name for path in tmp_path.glob("*-*") if path.is_file())
    assert run.returncode == 0, f"{target.name} found {found}:\n{run.stderr[-6000:]}"
    assert f"Done {RUNS} runs" in run.stderr
