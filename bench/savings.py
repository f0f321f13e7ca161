"""What routing saves: the routed cost of reviewing real changes against sending all to frontier.

Two sets of changes are measured separately: every `diffs/*.diff` in the corpus (real commits
and merges), and the `patch` of every row of `difficulty-calibration.jsonl` with its
`test_patch` (real bug fixes with a human difficulty label, each as the pull request that fixed
it). Each change goes through what the bot does with the default settings
and both tiers available, no repo settings file and no frontier budget:

* routing: `decide(score(parse(diff)), Models(...))` with the frontier model
  `bot.adapters.settings.DEFAULT_FRONTIER_MODEL`, the threshold
  `bot.core.repo_settings.DEFAULT_THRESHOLD` (or `--threshold`) and the local window
  `bot.adapters.settings.DEFAULT_LOCAL_CONTEXT_TOKENS` (8,192). A
  review goes frontier when its score reaches the threshold or its context does not fit the
  local window, local otherwise;
* prompt tokens, per tier: `plan_review(changes, budget_for(tier, window, ...)).prompt_tokens`
  (every request's part plus the system and stable text), the local window for the local tier
  and `bot.faces.cli.review_command.FRONTIER_CONTEXT_TOKENS` (200,000) for the frontier tier, no
  pull
  request text. These are `estimate_tokens` estimates (characters / 3.5), not a tokenizer's;
* dollars, per tier: `CostEstimate.for_review(prompt_tokens, price, output_tokens=...,
  throughput=..., gpu_hour_usd=...)`, as `tierbot review` estimates a review before it runs. A
  frontier review costs its prompt and the assumed output at the frontier model's list price
  (no prompt cache, no batch discount); a local review costs the GPU time its prompt and the
  same output length take at the assumed throughput (`DEFAULT_THROUGHPUT`, published ExLlamaV2
  figures), times the price of a busy GPU-hour with the idle hours spread over the work
  (`GpuCost.busy_hour_usd`: `--gpu-billing`, `--gpu-hour-usd`, `--gpu-marginal-hour-usd`,
  `--gpu-utilisation`, as the bot's TIERBOT_GPU_* settings). The output length is per review
  (all its requests together). A change of which nothing would be shown to a model (only
  generated, lock, binary or deleted files) makes no request and costs $0;
* the cost rule, as the bot applies it: a review the score sends local goes frontier when its
  local estimate is above its frontier estimate.

How to read it, per set:

* `routing:` how many reviews go to each tier and their share; frontier reviews are split by
  why (score at or above the threshold, or too big for the local window).
* The tier table: per tier, the reviews, requests, prompt tokens on that tier, assumed output
  tokens, GPU time (local only), the routed cost, and the all-frontier cost of the same reviews.
  The local row's all-frontier cost is where the saving comes from.
* `cost:` `all-frontier` is every review on the frontier model, each with the frontier tier's
  prompt; `routed` is each review on its routed tier with that tier's prompt; `saving` is
  1 - routed / all-frontier. `routed + escalation` adds, for the assumed share of local reviews
  (`--escalation-rate`, default 15%) that the confidence check sends on to the frontier model,
  that review's frontier cost on top of its local cost: an escalated review pays for both. It is
  an expected value over all local reviews, not a draw of which ones escalate. The real rate is
  only known from the ledger of a running bot.
* For the calibration set, per label: how many patches are sent local. A good router keeps
  `1-4 hours` and `>4 hours` patches on the frontier model; `recall` is the share of those that
  go frontier.
* `threshold trade-off:` the same figures at thresholds 30, 45 and 60 (and `--threshold`): a
  lower threshold sends more to frontier, so saves less; a higher one saves more and risks
  sending hard changes to the local model.
* `savings across GPU prices and utilisations:` the saving (routed + escalation) and the share
  kept local at each GPU price (sunk, the default owned card, $0.21, $1 and $2.50 an hour) and
  utilisation (5% to 100%), routed again at each with the cost rule; then the saving on the
  score alone, and the utilisation at which the local tier breaks even at each price.

All figures are estimates from assumptions, stated in the `assumptions:` block; the score's
weights were fitted on the calibration set, so its routing there is in-sample. The script
reports; it exits 0 (2 when the corpus is missing).

Run: `uv run python bench/savings.py [--corpus PATH] [--threshold N] [--escalation-rate R]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

# Runnable as `python bench/savings.py` from anywhere: put the repository root on the path.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from gpu_prices import Priced, add_arguments, describe, gpu_from, price_table  # noqa: E402

from bot.adapters.models.anthropic import DEFAULT_CONTEXT_TOKENS as FRONTIER_CONTEXT_TOKENS  # noqa: E402
from bot.adapters.prices import PriceTable  # noqa: E402
from bot.adapters.settings import DEFAULT_FRONTIER_MODEL, DEFAULT_LOCAL_CONTEXT_TOKENS  # noqa: E402
from bot.core.complexity import Complexity, score  # noqa: E402
from bot.core.cost import (  # noqa: E402
    DEFAULT_GPU_COST,
    DEFAULT_OUTPUT_TOKENS,
    DEFAULT_THROUGHPUT,
    CostEstimate,
    format_usd,
)
from bot.core.diff import ChangeSet, DiffError, parse  # noqa: E402
from bot.core.economics import GpuCost  # noqa: E402
from bot.core.pricing import ModelPrice  # noqa: E402
from bot.core.prompt import plan_review  # noqa: E402
from bot.core.repo_settings import DEFAULT_THRESHOLD, RepoSettings  # noqa: E402
from bot.core.routing import Models, Tier, decide  # noqa: E402
from bot.pipeline.review import budget_for  # noqa: E402

DEFAULT_CORPUS = _ROOT.parent / "shared" / "corpus"
DATA_NAME = "difficulty-calibration.jsonl"
LABELS = ("<15 min fix", "15 min - 1 hour", "1-4 hours", ">4 hours")
HARD = 2  # label index from which a patch counts as hard: `1-4 hours` and `>4 hours`
DEFAULT_ESCALATION_RATE = Decimal("0.15")
TRADE_OFF_THRESHOLDS = (30, 45, 60)
WINDOWS = {Tier.LOCAL: DEFAULT_LOCAL_CONTEXT_TOKENS, Tier.FRONTIER: FRONTIER_CONTEXT_TOKENS}
TIERS = (Tier.LOCAL, Tier.FRONTIER)


@dataclass(frozen=True, slots=True)
class Assumptions:
    price: ModelPrice
    output_tokens: int
    gpu: GpuCost
    escalation_rate: Decimal


@dataclass(frozen=True, slots=True)
class OnTier:
    """One change's review on one tier, estimated."""

    prompt_tokens: int
    requests: int
    output_tokens: int
    gpu_seconds: Decimal
    usd: Decimal


@dataclass(frozen=True, slots=True)
class Item:
    """One change: its score, and its review estimated on each tier."""

    name: str
    label: int | None
    complexity: Complexity
    paths: tuple[str, ...]
    tiers: dict[Tier, OnTier]


@dataclass(frozen=True, slots=True)
class Routed:
    """One change routed at one threshold."""

    item: Item
    tier: Tier
    why: str  # "score", "window", "cost" or "" (local)
    usd: Decimal  # on its tier, at the GPU's cost it was routed at


@dataclass(frozen=True, slots=True)
class Outcome:
    """A set of changes routed at one threshold, priced."""

    threshold: int
    routed: list[Routed]
    baseline: Decimal
    spent: Decimal
    escalations: Decimal

    @property
    def local(self) -> list[Routed]:
        return [r for r in self.routed if r.tier is Tier.LOCAL]

    @property
    def with_escalation(self) -> Decimal:
        return self.spent + self.escalations


# --- estimating ------------------------------------------------------------------------------


def estimate(name: str, label: int | None, changes: ChangeSet, given: Assumptions) -> Item:
    repo = RepoSettings()
    paths = tuple(f.path for f in changes.files)
    tiers: dict[Tier, OnTier] = {}
    for tier in TIERS:
        plan = plan_review(changes, budget_for(tier, WINDOWS[tier], repo, paths), repo, "")
        if not plan.parts:
            tiers[tier] = OnTier(0, 0, 0, Decimal(0), Decimal(0))
            continue
        cost = CostEstimate.for_review(
            plan.prompt_tokens,
            given.price,
            output_tokens=given.output_tokens,
            throughput=DEFAULT_THROUGHPUT,
            gpu_hour_usd=given.gpu.busy_hour_usd,
        )
        usd = cost.local_usd if tier is Tier.LOCAL else cost.frontier_usd
        seconds = cost.local_gpu_seconds if tier is Tier.LOCAL else Decimal(0)
        tiers[tier] = OnTier(plan.prompt_tokens, len(plan.parts), given.output_tokens, seconds, usd)
    return Item(name, label, score(changes), paths, tiers)


def route(
    items: Sequence[Item],
    threshold: int,
    given: Assumptions,
    gpu: GpuCost | None = None,
    *,
    cost_rule: bool = True,
) -> Outcome:
    """`items` routed as the bot does at `threshold`, the local tier priced at `gpu` (default:
    the assumptions'), with the cost rule or on the score alone."""
    gpu = gpu or given.gpu
    models = Models(local="local", frontier=given.price.model, local_window=WINDOWS[Tier.LOCAL])
    repo = RepoSettings(threshold=threshold)
    routed: list[Routed] = []
    for item in items:
        local_usd = gpu.usd(item.tiers[Tier.LOCAL].gpu_seconds)
        frontier_usd = item.tiers[Tier.FRONTIER].usd
        decision = decide(
            item.complexity,
            models,
            repo=repo,
            paths=item.paths,
            local_estimate_usd=local_usd if cost_rule else None,
            frontier_estimate_usd=frontier_usd,
        )
        if decision.error is not None:
            raise RuntimeError(f"{item.name}: routing failed: {decision.error}")
        why = ""
        if decision.tier is Tier.FRONTIER:  # no settings, no budget: the score, window or cost
            why = "score" if item.complexity.score >= threshold else "window"
            if why == "window" and item.complexity.context_tokens <= WINDOWS[Tier.LOCAL]:
                why = "cost"
        usd = local_usd if decision.tier is Tier.LOCAL else frontier_usd
        routed.append(Routed(item, decision.tier, why, usd))
    baseline = sum((r.item.tiers[Tier.FRONTIER].usd for r in routed), Decimal(0))
    spent = sum((r.usd for r in routed), Decimal(0))
    redone = sum(
        (r.item.tiers[Tier.FRONTIER].usd for r in routed if r.tier is Tier.LOCAL), Decimal(0)
    )
    return Outcome(threshold, routed, baseline, spent, given.escalation_rate * redone)


@dataclass(frozen=True, slots=True)
class SetRouting:
    """A set of changes at one threshold, routed again at any GPU's cost (gpu_prices.Routing)."""

    items: Sequence[Item]
    threshold: int
    given: Assumptions

    @property
    def total(self) -> int:
        return len(self.items)

    def at(self, gpu: GpuCost, cost_rule: bool) -> Priced:
        outcome = route(self.items, self.threshold, self.given, gpu, cost_rule=cost_rule)
        return Priced(outcome.with_escalation, outcome.baseline, len(outcome.local))

    def local_work(self) -> tuple[Decimal, Decimal]:
        local = route(self.items, self.threshold, self.given, cost_rule=False).local
        seconds = sum((r.item.tiers[Tier.LOCAL].gpu_seconds for r in local), Decimal(0))
        return seconds, sum((r.item.tiers[Tier.FRONTIER].usd for r in local), Decimal(0))


# --- loading ---------------------------------------------------------------------------------


def load_diffs(folder: Path, given: Assumptions) -> tuple[list[Item], list[str]]:
    items: list[Item] = []
    rejected: list[str] = []
    for path in sorted(folder.glob("*.diff")):
        text = path.read_bytes().decode("utf-8", errors="surrogateescape")
        try:
            changes = parse(text)
        except DiffError as exc:
            rejected.append(f"{path.name}: {exc}")
            continue
        items.append(estimate(path.stem, None, changes, given))
    return items, rejected


def load_calibration(path: Path, given: Assumptions) -> tuple[list[Item], list[str]]:
    items: list[Item] = []
    rejected: list[str] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            row = json.loads(raw)
            name = str(row.get("instance_id") or where)
            label = LABELS.index(row["difficulty"])
            patch, tests = row["patch"], row.get("test_patch") or ""
            if not isinstance(patch, str) or not isinstance(tests, str):
                raise TypeError("patch or test_patch is not a string")
            # The patch with its tests, as the pull request that fixed the bug.
            changes = parse((patch if patch.endswith("\n") or not tests else patch + "\n") + tests)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # DiffError is a ValueError; so is an unknown label (LABELS.index).
            rejected.append(f"{where}: {type(exc).__name__}: {exc}")
            continue
        items.append(estimate(name, label, changes, given))
    return items, rejected


# --- the report ------------------------------------------------------------------------------


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _saving(spent: Decimal, baseline: Decimal) -> str:
    if not baseline:
        return "-"
    return f"{float(100 * (1 - spent / baseline)):.1f}%"


def _seconds(value: Decimal) -> str:
    return f"{float(value):,.0f} s" if value else "-"


def _sum_usd(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def assumptions_block(given: Assumptions, threshold: int) -> list[str]:
    price = given.price
    read = f", read {price.read_on}" if price.read_on else ""
    tp = DEFAULT_THROUGHPUT
    rate = float(100 * given.escalation_rate)

    def origin(value: object, default: object, option: str, name: str) -> str:
        return f"bot.core.cost.{name}" if value == default else f"{option}; default {default}"

    output = origin(
        given.output_tokens, DEFAULT_OUTPUT_TOKENS, "--output-tokens", "DEFAULT_OUTPUT_TOKENS"
    )
    gpu = "bot.core.cost.DEFAULT_GPU_COST" if given.gpu == DEFAULT_GPU_COST else "--gpu-*"

    pad = " " * 15
    return [
        "assumptions (every dollar below is an estimate from these):",
        f"  frontier     {price.model} at ${price.input} input / ${price.output} output per"
        " million tokens,",
        f"{pad}list price, no cache, no batch discount (bot/prices.toml{read})",
        f"  output       {given.output_tokens:,} tokens per review on either tier, all its"
        " requests together",
        f"{pad}({output})",
        f"  local GPU    {describe(given.gpu)[0]}",
        f"{pad}{describe(given.gpu)[1]} ({gpu}),",
        f"{pad}at {tp.prefill_tokens_per_second:,} prompt and {tp.decode_tokens_per_second:,}"
        " output tokens per second (bot.core.cost.DEFAULT_THROUGHPUT)",
        f"  routing      threshold {threshold}, local window {WINDOWS[Tier.LOCAL]:,} tokens, both"
        " tiers available,",
        f"{pad}no repo settings file, no frontier budget",
        f"  prompts      plan_review on each tier's budget (windows: local"
        f" {WINDOWS[Tier.LOCAL]:,}, frontier {WINDOWS[Tier.FRONTIER]:,}),",
        f"{pad}estimate_tokens counts (characters / 3.5), no pull request text",
        f"  escalation   {rate:g}% of local reviews redone on the frontier model, paying for both",
        f"{pad}(--escalation-rate; the real rate comes from a running bot's ledger)",
    ]


def tier_table(outcome: Outcome) -> list[str]:
    head = (
        f"  {'tier':<9} {'reviews':>7} {'share':>6} {'requests':>8} {'prompt tok':>11}"
        f" {'output tok':>11} {'GPU time':>9} {'routed':>9} {'all-frontier':>13}"
    )
    lines = [head, "  " + "-" * (len(head) - 2)]
    total = len(outcome.routed)
    for tier in TIERS:
        group = [r for r in outcome.routed if r.tier is tier]
        own = [r.item.tiers[tier] for r in group]
        lines.append(
            f"  {tier.value:<9} {len(group):>7} {_share(len(group), total):>6}"
            f" {sum(o.requests for o in own):>8,} {sum(o.prompt_tokens for o in own):>11,}"
            f" {sum(o.output_tokens for o in own):>11,}"
            f" {_seconds(sum((o.gpu_seconds for o in own), Decimal(0))):>9}"
            f" {format_usd(_sum_usd(r.usd for r in group)):>9}"
            f" {format_usd(_sum_usd(r.item.tiers[Tier.FRONTIER].usd for r in group)):>13}"
        )
    lines.append(
        f"  {'total':<9} {total:>7} {'':>6} {'':>8} {'':>11} {'':>11} {'':>9}"
        f" {format_usd(outcome.spent):>9} {format_usd(outcome.baseline):>13}"
    )
    return lines


def cost_block(outcome: Outcome, given: Assumptions) -> list[str]:
    rate = float(100 * given.escalation_rate)
    local = outcome.local
    expected = float(given.escalation_rate) * len(local)
    rows = [
        (f"all-frontier (every review on {given.price.model})", outcome.baseline, ""),
        ("routed", outcome.spent, _saving(outcome.spent, outcome.baseline)),
        (
            f"routed + {rate:g}% escalation",
            outcome.with_escalation,
            _saving(outcome.with_escalation, outcome.baseline),
        ),
    ]
    width = max(len(name) for name, _, _ in rows)
    return [
        "cost:",
        *(
            f"  {name:<{width}} {format_usd(usd):>9}" + (f"   saving {saving:>6}" if saving else "")
            for name, usd, saving in rows
        ),
        f"  escalation: {rate:g}% of {len(local)} local reviews = {expected:.1f} redone on"
        f" frontier, {format_usd(outcome.escalations)} on top of their local cost",
    ]


def routing_line(outcome: Outcome) -> list[str]:
    total = len(outcome.routed)
    local = len(outcome.local)
    frontier = total - local
    by_score = sum(1 for r in outcome.routed if r.why == "score")
    by_window = sum(1 for r in outcome.routed if r.why == "window")
    by_cost = sum(1 for r in outcome.routed if r.why == "cost")
    lines = [
        f"routing at threshold {outcome.threshold}: {local} local ({_share(local, total)}),"
        f" {frontier} frontier ({_share(frontier, total)})",
        f"  frontier because: {by_score} scored >= {outcome.threshold},"
        f" {by_window} too big for the {WINDOWS[Tier.LOCAL]:,}-token local window,",
        f"  {by_cost} dearer on the local GPU than on the frontier model (the cost rule)",
    ]
    silent = {
        tier: sum(1 for r in outcome.routed if r.tier is tier and not r.item.tiers[tier].requests)
        for tier in TIERS
    }
    if any(silent.values()):
        lines.append(
            f"  counted in those: {silent[Tier.LOCAL]} local and {silent[Tier.FRONTIER]} frontier"
            " review(s) that make no request"
        )
    return lines


def per_label(outcome: Outcome) -> list[str]:
    lines = [
        f"per label at threshold {outcome.threshold} (share sent local; hard patches should go"
        " frontier):",
        f"  {'label':<16} {'n':>4} {'local':>6} {'frontier':>9} {'local share':>12}",
    ]
    for index, name in enumerate(LABELS):
        group = [r for r in outcome.routed if r.item.label == index]
        sent = sum(1 for r in group if r.tier is Tier.LOCAL)
        lines.append(
            f"  {name:<16} {len(group):>4} {sent:>6} {len(group) - sent:>9}"
            f" {_share(sent, len(group)):>12}"
        )
    hard = [r for r in outcome.routed if r.item.label is not None and r.item.label >= HARD]
    up = sum(1 for r in hard if r.tier is Tier.FRONTIER)
    lines.append(
        f"  recall of '>= 1 hour' patches sent to frontier: {_share(up, len(hard))}"
        f" ({up}/{len(hard)})"
    )
    return lines


def trade_off(
    items: Sequence[Item],
    thresholds: Sequence[int],
    chosen: int,
    given: Assumptions,
    labelled: bool,
) -> list[str]:
    rate = float(100 * given.escalation_rate)
    head = (
        f"  {'threshold':>9} {'local':>6} {'local share':>12} {'routed':>9} {'saving':>7}"
        f" {f'+{rate:g}% esc.':>10} {'saving':>7}"
    )
    if labelled:
        head += f" {'hard local':>11}"
    lines = ["threshold trade-off (* = this run's threshold):", head]
    for threshold in thresholds:
        outcome = route(items, threshold, given)
        local = len(outcome.local)
        mark = "*" if threshold == chosen else " "
        line = (
            f"  {mark}{threshold:>8} {local:>6} {_share(local, len(items)):>12}"
            f" {format_usd(outcome.spent):>9} {_saving(outcome.spent, outcome.baseline):>7}"
            f" {format_usd(outcome.with_escalation):>10}"
            f" {_saving(outcome.with_escalation, outcome.baseline):>7}"
        )
        if labelled:
            hard = [r for r in outcome.local if r.item.label is not None and r.item.label >= HARD]
            total_hard = sum(1 for i in items if i.label is not None and i.label >= HARD)
            line += f" {f'{len(hard)}/{total_hard}':>11}"
        lines.append(line)
    lines.append(
        f"  all-frontier is {format_usd(route(items, chosen, given).baseline)} at every threshold"
        + ("; hard local = '>= 1 hour' patches sent local" if labelled else "")
    )
    return lines


def report_set(
    title: str,
    items: list[Item],
    rejected: list[str],
    threshold: int,
    given: Assumptions,
    labelled: bool,
) -> None:
    print(f"== {title}: {len(items)} reviewed, {len(rejected)} rejected by parse")
    for line in rejected:
        print(f"  rejected: {line}")
    if not items:
        print("  nothing to measure")
        return
    silent = sum(1 for i in items if not i.tiers[Tier.FRONTIER].requests)
    multi = sum(1 for i in items if i.tiers[Tier.LOCAL].requests > 1)
    print(
        f"  {silent} make no request ($0): only generated, lock, binary, deleted or unchanged files"
    )
    print(f"  {multi} need more than one request on the local tier")
    outcome = route(items, threshold, given)
    print()
    for line in routing_line(outcome):
        print(line)
    for line in tier_table(outcome):
        print(line)
    print("  prompt tok: on the routed tier; all-frontier: the same reviews, each on frontier")
    print()
    for line in cost_block(outcome, given):
        print(line)
    print()
    if labelled:
        for line in per_label(outcome):
            print(line)
        print()
    thresholds = sorted({*TRADE_OFF_THRESHOLDS, threshold})
    for line in trade_off(items, thresholds, threshold, given, labelled):
        print(line)
    print()
    for line in price_table(SetRouting(items, threshold, given), given.escalation_rate):
        print(line)
    print()


def _rate(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a share from 0 to 1, not {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus folder")
    parser.add_argument(
        "--threshold",
        type=int,
        default=DEFAULT_THRESHOLD,
        help=f"routing threshold, 0-101 (default {DEFAULT_THRESHOLD}, the bot's default)",
    )
    parser.add_argument(
        "--escalation-rate",
        type=_rate,
        default=DEFAULT_ESCALATION_RATE,
        help="ASSUMED share of local reviews the frontier model redoes (they pay for both); "
        f"default {DEFAULT_ESCALATION_RATE}",
    )
    add_arguments(parser)
    parser.add_argument(
        "--output-tokens",
        type=int,
        default=DEFAULT_OUTPUT_TOKENS,
        help=f"output tokens assumed per review (default {DEFAULT_OUTPUT_TOKENS})",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.threshold <= 101:
        parser.error("--threshold must be from 0 to 101")
    if args.output_tokens < 0:
        parser.error("--output-tokens must be >= 0")

    try:
        gpu = gpu_from(args)
    except ValueError as exc:
        parser.error(f"--gpu-*: {exc}")

    corpus: Path = args.corpus
    diffs, calibration = corpus / "diffs", corpus / DATA_NAME
    if not diffs.is_dir() and not calibration.is_file():
        print(
            f"corpus not found: neither {diffs} nor {calibration} exists (pass --corpus PATH)",
            file=sys.stderr,
        )
        return 2

    given = Assumptions(
        price=PriceTable.load().require(DEFAULT_FRONTIER_MODEL),
        output_tokens=args.output_tokens,
        gpu=gpu,
        escalation_rate=args.escalation_rate,
    )
    print("tierbot: routed review cost against all-frontier, estimated, default settings")
    for line in assumptions_block(given, args.threshold):
        print(line)
    print()
    if diffs.is_dir():
        items, rejected = load_diffs(diffs, given)
        report_set("corpus diffs (diffs/*.diff)", items, rejected, args.threshold, given, False)
    else:
        print(f"== corpus diffs: {diffs} not found, skipped\n")
    if calibration.is_file():
        items, rejected = load_calibration(calibration, given)
        report_set(
            f"calibration patches ({DATA_NAME}, `patch` with `test_patch`)",
            items,
            rejected,
            args.threshold,
            given,
            True,
        )
    else:
        print(f"== calibration patches: {calibration} not found, skipped\n")
    print("all dollars are estimates from the assumptions above; the score was fitted on the")
    print("calibration set, so its routing there is in-sample")
    return 0


if __name__ == "__main__":
    sys.exit(main())
