"""A stand-in for the local GPU model, for tests on machines without a CUDA GPU.

The real local backend (bot.adapters.models.exllama) needs CUDA and cannot run here; its own test
runs on a GPU machine. This stand-in answers the Backend protocol with scripted completions, token
entropies included, so routing, confidence and escalation can be tested end to end on a CPU.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.core.types import Completion, CompletionRequest, ModelError, TokenStats, Usage


@dataclass
class ScriptedLocalModel:
    """Answers each request with the next scripted answer (a JSON-able object, raw text, or a
    ModelError to raise), or with what `respond` makes of the request when it gives something.

    Its tokens are the answer's text in pieces of 4 characters, each with `entropy`, except the
    pieces that touch any text in `doubt` (the model was unsure while writing it), which have
    `doubt_entropy`."""

    answers: deque[Any] = field(default_factory=deque)
    entropy: float = 0.1
    context_tokens: int = 8192
    model: str = "qwen2.5-coder-14b-exl2"
    name: str = "local"
    unavailable: str | None = None
    requests: list[CompletionRequest] = field(default_factory=list)
    doubt: tuple[str, ...] = ()
    doubt_entropy: float = 2.0
    respond: Callable[[CompletionRequest], Any] | None = None

    def unavailable_reason(self) -> str | None:
        return self.unavailable

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        answer = self.respond(request) if self.respond is not None else None
        if answer is None:
            answer = self.answers.popleft() if self.answers else {"summary": "", "comments": []}
        if isinstance(answer, ModelError):
            raise answer
        text = answer if isinstance(answer, str) else json.dumps(answer)
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        offsets = tuple(min(end, len(text)) for end in range(4, len(text) + 4, 4)) or (0,)
        unsure = [
            (found.start(), found.end())
            for text_unsure in self.doubt
            for found in re.finditer(re.escape(text_unsure), text)
        ]
        entropies = tuple(
            self.doubt_entropy
            if any(start < end and end - 4 < stop for start, stop in unsure)
            else self.entropy
            for end in offsets
        )
        return Completion(
            text=text,
            parsed=parsed,
            model=self.model,
            backend="local",
            usage=Usage(input_tokens=len(request.prompt) // 4, output_tokens=len(offsets)),
            wall_seconds=0.5,
            stop_reason="eos",
            token_stats=TokenStats(entropies, offsets),
            gpu_seconds=0.5,
        )
