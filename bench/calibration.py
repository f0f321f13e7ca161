"""How well the complexity score ranks and routes real patches by human-labelled difficulty.

Data: JSON lines with `patch` (a unified diff), `test_patch` (its tests, optional) and
`difficulty` (one of `<15 min fix`, `15 min - 1 hour`, `1-4 hours`, `>4 hours`, read as 0..3).
By default `difficulty-calibration.jsonl` in the corpus; pass `--data PATH` (repeatable, or
several paths after one flag) to judge a held-out set of the same format instead. Rows from every
file given are pooled. Each patch is scored together with its tests, as the pull request that
fixed the bug would be.

Two rankers are compared on the same rows:

* ours: `score(parse(patch + tests)).score`, the 0-100 complexity score as shipped;
* baseline: the changed lines of the same diff (added + removed, tests included).

Ranking: the Spearman rank correlation with the label, and the AUROC for telling `15 min - 1
hour` and harder from `<15 min` fixes, and `1-4 hours` and harder from the rest (tie-aware:
average ranks, the AUROC being the Mann-Whitney U over n_pos * n_neg; 0.5 is chance). Then a
stratified bootstrap (resampling within each label, fixed seed) of the paired difference ours -
baseline gives, per metric, the observed difference, a 90% interval and the share of resamples
where ours is better and where they tie.

Routing: the bot's own decision (`bot.core.routing.decide`) at the default settings (threshold
`DEFAULT_THRESHOLD`, no repo path rules, the default local window of 8,192 tokens, both tiers
available): the share of patches per label kept on the local model, the share of `<15 min`
fixes kept local and the recall of `>= 1 hour` patches (`1-4 hours`, `>4 hours`) sent to the
frontier model. The baseline routes by a cut on its line count, chosen on the rows judged by the
same rule the fit uses (bench/score_fit.py: the most room on both goals, 80% and 90%), so its
routing column is in-sample even with `--data`.

In-sample and cross-validated: the score's weights were fitted on the default file, so its
figures there are in-sample. The cross-validated column re-runs the whole fit (bench/score_fit.py:
the L2 strength, the weights, the cut) on each training part of repeated stratified 5-fold
splits (choosing the strength and the cut there by one round of 5-fold, where the shipped fit
used 20), scores the held-out part with it, and averages the figures over the repeats (their
range in brackets); the baseline's cut is chosen on the training part the same way. With `--data`,
only in-sample figures are printed: there the shipped weights meet rows they were not fitted on.

Rows whose patch tierbot cannot parse are counted and listed, and left out of both rankers;
rows with an unknown label or missing fields are counted as skipped.

Run: `uv run python bench/calibration.py [--corpus PATH] [--data PATH ...] [--resamples N]
[--repeats N]`.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

# Runnable as `python bench/calibration.py` from anywhere: put the repository root on the path.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import score_fit  # noqa: E402  (bench/score_fit.py, beside this file)

from bot.core.repo_settings import DEFAULT_THRESHOLD, RepoSettings  # noqa: E402
from bot.core.routing import Models, Tier, decide  # noqa: E402

LABELS = score_fit.LABELS
EASY, HARD = score_fit.EASY, score_fit.HARD
LOCAL_WINDOW = 8192  # the default local context window (TIERBOT_LOCAL_CONTEXT_TOKENS)
MODELS = Models(local="local", frontier="frontier", local_window=LOCAL_WINDOW)

Floats = NDArray[np.float64]
Metric = Callable[[Floats, Floats], float]


# --- metrics ---------------------------------------------------------------------------------


def spearman(x: Floats, y: Floats) -> float:
    """Spearman's rho with average ranks for ties; NaN when either side is constant."""
    rx, ry = rankdata(x), rankdata(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def auroc_from(level: int) -> Metric:
    """P(x of a patch labelled `level` or harder > x of an easier one), ties counting half."""

    def auroc(x: Floats, y: Floats) -> float:
        positive = y >= level
        n_pos = int(positive.sum())
        n_neg = len(y) - n_pos
        if n_pos == 0 or n_neg == 0:
            return math.nan
        ranks = rankdata(x)
        u = float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2
        return u / (n_pos * n_neg)

    return auroc


METRICS: dict[str, Metric] = {
    "Spearman rho": spearman,
    "AUROC >= 15 min": auroc_from(1),
    "AUROC >= 1 hour": auroc_from(HARD),
}


def bootstrap_differences(
    ours: Floats, base: Floats, labels: Floats, metric: Metric, resamples: int, seed: int
) -> Floats:
    """ours - baseline for `metric` over stratified resamples (each label keeps its count)."""
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(labels == value) for value in np.unique(labels)]
    out = np.empty(resamples)
    for k in range(resamples):
        index = np.concatenate([rng.choice(s, size=len(s), replace=True) for s in strata])
        y = labels[index]
        out[k] = metric(ours[index], y) - metric(base[index], y)
    return out


@dataclass(frozen=True, slots=True)
class Routing:
    """Per row, whether it stays local; and the goal figures that follow."""

    local: NDArray[np.bool_]
    labels: Floats

    @property
    def easy_local(self) -> float:
        easy = self.labels == EASY
        return float(np.mean(self.local[easy])) if easy.any() else math.nan

    @property
    def hard_frontier(self) -> float:
        hard = self.labels >= HARD
        return float(np.mean(~self.local[hard])) if hard.any() else math.nan

    @property
    def all_local(self) -> float:
        return float(np.mean(self.local))


# --- cross-validation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrossValidated:
    """Per repeat: each metric of the held-out scores, and the routing figures of ours and of
    the line-count baseline."""

    metrics: dict[str, list[float]]
    ours: list[Routing]
    lines: list[Routing]


def cross_validate(
    rows: Sequence[score_fit.Row], repeats: int, seed: int, inner: int
) -> CrossValidated:
    """Re-run the fit on each training part of repeated stratified 5-fold splits; score the
    held-out part with it (ours), and route the baseline by a cut chosen on the training part."""
    x = score_fit.matrix(rows)
    y = np.array([min(r.label, HARD) for r in rows], dtype=np.int64)
    labels = np.array([r.label for r in rows], dtype=np.float64)
    lines = np.array([r.lines for r in rows], dtype=np.float64)
    rng = np.random.default_rng(seed)
    metrics: dict[str, list[float]] = {name: [] for name in METRICS}
    ours: list[Routing] = []
    base: list[Routing] = []
    for _ in range(repeats):
        held = np.empty(len(rows))
        line_local = np.empty(len(rows), dtype=bool)
        split_seed = int(rng.integers(2**31))
        for train, test in score_fit.folds(y, score_fit.FOLDS, 1, split_seed):
            fitted, _ = score_fit.procedure(x[train], y[train], inner, split_seed)
            held[test] = score_fit.scores_of(fitted, [rows[i] for i in test], x[test])
            cut = score_fit.best_cut(lines[train], y[train])
            line_local[test] = lines[test] < cut
        for name, metric in METRICS.items():
            metrics[name].append(metric(held, labels))
        ours.append(Routing(held < DEFAULT_THRESHOLD, labels))
        base.append(Routing(line_local, labels))
    return CrossValidated(metrics, ours, base)


# --- the report ------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 3, sign: bool = False) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1%}"


def _mean_range(values: Sequence[float], pct: bool = False) -> str:
    valid = [v for v in values if not math.isnan(v)]
    if not valid:
        return "n/a"
    show = _pct if pct else _fmt
    mean = show(statistics.fmean(valid))
    return f"{mean} [{show(min(valid))}-{show(max(valid))}]"


def _decide(row: score_fit.Row) -> bool:
    """Whether the bot, at the default settings, keeps this change on the local model."""
    decision = decide(row.complexity, MODELS, repo=RepoSettings())
    return decision.tier is Tier.LOCAL


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=score_fit.DEFAULT_CORPUS)
    parser.add_argument(
        "--data",
        type=Path,
        nargs="+",
        action="extend",
        help=f"labelled JSON-lines file(s); default: CORPUS/{score_fit.DATA_NAME}",
    )
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=20240601, help="bootstrap and fold seed")
    parser.add_argument("--repeats", type=int, default=10, help="repeats of 5-fold CV")
    args = parser.parse_args(argv)
    if args.resamples < 1 or args.repeats < 0:
        parser.error("--resamples must be at least 1 and --repeats at least 0")

    paths: list[Path] = args.data or [args.corpus / score_fit.DATA_NAME]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        for p in missing:
            print(f"labelled data not found: {p}", file=sys.stderr)
        if not args.data:
            print("pass --corpus PATH (the shared corpus folder) or --data FILE", file=sys.stderr)
        return 2

    loaded = score_fit.load(paths)
    rows = loaded.rows
    print("tierbot complexity score vs changed-line count, against human difficulty")
    print(f"data: {', '.join(str(p) for p in paths)} (each patch with its tests as one change)")
    print(
        f"rows: {len(rows)} scored, {len(loaded.parse_failures)} failed to parse, "
        f"{len(loaded.skipped)} skipped (bad row or unknown label)"
    )
    for line in loaded.parse_failures:
        print(f"  parse failure: {line}")
    for line in loaded.skipped:
        print(f"  skipped: {line}")
    if len(rows) < 2:
        print("too few scored rows to rank; nothing to report")
        return 0
    print()

    labels = np.array([r.label for r in rows], dtype=np.float64)
    ours = np.array([r.complexity.score for r in rows], dtype=np.float64)
    base = np.array([r.lines for r in rows], dtype=np.float64)
    counts = Counter(r.label for r in rows)

    print(f"{'label':<18} {'n':>4} {'median score':>13} {'median lines':>13}")
    for index, name in enumerate(LABELS):
        group = [r for r in rows if r.label == index]
        if not group:
            print(f"{name:<18} {0:>4} {'-':>13} {'-':>13}")
            continue
        med_score = statistics.median(r.complexity.score for r in group)
        med_lines = statistics.median(r.lines for r in group)
        print(f"{name:<18} {len(group):>4} {med_score:>13g} {med_lines:>13g}")
    print()

    every_level = counts[0] and counts[1] and counts[2] + counts[3]
    fold = args.repeats > 0 and not args.data and bool(every_level)
    cv = cross_validate(rows, args.repeats, args.seed, inner=1) if fold else None
    if cv is not None:
        print(
            f"cross-validated: {args.repeats} x {score_fit.FOLDS}-fold, the whole fit re-run "
            "on each training part\n  (its strength and cut chosen there by one round of "
            "5-fold); mean [range over repeats]"
        )
    print(f"{'metric':<18} {'ours':>7} {'ours, cross-validated':>27} {'lines':>7}")
    for metric_name, metric in METRICS.items():
        held = _mean_range(cv.metrics[metric_name]) if cv else "-"
        print(
            f"{metric_name:<18} {_fmt(metric(ours, labels)):>7} {held:>27} "
            f"{_fmt(metric(base, labels)):>7}"
        )
    print()

    print(
        f"bootstrap (in-sample): {args.resamples} stratified resamples, seed {args.seed}; "
        "difference = ours - lines"
    )
    header = f"{'metric':<18} {'diff':>7} {'90% interval':>18} {'ours better':>12} {'tied':>6}"
    print(header)
    print("-" * len(header))
    for metric_name, metric in METRICS.items():
        observed = metric(ours, labels) - metric(base, labels)
        diffs = bootstrap_differences(ours, base, labels, metric, args.resamples, args.seed)
        valid = diffs[~np.isnan(diffs)]
        if len(valid):
            low, high = np.percentile(valid, [5, 95])
            interval = f"[{_fmt(low, sign=True)}, {_fmt(high, sign=True)}]"
            better = f"{float(np.mean(valid > 0)):.1%}"
            tied = f"{float(np.mean(valid == 0)):.1%}"
        else:
            interval, better, tied = "n/a", "n/a", "n/a"
        print(
            f"{metric_name:<18} {_fmt(observed, sign=True):>7} {interval:>18} {better:>12} "
            f"{tied:>6}"
        )
    print()

    kept = np.array([_decide(r) for r in rows])
    shipped = Routing(kept, labels)
    y = np.array([min(r.label, HARD) for r in rows], dtype=np.int64)
    line_cut = score_fit.best_cut(base, y)
    by_lines = Routing(base < line_cut, labels)
    print(
        f"routing: the bot's decision at the default settings\n  (threshold {DEFAULT_THRESHOLD}, "
        f"no path rules, local window {LOCAL_WINDOW:,} tokens, both tiers available)"
    )
    window = sum(
        1
        for r, k in zip(rows, kept, strict=True)
        if not k and r.complexity.score < DEFAULT_THRESHOLD
    )
    print(f"  sent to the frontier for the window alone: {window}")
    print(f"  {'label':<18} {'n':>4} {'local':>6} {'frontier':>9} {'local share':>12}")
    groups = [("all", np.ones(len(rows), dtype=bool))] + [
        (name, labels == index) for index, name in enumerate(LABELS)
    ]
    for name, member in groups:
        n = int(member.sum())
        sent = int(kept[member].sum())
        share = _pct(sent / n) if n else "-"
        print(f"  {name:<18} {n:>4} {sent:>6} {n - sent:>9} {share:>12}")
    print()
    print("  goals: >= 80% of '<15 min' local, >= 90% of '>= 1 hour' on the frontier")
    print(
        f"  {'':<28} {'ours':>7} {'ours, cross-validated':>24} "
        f"{f'lines < {line_cut:g}':>14} {'lines, cross-validated':>24}"
    )
    figures: list[tuple[str, Callable[[Routing], float]]] = [
        ("'<15 min' kept local", lambda r: r.easy_local),
        ("'>= 1 hour' on the frontier", lambda r: r.hard_frontier),
        ("all changes kept local", lambda r: r.all_local),
    ]
    for name, figure in figures:
        held = _mean_range([figure(r) for r in cv.ours], pct=True) if cv else "-"
        held_lines = _mean_range([figure(r) for r in cv.lines], pct=True) if cv else "-"
        print(
            f"  {name:<28} {_pct(figure(shipped)):>7} {held:>24} "
            f"{_pct(figure(by_lines)):>14} {held_lines:>24}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
