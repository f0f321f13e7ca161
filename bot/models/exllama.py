"""The local tier: an EXL2 model on this machine's CUDA GPU, through ExLlamaV2's dynamic generator.

`LocalBackend` loads the model once, on first use, in a dedicated GPU thread, and keeps one
`ExLlamaV2DynamicGenerator`. Each `complete()` becomes one generator job; a single driver task
steps the generator (`iterate()`, in the GPU thread) while jobs are in flight and routes each
result to its request by the job's identifier, so concurrent requests are batched by the
generator. The generator also shares cache pages between prompts with the same prefix, which is
why the prompt puts the parts that repeat (system, schema, `stable`) before the change.

Decoding is greedy, so the sampler's token probabilities are all 1.0 and useless as confidence.
Jobs ask for `return_logits=True` instead; every step's logits row (also the last step of a job
that ended on a stop token, which exllamav2 reports under `result["held"]`) is reduced at once,
in the GPU thread, to the entropy of the model's next-token distribution over the tokenizer's
vocabulary (the padded columns, -inf, are left out). The rows are dropped right after: keeping
them would cost vocab x 4 bytes per token. The logits are taken before any JSON constraint is
applied, so the entropy measures the model's own uncertainty.

JSON: the answer is constrained to the request's schema where lm-format-enforcer is installed
(the `gpu` extra installs it) and its filter builds with this exllamav2; otherwise generation is
unconstrained and the schema is only given in the prompt. Either way `parsed` is
`json.loads(text)` or None.

Nothing heavy is imported here: torch, exllamav2, lm-format-enforcer and jinja2 are imported
inside functions, through `importlib`, so this module imports anywhere and their objects are
typed `Any` (they ship no type information usable here).

Facts this relies on, checked in exllamav2 0.3.2's source (exllamav2/generator/dynamic.py,
sampler.py, filters/base.py, attn.py, config.py, tokenizer/tokenizer.py): the paged generator
needs flash-attn >= 2.5.7, otherwise it runs unpaged with one job at a time; the cache length
must be a multiple of 256 and a job must fit in it; the sampler writes -inf into logit columns
beyond the tokenizer's vocabulary; a stop-token ending is emitted without `emit_held`, so its
step is only in `held`; a filter must implement the ExLlamaV2Filter base methods
(`background_drop`, `can_mask_logits`, ...), which lm-format-enforcer's own filter lacks.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from bot.models.base import (
    Completion,
    CompletionRequest,
    ErrorKind,
    ModelError,
    TokenStats,
    Usage,
)
from bot.models.chat import PromptFormat, read_json

BACKEND = "local"
CACHE_MODES = ("fp16", "q8", "q6", "q4")
_CACHE_CLASSES = {
    "fp16": "ExLlamaV2Cache",
    "q8": "ExLlamaV2Cache_Q8",
    "q6": "ExLlamaV2Cache_Q6",
    "q4": "ExLlamaV2Cache_Q4",
}
# The dynamic generator's page: cache lengths and context windows are multiples of it.
PAGE_TOKENS = 256
# exllamav2's own default when config.json names no length (ExLlamaV2Config.prepare).
_DEFAULT_MODEL_WINDOW = 2048
_WINDOW_KEYS = (
    "max_sequence_length",
    "model_max_length",
    "max_position_embeddings",
    "max_seq_len",
    "n_positions",
)
_GPU_MODULES = ("torch", "exllamav2", "tokenizers")
GPU_EXTRA_MISSING = "the gpu extra is not installed (uv sync --extra gpu)"
# exllamav2's end reasons, in the words the frontier backend reports (Anthropic's stop_reason).
_STOP_REASONS = {
    "stop_token": "end_turn",
    "end_filter": "end_turn",
    "max_new_tokens": "max_tokens",
    "stop_string": "stop_sequence",
}

T = TypeVar("T")


def _import(name: str) -> Any:
    """Import a heavy or optional module by name, typed Any (see the module docstring)."""
    return importlib.import_module(name)


# --- logits to entropies ------------------------------------------------------------------------


def logits_entropies(logits: Any, vocab_size: int | None = None) -> list[float]:
    """Per-row entropy (nats) of a torch tensor of logits, vectorised; the twin of
    `bot.models.entropy.entropy_from_logits`, which defines the semantics.

    `logits` has the vocabulary last (exllamav2 gives (1, n, padded_vocab)); every other axis is
    flattened into rows. Columns from `vocab_size` on are dropped (head padding that the sampler
    masks), -inf and NaN entries are left out, rows with +inf share their certainty, and a row
    with no candidate at all gives 0.
    """
    torch = _import("torch")
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


# --- where it can run ---------------------------------------------------------------------------


@functools.cache
def _gpu_stack_problem() -> str | None:
    """Why the GPU libraries cannot run here, or None. Cached: it does not change in a process.
    exllamav2 is only looked up, not imported: its first import compiles a CUDA extension."""
    missing = [name for name in _GPU_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return f"{GPU_EXTRA_MISSING}: cannot import {', '.join(missing)}"
    try:
        torch = _import("torch")
        visible = bool(torch.cuda.is_available())
    except (ImportError, OSError, RuntimeError) as exc:
        return f"torch is installed but cannot use CUDA here: {exc}"
    if not visible:
        return "no CUDA GPU is visible (torch.cuda.is_available() is False)"
    return None


def _model_dir_problem(model_dir: Path) -> str | None:
    if not model_dir.is_dir():
        return f"the local model folder {model_dir} does not exist"
    if not (model_dir / "config.json").is_file():
        return f"the local model folder {model_dir} has no config.json"
    if not any(model_dir.glob("*.safetensors")):
        return f"the local model folder {model_dir} has no .safetensors weights"
    if not any((model_dir / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        return f"the local model folder {model_dir} has no tokenizer.json or tokenizer.model"
    return None


def _model_window(model_dir: Path) -> int | None:
    """The model's own context length from config.json, read the way exllamav2 reads it."""
    config = read_json(model_dir / "config.json")
    if config is None:
        return None
    for section in (config, config.get("text_config")):
        if isinstance(section, dict):
            for key in _WINDOW_KEYS:
                if isinstance(section.get(key), int):
                    return int(section[key])
    return _DEFAULT_MODEL_WINDOW


def _stop_tokens(model_dir: Path, tokenizer: Any, config: Any) -> tuple[int, ...]:
    """The tokenizer's EOS plus every EOS id the model's configs list (instruct models end a
    turn with a token that is not the tokenizer's EOS, e.g. <|eot_id|>, <|im_end|>)."""
    ids: set[int] = set()

    def add(value: object) -> None:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int):
                ids.add(item)

    add(tokenizer.eos_token_id)
    add((read_json(model_dir / "config.json") or {}).get("eos_token_id"))
    add((getattr(config, "generation_config", None) or {}).get("eos_token_id"))
    add((read_json(model_dir / "generation_config.json") or {}).get("eos_token_id"))
    return tuple(sorted(ids))


def _failure(exc: BaseException, model: str) -> ModelError:
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


# --- the engine: everything that touches exllamav2, run in the GPU thread -----------------------


@dataclass(frozen=True, slots=True)
class _Settings:
    model_dir: Path
    model: str
    window: int
    cache_mode: str
    max_batch: int
    cache_tokens: int | None


@dataclass(frozen=True, slots=True)
class _Step:
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
        lmfe = _import("lmformatenforcer")
        lmfe_exl = _import("lmformatenforcer.integrations.exllamav2")
    except ImportError:
        return None, "lm-format-enforcer is not installed: the output is not constrained"
    base = _import("exllamav2.generator.filters").ExLlamaV2Filter

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


class _Engine:
    """The loaded model, cache, tokenizer and generator. Built and stepped in the GPU thread;
    `prepare` only tokenizes and builds a job, and may run in any thread."""

    def __init__(self, settings: _Settings) -> None:
        self.settings = settings
        exl = _import("exllamav2")
        self._gen = _import("exllamav2.generator")
        config = exl.ExLlamaV2Config(str(settings.model_dir))
        if hasattr(config, "arch_compat_overrides"):
            config.arch_compat_overrides()
        config.max_seq_len = settings.window
        # Prompts are read in chunks of max_input_len tokens, a multiple of 256 in paged mode.
        config.max_input_len = min(int(config.max_input_len), settings.window)
        config.max_attention_size = config.max_input_len**2
        # Paged attention (batching) needs flash-attn >= 2.5.7, which needs an Ampere or newer GPU.
        attn = _import("exllamav2.attn")
        self.paged = (
            bool(getattr(attn, "has_flash_attn_with_paged", False))
            and not bool(config.no_flash_attn)
            and int(_import("torch").cuda.get_device_capability()[0]) >= 8
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
        self.stop_tokens = _stop_tokens(settings.model_dir, self.tokenizer, config)
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

    def step(self, new: list[tuple[int, Any]], cancels: list[Any]) -> _Step:
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
        return _Step(events, rejected, seconds, int(self.generator.num_remaining_jobs()))

    def reset(self) -> None:
        """Drop every job after a failure, and give back what CUDA can."""
        self.generator.clear_queue()
        _import("torch").cuda.empty_cache()

    def unload(self) -> None:
        self.generator.clear_queue()
        self.model.unload()
        _import("torch").cuda.empty_cache()

    def _error(self, kind: ErrorKind, message: str) -> ModelError:
        return ModelError(kind, message, backend=BACKEND, model=self.settings.model)


def _round_up(tokens: int) -> int:
    return -(-tokens // PAGE_TOKENS) * PAGE_TOKENS


# --- the backend --------------------------------------------------------------------------------


@dataclass(eq=False)
class _Flight:
    ident: int
    job: Any
    future: asyncio.Future[Completion]
    prompt_tokens: int
    started: float
    parts: list[str] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    gpu_seconds: float = 0.0


class LocalBackend:
    """The `local` backend: an EXL2 model folder served by ExLlamaV2 on this machine's GPU.

    Construction only records settings. `model_dir`: the EXL2 folder. `context_tokens`: a cap on
    the window (prompt and answer) of one request; the window is the model's own length
    (config.json) under that cap, rounded down to a multiple of 256. `cache_mode`: the KV cache's
    precision, `fp16`, `q8`, `q6` or `q4`. `max_batch`: jobs generated together. `cache_tokens`:
    the KV cache shared by all jobs (default window x max_batch, so `max_batch` full-size requests
    fit; lower it to save memory, and jobs wait for room). Without flash-attn >= 2.5.7 the
    generator runs unpaged, one job at a time, with a cache of one window. `model_name`: the id
    reports and prices know (default: the folder's name).

    `gpu_seconds` of a completion is its fair share of the GPU: each generator iteration's time
    is split equally among the jobs it advanced, so the shares add up to the time the GPU was
    busy. `wall_seconds` runs from the request's arrival (after the model is loaded) to its end.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        context_tokens: int | None = None,
        cache_mode: str = "fp16",
        max_batch: int = 4,
        cache_tokens: int | None = None,
        model_name: str | None = None,
    ) -> None:
        if cache_mode not in CACHE_MODES:
            raise ValueError(f"cache_mode must be one of {', '.join(CACHE_MODES)}: {cache_mode!r}")
        if context_tokens is not None and context_tokens < PAGE_TOKENS:
            raise ValueError(f"context_tokens must be at least {PAGE_TOKENS}: {context_tokens}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1: {max_batch}")
        if cache_tokens is not None and cache_tokens < PAGE_TOKENS:
            raise ValueError(f"cache_tokens must be at least {PAGE_TOKENS}: {cache_tokens}")
        self._model_dir = Path(model_dir)
        self._cap = context_tokens
        self._cache_mode = cache_mode
        self._max_batch = max_batch
        self._cache_tokens = cache_tokens
        self._model = model_name or self._model_dir.resolve().name or BACKEND
        self._engine: _Engine | None = None
        self._load_failure: str | None = None
        self._load_lock = asyncio.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._flights: dict[int, _Flight] = {}
        self._inbox: list[tuple[int, Any]] = []
        self._cancels: list[Any] = []
        self._driver: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    @property
    def name(self) -> str:
        return BACKEND

    @property
    def model(self) -> str:
        return self._model

    @property
    def context_tokens(self) -> int:
        """The window of one request; 0 while the model folder cannot be read (see
        `unavailable_reason`)."""
        if self._engine is not None:
            return self._engine.window
        own = _model_window(self._model_dir)
        window = self._cap if own is None else min(own, self._cap or own)
        return 0 if window is None else window // PAGE_TOKENS * PAGE_TOKENS

    @property
    def runtime(self) -> Mapping[str, object] | None:
        """How the loaded generator runs (paged, batch, cache, JSON constraint), or None before
        the model is loaded. For logs and the GPU check."""
        return None if self._engine is None else self._engine.runtime

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run here: the gpu extra missing, no CUDA GPU, a model folder
        that is not one, or a model that failed to load; None when it can."""
        return _gpu_stack_problem() or _model_dir_problem(self._model_dir) or self._load_failure

    async def complete(self, request: CompletionRequest) -> Completion:
        """Generate the answer to `request` greedily, with per-token entropies.

        Raises ModelError: UNAVAILABLE when the backend cannot run or the model fails to load,
        TOO_LARGE when prompt and answer exceed the window or the GPU runs out of memory, API for
        any other failure reported by exllamav2 while generating.
        """
        reason = self.unavailable_reason()
        if reason is not None:
            raise self._error(ErrorKind.UNAVAILABLE, reason)
        engine = await self._loaded()
        started = time.monotonic()
        ident = next(self._ids)
        try:
            job, prompt_tokens = await asyncio.to_thread(engine.prepare, request, ident)
        except ModelError:
            raise
        # A tokenizer or filter that cannot take this request is reported, never swallowed.
        except Exception as exc:
            message = f"could not prepare the request: {type(exc).__name__}: {exc}"
            raise self._error(ErrorKind.API, message) from exc
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._flights[ident] = _Flight(ident, job, future, prompt_tokens, started)
        self._inbox.append((ident, job))
        if self._driver is None:
            self._driver = asyncio.create_task(self._drive(engine), name="tierbot-local-driver")
        try:
            return await future
        except asyncio.CancelledError:
            # Abandoned (a timeout, a shutdown): stop the generator working on it.
            if self._flights.pop(ident, None) is not None:
                if (ident, job) in self._inbox:
                    self._inbox.remove((ident, job))
                else:
                    self._cancels.append(job)
            raise

    async def aclose(self) -> None:
        """Fail the requests in flight, unload the model and stop the GPU thread; the backend
        is unavailable from then on."""
        self._load_failure = "the local backend was closed"
        self._fail_all(self._error(ErrorKind.UNAVAILABLE, self._load_failure))
        if self._driver is not None:
            self._driver.cancel()
        engine, self._engine = self._engine, None
        if engine is not None:
            await self._on_gpu(engine.unload)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def _loaded(self) -> _Engine:
        if self._engine is not None:
            return self._engine
        async with self._load_lock:
            if self._load_failure is not None:  # another request's load failed meanwhile
                raise self._error(ErrorKind.UNAVAILABLE, self._load_failure)
            if self._engine is None:
                settings = _Settings(
                    self._model_dir,
                    self._model,
                    self.context_tokens,
                    self._cache_mode,
                    self._max_batch,
                    self._cache_tokens,
                )
                try:
                    self._engine = await self._on_gpu(_Engine, settings)
                # Whatever stops the model from loading (a CUDA build error, an unsupported
                # architecture, no memory) makes the backend unavailable, with the reason kept.
                except Exception as exc:
                    self._load_failure = (
                        f"the local model in {self._model_dir} failed to load: "
                        f"{type(exc).__name__}: {exc}"
                    )
                    raise self._error(ErrorKind.UNAVAILABLE, self._load_failure) from exc
            return self._engine

    async def _on_gpu(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` in the one thread that touches the GPU, so CUDA state stays in one place."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tierbot-gpu")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _drive(self, engine: _Engine) -> None:
        """Step the generator while any request is in flight; one driver at a time."""
        try:
            while self._flights or self._cancels:
                new, self._inbox = self._inbox, []
                cancels, self._cancels = self._cancels, []
                try:
                    step = await self._on_gpu(engine.step, new, cancels)
                # Any failure inside exllamav2 or CUDA fails every request in flight with its
                # message (none is lost or answered empty), then the generator is cleared.
                except Exception as exc:  # noqa: BLE001
                    self._fail_all(_failure(exc, self._model))
                    try:
                        await self._on_gpu(engine.reset)
                    except Exception as broken:  # noqa: BLE001
                        self._load_failure = f"the local model is unusable after an error: {broken}"
                        self._engine = None
                        return
                    continue
                self._route(step)
        finally:
            self._driver = None

    def _route(self, step: _Step) -> None:
        for ident, message in step.rejected.items():
            self._fail(ident, self._error(ErrorKind.TOO_LARGE, message))
        advanced = {event.identifier for event in step.events} & self._flights.keys()
        for ident in advanced:
            self._flights[ident].gpu_seconds += step.seconds / len(advanced)
        for event in step.events:
            flight = self._flights.get(event.identifier)
            if flight is None:
                continue
            flight.parts.append(event.text)
            flight.entropies.extend(event.entropies)
            if event.eos:
                self._finish(flight, event)
        if step.remaining == 0 and not self._inbox:
            for ident in list(self._flights):  # the generator holds nothing: nothing will come
                message = "the generator finished without answering this request"
                self._fail(ident, self._error(ErrorKind.API, message))

    def _finish(self, flight: _Flight, event: StepEvent) -> None:
        del self._flights[flight.ident]
        text = "".join(flight.parts)
        output_tokens = len(flight.entropies) if event.new_tokens is None else event.new_tokens
        completion = Completion(
            text=text,
            parsed=_parse_json(text),
            model=self._model,
            backend=BACKEND,
            usage=Usage(input_tokens=flight.prompt_tokens, output_tokens=output_tokens),
            wall_seconds=time.monotonic() - flight.started,
            stop_reason=_STOP_REASONS.get(event.eos_reason or "", event.eos_reason),
            token_stats=TokenStats(tuple(flight.entropies)),
            gpu_seconds=flight.gpu_seconds,
            request_id=f"local-{flight.ident}",
        )
        if not flight.future.done():
            flight.future.set_result(completion)

    def _fail(self, ident: int, error: ModelError) -> None:
        flight = self._flights.pop(ident, None)
        if flight is not None and not flight.future.done():
            flight.future.set_exception(replace(error))

    def _fail_all(self, error: ModelError) -> None:
        for ident in list(self._flights):
            self._fail(ident, error)
        self._inbox.clear()

    def _error(self, kind: ErrorKind, message: str) -> ModelError:
        return ModelError(kind, message, backend=BACKEND, model=self._model)


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
