"""An offline evaluation's figures as JSON (`tierbot eval --format json`) and as sentences for
its text report. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.cost import format_usd
from bot.core.counts import counted
from bot.core.render import comment_json, usd_json
from bot.core.routing import Tier
from bot.core.scorecard import Quality, Scored, Status, TierUse, Totals, rate


def quality_json(figures: Quality) -> dict[str, Any]:
    """Hit rate, precision and comments per change, with the counts they come from."""
    return {
        "reviewed": figures.changes,
        "expected_findings": figures.expected,
        "found": figures.found,
        "hit_rate": figures.hit_rate,
        "comments": figures.comments,
        "true_positives": figures.true_positives,
        "false_positives": figures.false_positives,
        "precision": figures.precision,
        "comments_per_change": figures.comments_per_change,
        "clean": {
            "reviewed": figures.clean_changes,
            "with_comments": figures.clean_with_comments,
            "false_positives": figures.clean_comments,
        },
    }


def use_json(use: TierUse) -> dict[str, Any]:
    """One tier's review attempts and model requests (one per part), tokens, GPU time and
    dollars."""
    return {
        "attempts": use.attempts,
        "requests": use.parts,
        "tokens": {
            "input": use.input_tokens,
            "output": use.output_tokens,
            "cache_write": use.cache_write_tokens,
            "cache_read": use.cache_read_tokens,
        },
        "gpu_seconds": round(use.gpu_seconds, 3),
        "usd": usd_json(use.usd),
    }


def scored_json(item: Scored) -> dict[str, Any]:
    """One change: how it ended, its comments (each marked hit or not) and what it cost."""
    hits = item.matched.comment_hits if item.matched is not None else ()
    comments = [
        {**comment_json(c), "hit": hit}
        for c, hit in zip(item.comments, hits or [False] * len(item.comments), strict=True)
    ]
    return {
        "id": item.id,
        "line": item.line,
        "status": item.status.value,
        "why": item.why or None,
        "tier": item.tier.value if item.tier is not None else None,
        "model": item.model or None,
        "reasons": list(item.reasons),
        "escalation": list(item.escalation),
        "expected": [
            {
                "path": e.path,
                "spans": [
                    {"side": s.side.value, "first": s.first, "last": s.last} for s in e.spans
                ],
                "severity": e.severity,
                "found": item.matched.found[i] if item.matched is not None else None,
            }
            for i, e in enumerate(item.expected)
        ],
        "comments": comments,
        "spent_usd": usd_json(item.spend.spent_usd) if item.spend is not None else "0",
    }


def scorecard_json(
    scored: Sequence[Scored], figures: Totals, *, dataset: str, tier: str, within: int
) -> dict[str, Any]:
    """The `tierbot eval --format json` object."""
    by_tier = {
        t.value: {"quality": quality_json(figures.by_tier[t]), **use_json(figures.use[t])}
        for t in Tier
    }
    return {
        "dataset": dataset,
        "tier": tier,
        "within_lines": within,
        "changes": figures.changes,
        "reviewed": figures.reviewed,
        "not_reviewed": figures.not_reviewed,
        "skipped": figures.skipped,
        "escalated": figures.escalated,
        "quality": quality_json(figures.overall),
        "by_tier": by_tier,
        "by_severity": {
            severity: {"expected": expected, "found": found, "hit_rate": rate(found, expected)}
            for severity, (expected, found) in sorted(figures.by_severity.items())
        },
        "spent_usd": usd_json(figures.spent_usd),
        "baseline_usd": usd_json(figures.baseline_usd),
        "results": [scored_json(item) for item in scored],
    }


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def summary_lines(figures: Totals) -> list[str]:
    """The figures in sentences, for the text report."""
    q = figures.overall
    lines = [
        f"Reviewed {figures.reviewed} of {counted(figures.changes, 'change')}"
        + (
            f" ({figures.not_reviewed} not reviewed, {figures.skipped} skipped)"
            if figures.not_reviewed or figures.skipped
            else ""
        )
        + (f"; {counted(figures.escalated, 'review')} escalated" if figures.escalated else "")
        + ".",
    ]
    if not q.changes:
        lines.append("No change was reviewed: there are no quality figures.")
    else:
        lines += [
            f"Hit rate: {q.found} of {counted(q.expected, 'expected finding')} hit "
            f"({_pct(q.hit_rate)}).",
            f"Precision: {q.true_positives} of {counted(q.comments, 'comment')} hit an expected "
            f"finding ({_pct(q.precision)}); {counted(q.false_positives, 'false positive')}, "
            f"{q.clean_comments} of them on clean changes.",
            f"Clean changes: {q.clean_with_comments} of {q.clean_changes} got a comment.",
            f"Comments per change: {q.comments_per_change:.2f}."
            if q.comments_per_change is not None
            else "Comments per change: -.",
        ]
    lines.append(
        f"Spent {format_usd(figures.spent_usd)} against {format_usd(figures.baseline_usd)} "
        "all-frontier."
    )
    return lines


def tier_rows(figures: Totals) -> list[tuple[str, ...]]:
    """Per tier: reviews that stood there, their hit rate, precision and comments per change,
    and the requests, tokens and dollars it took."""
    rows: list[tuple[str, ...]] = [
        (
            "TIER",
            "REVIEWS",
            "HIT RATE",
            "PRECISION",
            "COMMENTS/CHANGE",
            "REQUESTS",
            "TOKENS IN",
            "TOKENS OUT",
            "USD",
        )
    ]
    for tier in Tier:
        q, use = figures.by_tier[tier], figures.use[tier]
        per_change = q.comments_per_change
        rows.append(
            (
                tier.value,
                str(q.changes),
                _pct(q.hit_rate),
                _pct(q.precision),
                "-" if per_change is None else f"{per_change:.2f}",
                str(use.parts),
                f"{use.input_tokens + use.cache_read_tokens + use.cache_write_tokens:,}",
                f"{use.output_tokens:,}",
                format_usd(use.usd),
            )
        )
    return rows


def change_rows(scored: Sequence[Scored]) -> list[tuple[str, ...]]:
    """Per change: its id, tier, how it ended, findings expected and found, comments and false
    positives; why, where it was not reviewed or skipped."""
    rows: list[tuple[str, ...]] = [
        ("ID", "TIER", "EXPECTED", "FOUND", "COMMENTS", "FALSE+", "STATUS")
    ]
    for item in scored:
        matched = item.matched
        status = (
            item.status.value
            if item.status is Status.REVIEWED
            else (f"{item.status.value}: {item.why}")
        )
        rows.append(
            (
                item.id,
                item.tier.value if item.tier is not None else "-",
                str(len(item.expected)),
                str(sum(matched.found)) if matched is not None else "-",
                str(matched.comments) if matched is not None else "-",
                str(matched.false_positives) if matched is not None else "-",
                status,
            )
        )
    return rows
