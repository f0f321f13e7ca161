"""The lines `tierbot report` prints under its table about the local tier's economics: what a
busy hour of the GPU costs under the settings, the local tier's work priced at it against the
frontier model, the utilisation at which it breaks even, and the throughput the worker
achieved. From the report's JSON form (bot.adapters.ledger.report), so text and JSON agree."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.core.cost import format_usd

_BILLING = {
    "owned": "owned, {hour} an hour busy or idle (amortised), plus {marginal} per busy hour",
    "sunk": "sunk (already paid for), {marginal} per busy hour",
    "rented": "rented at {hour} an hour busy or idle, plus {marginal} per busy hour",
}


def economics_lines(economics: dict[str, Any]) -> list[str]:
    """The economics block of the text report, one line a figure."""
    gpu = economics["gpu"]
    paid = _BILLING[gpu["billing"]].format(
        hour=_usd(gpu["hour_usd"]), marginal=_usd(gpu["marginal_hour_usd"])
    )
    idle = (
        "" if gpu["billing"] == "sunk" else f", taken as busy {gpu['utilisation_pct']}% of the time"
    )
    lines = [f"local GPU: {paid}{idle}: {_usd(gpu['busy_hour_usd'])} per busy hour"]
    if not Decimal(economics["local_gpu_hours"]):
        lines.append("local tier: no GPU time recorded, so no break-even to show")
        return lines
    lines.append(
        f"local tier: {economics['local_gpu_hours']} GPU-hours, {_usd(economics['local_usd'])} "
        f"at that price, against {_usd(economics['local_baseline_usd'])} for the same work on "
        "the frontier model"
    )
    lines.append(_break_even(economics["break_even_utilisation_pct"]))
    if economics["span_utilisation_pct"] is not None:
        lines.append(
            f"over these {economics['span_hours']} hours the GPU was busy "
            f"{economics['span_utilisation_pct']}% of the time with this work"
        )
    fitted, assumed = economics["throughput"], economics["throughput_assumed"]
    if fitted is not None:
        lines.append(
            f"measured throughput: {fitted['prefill_tokens_per_second']} prompt and "
            f"{fitted['decode_tokens_per_second']} output tokens per GPU-second, fitted over "
            f"{fitted['requests']} local requests (estimates assume "
            f"{assumed['prefill_tokens_per_second']} and {assumed['decode_tokens_per_second']})"
        )
    return lines


def _break_even(pct: str | None) -> str:
    """The break-even line: the utilisation below which the local tier costs more."""
    if pct is None:
        return (
            "break-even: never: the GPU's marginal cost alone is more than the frontier model "
            "would have charged for the same work"
        )
    share = Decimal(pct)
    if share == 0:
        return "break-even: at any utilisation: the GPU costs nothing while idle"
    if share > 100:
        return f"break-even: never: it would need the GPU busy {pct}% of the time"
    return (
        f"break-even GPU utilisation: {pct}%: busy less than that, the local tier costs more "
        "than the frontier model would"
    )


def _usd(text: str) -> str:
    return format_usd(Decimal(text))
