"""One step of ExLlamaV2's generator, read: logits reduced to entropies, a result dict to an event.

Also the ModelError for an exception raised while generating.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.adapters.models.exllama_gpu import BACKEND, import_heavy
from bot.core.types import ErrorKind, ModelError


def logits_entropies(logits: Any, vocab_size: int | None = None) -> list[float]:
    """Per-row entropy (nats) of a torch tensor of logits, vectorised; the twin of
    `bot.adapters.models.entropy.entropy_from_logits`, which defines the semantics.

    `logits` has the vocabulary last (exllamav2 gives (1, n, padded_vocab)); every other axis is
    flattened into rows. Columns from `vocab_size` on are dropped (head padding that the sampler
    masks), -inf and NaN entries are left out, rows with +inf share their certainty, and a row
    with no candidate at all gives 0.
    """
    torch = import_heavy("torch")
    rows = logits.reshape(-1, logits.shape[-1])
    if vocab_size is not None:
        rows = rows[:, :vocab_size]
    rows = rows.to(dtype=torch.float64)
    candidate = torch.isfinite(rows)
    certain = torch.isposinf(rows).sum(dim=-1)
    masked = torch.where(candidate, rows, torch.full_like(rows, -math.inf))
    top = masked.amax(dim=-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    shifted = masked - top
    log_p = shifted - torch.logsumexp(shifted, dim=-1, keepdim=True)
    p = torch.exp(log_p)
    terms = torch.where(candidate & (p > 0), -p * log_p, torch.zeros_like(rows))
    upper = torch.log(candidate.sum(dim=-1).clamp_min(1).to(torch.float64))
    entropy = torch.minimum(terms.sum(dim=-1).clamp_min(0.0), upper)
    spread = torch.log(certain.clamp_min(1).to(torch.float64))
    entropy = torch.where(certain > 0, spread, entropy)
    return [float(value) for value in entropy.tolist()]


@dataclass(frozen=True, slots=True)
class StepEvent:
    """What one exllamav2 result dict says about one job, its logits already reduced to
    entropies. `new_tokens` (only at the end) counts every sampled token, the stop token too."""

    identifier: Any
    stage: str
    text: str = ""
    entropies: tuple[float, ...] = ()
    eos: bool = False
    eos_reason: str | None = None
    new_tokens: int | None = None


def digest_result(
    result: Mapping[str, Any], entropies: Callable[[Any], Sequence[float]]
) -> StepEvent:
    """Read one result of `ExLlamaV2DynamicGenerator.iterate()`.

    Streamed text and logits are in the result itself. A job that ends on a stop token is emitted
    without its held buffers, which come under `result["held"]`: their logits are steps the model
    took (the stop token's step among them) and count; their text is the stop token and anything
    held back waiting for it, which exllamav2 leaves out of the completion, and so do we.
    """
    found: list[float] = []
    if result.get("logits") is not None:
        found.extend(entropies(result["logits"]))
    eos = bool(result.get("eos"))
    reason = result.get("eos_reason") if eos else None
    held = result.get("held") if eos else None
    if isinstance(held, Mapping) and held.get("logits") is not None:
        found.extend(entropies(held["logits"]))
    new_tokens = result.get("new_tokens") if eos else None
    return StepEvent(
        identifier=result.get("identifier"),
        stage=str(result.get("stage", "")),
        text=str(result.get("text", "")),
        entropies=tuple(found),
        eos=eos,
        eos_reason=None if reason is None else str(reason),
        new_tokens=None if new_tokens is None else int(new_tokens),
    )


def failure(exc: BaseException, model: str) -> ModelError:
    """The ModelError for an exception from exllamav2 or CUDA while generating."""
    text = str(exc) or type(exc).__name__
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text.lower():
        return ModelError(
            ErrorKind.TOO_LARGE,
            "the GPU ran out of memory with this request in flight; send it to the frontier "
            f"model, or lower the local context or batch size ({text})",
            backend=BACKEND,
            model=model,
        )
    return ModelError(
        ErrorKind.API,
        f"ExLlamaV2 failed while generating: {type(exc).__name__}: {text}",
        backend=BACKEND,
        model=model,
    )
