"""Fit the complexity score's weights on human-labelled real patches, with cross-validation.

Data: `difficulty-calibration.jsonl` in the corpus (or `--data PATH ...`), each row a patch, its
test patch and a difficulty label (`<15 min fix` 0, `15 min - 1 hour` 1, `1-4 hours` 2,
`>4 hours` 3). Each patch is scored together with its tests, as the pull request that fixed the
bug would be, and its fitted signals are read with `bot.core.drivers.signals` from the features
the core measures, so the fit sees exactly what the bot computes.

The model: an ordinal (proportional-odds) logistic regression of the label on the signals,
P(label >= k) = sigmoid(w . x - c_k), fitted by maximum likelihood with an L2 penalty on the
weights of the standardised signals, each weight bounded to its expected sign (more names, new
decision points, calls or changed signatures never make a change easier; a larger share of
tests never makes it harder). The penalty strength is chosen from a small grid by the held-out
log-likelihood over repeated stratified k-fold cross-validation (every label keeps its share in
every fold).

The routing cut: in each training fold, the cut on w . x that best meets both goals at once
(at least 80% of `<15 min` fixes local, at least 90% of `>= 1 hour` fixes on the frontier: the
largest smaller margin of the two, then the larger sum), written as a position between the
fold's own cut-points c_1 (between `<15 min` and `15 min - 1 hour`) and c_2 (between
`15 min - 1 hour` and `1-4 hours`), so that folds with differently scaled weights agree on what
it means. The cut of the final fit sits at the mean position over all folds. The weights are
then scaled to points so that this cut is the default threshold: 45 / cut points per logit.

Prints the chosen strength, the weights per signal (logits and points), the cut, and the
constants to put in `bot/core/drivers.py` (FITTED_POINTS), with the cross-validated ranking
and routing figures. `bench/calibration.py` reports how the score as shipped does.

Run: `uv run python bench/score_fit.py [--corpus PATH] [--data PATH ...] [--repeats N]`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import expit

# Runnable as `python bench/score_fit.py` from anywhere: put the repository root on the path.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bot.core.complexity import Complexity, score  # noqa: E402
from bot.core.diff import DiffError, parse  # noqa: E402
from bot.core.drivers import FITTED_POINTS, drivers, signals  # noqa: E402
from bot.core.easy_patterns import CAPS  # noqa: E402
from bot.core.repo_settings import DEFAULT_THRESHOLD  # noqa: E402

DEFAULT_CORPUS = _ROOT.parent / "shared" / "corpus"
DATA_NAME = "difficulty-calibration.jsonl"
LABELS = ("<15 min fix", "15 min - 1 hour", "1-4 hours", ">4 hours")
EASY = 0  # `<15 min fix`: should go local
HARD = 2  # `1-4 hours` and `>4 hours`: should stay on the frontier
EASY_GOAL = 0.80  # share of easy fixes the default should keep local
HARD_GOAL = 0.90  # share of hard fixes the default should keep on the frontier
SIGNALS = tuple(FITTED_POINTS)
# Each weight's sign: +1 never below 0, -1 never above 0.
SIGNS = {name: (-1 if name == "tests" else 1) for name in SIGNALS}
STRENGTHS = (0.3, 1.0, 3.0, 10.0, 30.0)
FOLDS = 5
REPEATS = 20
SEED = 20240601

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled patch: its name, label (0..3), changed lines, and the score of it with tests."""

    name: str
    label: int
    lines: int
    complexity: Complexity


@dataclass(frozen=True, slots=True)
class Model:
    """Weights per raw signal (logits per unit) and the ordinal cut-points, lowest first."""

    weights: Floats
    cuts: Floats

    def z(self, x: Floats) -> Floats:
        return x @ self.weights


@dataclass(slots=True)
class Loaded:
    rows: list[Row]
    parse_failures: list[str]
    skipped: list[str]


def as_pull_request(patch: str, tests: str) -> str:
    """A patch and its test patch as one diff, as the pull request that fixed the bug would be."""
    if not tests:
        return patch
    return (patch if patch.endswith("\n") else patch + "\n") + tests


def load(paths: Sequence[Path]) -> Loaded:
    """Score every row with its tests; count rows that cannot be read or parsed."""
    loaded = Loaded(rows=[], parse_failures=[], skipped=[])
    for path in paths:
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not raw.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                item = json.loads(raw)
                name = str(item.get("instance_id") or where)
                if item["difficulty"] not in LABELS:
                    raise ValueError(f"unknown difficulty {item['difficulty']!r}")
                label = LABELS.index(item["difficulty"])
                patch, tests = item["patch"], item.get("test_patch") or ""
                if not isinstance(patch, str) or not isinstance(tests, str):
                    raise TypeError("patch or test_patch is not a string")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                loaded.skipped.append(f"{where}: {type(exc).__name__}: {exc}")
                continue
            try:
                changes = parse(as_pull_request(patch, tests))
            except DiffError as exc:
                loaded.parse_failures.append(f"{name} ({where}): {exc}")
                continue
            lines = changes.added + changes.removed
            loaded.rows.append(Row(name, label, lines, score(changes)))
    return loaded


def matrix(rows: Sequence[Row]) -> Floats:
    """The fitted signals of every row, one column per signal in SIGNALS order."""
    table = [signals(r.complexity.features) for r in rows]
    return np.array([[t[name] for name in SIGNALS] for t in table], dtype=np.float64)


# --- the model -------------------------------------------------------------------------------


def fit(x: Floats, y: Ints, strength: float) -> Model:
    """Ordinal logistic regression with an L2 penalty on the standardised weights, each weight
    held to its sign in SIGNS."""
    spread = x.std(axis=0)
    spread[spread == 0] = 1.0
    xs = x / spread
    p = xs.shape[1]
    levels = int(y.max()) + 1

    def loss(theta: Floats) -> tuple[float, Floats]:
        """The penalised negative log-likelihood and its gradient."""
        w, steps = theta[:p], np.exp(theta[p + 1 :])
        cuts = np.cumsum(np.r_[theta[p], steps])
        z = xs @ w
        # Rows at the lowest (highest) label have no cut below (above): P(label >= 0) = 1.
        edges = np.r_[-np.inf, cuts, np.inf]
        lower = expit(z - edges[y])  # P(label >= y)
        upper = expit(z - edges[y + 1])  # P(label >= y + 1)
        chance = np.clip(lower - upper, 1e-12, None)
        slope_lower = lower * (1 - lower)
        slope_upper = upper * (1 - upper)
        value = -np.sum(np.log(chance)) + strength * np.sum(w**2)
        dz = -(slope_lower - slope_upper) / chance
        grad_w = xs.T @ dz + 2 * strength * w
        # d(-log P)/d cut_j: +slope_lower/P where cut_j is the row's lower edge, -slope_upper/P
        # where it is its upper edge.
        dcut = np.zeros(levels - 1)
        np.add.at(dcut, y[y > 0] - 1, slope_lower[y > 0] / chance[y > 0])
        top = y < levels - 1
        np.add.at(dcut, y[top], -slope_upper[top] / chance[top])
        # cut_j = theta_p + sum of exp(theta_{p+1..p+j}).
        grad_first = dcut.sum()
        grad_steps = np.array([dcut[j:].sum() * steps[j - 1] for j in range(1, levels - 1)])
        return float(value), np.r_[grad_w, grad_first, grad_steps]

    bounds: list[tuple[float | None, float | None]] = [
        (0.0, None) if SIGNS[s] > 0 else (None, 0.0) for s in SIGNALS
    ]
    bounds += [(None, None)] * (levels - 1)
    start = np.r_[np.zeros(p), 0.0, np.zeros(levels - 2)]
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    theta = found.x
    cuts = np.cumsum(np.r_[theta[p], np.exp(theta[p + 1 :])])
    return Model(weights=theta[:p] / spread, cuts=cuts)


def log_likelihood(model: Model, x: Floats, y: Ints) -> float:
    """The ordinal log-likelihood of held-out rows (labels above the fitted ones count as top)."""
    z = model.z(x)
    n = len(y)
    above = np.column_stack([np.ones(n)] + [expit(z - c) for c in model.cuts] + [np.zeros(n)])
    top = len(model.cuts)
    label = np.minimum(y, top)
    chance = above[np.arange(n), label] - above[np.arange(n), label + 1]
    return float(np.sum(np.log(np.clip(chance, 1e-12, None))))


def goals(z: Floats, y: Ints, cut: float) -> tuple[float, float]:
    """Share of easy rows below the cut (local), share of hard rows at or above it (frontier)."""
    easy, hard = z[y == EASY], z[y >= HARD]
    local = float(np.mean(easy < cut)) if len(easy) else math.nan
    frontier = float(np.mean(hard >= cut)) if len(hard) else math.nan
    return local, frontier


def best_cut(z: Floats, y: Ints) -> float:
    """The cut that meets both goals with the most room: the largest smaller margin, then the
    larger sum; halfway between two neighbouring values."""
    values = np.unique(z)
    candidates = np.r_[values[0] - 1.0, (values[:-1] + values[1:]) / 2, values[-1] + 1.0]
    best: tuple[tuple[float, float], float] | None = None
    for cut in candidates:
        local, frontier = goals(z, y, float(cut))
        key = (min(local - EASY_GOAL, frontier - HARD_GOAL), local + frontier)
        if best is None or key > best[0]:
            best = (key, float(cut))
    assert best is not None
    return best[1]


def position(model: Model, cut: float) -> float:
    """Where a cut sits between the model's first two cut-points (0 at c_1, 1 at c_2)."""
    low, high = model.cuts[0], model.cuts[1]
    return float((cut - low) / (high - low))


def at_position(model: Model, where: float) -> float:
    low, high = model.cuts[0], model.cuts[1]
    return float(low + where * (high - low))


def folds(y: Ints, k: int, repeats: int, seed: int) -> Iterator[tuple[Ints, Ints]]:
    """Repeated stratified k-fold splits: (train, test) indices; every label spread evenly."""
    rng = np.random.default_rng(seed)
    for _ in range(repeats):
        fold = np.empty(len(y), dtype=np.int64)
        for value in np.unique(y):
            index = rng.permutation(np.flatnonzero(y == value))
            fold[index] = (np.arange(len(index)) + int(rng.integers(k))) % k
        for j in range(k):
            yield np.flatnonzero(fold != j), np.flatnonzero(fold == j)


@dataclass(frozen=True, slots=True)
class Fitted:
    """The fitted model, its strength, the cut on w . x, and the points per logit."""

    model: Model
    strength: float
    cut: float
    points_per_logit: float

    def points(self) -> dict[str, float]:
        return {
            name: round(float(w) * self.points_per_logit, 1)
            for name, w in zip(SIGNALS, self.model.weights, strict=True)
        }


def choose_strength(x: Floats, y: Ints, repeats: int, seed: int) -> dict[float, float]:
    """Mean held-out log-likelihood per row for each strength in STRENGTHS."""
    out = {}
    for strength in STRENGTHS:
        total = 0.0
        for train, test in folds(y, FOLDS, repeats, seed):
            total += log_likelihood(fit(x[train], y[train], strength), x[test], y[test])
        out[strength] = total / (repeats * len(y))
    return out


def fit_all(x: Floats, y: Ints, strength: float, repeats: int, seed: int) -> Fitted:
    """The final fit at one strength: weights on every row, the cut at the mean in-fold
    position."""
    where = [
        position(model, best_cut(model.z(x[train]), y[train]))
        for train, _ in folds(y, FOLDS, repeats, seed)
        for model in [fit(x[train], y[train], strength)]
    ]
    model = fit(x, y, strength)
    cut = at_position(model, float(np.mean(where)))
    return Fitted(model, strength, cut, DEFAULT_THRESHOLD / cut)


def scores_of(fitted: Fitted, rows: Sequence[Row], x: Floats) -> Floats:
    """The 0-100 scores a fit gives: its fitted points, plus the points not fitted (spread,
    risky areas) at their share of its size weight, capped by the easy patterns as the core caps
    them. With the shipped weights this is the shipped score."""
    size_points = float(fitted.model.weights[SIGNALS.index("size")]) * fitted.points_per_logit
    ratio = size_points / FITTED_POINTS["size"]
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        c = row.complexity
        others = sum(d.points for d in drivers(c.features, c.risks) if d.name not in SIGNALS)
        points = float(fitted.model.z(x[i])) * fitted.points_per_logit + others * ratio
        cap = min((CAPS[p] for p in c.patterns), default=100)
        out[i] = max(0, min(100, cap, round(points)))
    return out


def procedure(x: Floats, y: Ints, repeats: int, seed: int) -> tuple[Fitted, dict[float, float]]:
    """The whole fit: the strength by held-out likelihood, then the weights and the cut."""
    scores = choose_strength(x, y, repeats, seed)
    strength = max(scores, key=lambda s: scores[s])
    return fit_all(x, y, strength, repeats, seed), scores


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus folder")
    parser.add_argument("--data", type=Path, nargs="+", action="extend", help="JSON-lines files")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="repeats of 5-fold CV")
    parser.add_argument("--seed", type=int, default=SEED, help="fold seed")
    args = parser.parse_args(argv)
    paths: list[Path] = args.data or [args.corpus / DATA_NAME]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        for p in missing:
            print(f"labelled data not found: {p}", file=sys.stderr)
        return 2
    loaded = load(paths)
    rows = loaded.rows
    print(f"data: {', '.join(str(p) for p in paths)}")
    print(
        f"rows: {len(rows)} fitted, {len(loaded.parse_failures)} failed to parse, "
        f"{len(loaded.skipped)} skipped"
    )
    x = matrix(rows)
    y = np.array([min(r.label, HARD) for r in rows], dtype=np.int64)
    if len(np.unique(y)) < 3:
        print("the fit needs rows of every level (<15 min, 15 min - 1 hour, >= 1 hour)")
        return 2
    print(f"signals: {', '.join(SIGNALS)}; {args.repeats} x {FOLDS}-fold, seed {args.seed}")
    print()
    fitted, scores = procedure(x, y, args.repeats, args.seed)
    print("L2 strength  held-out log-likelihood per row")
    for strength, value in scores.items():
        print(f"{strength:>11g}  {value:+.4f}")
    print(f"chosen: {fitted.strength:g}")
    print()
    print(f"{'signal':<10} {'logits/unit':>12} {'points/unit':>12}")
    points = fitted.points()
    for name, w in zip(SIGNALS, fitted.model.weights, strict=True):
        print(f"{name:<10} {float(w):>12.3f} {points[name]:>12.1f}")
    cuts = ", ".join(f"{c:.3f}" for c in fitted.model.cuts)
    print(f"ordinal cut-points: {cuts}; routing cut {fitted.cut:.3f}")
    print(f"points per logit: {fitted.points_per_logit:.2f} (cut -> {DEFAULT_THRESHOLD})")
    print()
    print("FITTED_POINTS: dict[str, float] = {")
    for name in SIGNALS:
        print(f'    "{name}": {points[name]},')
    print("}")
    shipped = {name: FITTED_POINTS[name] for name in SIGNALS}
    same = "matches" if shipped == points else "differs from"
    print(f"{same} FITTED_POINTS in bot/core/drivers.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
