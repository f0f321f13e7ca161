"""What the action writes: workflow commands (annotations), the outputs file, and the step
summary."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from bot.core.answer_schema import Severity
from bot.core.cost import format_usd
from bot.core.markdown.safe import plain_text
from bot.core.printable import printable
from bot.core.secrets.redaction import scrub
from bot.faces.action.inputs import ActionError, Mode, Runner
from bot.faces.action.step_report import StepReport


def annotate(out: TextIO, level: str, message: str) -> None:
    """A workflow command (`::error::`, `::warning::`, `::notice::`), its data escaped.
    https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands"""
    text = printable(scrub(message), lines=True)  # control characters escaped, lines kept
    data = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    out.write(f"::{level}::{data}\n")
    out.flush()


def format_outputs(outputs: Mapping[str, str]) -> str:
    """Outputs in GitHub's file format: `name=value`, or a multiline value between heredoc
    delimiters that the value does not contain."""
    parts = []
    for name, value in outputs.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            while delimiter in value:  # pragma: no cover - a random UUID
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
            parts.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            parts.append(f"{name}={value}\n")
    return "".join(parts)


def append(path: str | None, text: str) -> None:
    """Append `text`, its secrets scrubbed, to a file the runner gave (None: nothing)."""
    if path is None:
        return
    try:
        with Path(path).open("a", encoding="utf-8") as file:
            file.write(scrub(text))  # the step summary is public to anyone who can see the run
    except OSError as exc:
        raise ActionError(f"cannot write {path}: {exc}") from None


def step_summary(report: StepReport, runner: Runner) -> str:
    """The job summary's Markdown: what was decided and why, what was posted, what it cost."""
    target = _target(report, runner)
    lines = [f"### tierbot {report.mode}: {target}", ""]
    decided = report.dispatch
    tier = report.tier or decided.tier
    if not decided.work:
        reasons = "; ".join(_plain(r) for r in decided.reasons)
        return "\n".join([*lines, f"**Nothing to do:** {reasons}.", ""]) + "\n"
    if report.mode is not Mode.ROUTE:
        lines.append(f"**Outcome:** {_plain(report.text)}")
    elif decided.tier is None:
        lines.append(f"**No model needed**; the next job runs on `{report.runs_on}`.")
    else:
        lines.append(
            f"**Routed to the {decided.tier} model**: the next job runs on `{report.runs_on}`."
        )
    lines.append("")
    rows: list[tuple[str, str]] = []
    if tier is not None:
        model = f" (`{report.model}`)" if report.model else ""
        rows.append(("Tier", f"{tier}{model}"))
    if report.routed_tier is not None and report.routed_tier != tier:
        rows.append(("Routed to", str(report.routed_tier)))
    if decided.decision is not None:
        rows.append(("Complexity", f"{decided.decision.score}/100"))
    if report.mode is not Mode.ROUTE:
        rows.append(("Comments posted", _comments(report)))
        rows.append(("Cost", format_usd(report.spent_usd)))
        if report.baseline_usd is not None:
            saved = report.baseline_usd - report.spent_usd
            share = (
                f" ({(saved / report.baseline_usd * 100).quantize(Decimal(1))}%)"
                if report.baseline_usd > 0
                else ""
            )
            rows.append(("All-frontier cost", format_usd(report.baseline_usd)))
            rows.append(("Saved", f"{format_usd(saved)}{share}"))
    if decided.estimates is not None and report.mode is Mode.ROUTE:
        local = decided.estimates.local.local_usd
        frontier = decided.estimates.frontier.frontier_usd
        rows.append(("Estimate, local", f"{format_usd(local)} of GPU time"))
        rows.append(("Estimate, frontier", f"{format_usd(frontier)} (the all-frontier cost)"))
    if rows:
        lines += ["| | |", "|---|---|", *(f"| {k} | {_cell(v)} |" for k, v in rows), ""]
    if decided.reasons:
        why = f"Why {tier}" if tier is not None else "Why"
        lines += [f"**{why}:**", *(f"- {_plain(r)}" for r in decided.reasons), ""]
    if report.mode is Mode.ROUTE:
        lines += ["Nothing was posted (route mode).", ""]
    if report.failure:
        lines += [f"**Failed:** {_plain(report.failure)}", ""]
    pr_summary = report.outcome.summary if report.outcome is not None else None
    if pr_summary:
        lines += [
            "<details><summary>The summary comment on the pull request</summary>",
            "",
            pr_summary.strip(),
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines) + "\n"


def failed_summary(message: str) -> str:
    return f"### tierbot could not run\n\n{_plain(message)}\n"


def _target(report: StepReport, runner: Runner) -> str:
    job = report.dispatch.job
    if job is not None:
        return f"{job.owner}/{job.repo}#{job.number}"
    return runner.repository or runner.event


def _comments(report: StepReport) -> str:
    posted = report.outcome.comments if report.outcome is not None else ()
    dropped = len(report.outcome.dropped) if report.outcome is not None else 0
    if not posted:
        text = "none"
    else:
        counts = Counter(c.severity for c in posted)
        text = (
            f"{len(posted)} (" + ", ".join(f"{counts[s]} {s}" for s in Severity if counts[s]) + ")"
        )
    if dropped:
        text += f"; {dropped} refused by GitHub"
    return text


def _plain(text: str) -> str:
    """Text from elsewhere (reasons with paths, errors, outcomes) shown as itself in the job
    summary, which GitHub renders as Markdown: no image, HTML or mention in it renders."""
    return plain_text(text)


def _cell(text: str) -> str:
    """A table cell of the bot's own values (tier, model, figures)."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")
