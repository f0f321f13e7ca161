"""The fit behind the complexity score (bench/score_fit.py) and what the shipped score does on the
labelled calibration patches: the fitting machinery recovers a known answer on synthetic data,
models the core's score exactly, and the shipped default meets the routing goals in-sample."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr

from bot.core.drivers import FITTED_POINTS
from bot.core.repo_settings import DEFAULT_THRESHOLD, RepoSettings
from bot.core.routing import Models, Tier, decide
from bot.faces.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fit() -> ModuleType:
    """bench/score_fit.py, loaded from its file (bench/ is scripts, not a package)."""
    name = "bench_score_fit"
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "score_fit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def calibration(fit: ModuleType, CORPUS: Path) -> list[Any]:
    loaded = fit.load([CORPUS / fit.DATA_NAME])
    assert not loaded.parse_failures
    assert not loaded.skipped
    rows: list[Any] = loaded.rows
    return rows


def synthetic(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Signals whose label depends on size and names only (known answer), through an ordinal
    logistic model; the other signals are noise."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.uniform(0, 4, n),  # size
            rng.uniform(0, 4, n),  # names
            rng.uniform(0, 2, n),  # flow: noise
            rng.uniform(0, 2, n),  # fanout: noise
            rng.uniform(0, 1, n),  # contracts: noise
            rng.uniform(0, 1, n),  # tests: noise
        ]
    )
    latent = 1.5 * x[:, 0] + 1.0 * x[:, 1] + rng.logistic(size=n)
    y = np.digitize(latent, [3.0, 6.0]).astype(np.int64)
    return x, y


def test_the_fit_recovers_which_signals_matter_and_keeps_each_sign(fit: ModuleType) -> None:
    x, y = synthetic(1)
    model = fit.fit(x, y, 1.0)
    size, names, flow, fanout, contracts, tests = model.weights
    assert size > names > 0.5
    assert size == pytest.approx(1.5, rel=0.3)
    effect = model.weights * np.ptp(x, axis=0)  # what each signal moves over its range
    assert max(effect[2:]) < 0.15 * effect[1]  # noise stays small
    assert tests <= 0  # held to their signs
    assert min(flow, fanout, contracts) >= 0
    assert model.cuts[0] < model.cuts[1]


def test_a_stronger_penalty_shrinks_the_weights(fit: ModuleType) -> None:
    x, y = synthetic(2)
    loose, tight = fit.fit(x, y, 0.1), fit.fit(x, y, 100.0)
    assert np.abs(tight.weights).sum() < np.abs(loose.weights).sum()


def test_held_out_likelihood_prefers_the_true_model_to_a_flat_one(fit: ModuleType) -> None:
    x, y = synthetic(3)
    train, test = np.arange(300), np.arange(300, 400)
    good = fit.fit(x[train], y[train], 1.0)
    flat = fit.Model(weights=np.zeros(6), cuts=good.cuts)
    assert fit.log_likelihood(good, x[test], y[test]) > fit.log_likelihood(flat, x[test], y[test])


def test_folds_are_stratified_and_cover_every_row_once_per_repeat(fit: ModuleType) -> None:
    y = np.array([0] * 40 + [1] * 80 + [2] * 10, dtype=np.int64)
    splits = list(fit.folds(y, 5, 2, 7))
    assert len(splits) == 10
    for repeat in (splits[:5], splits[5:]):
        tested = np.concatenate([test for _, test in repeat])
        assert sorted(tested) == list(range(len(y)))
    for train, test in splits:
        assert set(train).isdisjoint(test)
        assert [int((y[test] == k).sum()) for k in (0, 1, 2)] == [8, 16, 2]


def test_the_cut_meets_both_goals_when_the_data_allows(fit: ModuleType) -> None:
    z = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2], dtype=np.int64)
    cut = fit.best_cut(z, y)
    local, frontier = fit.goals(z, y, cut)
    assert (local, frontier) == (1.0, 1.0)
    assert 3.0 < cut <= 6.0


def test_the_cut_balances_the_goals_when_they_conflict(fit: ModuleType) -> None:
    # One hard row (at 4) sits among nine easy ones: keeping it on the frontier would send
    # five easy rows there; the cut keeps the easy rows local and gives up that one hard row.
    easy = [0.0, 1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    hard = [4.0, *np.arange(10.0, 20.0)]
    z = np.array(easy + hard)
    y = np.array([0] * len(easy) + [2] * len(hard), dtype=np.int64)
    cut = fit.best_cut(z, y)
    assert 9.0 < cut < 10.0
    assert fit.goals(z, y, cut) == (1.0, 10 / 11)


def test_the_fit_models_the_shipped_score_exactly(fit: ModuleType, calibration: list[Any]) -> None:
    """With the shipped points, the fit's own account of the score is the core's score (up to
    the rounding of the points to one decimal)."""
    per_logit = 20.0
    weights = np.array([FITTED_POINTS[name] / per_logit for name in fit.SIGNALS])
    shipped = fit.Fitted(fit.Model(weights, np.array([1.0, 3.0])), 1.0, 2.25, per_logit)
    modelled = fit.scores_of(shipped, calibration, fit.matrix(calibration))
    actual = np.array([r.complexity.score for r in calibration])
    assert np.abs(modelled - actual).max() <= 1


def test_the_default_meets_the_routing_goals_on_the_calibration_patches(
    calibration: list[Any],
) -> None:
    """In-sample (the weights were fitted on these rows; bench/calibration.py gives the
    cross-validated figures): at least 80% of `<15 min` fixes stay local and at least 90% of
    the `>= 1 hour` ones go to the frontier, with the bot's own decision at default settings."""
    models = Models(local="local", frontier="frontier", local_window=8192)
    local = [
        decide(r.complexity, models, repo=RepoSettings()).tier is Tier.LOCAL for r in calibration
    ]
    easy = [k for r, k in zip(calibration, local, strict=True) if r.label == 0]
    hard = [k for r, k in zip(calibration, local, strict=True) if r.label >= 2]
    assert (len(easy), len(hard)) == (42, 11)
    assert sum(easy) / len(easy) >= 0.80
    assert 1 - sum(hard) / len(hard) >= 0.90
    assert RepoSettings().threshold == DEFAULT_THRESHOLD == 45


def test_the_score_ranks_difficulty_better_than_changed_lines(
    calibration: list[Any],
) -> None:
    labels = [r.label for r in calibration]
    ours = spearmanr([r.complexity.score for r in calibration], labels)[0]
    lines = spearmanr([r.lines for r in calibration], labels)[0]
    assert ours > lines + 0.1
    assert ours > 0.5


def test_tierbot_score_with_every_rule_keeps_the_goals(
    fit: ModuleType,
    CORPUS: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same through `tierbot score --json` at its defaults, where the local window and the
    cost rule apply too (no TIERBOT_* settings): neither undoes the goals."""
    for name in [n for n in os.environ if n.startswith(("TIERBOT_", "ANTHROPIC_"))]:
        monkeypatch.delenv(name)
    labels: dict[str, int] = {}
    for number, raw in enumerate((CORPUS / fit.DATA_NAME).read_text().splitlines()):
        row = json.loads(raw)
        path = tmp_path / f"{number}.diff"
        path.write_text(fit.as_pull_request(row["patch"], row["test_patch"]))
        labels[str(path)] = fit.LABELS.index(row["difficulty"])
    assert main(["score", "--json", *labels]) == 0
    tiers = {o["path"]: o["tier"] for o in map(json.loads, capsys.readouterr().out.splitlines())}
    easy = [tiers[p] == "local" for p, label in labels.items() if label == 0]
    hard = [tiers[p] == "frontier" for p, label in labels.items() if label >= 2]
    assert sum(easy) / len(easy) >= 0.80
    assert sum(hard) / len(hard) >= 0.90
