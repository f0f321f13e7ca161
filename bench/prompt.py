"""Prompt size and coverage of a review, per tier, against sending the raw diff as it is.

For every `diffs/*.diff` in the corpus the script plans the review twice, as the bot does
(`plan_review(changes, budget_for(tier, window, RepoSettings(), paths), RepoSettings())`, no pull
request text), and compares each plan with the naive baseline of pasting the raw diff into one
request:

* local: `budget_for(Tier.LOCAL, 8192, ...)`, an 8,192-token local window;
* frontier: `budget_for(Tier.FRONTIER, 200_000, ...)`, a 200,000-token frontier window;
* raw: the decoded diff text as it is, in one request.

Tokens. `ours` is `plan.prompt_tokens`: every part's text (line-numbered hunks, file headers,
the listings of files not shown) plus the system prompt and the stable text (guidelines) once
per request. `raw` is `estimate_tokens(diff text)` plus the same system and stable text once.
All counts are `bot.core.cost.estimate_tokens` estimates (characters / 3.5), not a tokenizer's, and
cover the prompt only: the answer's tokens are the same either way and are not counted. `x raw`
is ours / raw for that diff; below 1 means the review sends less than the raw diff would. Ours
can be above 1 on small diffs: the line numbers the model cites by cost a few tokens a line.
`req` is the number of requests (parts) the review makes on that tier; 0 means nothing in the
diff is shown to a model (only generated, lock, binary, deleted or rename-only files).

Coverage. `cov%` is the share of the diff's changed lines (added + removed, all files) that the
model is shown: all changed lines of files whose coverage is `reviewed`, none of `skipped` files,
and for `partial` files the changed lines actually present in the parts, counted in the part
texts (each `+` or `-` numbered line under that file's `### path` header, summed over all parts
the file was split into; not approximated from the coverage reason). As a check, the same count
is taken for reviewed and skipped files and must equal their full and zero line counts; the
`checks:` line reports any file where the coverage record and the part texts disagree. The raw
diff covers 100% by definition, but part of what it sends is text the bot leaves out on purpose:
`skip%` is the share of the raw request's tokens spent on generated, lock, binary and deleted
files (the raw text is cut into files at `diff --git` lines; `?` where that cut does not match
the parsed files).

The summary gives, per tier and for raw: total tokens and the ratio to raw, the median of the
per-diff ratios (over all diffs, a diff with no request counting as 0, and, as `median*`, over
the diffs where the tier makes at least one request), requests, and the covered share of
changed lines three ways: all lines, lines outside generated and lock files, and lines outside
generated, lock, binary and deleted files (what the bot means to show, so what is missing there
was lost to the budget). Last, the lines not shown on each tier, by the coverage reason of their
file. The script reports; it exits 0.

Run: `uv run python bench/prompt.py [--corpus PATH]`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Runnable as `python bench/prompt.py` from anywhere: put the repository root on the path.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bot.adapters.models.anthropic import DEFAULT_CONTEXT_TOKENS  # noqa: E402
from bot.adapters.settings import DEFAULT_LOCAL_CONTEXT_TOKENS  # noqa: E402
from bot.core.cost import estimate_tokens  # noqa: E402
from bot.core.diff import ChangeSet, DiffError, FileChange, Status, parse  # noqa: E402
from bot.core.prompt import SYSTEM, Budget, Plan, plan_review, stable_text  # noqa: E402
from bot.core.repo_settings import RepoSettings  # noqa: E402
from bot.core.routing import Tier  # noqa: E402
from bot.pipeline.review import budget_for  # noqa: E402

DEFAULT_CORPUS = _ROOT.parent / "shared" / "corpus"
WINDOWS = {Tier.LOCAL: DEFAULT_LOCAL_CONTEXT_TOKENS, Tier.FRONTIER: DEFAULT_CONTEXT_TOKENS}

# A changed line as `plan_review` renders it: the line number right-aligned in 7 columns (in
# parentheses for a removed line), a space, the mark, a space, the text.
_CHANGED_LINE = re.compile(r"(?:\(\d+\) -|\d+ \+)")


# --- one diff ----------------------------------------------------------------------------------


@dataclass(slots=True)
class TierRun:
    """One tier's plan for one diff, reduced to what is reported."""

    tokens: int = 0
    parts: int = 0
    covered: int = 0
    covered_not_generated: int = 0
    covered_reviewable: int = 0
    lost: Counter[str] = field(default_factory=Counter)
    disagreements: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DiffRow:
    name: str
    files: int
    changed: int
    changed_not_generated: int
    changed_reviewable: int
    raw_tokens: int
    raw_skipped_tokens: int | None
    runs: dict[Tier, TierRun]


def _short_name(path: Path) -> str:
    """`requests 1ca423ec` from `psf__requests__1ca423ec....diff`; `bin` marks the `--binary`
    variant (`....gitbinary.diff`)."""
    pieces = path.stem.split("__")
    if len(pieces) != 3:
        return path.stem[:24]
    sha, _, variant = pieces[2].partition(".")
    if "binary" in variant:
        variant = "bin"
    return f"{pieces[1]} {sha[:8]}" + (f" {variant[:6]}" if variant else "")


def _left_out_on_purpose(f: FileChange) -> bool:
    """Files `plan_review` lists but never shows: generated, lock, binary and deleted ones."""
    return f.kind.generated or f.kind.lock or f.binary or f.status is Status.DELETED


def _raw_file_chunks(text: str) -> list[str]:
    """The raw text of each file in a git diff, cut at `diff --git` lines (preamble dropped)."""
    chunks: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith("diff --git "):
            chunks.append([])
        if chunks:
            chunks[-1].append(line)
    return ["\n".join(chunk) + "\n" for chunk in chunks]


def _shown_lines(plan: Plan) -> Counter[str]:
    """Changed lines per path present in the parts' texts, summed over all parts."""
    shown: Counter[str] = Counter()
    for part in plan.parts:
        # Longest first, so `a/b.py` is not taken for `a/b.py.orig`'s header.
        headers = sorted(part.paths, key=len, reverse=True)
        in_diff = False
        current: str | None = None
        for line in part.diff.split("\n"):
            if not in_diff:
                in_diff = line == "<diff>"
                continue
            if line.startswith("### "):
                current = next((p for p in headers if line.startswith(f"### {p} (")), None)
            elif current is not None and _CHANGED_LINE.match(line):
                shown[current] += 1
        # A part without a `<diff>` line would count nothing and show as a disagreement.
    return shown


def _reason_key(reason: str) -> str:
    """A coverage reason without its counts: `3 deletion-only hunks ... (over budget)`."""
    reason = re.sub(r"\s*\([^()]*\)$", "", reason)
    return re.sub(r"^\d+ ", "", reason) or "(no reason given)"


def _run(changes: ChangeSet, plan: Plan) -> TierRun:
    run = TierRun(tokens=plan.prompt_tokens, parts=len(plan.parts))
    shown = _shown_lines(plan)
    files = {f.path: f for f in changes.files}
    for cov in plan.coverage:
        f = files[cov.path]
        changed = f.added + f.removed
        counted = shown.get(cov.path, 0)
        if cov.state == "reviewed":
            covered = changed
            if counted != changed:
                run.disagreements.append(f"{cov.path}: reviewed, {counted} of {changed} shown")
        elif cov.state == "partial":
            covered = min(counted, changed)
        else:
            covered = 0
            if counted:
                run.disagreements.append(f"{cov.path}: skipped, yet {counted} lines shown")
        run.covered += covered
        if not (f.kind.generated or f.kind.lock):
            run.covered_not_generated += covered
        if not _left_out_on_purpose(f):
            run.covered_reviewable += covered
        if changed > covered:
            run.lost[_reason_key(cov.reason) if cov.reason else cov.state] += changed - covered
    return run


def measure(path: Path, text: str, changes: ChangeSet) -> tuple[DiffRow, dict[Tier, Budget]]:
    repo = RepoSettings()
    paths = tuple(f.path for f in changes.files)
    runs: dict[Tier, TierRun] = {}
    budgets: dict[Tier, Budget] = {}
    stable = stable_text(repo, paths)
    for tier, window in WINDOWS.items():
        budget = budget_for(tier, window, repo, paths)
        plan = plan_review(changes, budget, repo, "")
        budgets[tier] = budget
        runs[tier] = _run(changes, plan)
        stable = plan.stable
    fixed = estimate_tokens(SYSTEM + stable)
    chunks = _raw_file_chunks(text)
    skipped_tokens: int | None = None
    if len(chunks) == len(changes.files):
        skipped_tokens = sum(
            estimate_tokens(chunk)
            for chunk, f in zip(chunks, changes.files, strict=True)
            if _left_out_on_purpose(f)
        )
    row = DiffRow(
        name=_short_name(path),
        files=len(changes.files),
        changed=changes.added + changes.removed,
        changed_not_generated=sum(
            f.added + f.removed for f in changes.files if not (f.kind.generated or f.kind.lock)
        ),
        changed_reviewable=sum(
            f.added + f.removed for f in changes.files if not _left_out_on_purpose(f)
        ),
        raw_tokens=estimate_tokens(text) + fixed,
        raw_skipped_tokens=skipped_tokens,
        runs=runs,
    )
    return row, budgets


# --- the report --------------------------------------------------------------------------------


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else f"{'-':>6}"


def _ratio(ours: int, raw: int) -> str:
    return f"{ours / raw:5.2f}" if raw else f"{'-':>5}"


_HEAD = (
    f"{'diff':<22} {'files':>5} {'+/-':>6} | {'raw tok':>9} {'skip%':>6} |"
    f" {'local tok':>9} {'x raw':>5} {'req':>3} {'cov%':>6} |"
    f" {'front tok':>9} {'x raw':>5} {'req':>3} {'cov%':>6}"
)


def _line(
    name: str,
    files: int,
    changed: int,
    raw: int,
    skipped: str,
    runs: Sequence[tuple[int, int, int]],
) -> str:
    cells = [f"{name:<22} {files:>5} {changed:>6,} | {raw:>9,} {skipped:>6} |"]
    for tokens, parts, covered in runs:
        cells.append(f" {tokens:>9,} {_ratio(tokens, raw)} {parts:>3} {_pct(covered, changed)} |")
    return "".join(cells).rstrip(" |")


def _row_line(row: DiffRow) -> str:
    skipped = (
        "?" if row.raw_skipped_tokens is None else _pct(row.raw_skipped_tokens, row.raw_tokens)
    )
    return _line(
        row.name,
        row.files,
        row.changed,
        row.raw_tokens,
        skipped,
        [(r.tokens, r.parts, r.covered) for r in (row.runs[t] for t in WINDOWS)],
    )


def _describe(tier: Tier, budgets: set[Budget]) -> str:
    shown = ", ".join(
        f"up to {b.max_parts} requests of <= {b.prompt_tokens:,} tokens"
        for b in sorted(budgets, key=lambda b: (b.prompt_tokens, b.max_parts))
    )
    return f"  {tier.value:<8} window {WINDOWS[tier]:>7,}: {shown} (plus system and stable text)"


def report(rows: list[DiffRow], budgets: dict[Tier, set[Budget]], rejected: list[str]) -> None:
    print(f"tierbot review prompts vs the raw diff: {len(rows)} corpus diffs, estimated tokens")
    for tier in WINDOWS:
        print(_describe(tier, budgets[tier]))
    print("  raw      the diff text as it is, in one request (plus system and stable text once)")
    print()
    print(_HEAD)
    print("-" * len(_HEAD))
    for row in rows:
        print(_row_line(row))
    print("-" * len(_HEAD))

    raw_total = sum(r.raw_tokens for r in rows)
    known = [r for r in rows if r.raw_skipped_tokens is not None]
    skipped_total = sum(r.raw_skipped_tokens or 0 for r in known)
    changed = sum(r.changed for r in rows)
    changed_code = sum(r.changed_not_generated for r in rows)
    changed_reviewable = sum(r.changed_reviewable for r in rows)
    totals = {t: [r.runs[t] for r in rows] for t in WINDOWS}
    print(
        _line(
            f"total ({len(rows)} diffs)",
            sum(r.files for r in rows),
            changed,
            raw_total,
            _pct(skipped_total, sum(r.raw_tokens for r in known)),
            [
                (
                    sum(x.tokens for x in runs),
                    sum(x.parts for x in runs),
                    sum(x.covered for x in runs),
                )
                for runs in totals.values()
            ],
        )
    )
    if len(known) < len(rows):
        print(f"  skip% total over the {len(known)} diffs whose files could be cut apart")
    if rejected:
        print(f"  {len(rejected)} corpus diffs rejected by parse and left out:")
        for line in rejected:
            print(f"    {line}")
    print()

    print("summary (ratio = ours / raw; covered = share of changed lines shown to the model)")
    print(
        f"  {'':<9} {'tokens':>10} {'ratio':>6} {'median':>7} {'median*':>8} {'requests':>9}"
        f" {'cov all':>8} {'no gen/lock':>12} {'no gen/lock/bin/del':>20}"
    )
    print(
        f"  {'raw':<9} {raw_total:>10,} {1:>6.2f} {1:>7.2f} {1:>8.2f} {len(rows):>9}"
        f" {'100.0%':>8} {'100.0%':>12} {'100.0%':>20}"
    )
    for tier, runs in totals.items():
        tokens = sum(x.tokens for x in runs)
        ratios = [(x.tokens / r.raw_tokens, x.parts) for x, r in zip(runs, rows, strict=True)]
        median = statistics.median(ratio for ratio, _ in ratios)
        sending = [ratio for ratio, parts in ratios if parts]
        median_sending = f"{statistics.median(sending):>8.2f}" if sending else f"{'-':>8}"
        print(
            f"  {tier.value:<9} {tokens:>10,} {tokens / raw_total:>6.2f} {median:>7.2f}"
            f" {median_sending} {sum(x.parts for x in runs):>9}"
            f" {_pct(sum(x.covered for x in runs), changed):>8}"
            f" {_pct(sum(x.covered_not_generated for x in runs), changed_code):>12}"
            f" {_pct(sum(x.covered_reviewable for x in runs), changed_reviewable):>20}"
        )
    print("  median: of the per-diff ratios, all diffs (a diff with no request counts as 0);")
    print("  median*: only the diffs where that tier makes at least one request")
    print(
        f"  changed lines: {changed:,} in all; {changed_code:,} outside generated and lock files;"
    )
    print(f"  {changed_reviewable:,} outside generated, lock, binary and deleted files")
    print(
        f"  raw tokens on generated, lock, binary and deleted files: {skipped_total:,}"
        f" ({_pct(skipped_total, sum(r.raw_tokens for r in known)).strip()} of raw)"
    )
    print()

    print("changed lines not shown, by the coverage reason of their file (share of all changed)")
    for tier, runs in totals.items():
        lost: Counter[str] = Counter()
        for x in runs:
            lost.update(x.lost)
        print(f"  {tier.value}: {sum(lost.values()):,} lines not shown")
        for reason, count in lost.most_common():
            print(f"    {count:>7,} {_pct(count, changed)}  {reason}")
    print()

    problems = [
        f"{t.value} {d}" for t, runs in totals.items() for x in runs for d in x.disagreements
    ]
    checked = sum(r.files for r in rows) * len(WINDOWS)
    print(
        f"checks: coverage records vs lines counted in the part texts, {checked:,} file plans:"
        f" {len(problems)} disagree"
    )
    for problem in problems[:20]:
        print(f"  {problem}")
    if len(problems) > 20:
        print(f"  ... and {len(problems) - 20} more")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus folder")
    args = parser.parse_args(argv)

    corpus: Path = args.corpus
    if not (corpus / "diffs").is_dir():
        print(
            f"corpus not found: {corpus / 'diffs'} does not exist (pass --corpus PATH)",
            file=sys.stderr,
        )
        return 2
    rows: list[DiffRow] = []
    rejected: list[str] = []
    budgets: dict[Tier, set[Budget]] = {tier: set() for tier in WINDOWS}
    for path in sorted((corpus / "diffs").glob("*.diff")):
        text = path.read_bytes().decode("utf-8", errors="surrogateescape")
        try:
            changes = parse(text)
        except DiffError as exc:
            rejected.append(f"{path.name}: {exc}")
            continue
        row, used = measure(path, text, changes)
        rows.append(row)
        for tier, budget in used.items():
            budgets[tier].add(budget)
    if not rows:
        print(f"no readable diffs in {corpus / 'diffs'}", file=sys.stderr)
        return 2
    report(rows, budgets, rejected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
