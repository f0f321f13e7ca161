"""Answering a question about a change (`/ask`, or a reply in one of the bot's review threads).

One request, on the tier routing picked for the `ask` task (local unless the change is too big
for its window), with the question, the review thread and the diff as untrusted data sections
(bot.core.prompt.data_prompt), redacted of secrets as for a review (bot.pipeline.review.redacts). A
local answer that is not the JSON asked for, or that the model was unsure of (by the repo's
`escalation` thresholds, the same policy as for a review: bot.core.confidence.unsure), is asked
again
of the frontier model. The answer is posted only as safe Markdown (bot.core.markdown.safe).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.confidence import unsure
from bot.core.diff import ChangeSet
from bot.core.guidance import Guidance
from bot.core.markdown.safe import safe_markdown
from bot.core.packing import Coverage
from bot.core.prompt import SYSTEM, Budget, Plan, data_prompt, guidance_text, plan_review
from bot.core.repo_settings import RepoSettings
from bot.core.result import Attempt
from bot.core.routing import Decision, Tier
from bot.core.secrets.leaks import expose
from bot.core.secrets.redaction import redact_text
from bot.core.types import Backend, CompletionRequest, ModelError, Usage
from bot.pipeline.review import budget_for, redacts

MAX_ANSWER_CHARS = 6000
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {
            "type": "string",
            "description": "The answer, in Markdown; cite code as path:line.",
        }
    },
    "required": ["answer"],
    "additionalProperties": False,
}
ASK_GUIDELINES = """\
Answer the question about this pull request, using the diff shown. Be direct and short: a few
sentences or a small list. Cite code as `path:line` with the numbers shown at the left of the
diff. If the diff does not show enough to answer, say what is missing instead of guessing.
Answer with JSON only: {"answer": "..."}."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to a question, or why there is none (`failed`), with every request it took.

    `escalation` holds why the local answer was asked again of the frontier model, if it was;
    `guidance` is the repository's guidance the request that answered carried.
    """

    text: str
    tier: Tier
    model: str
    attempts: tuple[Attempt, ...]
    coverage: tuple[Coverage, ...]
    escalation: tuple[str, ...] = ()
    failed: str | None = None
    guidance: Guidance = field(default_factory=Guidance)


async def answer_question(
    changes: ChangeSet,
    question: str,
    decision: Decision,
    backends: Mapping[Tier, Backend],
    repo: RepoSettings | None = None,
    thread: str = "",
) -> Answer:
    """Answer `question` about `changes`; `thread` is the review thread it was asked in."""
    repo = repo or RepoSettings()
    if decision.error is not None:
        return Answer("", decision.tier, decision.model, (), (), failed=decision.error)
    backend = backends.get(decision.tier)
    if backend is None or backend.unavailable_reason() is not None:
        return Answer(
            "",
            decision.tier,
            decision.model,
            (),
            (),
            failed=f"the {decision.tier} model cannot run",
        )
    redacted = (expose(changes).changes, redact_text(question), redact_text(thread))

    def shown(tier: Tier) -> tuple[ChangeSet, str, str]:
        return redacted if redacts(tier, repo) else (changes, question, thread)

    seen, asked, context = shown(decision.tier)
    first, text, why = await _ask(decision.tier, backend, seen, asked, repo, context)
    frontier = backends.get(Tier.FRONTIER)
    if (
        why
        and decision.tier is Tier.LOCAL
        and frontier is not None
        and (frontier.unavailable_reason() is None)
    ):
        seen, asked, context = shown(Tier.FRONTIER)
        second, text2, why2 = await _ask(Tier.FRONTIER, frontier, seen, asked, repo, context)
        return Answer(
            text2,
            Tier.FRONTIER,
            frontier.model,
            (first[0], second[0]),
            second[1].coverage,
            (why,),
            failed=why2 or None,
            guidance=second[1].guidance,
        )
    return Answer(
        text,
        decision.tier,
        backend.model,
        (first[0],),
        first[1].coverage,
        failed=why or None,
        guidance=first[1].guidance,
    )


async def _ask(
    tier: Tier,
    backend: Backend,
    changes: ChangeSet,
    question: str,
    repo: RepoSettings,
    thread: str,
) -> tuple[tuple[Attempt, Plan], str, str]:
    """One request; returns (attempt and plan), the answer text, and why it is unusable."""
    paths = tuple(f.path for f in changes.files)
    room = budget_for(tier, backend.context_tokens, repo, paths)
    budget = Budget(room.prompt_tokens, 1, 1024, room.guidance_tokens)
    sections = [("review_thread", thread)] if thread else []
    sections.append(("question", question))
    plan = plan_review(changes, budget, repo, sections=sections)
    prompt = plan.parts[0].diff if plan.parts else data_prompt(sections)
    guidance = guidance_text(repo, paths, budget.guidance_tokens)
    request = CompletionRequest(
        system=SYSTEM,
        stable=f"{ASK_GUIDELINES}\n\n{guidance}" if guidance else ASK_GUIDELINES,
        prompt=prompt,
        schema=ANSWER_SCHEMA,
        max_output_tokens=budget.max_output_tokens,
        label="ask",
    )
    try:
        completion = await backend.complete(request)
    except ModelError as exc:
        attempt = Attempt(tier, backend.model, 1, exc.usage, 0.0, 0.0, (str(exc),))
        return (attempt, plan), "", f"the request failed: {exc}"
    attempt = Attempt(
        tier,
        backend.model,
        1,
        completion.usage or Usage(),
        completion.wall_seconds,
        completion.gpu_seconds,
        prompt_tokens_estimate=plan.prompt_tokens,
    )
    parsed = completion.parsed
    text = parsed.get("answer") if isinstance(parsed, dict) else None
    if not isinstance(text, str) or not text.strip():
        return (attempt, plan), "", "the answer was not the JSON asked for"
    doubt = unsure(completion.token_stats, repo.escalation)
    if doubt is not None:
        return (attempt, plan), safe_markdown(text.strip()), doubt
    return (attempt, plan), safe_markdown(_cut(text.strip())), ""


def _cut(text: str) -> str:
    if len(text) <= MAX_ANSWER_CHARS:
        return text
    return re.sub(r"\s+\S*$", "", text[:MAX_ANSWER_CHARS]) + " …"
