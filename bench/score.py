"""Throughput of tierbot's parse + score against a raw unidiff parse of the same text.

What it measures, in one run and on the same decoded text:

* baseline: `PatchSet(io.StringIO(text, newline="\\n"))`, unidiff's full parse (one
  object per diff line), which is what a bot that only read the diff would pay;
* ours: `score(parse(text))`, tierbot's ChangeSet parse plus the complexity score.

Two inputs are timed: (a) every `diffs/*.diff` in the corpus, as one batch (the total time over
all files), and (b) a synthetic multi-file diff of about `--lines` lines (20,000 by default),
generated deterministically below: about 40 Python, Go and JavaScript files in several top-level
folders, with context, added and removed lines, varied hunk sizes, comments, blank lines, a new
file, a deleted file and a lock file. Bytes are decoded (utf-8, surrogateescape) before timing,
so neither side pays for decoding.

The machine is assumed to be small and noisy, so the two measurements are interleaved (baseline,
ours, baseline, ours, ...) for `--repeat` rounds after one untimed warm-up round, with a garbage
collection before each timed call. For each input the table gives the median and the minimum of
each side in milliseconds, lines per second (diff lines over the median time), and the ratio
ours/baseline of the medians (below 1 means ours is faster than unidiff's own full parse; the
ratio of the minimums is shown for reference). The last lines compare the figures with the target
(ratio <= 1.25 on both inputs, and the 20,000-line diff scored in under a second, median) and say
PASS or FAIL. The script reports; it exits 0 either way.

Run: `uv run python bench/score.py [--corpus PATH] [--repeat N] [--lines N]`.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from unidiff import VERSION as UNIDIFF_VERSION
from unidiff.patch import PatchSet

# Runnable as `python bench/score.py` from anywhere: put the repository root on the path.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bot.core.complexity import score  # noqa: E402
from bot.core.diff import DiffError, parse  # noqa: E402

DEFAULT_CORPUS = _ROOT.parent / "shared" / "corpus"
TARGET_RATIO = 1.25
TARGET_LINES = 20_000
TARGET_SECONDS = 1.0
SEED = 20_000


# --- what is timed -------------------------------------------------------------------------


def baseline(text: str) -> object:
    """unidiff's full parse of the decoded text."""
    return PatchSet(io.StringIO(text, newline="\n"))


def ours(text: str) -> object:
    """tierbot: the ChangeSet parse and the complexity score."""
    return score(parse(text))


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per round for one side on one input."""

    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def min(self) -> float:
        return min(self.seconds)


def _run_batch(fn: Callable[[str], object], texts: Sequence[str]) -> float:
    gc.collect()
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return time.perf_counter() - start


def interleaved(texts: Sequence[str], repeat: int) -> tuple[Timing, Timing]:
    """Time baseline and ours on the same texts, alternating, after one warm-up round."""
    _run_batch(baseline, texts)
    _run_batch(ours, texts)
    base: list[float] = []
    mine: list[float] = []
    for _ in range(repeat):
        base.append(_run_batch(baseline, texts))
        mine.append(_run_batch(ours, texts))
    return Timing(base), Timing(mine)


# --- the synthetic diff ----------------------------------------------------------------------

_WORDS = (
    "user account order item cart price total request response session token cache store "
    "config handler client server record event queue batch page limit offset index key value "
    "name path status result error payload header body retry timeout count size buffer"
).split()

_PY_LINES = (
    "{i}def {f}(self, {a}, {b}=None):",
    "{i}{a} = self.{b}.get({c!r})",
    "{i}if {a} is None:",
    "{i}    return {b}",
    "{i}for {a} in {b}:",
    "{i}    {c}.append({a})",
    "{i}return {a}_{b}",
    "{i}# {a} must be read before {b} is updated",
    "",
    '{i}raise ValueError(f"bad {a}: {{{b}!r}}")',
    "{i}{a} = [{b} for {b} in {c} if {b}]",
    "{i}try:",
    "{i}except KeyError:",
    "{i}self.{a}_{b} = {c}",
    '{i}"""Return the {a} for this {b}."""',
    "{i}with self.{a}_lock:",
    '{i}logger.debug("%s %s", {a}, {b})',
)
_GO_LINES = (
    "{t}func (s *{A}) {F}(ctx context.Context, {a} string) error {{",
    "{t}if err != nil {{",
    '{t}\treturn fmt.Errorf("{a} {b}: %w", err)',
    "{t}}}",
    "{t}{a}, err := s.{b}.{F}(ctx, {c})",
    "{t}for _, {a} := range {b} {{",
    "{t}// {F} returns the {a} of the {b}.",
    "",
    "{t}if {a} == nil || len({b}) == 0 {{",
    "{t}{a}Count++",
    "{t}s.mu.Lock()",
    "{t}defer s.mu.Unlock()",
    "{t}return nil",
    "{t}{a} := make(map[string]{A}, len({b}))",
)
_JS_LINES = (
    "{i}export async function {f}({a}, {b}) {{",
    "{i}const {a} = await {b}.{f}({c});",
    "{i}if (!{a} && {b}) {{",
    "{i}  return null;",
    "{i}}}",
    "{i}// TODO: {a} should come from {b}",
    "",
    "{i}for (const {a} of {b}) {{",
    "{i}  {c}.push({a});",
    "{i}let {a} = {b}?.{c} ?? 0;",
    "{i}throw new Error(`bad {a}: ${{{b}}}`);",
    "{i}return {{ {a}, {b}: {c} }};",
    "{i}/* {a} is cached per {b} */",
)

# (folder, extension, language, number of files); about 40 files in several top-level folders.
_LAYOUT = (
    ("api/handlers", ".py", "py", 6),
    ("api/models", ".py", "py", 4),
    ("core/billing", ".py", "py", 4),
    ("tests/api", ".py", "py", 5),
    ("services/gateway", ".go", "go", 5),
    ("services/worker/internal", ".go", "go", 4),
    ("web/src/components", ".js", "js", 5),
    ("web/src/lib", ".js", "js", 4),
    ("docs", ".md", "md", 2),
)


def _line(rng: random.Random, lang: str) -> str:
    a, b, c, d, e = (rng.choice(_WORDS) for _ in range(5))
    f = f"{d}_{e}"
    if lang == "go":
        name = d.title() + e.title()
        tabs = "\t" * rng.randint(0, 3)
        return rng.choice(_GO_LINES).format(t=tabs, a=a, b=b, c=c, F=name, A=a.title())
    if lang == "md":
        if rng.random() < 0.2:
            return ""
        return f"The {a} {b} is read from the {c} when {f.replace('_', ' ')} runs."
    indent = " " * (4 if lang == "py" else 2) * rng.randint(0, 3)
    templates = _PY_LINES if lang == "py" else _JS_LINES
    js_name = d + e.title()
    return rng.choice(templates).format(i=indent, a=a, b=b, c=c, f=f if lang == "py" else js_name)


def _hunk(rng: random.Random, lang: str, old: int, new: int, budget: int) -> tuple[list[str], int]:
    """One hunk starting at old/new line numbers; returns its lines (header first) and the
    number of old-side lines it spans."""
    body: list[str] = []
    removed = added = context = 0

    def ctx(n: int) -> None:
        nonlocal context
        for _ in range(n):
            body.append(" " + _line(rng, lang))
        context += n

    ctx(3)
    blocks = rng.choice((1, 1, 1, 2, 2, 3))
    big = rng.random() < 0.15
    for k in range(blocks):
        if k:
            ctx(rng.randint(1, 6))
        n_removed = rng.choice((0, 0, 1, 2, 3, 5, 8)) + (rng.randint(10, 40) if big else 0)
        n_added = rng.choice((0, 1, 2, 3, 4, 6, 10, 15)) + (rng.randint(20, 80) if big else 0)
        if n_removed + n_added == 0:
            n_added = 1
        room = max(budget - len(body) - 4, 1)
        n_removed, n_added = min(n_removed, room // 2), min(n_added, room - room // 2)
        body.extend("-" + _line(rng, lang) for _ in range(n_removed))
        body.extend("+" + _line(rng, lang) for _ in range(n_added))
        removed += n_removed
        added += n_added
    ctx(3)
    section = _line(rng, lang).strip() if lang != "md" else ""
    header = f"@@ -{old},{context + removed} +{new},{context + added} @@"
    if section:
        header += " " + section[:60]
    return [header, *body], context + removed


def _file_header(rng: random.Random, path: str, status: str) -> list[str]:
    old_id, new_id = f"{rng.getrandbits(28):07x}", f"{rng.getrandbits(28):07x}"
    head = [f"diff --git a/{path} b/{path}"]
    if status == "added":
        return [
            *head,
            "new file mode 100644",
            f"index 0000000..{new_id}",
            "--- /dev/null",
            f"+++ b/{path}",
        ]
    if status == "deleted":
        return [
            *head,
            "deleted file mode 100644",
            f"index {old_id}..0000000",
            f"--- a/{path}",
            "+++ /dev/null",
        ]
    return [*head, f"index {old_id}..{new_id} 100644", f"--- a/{path}", f"+++ b/{path}"]


def _whole_file(rng: random.Random, lang: str, n: int, sign: str) -> list[str]:
    header = f"@@ -0,0 +1,{n} @@" if sign == "+" else f"@@ -1,{n} +0,0 @@"
    return [header, *(sign + _line(rng, lang) for _ in range(n))]


def _lock_file(rng: random.Random, budget: int) -> list[str]:
    """A package-lock.json hunk: dependency entries replaced by newer versions."""
    lines = _file_header(rng, "web/package-lock.json", "modified")
    removed: list[str] = []
    added: list[str] = []
    n = 0
    while 2 * 4 * (n + 1) + 8 < budget:
        pkg = f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}"
        old_v = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        new_v = f"{old_v.partition('.')[0]}.{rng.randint(0, 30)}.{rng.randint(10, 19)}"
        for sink, v in ((removed, old_v), (added, new_v)):
            sink.extend(
                (
                    f'    "node_modules/{pkg}": {{',
                    f'      "version": "{v}",',
                    f'      "resolved": "https://registry.npmjs.org/{pkg}/-/{pkg}-{v}.tgz",',
                    f'      "integrity": "sha512-{rng.getrandbits(256):064x}",',
                )
            )
        n += 1
    context_before = ['    "": {', '      "name": "web",', '      "version": "0.1.0"']
    context_after = ["    },", '    "node_modules/zod": {', '      "version": "3.23.8",']
    old_count = len(context_before) + len(removed) + len(context_after)
    new_count = len(context_before) + len(added) + len(context_after)
    lines.append(f"@@ -4,{old_count} +4,{new_count} @@")
    lines.extend(" " + c for c in context_before)
    lines.extend("-" + r for r in removed)
    lines.extend("+" + a for a in added)
    lines.extend(" " + c for c in context_after)
    return lines


def synthetic_diff(target_lines: int, seed: int = SEED) -> str:
    """A deterministic multi-file git diff of about `target_lines` lines."""
    rng = random.Random(seed)
    files = [
        (f"{folder}/{rng.choice(_WORDS)}_{rng.choice(_WORDS)}_{k}{ext}", lang)
        for folder, ext, lang, count in _LAYOUT
        for k in range(count)
    ]
    lock_budget = target_lines // 12
    weights = [rng.uniform(0.3, 2.0) for _ in files]
    scale = (target_lines - lock_budget) / sum(weights)
    out: list[str] = []
    for index, ((path, lang), weight) in enumerate(zip(files, weights, strict=True)):
        budget = max(int(weight * scale), 12)
        status = "added" if index == 7 else "deleted" if index == 23 else "modified"
        chunk = _file_header(rng, path, status)
        if status == "modified":
            old = new = rng.randint(1, 40)
            while len(chunk) < budget - 8:
                lines, spanned = _hunk(rng, lang, old, new, budget - len(chunk))
                chunk.extend(lines)
                added = sum(1 for line in lines[1:] if line[:1] == "+")
                removed = sum(1 for line in lines[1:] if line[:1] == "-")
                gap = rng.randint(5, 150)
                old += spanned + gap
                new += spanned - removed + added + gap
        else:
            sign = "+" if status == "added" else "-"
            chunk.extend(_whole_file(rng, lang, budget - len(chunk) - 1, sign))
        out.extend(chunk)
    out.extend(_lock_file(rng, target_lines - len(out)))
    return "\n".join(out) + "\n"


# --- the report ------------------------------------------------------------------------------


def _load_corpus(corpus: Path) -> tuple[list[str], list[str]]:
    """The decoded corpus diffs that tierbot parses, and the names of any it rejects."""
    texts: list[str] = []
    rejected: list[str] = []
    for path in sorted((corpus / "diffs").glob("*.diff")):
        text = path.read_bytes().decode("utf-8", errors="surrogateescape")
        try:
            parse(text)
        except DiffError as exc:
            rejected.append(f"{path.name}: {exc}")
            continue
        texts.append(text)
    return texts, rejected


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:10.1f}"


def _rate(lines: int, seconds: float) -> str:
    return f"{lines / seconds:12,.0f}" if seconds > 0 else f"{'-':>12}"


def _report(label: str, files: int, lines: int, base: Timing, mine: Timing) -> float:
    ratio = mine.median / base.median
    print(f"{label}: {files} changed files, {lines:,} diff lines")
    print(f"  {'':<30} {'median ms':>10} {'min ms':>10} {'lines/s':>12}")
    print(
        f"  {'unidiff.PatchSet (baseline)':<30} {_ms(base.median)} {_ms(base.min)}"
        f" {_rate(lines, base.median)}"
    )
    print(
        f"  {'score(parse(text)) (ours)':<30} {_ms(mine.median)} {_ms(mine.min)}"
        f" {_rate(lines, mine.median)}"
    )
    print(f"  ratio ours/baseline: {ratio:.2f} (median), {mine.min / base.min:.2f} (min)")
    print()
    return ratio


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus folder")
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds per input")
    parser.add_argument("--lines", type=int, default=TARGET_LINES, help="synthetic diff size")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.lines < 200:
        parser.error("--repeat must be at least 1 and --lines at least 200")

    corpus: Path = args.corpus
    if not (corpus / "diffs").is_dir():
        print(
            f"corpus not found: {corpus / 'diffs'} does not exist (pass --corpus PATH)",
            file=sys.stderr,
        )
        return 2
    texts, rejected = _load_corpus(corpus)
    if not texts:
        print(f"no readable diffs in {corpus / 'diffs'}", file=sys.stderr)
        return 2

    synthetic = synthetic_diff(args.lines)
    synthetic_lines = synthetic.count("\n")
    changes = parse(synthetic)
    check = PatchSet(io.StringIO(synthetic, newline="\n"))
    same = (len(changes.files), changes.added, changes.removed) == (
        len(check),
        check.added,
        check.removed,
    )

    print(f"tierbot parse+score throughput, {args.repeat} interleaved rounds per input")
    print(
        f"Python {platform.python_version()}, unidiff {UNIDIFF_VERSION}, "
        f"{platform.machine()}, {os.cpu_count() or '?'} CPUs"
    )
    print()

    base, mine = interleaved(texts, args.repeat)
    corpus_lines = sum(t.count("\n") for t in texts)
    corpus_ratio = _report(
        f"(a) corpus diffs/*.diff, one batch of {len(texts)} diffs",
        sum(len(parse(t).files) for t in texts),
        corpus_lines,
        base,
        mine,
    )
    if rejected:
        print(f"  {len(rejected)} corpus diffs rejected by parse and left out of both sides:")
        for line in rejected:
            print(f"    {line}")
        print()

    base, mine = interleaved([synthetic], args.repeat)
    synthetic_ratio = _report(
        f"(b) synthetic diff, seed {SEED}", len(changes.files), synthetic_lines, base, mine
    )
    result = score(changes)
    print(
        f"  synthetic: +{changes.added} -{changes.removed} in {changes.hunk_count} hunks, "
        f"score {result.score}; file and line counts "
        f"{'agree with' if same else 'DIFFER FROM'} unidiff"
    )
    print()

    ratio_ok = max(corpus_ratio, synthetic_ratio) <= TARGET_RATIO
    time_ok = mine.median < TARGET_SECONDS
    verdict = "PASS" if ratio_ok and time_ok else "FAIL"
    print(
        f"target: ratio <= {TARGET_RATIO} and the {TARGET_LINES:,}-line diff under "
        f"{TARGET_SECONDS:g} s"
    )
    print(
        f"  ratio (median): corpus {corpus_ratio:.2f}, synthetic {synthetic_ratio:.2f}"
        f" -> {'PASS' if ratio_ok else 'FAIL'}"
    )
    note = "" if args.lines == TARGET_LINES else f" (this run used --lines {args.lines})"
    print(
        f"  synthetic diff, ours, median: {mine.median:.3f} s{note}"
        f" -> {'PASS' if time_ok else 'FAIL'}"
    )
    print(f"  overall: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
