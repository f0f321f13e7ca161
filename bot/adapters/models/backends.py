"""The model backends a process can use, built from its settings, and why any cannot run.

One place for the CLI's `review`, the App's server and the Action: the frontier backend always
exists (it says when it has no key); the local one exists when TIERBOT_LOCAL_MODEL_DIR is set,
and its GPU stack is imported only then.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.adapters.models.anthropic import FrontierBackend
from bot.adapters.settings import Settings, models_for
from bot.core.routing import Models, Tier
from bot.core.types import Backend

NO_LOCAL_MODEL = "TIERBOT_LOCAL_MODEL_DIR is not set"


def backends_for(settings: Settings) -> tuple[dict[Tier, Backend], Models]:
    """The backends by tier, and the models routing sees, with the reason each cannot run."""
    frontier = FrontierBackend(
        settings.frontier_model,
        api_key=settings.anthropic_api_key,
        base_url=settings.anthropic_base_url,
    )
    backends: dict[Tier, Backend] = {Tier.FRONTIER: frontier}
    local_unavailable: str | None = NO_LOCAL_MODEL
    if settings.local_model_dir:
        from bot.adapters.models.exllama import LocalBackend  # noqa: PLC0415 - GPU stack on demand

        local = LocalBackend(settings.local_model_dir, context_tokens=settings.local_context_tokens)
        backends[Tier.LOCAL] = local
        local_unavailable = local.unavailable_reason()
    models = models_for(
        settings,
        local_unavailable=local_unavailable,
        frontier_unavailable=frontier.unavailable_reason(),
    )
    return backends, models


async def close_backends(backends: Mapping[Tier, Backend]) -> None:
    """Release what the backends hold (HTTP clients, a loaded model)."""
    for backend in backends.values():
        close = getattr(backend, "aclose", None)
        if close is not None:
            await close()
