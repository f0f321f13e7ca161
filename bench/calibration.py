"""How well the complexity score ranks real patches by human-labelled difficulty.

Data: JSON lines with `patch` (a unified diff), `difficulty` (one of `<15 min fix`,
`15 min - 1 hour`, `1-4 hours`, `>4 hours`, read as 0..3), `patch_lines_added` and
`patch_lines_removed`. By default `difficulty-calibration.jsonl` in the corpus; pass
`--data PATH` (repeatable, or several paths after one flag) to judge a held-out set of the same
format instead. Rows from every file given are pooled into one evaluation.

Two rankers are compared on the same rows:

* ours: `score(parse(patch)).score`, the 0-100 complexity score;
* baseline: `lines = patch_lines_added + patch_lines_removed`, the plain size of the patch.

For each the script prints the Spearman rank correlation with the label and the AUROC for
telling `1-4 hours` and harder apart from the rest (both tie-aware: average ranks, the AUROC
being the Mann-Whitney U over n_pos * n_neg). Higher is better for both; an AUROC of 0.5 is
chance. Then a stratified bootstrap (resampling within each label, fixed seed) of the paired
difference ours - baseline gives, per metric, the observed difference, a 90% interval, and the
share of resamples where ours is better (above 0) and where they tie. An interval that lies
above 0 says the score ranks better than counting lines on data like this; one straddling 0
says the data cannot tell them apart.

Last, routing at the default threshold (`bot.core.repo_settings.DEFAULT_THRESHOLD`), on the
score alone:
the share of patches scoring below it (they would be reviewed by the local model) overall and
per label, and the recall of `>= 1 hour` patches (`1-4 hours` and `>4 hours`) that reach the
frontier model. The bot's other routing rules (path patterns, the local context window) are not
applied here.

Rows whose patch tierbot cannot parse are counted and listed, and left out of both rankers;
rows with an unknown label or missing fields are counted as skipped. The score's weights were
fitted on the default file, so figures on it are in-sample; a held-out set is the real test.

Run: `uv run python bench/calibration.py [--corpus PATH] [--data PATH ...] [--resamples N]`.
"""

from __future__ import annotations

import argparse
import json
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

from bot.core.complexity import score  # noqa: E402
from bot.core.diff import DiffError, parse  # noqa: E402
from bot.core.repo_settings import DEFAULT_THRESHOLD  # noqa: E402

DEFAULT_CORPUS = _ROOT.parent / "shared" / "corpus"
DATA_NAME = "difficulty-calibration.jsonl"
LABELS = ("<15 min fix", "15 min - 1 hour", "1-4 hours", ">4 hours")
HARD = 2  # label index from which a patch counts as hard: `1-4 hours` and `>4 hours`

Floats = NDArray[np.float64]
Metric = Callable[[Floats, Floats], float]


@dataclass(frozen=True, slots=True)
class Row:
    source: str
    name: str
    label: int
    ours: int
    lines: int


@dataclass(slots=True)
class Loaded:
    rows: list[Row]
    parse_failures: list[str]
    skipped: list[str]


# --- metrics ---------------------------------------------------------------------------------


def spearman(x: Floats, y: Floats) -> float:
    """Spearman's rho with average ranks for ties; NaN when either side is constant."""
    rx, ry = rankdata(x), rankdata(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def auroc(x: Floats, y: Floats) -> float:
    """P(x of a hard patch > x of an easier one), ties counting half (Mann-Whitney U)."""
    positive = y >= HARD
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(x)
    u = float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


METRICS: dict[str, Metric] = {
    "Spearman rho": spearman,
    f"AUROC >= {LABELS[HARD]!r}": auroc,
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


# --- data ------------------------------------------------------------------------------------


def load(paths: Sequence[Path]) -> Loaded:
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
                lines = int(item["patch_lines_added"]) + int(item["patch_lines_removed"])
                patch = item["patch"]
                if not isinstance(patch, str):
                    raise TypeError("patch is not a string")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                loaded.skipped.append(f"{where}: {type(exc).__name__}: {exc}")
                continue
            try:
                value = score(parse(patch)).score
            except DiffError as exc:
                loaded.parse_failures.append(f"{name} ({where}): {exc}")
                continue
            loaded.rows.append(Row(path.name, name, label, value, lines))
    return loaded


# --- the report ------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 3, sign: bool = False) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus folder")
    parser.add_argument(
        "--data",
        type=Path,
        nargs="+",
        action="extend",
        help=f"labelled JSON-lines file(s); default: CORPUS/{DATA_NAME}",
    )
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=20240601, help="bootstrap seed")
    args = parser.parse_args(argv)
    if args.resamples < 1:
        parser.error("--resamples must be at least 1")

    paths: list[Path] = args.data or [args.corpus / DATA_NAME]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        for p in missing:
            print(f"labelled data not found: {p}", file=sys.stderr)
        if not args.data:
            print("pass --corpus PATH (the shared corpus folder) or --data FILE", file=sys.stderr)
        return 2

    loaded = load(paths)
    rows = loaded.rows
    print("tierbot complexity score vs changed-line count, ranked against human difficulty")
    print(f"data: {', '.join(str(p) for p in paths)}")
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
    ours = np.array([r.ours for r in rows], dtype=np.float64)
    base = np.array([r.lines for r in rows], dtype=np.float64)
    counts = Counter(r.label for r in rows)

    print(f"{'label':<18} {'n':>4} {'median score':>13} {'median lines':>13}")
    for index, name in enumerate(LABELS):
        group = [r for r in rows if r.label == index]
        if not group:
            print(f"{name:<18} {0:>4} {'-':>13} {'-':>13}")
            continue
        med_score = statistics.median(r.ours for r in group)
        med_lines = statistics.median(r.lines for r in group)
        print(f"{name:<18} {len(group):>4} {med_score:>13g} {med_lines:>13g}")
    print()

    print(
        f"bootstrap: {args.resamples} stratified resamples, seed {args.seed}; "
        "difference = ours - baseline"
    )
    header = (
        f"{'metric':<26} {'ours':>7} {'lines':>7} {'diff':>7} {'90% interval':>18} "
        f"{'ours better':>12} {'tied':>6}"
    )
    print(header)
    print("-" * len(header))
    for metric_name, metric in METRICS.items():
        mine, theirs = metric(ours, labels), metric(base, labels)
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
            f"{metric_name:<26} {_fmt(mine):>7} {_fmt(theirs):>7} "
            f"{_fmt(mine - theirs, sign=True):>7} {interval:>18} {better:>12} {tied:>6}"
        )
    if counts[HARD] + counts[HARD + 1] == 0:
        print(f"  (AUROC n/a: no row labelled {LABELS[HARD]!r} or harder)")
    print()

    threshold = DEFAULT_THRESHOLD
    print(f"routing at the default threshold {threshold}: score < {threshold} goes local")
    print(f"  {'label':<18} {'n':>4} {'local':>6} {'frontier':>9} {'local share':>12}")
    groups = [("all", rows)] + [
        (name, [r for r in rows if r.label == index]) for index, name in enumerate(LABELS)
    ]
    for name, group in groups:
        sent = sum(1 for r in group if r.ours < threshold)
        print(
            f"  {name:<18} {len(group):>4} {sent:>6} {len(group) - sent:>9} "
            f"{_share(sent, len(group)):>12}"
        )
    hard = [r for r in rows if r.label >= HARD]
    frontier = sum(1 for r in hard if r.ours >= threshold)
    print(
        f"  recall of '>= 1 hour' patches sent to frontier: {_share(frontier, len(hard))} "
        f"({frontier}/{len(hard)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
