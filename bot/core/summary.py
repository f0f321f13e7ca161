"""The summary comment a review leaves on a pull request: one per PR, edited in place.

Pure: a review's result and its costs in, Markdown out. It says which tier reviewed and why,
what the review covered, which of the maintainers' guidance files it followed and what of them
the cap left out, the comments by severity, any escalation, and what the review cost
against what the frontier model would have charged; it ends with the commands that change the
decision. A review that could not be done says so, and why, instead of reporting no issues;
the secrets a change commits are counted whether or not the model review was done. The comments
held back are counted by why (bot.core.selection), what checking them against the diff found is
one line, and what that cost another, inside the review's cost.
The signed header that records the reviewed commit (so the next push is reviewed incrementally)
is put on by the pipeline (bot.core.markers). Every string that comes from the pull request,
the model or the settings file (paths, reasons, errors) is written as plain text or code, and
the settings file's problems as safe Markdown (bot.core.markdown.safe).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.core.anchor import Comment
from bot.core.answer_schema import Severity
from bot.core.cost import Spend, format_usd
from bot.core.counts import counted
from bot.core.guidance import Guidance
from bot.core.markdown.safe import code_span, plain_text, safe_markdown
from bot.core.matching import FoundBy
from bot.core.packing import Coverage
from bot.core.result import ReviewResult, Verification
from bot.core.selection import HeldReason
from bot.core.shadow import Shadow, ShadowState

_MAX_LISTED = 10

COMMANDS_HELP = """\
`/review` review what changed since the last review · `/review full` review everything again ·
`/review --local` or `/review --frontier` pick the model · `/route` explain the decision ·
`/cost` this repo's month · `/pause` and `/resume` automatic reviews on this PR · `/help`"""


@dataclass(frozen=True, slots=True)
class MonthToDate:
    """The repo's frontier and local spend this month, and the all-frontier baseline."""

    spent_usd: Decimal
    baseline_usd: Decimal
    reviews: int


def render_summary(
    result: ReviewResult,
    spend: Spend | None,
    *,
    head_sha: str,
    incremental_from: str | None = None,
    posted: int | None = None,
    repeated: int = 0,
    rejected: Sequence[str] = (),
    month: MonthToDate | None = None,
    settings_problems: Sequence[str] = (),
    excluded: Sequence[str] = (),
    min_severity: Severity = Severity.MINOR,
    shadow: Shadow | None = None,
) -> str:
    """The summary comment's text (without its header) for `result` on commit `head_sha`;
    `min_severity` is the least severity the repo posts (to say why others were not); `shadow`
    is the shadow review that ran beside it (bot.core.shadow), if any."""
    decision = result.decision
    out = ["## tierbot review", ""]
    scope = f" (changes since {incremental_from[:7]})" if incremental_from else ""
    if result.failed:
        out.append(f"**This pull request was not reviewed{scope}:** {plain_text(result.failed)}.")
        out.append("Nothing here means the change is fine; push again or comment `/review`.")
    else:
        count = posted if posted is not None else len(result.comments)
        out.append(
            f"Reviewed{scope} at {head_sha[:7]} by the **{result.tier}** model "
            f"{code_span(result.model)}: {_comment_count(count)}."
        )
    out += [
        "",
        f"**Why {decision.tier}:** complexity {decision.score}/100 — "
        + "; ".join(plain_text(reason) for reason in decision.reasons[:4]),
    ]
    if result.escalation:
        out.append("")
        out.append(
            "**Escalated to the frontier model** because "
            + "; ".join(plain_text(reason) for reason in result.escalation)
        )
    if result.secrets:
        count = len(result.secrets)
        out += [
            "",
            f"**Committed secrets:** {counted(count, 'line')} of this change "
            f"add{'s' if count == 1 else ''} a credential or key; each has its own comment "
            "saying what to do (rotate it, remove it from the history, load it from a secret "
            "store). The values are not repeated anywhere the bot writes.",
        ]
    listed = [*result.secrets, *(() if result.failed else result.comments)]
    if listed:
        out += ["", _by_severity(listed)]
    out += ["", *_coverage(result.coverage, excluded)]
    if result.guidance is not None:
        out += _guidance(result.guidance)
    account = result.anchored
    notes = []
    if account.dropped_total:
        notes.append(
            f"{account.dropped_total} cited "
            f"{'a line' if account.dropped_total == 1 else 'lines'} outside the diff and "
            f"{'was' if account.dropped_total == 1 else 'were'} dropped"
        )
    if account.moved:
        notes.append(f"{account.moved} moved to the line they quote")
    if account.capped:
        notes.append(f"{account.capped} over the limit of comments per review")
    if repeated:
        notes.append(f"{repeated} already made on an earlier commit")
    notes += _held(result, min_severity)
    if rejected:
        notes.append(f"{len(rejected)} refused by GitHub")
    if notes:
        out += ["", "Comments not posted: " + "; ".join(notes) + "."]
    if result.verification is not None and not result.failed:
        out += ["", _verification(result.verification)]
    out += ["", *_cost(result, spend, month, shadow)]
    if settings_problems:
        out += ["", "**Settings file problems** (`.github/tierbot.yml`):"]
        out.extend(
            f"- {safe_markdown(' '.join(problem.split()))}"
            for problem in settings_problems[:_MAX_LISTED]
        )
    out += ["", "<sub>" + COMMANDS_HELP.replace("\n", " ") + "</sub>"]
    return "\n".join(out) + "\n"


def _held(result: ReviewResult, min_severity: Severity) -> list[str]:
    """Why the comments held back were (bot.core.selection): one note per reason."""
    notes = []
    below = result.held_for(HeldReason.BELOW_SEVERITY)
    if below:
        kinds = Counter(h.comment.severity for h in below)
        which = ", ".join(f"{kinds[s]} {s.value}" for s in Severity if kinds[s])
        notes.append(f"{len(below)} below the minimum severity, {min_severity.value} ({which})")
    for reason, text in (
        (HeldReason.SETTLED, "on a point someone answered or resolved on an earlier commit"),
        (HeldReason.UNSURE, "the local model was unsure of while writing"),
        (HeldReason.UNCONFIRMED, "not confirmed when checked against the diff"),
        (HeldReason.DUPLICATE, "found to repeat another comment when checked"),
    ):
        held = len(result.held_for(reason))
        if held:
            notes.append(f"{held} {text}")
    return notes


def _verification(checked: Verification) -> str:
    """What checking the comments against the diff found, and what it could not check."""
    who = f" by {code_span(checked.model)}" if checked.model else ""
    found = [
        f"{checked.confirmed} confirmed",
        f"{checked.unconfirmed} not confirmed",
        f"{checked.duplicates} duplicate{'s' if checked.duplicates != 1 else ''}",
    ]
    line = (
        f"**Checked before posting:** {counted(checked.checked, 'comment')} of severity minor "
        f"or above, against the diff{who}: {', '.join(found)}."
    )
    if checked.unchecked:
        why = plain_text(checked.failure or "no verdict came back")
        line += (
            f" **{checked.unchecked} could not be checked** ({why}): "
            f"{'it is' if checked.unchecked == 1 else 'they are'} posted all the same, each "
            "saying it was not checked."
        )
    return line


def _comment_count(count: int) -> str:
    return counted(count, "inline comment", none="no inline comments")


def _by_severity(comments: Sequence[Comment]) -> str:
    counts = Counter(c.severity for c in comments)
    return "Comments: " + ", ".join(f"{counts[s]} {s.value}" for s in Severity if counts[s])


def _coverage(coverage: Sequence[Coverage], excluded: Sequence[str]) -> list[str]:
    whole = [c for c in coverage if c.state == "reviewed"]
    partial = [c for c in coverage if c.state == "partial"]
    skipped = [c for c in coverage if c.state == "skipped"]
    lines = [
        f"**Coverage:** {counted(len(whole), 'file')} reviewed whole, {len(partial)} in part, "
        f"{len(skipped)} not reviewed, {len(excluded)} excluded by settings."
    ]
    listed = [*partial, *skipped]
    if listed:
        lines.append("<details><summary>Files not reviewed whole, and why</summary>")
        lines.append("")
        lines.extend(f"- {code_span(c.path)}: {plain_text(c.reason)}" for c in listed[:50])
        if len(listed) > 50:
            lines.append(f"- … and {len(listed) - 50} more")
        lines.append("</details>")
    return lines


def _guidance(guidance: Guidance) -> list[str]:
    """Which guidance files the review followed, and what of them it did not."""
    names, dropped = guidance.names, guidance.dropped
    if not names and not dropped:
        return []
    used = ", ".join(code_span(name) for name in names) if names else "none"
    secrets = guidance.redactions
    redacted = (
        f" ({counted(secrets, 'secret')} in {'it' if len(names) == 1 else 'them'} redacted)"
        if secrets
        else ""
    )
    lines = ["", f"**Maintainers' guidance followed** (from the default branch): {used}{redacted}."]
    if dropped:
        left = "; ".join(f"{code_span(d.name)}: {plain_text(d.why)}" for d in dropped)
        lines.append(f"Guidance not used: {left}.")
    return lines


def _cost(
    result: ReviewResult, spend: Spend | None, month: MonthToDate | None, shadow: Shadow | None
) -> list[str]:
    lines = []
    attempts = result.all_attempts
    tokens_in = sum(a.usage.input_tokens + a.usage.cache_read_tokens for a in attempts)
    tokens_out = sum(a.usage.output_tokens for a in attempts)
    if spend is not None:
        basis = " (estimated)" if spend.baseline_estimated else ""
        saved = ""
        if spend.baseline_usd > 0:
            share = (abs(spend.saved_usd) / spend.baseline_usd * 100).quantize(Decimal(1))
            saved = f", saving {format_usd(spend.saved_usd)} ({share}%)"
            if spend.saved_usd < 0:
                saved = f": this review cost {format_usd(-spend.saved_usd)} ({share}%) more"
        lines.append(
            f"**Cost:** {format_usd(spend.spent_usd)} for {tokens_in:,} tokens in and "
            f"{tokens_out:,} out; the frontier model alone would have charged "
            f"{format_usd(spend.baseline_usd)}{basis}{saved}."
        )
        if spend.saved_usd < 0 and spend.local_usd > spend.baseline_usd:
            lines.append(
                "**The local GPU cost more than the frontier model would have** for this "
                f"change: {format_usd(spend.local_usd)} of GPU time, at what a busy hour of the "
                "GPU costs with its idle hours spread over the work."
            )
    check = result.verification.attempt if result.verification is not None else None
    if spend is not None and check is not None:
        lines.append(
            f"**Checking comments:** {format_usd(spend.verify_usd)} of that, for "
            f"{check.usage.input_tokens + check.usage.cache_read_tokens:,} tokens in and "
            f"{check.usage.output_tokens:,} out on the {check.tier} model "
            f"{code_span(check.model)} ({counted(check.parts, 'request')}); the all-frontier "
            "figure leaves it out."
        )
    if shadow is not None:
        lines.append(_shadow(shadow))
    if month is not None:
        saved_month = month.baseline_usd - month.spent_usd
        lines.append(
            f"This repo this month: {counted(month.reviews, 'review')}, "
            f"{format_usd(month.spent_usd)} spent "
            f"against {format_usd(month.baseline_usd)} all-frontier "
            f"({format_usd(saved_month)} saved)."
        )
    return lines


def _shadow(shadow: Shadow) -> str:
    """The line that says a shadow review ran, what it found against this review, and its cost."""
    model = code_span(shadow.model)
    cost = f"it cost {format_usd(shadow.usd)}, which the month's spend includes"
    if shadow.state is ShadowState.FAILED:
        why = plain_text(shadow.failure or "no part answered")
        return (
            f"**Shadow review:** the frontier model {model} was asked to review this change too, "
            f"without posting, to measure what the local model misses, and could not ({why}); "
            f"{cost}."
        )
    matched = shadow.matched
    found = (
        f"both found {matched.count(FoundBy.BOTH)}, only the frontier model "
        f"{matched.count(FoundBy.FRONTIER)}, only the local model {matched.count(FoundBy.LOCAL)}"
    )
    part = ""
    if shadow.state is ShadowState.PARTIAL:
        part = f" (in part: {plain_text(shadow.failure or 'some parts failed')})"
    return (
        f"**Shadow review:** the frontier model {model} also reviewed this change{part}, "
        f"without posting, to measure what the local model misses: {found}; {cost}."
    )
