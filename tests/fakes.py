"""A stand-in for the local GPU model, for tests on machines without a CUDA GPU.

The real local backend (bot.adapters.models.exllama) needs CUDA and cannot run here; its own test
runs on a GPU machine. This stand-in answers the Backend protocol with scripted completions, token
entropies included, so routing, confidence and escalation can be tested end to end on a CPU.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bot.core.types import Completion, CompletionRequest, ModelError, TokenStats, Usage


@dataclass
class ScriptedLocalModel:
    """Answers each request with the next scripted answer (a JSON-able object, raw text, or a
    ModelError to raise), with the given per-token entropies."""

    answers: deque[Any] = field(default_factory=deque)
    entropy: float = 0.1
    context_tokens: int = 8192
    model: str = "qwen2.5-coder-14b-exl2"
    name: str = "local"
    unavailable: str | None = None
    requests: list[CompletionRequest] = field(default_factory=list)

    def unavailable_reason(self) -> str | None:
        return self.unavailable

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        answer = self.answers.popleft() if self.answers else {"summary": "", "comments": []}
        if isinstance(answer, ModelError):
            raise answer
        text = answer if isinstance(answer, str) else json.dumps(answer)
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        tokens = max(len(text) // 4, 1)
        return Completion(
            text=text,
            parsed=parsed,
            model=self.model,
            backend="local",
            usage=Usage(input_tokens=len(request.prompt) // 4, output_tokens=tokens),
            wall_seconds=0.5,
            stop_reason="eos",
            token_stats=TokenStats(tuple([self.entropy] * tokens)),
            gpu_seconds=0.5,
        )
