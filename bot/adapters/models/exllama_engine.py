"""Everything that touches exllamav2: the loaded model, cache, tokenizer and dynamic generator.

Built and stepped in the local backend's one GPU thread (bot.adapters.models.exllama). JSON
answers are constrained to the request's schema where lm-format-enforcer is installed and its
filter builds with this exllamav2.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.adapters.models.chat import PromptFormat
from bot.adapters.models.exllama_gpu import BACKEND, PAGE_TOKENS, import_heavy, stop_tokens
from bot.adapters.models.exllama_steps import StepEvent, digest_result, logits_entropies
from bot.core.types import CompletionRequest, ErrorKind, ModelError

CACHE_MODES = ("fp16", "q8", "q6", "q4")
_CACHE_CLASSES = {
    "fp16": "ExLlamaV2Cache",
    "q8": "ExLlamaV2Cache_Q8",
    "q6": "ExLlamaV2Cache_Q6",
    "q4": "ExLlamaV2Cache_Q4",
}


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What the engine is built from: the model folder, its window, cache and batch."""

    model_dir: Path
    model: str
    window: int
    cache_mode: str
    max_batch: int
    cache_tokens: int | None


@dataclass(frozen=True, slots=True)
class Step:
    """One generator iteration: its events, the jobs it refused, its time and what is left."""

    events: list[StepEvent]
    rejected: dict[int, str]
    seconds: float
    remaining: int


def _json_filter_factory(
    model: Any, tokenizer: Any
) -> tuple[Callable[[dict[str, Any]], Any] | None, str]:
    """Build JSON-schema filters with lm-format-enforcer: (factory, "") or (None, why not).

    lm-format-enforcer's ExLlamaV2TokenEnforcerFilter predates the filter base class of
    exllamav2 0.3 (no background_drop, can_mask_logits, ...), so the filter is a subclass of both:
    lm-format-enforcer's methods first, the base class's defaults (synchronous, token lists, no
    logit masks) for the rest. The tokenizer data is built once here: it walks the vocabulary.
    A probe filter is built at once, so an incompatible version shows at load, not mid-review.
    """
    try:
        lmfe = import_heavy("lmformatenforcer")
        lmfe_exl = import_heavy("lmformatenforcer.integrations.exllamav2")
    except ImportError:
        return None, "lm-format-enforcer is not installed: the output is not constrained"
    base = import_heavy("exllamav2.generator.filters").ExLlamaV2Filter

    def __init__(self: Any, schema: dict[str, Any]) -> None:
        lmfe_exl.ExLlamaV2TokenEnforcerFilter.__init__(self, lmfe.JsonSchemaParser(schema), data)
        self.model = model
        self.tokenizer = tokenizer
        self.sequence_str = ""
        self.background_result = None

    try:
        data = lmfe_exl.build_token_enforcer_tokenizer_data(tokenizer)
        schema_filter = type(
            "SchemaFilter", (lmfe_exl.ExLlamaV2TokenEnforcerFilter, base), {"__init__": __init__}
        )
        schema_filter({"type": "object"})
    except (TypeError, AttributeError, ValueError) as exc:
        return None, f"lm-format-enforcer does not fit this exllamav2: {type(exc).__name__}: {exc}"
    return schema_filter, ""


class Engine:
    """The loaded model, cache, tokenizer and generator. Built and stepped in the GPU thread;
    `prepare` only tokenizes and builds a job, and may run in any thread."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        exl = import_heavy("exllamav2")
        self._gen = import_heavy("exllamav2.generator")
        config = exl.ExLlamaV2Config(str(settings.model_dir))
        if hasattr(config, "arch_compat_overrides"):
            config.arch_compat_overrides()
        config.max_seq_len = settings.window
        # Prompts are read in chunks of max_input_len tokens, a multiple of 256 in paged mode.
        config.max_input_len = min(int(config.max_input_len), settings.window)
        config.max_attention_size = config.max_input_len**2
        # Paged attention (batching) needs flash-attn >= 2.5.7, which needs an Ampere or newer GPU.
        attn = import_heavy("exllamav2.attn")
        self.paged = (
            bool(getattr(attn, "has_flash_attn_with_paged", False))
            and not bool(config.no_flash_attn)
            and int(import_heavy("torch").cuda.get_device_capability()[0]) >= 8
        )
        self.max_batch = settings.max_batch if self.paged else 1
        wanted = settings.cache_tokens or settings.window * self.max_batch
        self.cache_tokens = (
            max(_round_up(wanted), settings.window) if self.paged else settings.window
        )
        self.model = exl.ExLlamaV2(config)
        cache_class = getattr(exl, _CACHE_CLASSES[settings.cache_mode])
        self.cache = cache_class(self.model, max_seq_len=self.cache_tokens, lazy=True)
        self.model.load_autosplit(self.cache)
        self.tokenizer = exl.ExLlamaV2Tokenizer(config)
        self.generator = self._gen.ExLlamaV2DynamicGenerator(
            model=self.model,
            cache=self.cache,
            tokenizer=self.tokenizer,
            max_batch_size=self.max_batch,
            paged=self.paged,
        )
        self.window = settings.window
        self.vocab_size = int(self.tokenizer.get_vocab_size())
        self.stop_tokens = stop_tokens(settings.model_dir, self.tokenizer, config)
        fmt = PromptFormat.of_model(settings.model_dir)
        self.format = replace(
            fmt,
            bos_token=fmt.bos_token or str(self.tokenizer.bos_token or ""),
            eos_token=fmt.eos_token or str(self.tokenizer.eos_token or ""),
        )
        self.json_filter, self.json_problem = _json_filter_factory(self.model, self.tokenizer)
        self._entropies = functools.partial(logits_entropies, vocab_size=self.vocab_size)

    @property
    def runtime(self) -> dict[str, object]:
        return {
            "paged": self.paged,
            "max_batch": self.max_batch,
            "cache_tokens": self.cache_tokens,
            "context_tokens": self.window,
            "cache_mode": self.settings.cache_mode,
            "vocab_size": self.vocab_size,
            "stop_tokens": list(self.stop_tokens),
            "chat_template": self.format.chat_template is not None,
            "json_constraint": self.json_filter is not None,
            "json_constraint_problem": self.json_problem,
        }

    def prepare(self, request: CompletionRequest, ident: int) -> tuple[Any, int]:
        """Render and tokenize the prompt, check it fits, and build the job."""
        if request.max_output_tokens < 1:
            raise self._error(ErrorKind.API, "max_output_tokens must be at least 1")
        prompt = self.format.render(request)
        ids = self.tokenizer.encode(
            prompt.text, add_bos=not prompt.templated, encode_special_tokens=prompt.templated
        )
        prompt_tokens = int(ids.shape[-1])
        needed = prompt_tokens + request.max_output_tokens
        if needed > self.window:
            raise self._error(
                ErrorKind.TOO_LARGE,
                f"the prompt has {prompt_tokens} tokens and the answer may take "
                f"{request.max_output_tokens}: {needed} tokens do not fit the local model's "
                f"window of {self.window}",
            )
        filters = [self.json_filter(request.schema)] if self.json_filter and request.schema else []
        job = self._gen.ExLlamaV2DynamicJob(
            input_ids=ids,
            max_new_tokens=request.max_output_tokens,
            gen_settings=self._gen.ExLlamaV2Sampler.Settings.greedy(),
            stop_conditions=list(self.stop_tokens),
            return_logits=True,
            filters=filters,
            filter_prefer_eos=bool(filters),
            identifier=ident,
        )
        return job, prompt_tokens

    def step(self, new: list[tuple[int, Any]], cancels: list[Any]) -> Step:
        """Enqueue new jobs, cancel abandoned ones, run one generator iteration and digest it."""
        rejected: dict[int, str] = {}
        for ident, job in new:
            try:
                self.generator.enqueue(job)
            except AssertionError as exc:  # exllamav2 asserts that a job fits the cache
                rejected[ident] = str(exc) or "the job does not fit the cache"
        for job in cancels:
            self.generator.cancel(job)
        started = time.perf_counter()
        results = self.generator.iterate() if self.generator.num_remaining_jobs() else []
        seconds = time.perf_counter() - started
        events = [digest_result(r, self._entropies) for r in results if "identifier" in r]
        return Step(events, rejected, seconds, int(self.generator.num_remaining_jobs()))

    def reset(self) -> None:
        """Drop every job after a failure, and give back what CUDA can."""
        self.generator.clear_queue()
        import_heavy("torch").cuda.empty_cache()

    def unload(self) -> None:
        """Drop every job and the model's weights, and give back what CUDA can."""
        self.generator.clear_queue()
        self.model.unload()
        import_heavy("torch").cuda.empty_cache()

    def _error(self, kind: ErrorKind, message: str) -> ModelError:
        return ModelError(kind, message, backend=BACKEND, model=self.settings.model)


def _round_up(tokens: int) -> int:
    return -(-tokens // PAGE_TOKENS) * PAGE_TOKENS
