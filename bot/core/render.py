"""A review's result as people and programs read it: the JSON of `tierbot review --json` and
the plain text of a dry run. Pure: data in, text or plain dicts out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.core.anchor import Comment
from bot.core.cost import CostEstimate, Spend, format_usd
from bot.core.counts import counted
from bot.core.packing import Coverage
from bot.core.result import Attempt, ReviewResult, Verification
from bot.core.routing import Decision


@dataclass(frozen=True, slots=True)
class Estimates:
    """The estimated cost of the review on each tier, before it runs."""

    local: CostEstimate
    frontier: CostEstimate
    local_prompt_tokens: int
    frontier_prompt_tokens: int


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "tier": decision.tier.value,
        "model": decision.model,
        "score": decision.score,
        "task": decision.task.value,
        "reasons": list(decision.reasons),
        "error": decision.error,
    }


def coverage_json(coverage: Sequence[Coverage]) -> dict[str, Any]:
    return {
        "reviewed": [c.path for c in coverage if c.state == "reviewed"],
        "partial": [{"path": c.path, "reason": c.reason} for c in coverage if c.state == "partial"],
        "skipped": [{"path": c.path, "reason": c.reason} for c in coverage if c.state == "skipped"],
    }


def comment_json(comment: Comment) -> dict[str, Any]:
    return {
        "path": comment.path,
        "line": comment.line,
        "side": comment.side.value,
        "start_line": comment.start_line,
        "severity": comment.severity.value,
        "category": comment.category,
        "body": comment.body,
        "fingerprint": comment.fingerprint,
    }


def estimates_json(estimates: Estimates) -> dict[str, Any]:
    return {
        "local": {
            "usd": _usd(estimates.local.local_usd),
            "gpu_seconds": float(round(estimates.local.local_gpu_seconds, 2)),
            "gpu_hour_usd": _usd(estimates.local.gpu_hour_usd),
            "prompt_tokens": estimates.local_prompt_tokens,
            "output_tokens": estimates.local.output_tokens,
            "estimated": True,
        },
        "frontier": {
            "usd": _usd(estimates.frontier.frontier_usd),
            "model": estimates.frontier.frontier_model,
            "prompt_tokens": estimates.frontier_prompt_tokens,
            "output_tokens": estimates.frontier.output_tokens,
            "estimated": True,
        },
    }


def result_json(
    result: ReviewResult | None,
    decision: Decision,
    coverage: Sequence[Coverage],
    estimates: Estimates,
    spend: Spend | None,
    configure: Sequence[str] = (),
    excluded: Sequence[str] = (),
) -> dict[str, Any]:
    """The `tierbot review --json` object. `result` is None when no review was run."""
    cost: dict[str, Any] = {"estimate": estimates_json(estimates)}
    if spend is not None:
        cost.update(
            spent_usd=_usd(spend.spent_usd),
            frontier_usd=_usd(spend.frontier_usd),
            local_usd=_usd(spend.local_usd),
            baseline_usd=_usd(spend.baseline_usd),
            baseline_estimated=spend.baseline_estimated,
            saved_usd=_usd(spend.saved_usd),
            verify_usd=_usd(spend.verify_usd),
        )
    out: dict[str, Any] = {
        "reviewed": result is not None and result.failed is None,
        "decision": decision_json(decision),
        "comments": [comment_json(c) for c in (*result.secrets, *result.comments)]
        if result
        else [],
        "summary": result.summary if result else "",
        "coverage": coverage_json(result.coverage if result else coverage),
        "cost": cost,
        "excluded": list(excluded),
    }
    if result is not None:
        out.update(
            tier=result.tier.value,
            model=result.model,
            escalation=list(result.escalation),
            failed=result.failed,
            dropped_comments=result.anchored.dropped,
            moved_comments=result.anchored.moved,
            capped_comments=result.anchored.capped,
            problems=list(result.problems),
            redactions=result.redactions,
            guidance=guidance_json(result),
            attempts=[attempt_json(a) for a in result.attempts],
            held_comments=dict(Counter(str(h.reason) for h in result.held)),
            verification=verification_json(result.verification),
        )
    if configure:
        out["configure"] = list(configure)
    return out


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    """One tier's requests: tokens, time, errors and what the confidence check found."""
    usage = attempt.usage
    return {
        "tier": attempt.tier.value,
        "model": attempt.model,
        "parts": attempt.parts,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "gpu_seconds": round(attempt.gpu_seconds, 3),
        "wall_seconds": round(attempt.wall_seconds, 3),
        "errors": list(attempt.errors),
        "confidence": list(attempt.verdict.reasons) if attempt.verdict else None,
    }


def verification_json(checked: Verification | None) -> dict[str, Any] | None:
    """What checking the comments against the diff found (None: they were not checked)."""
    if checked is None:
        return None
    return {
        "checked": checked.checked,
        "confirmed": checked.confirmed,
        "unconfirmed": checked.unconfirmed,
        "duplicates": checked.duplicates,
        "unchecked": checked.unchecked,
        "model": checked.model,
        "failure": checked.failure,
        "attempt": attempt_json(checked.attempt) if checked.attempt else None,
    }


def guidance_json(result: ReviewResult) -> dict[str, Any]:
    """The maintainers' guidance a review followed (`used`, by name) and what it did not
    (`dropped`, each with why)."""
    guidance = result.guidance
    if guidance is None:
        return {"used": [], "dropped": []}
    return {
        "used": list(guidance.names),
        "dropped": [{"name": d.name, "why": d.why} for d in guidance.dropped],
    }


def result_text(
    title: str,
    result: ReviewResult | None,
    decision: Decision,
    coverage: Sequence[Coverage],
    estimates: Estimates,
    spend: Spend | None,
    configure: Sequence[str] = (),
    excluded: Sequence[str] = (),
) -> str:
    """A dry run in plain text: what would be posted, what it covers and what it cost."""
    out = [f"tierbot review of {title}", ""]
    out.append(f"Decision: {decision.tier} ({_model_name(decision)}), complexity {decision.score}")
    out.extend(f"  - {reason}" for reason in decision.reasons)
    if decision.error:
        out.append(f"  ! {decision.error}")
    shown = result.coverage if result else coverage
    reviewed = sum(1 for c in shown if c.state == "reviewed")
    partial = [c for c in shown if c.state == "partial"]
    skipped = [c for c in shown if c.state == "skipped"]
    heading = "Coverage" if result is not None else "Would cover"
    out += ["", f"{heading}: {reviewed} whole, {len(partial)} partly, {len(skipped)} skipped"]
    out.extend(f"  partly  {c.path}: {c.reason}" for c in partial)
    out.extend(f"  skipped {c.path}: {c.reason}" for c in skipped)
    out.extend(f"  excluded {path}: repo settings" for path in excluded)
    if result is not None:
        out.append("")
        if result.failed:
            out.append(f"NOT REVIEWED: {result.failed}")
        else:
            out.append(f"Reviewed by {result.tier} ({result.model}).")
        if result.escalation:
            out.append("Escalated to the frontier model because:")
            out.extend(f"  - {reason}" for reason in result.escalation)
        guidance = result.guidance
        if guidance is not None and guidance.names:
            out.append(f"Following the maintainers' guidance in {', '.join(guidance.names)}.")
        if guidance is not None:
            out.extend(f"  guidance not used: {d.name}: {d.why}" for d in guidance.dropped)
        if result.summary:
            out += ["", "Summary:", _indent(result.summary)]
        comments = (*result.secrets, *result.comments)
        out += ["", f"Comments ({len(comments)}):"]
        for comment in comments:
            where = (
                f"{comment.path}:{comment.start_line}-{comment.line}"
                if comment.start_line
                else (f"{comment.path}:{comment.line}")
            )
            side = " (removed line)" if comment.side.value == "LEFT" else ""
            out.append(f"  {where}{side} [{comment.severity}/{comment.category}]")
            out.append(_indent(comment.body, "      "))
        account = result.anchored
        if account.dropped_total or account.moved or account.capped:
            out.append(
                f"  ({account.moved} moved to the line they quote, {account.dropped_total} "
                f"dropped as not on the diff, {account.capped} over the limit)"
            )
        if result.held:
            reasons = Counter(str(h.reason) for h in result.held)
            out.append(
                f"  held back: {', '.join(f'{n} {reason}' for reason, n in reasons.items())}"
            )
        checked = result.verification
        if checked is not None:
            out.append(
                f"  checked against the diff by {checked.model or 'no model'}: "
                f"{checked.confirmed} confirmed, {checked.unconfirmed} not confirmed, "
                f"{checked.duplicates} duplicates, {checked.unchecked} not checked"
                + (f" ({checked.failure})" if checked.failure else "")
            )
    out += ["", "Cost:"]
    if spend is not None:
        basis = " (estimated)" if spend.baseline_estimated else ""
        out.append(
            f"  spent {format_usd(spend.spent_usd)}; all-frontier baseline "
            f"{format_usd(spend.baseline_usd)}{basis}; saved {format_usd(spend.saved_usd)}"
        )
        for attempt in result.all_attempts if result else ():
            out.append(
                f"  {attempt.tier} {attempt.model}: {attempt.usage.input_tokens:,} tokens in, "
                f"{attempt.usage.output_tokens:,} out, {counted(attempt.parts, 'request')}"
                + (f", {attempt.gpu_seconds:.1f} GPU-s" if attempt.gpu_seconds else "")
            )
    local, frontier = estimates.local, estimates.frontier
    out.append(
        f"  estimate: local {format_usd(local.local_usd)} (~{local.local_gpu_seconds:.1f} GPU-s "
        f"at {format_usd(local.gpu_hour_usd)} a busy GPU-hour, ~{estimates.local_prompt_tokens:,} "
        f"prompt tokens); frontier {format_usd(frontier.frontier_usd)} "
        f"({frontier.frontier_model}, ~{estimates.frontier_prompt_tokens:,} prompt tokens, "
        f"{frontier.output_tokens:,} output tokens assumed)"
    )
    if configure:
        out += ["", "To review with a model, configure:"]
        out.extend(f"  - {item}" for item in configure)
    return "\n".join(out) + "\n"


def _model_name(decision: Decision) -> str:
    """The model the decision names; a tier's bare name (bot.adapters.settings' `local` for no model
    folder) says that no model of that tier is configured, which is what the reader needs."""
    if decision.model == str(decision.tier):
        return f"no {decision.tier} model configured"
    return decision.model


def usd_json(amount: Decimal) -> str:
    """Dollars as a decimal string for JSON, to a millionth of a dollar (no float rounding)."""
    return format(amount.quantize(Decimal("0.000001")).normalize(), "f") if amount else "0"


_usd = usd_json


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))
