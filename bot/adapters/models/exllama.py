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
vocabulary (the padded columns, -inf, are left out), with where the step's text ends in the
answer, so each comment can be judged on its own tokens. The rows are dropped right after: keeping
them would cost vocab x 4 bytes per token. The logits are taken before any JSON constraint is
applied, so the entropy measures the model's own uncertainty.

JSON: the answer is constrained to the request's schema where lm-format-enforcer is installed
(the `gpu` extra installs it) and its filter builds with this exllamav2; otherwise generation is
unconstrained and the schema is only given in the prompt. Either way `parsed` is
`json.loads(text)` or None.

Nothing heavy is imported here: torch, exllamav2, lm-format-enforcer and jinja2 are imported
inside functions, through `importlib`, so this module imports anywhere and their objects are
typed `Any` (they ship no type information usable here). The parts: where it can run
(exllama_gpu), the generator and its model (exllama_engine), one step's results read
(exllama_steps), and here the backend that batches requests onto the generator.

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
import itertools
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from bot.adapters.models.exllama_engine import CACHE_MODES, Engine, EngineSettings, Step
from bot.adapters.models.exllama_gpu import (
    BACKEND,
    PAGE_TOKENS,
    gpu_stack_problem,
    model_dir_problem,
    model_window,
)
from bot.adapters.models.exllama_steps import StepEvent, failure
from bot.core.types import Completion, CompletionRequest, ErrorKind, ModelError, TokenStats, Usage

# exllamav2's end reasons, in the words the frontier backend reports (Anthropic's stop_reason).
_STOP_REASONS = {
    "stop_token": "end_turn",
    "end_filter": "end_turn",
    "max_new_tokens": "max_tokens",
    "stop_string": "stop_sequence",
}

T = TypeVar("T")


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
    offsets: list[int] = field(default_factory=list)
    length: int = 0
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
        self._engine: Engine | None = None
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
        own = model_window(self._model_dir)
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
        return gpu_stack_problem() or model_dir_problem(self._model_dir) or self._load_failure

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

    async def _loaded(self) -> Engine:
        if self._engine is not None:
            return self._engine
        async with self._load_lock:
            if self._load_failure is not None:  # another request's load failed meanwhile
                raise self._error(ErrorKind.UNAVAILABLE, self._load_failure)
            if self._engine is None:
                settings = EngineSettings(
                    self._model_dir,
                    self._model,
                    self.context_tokens,
                    self._cache_mode,
                    self._max_batch,
                    self._cache_tokens,
                )
                try:
                    self._engine = await self._on_gpu(Engine, settings)
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

    async def _drive(self, engine: Engine) -> None:
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
                    self._fail_all(failure(exc, self._model))
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

    def _route(self, step: Step) -> None:
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
            flight.length += len(event.text)
            flight.entropies.extend(event.entropies)
            # A step's tokens end where its text does (a token whose text is held back, such as
            # part of a multi-byte character, ends with the text that follows it).
            flight.offsets.extend([flight.length] * len(event.entropies))
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
            token_stats=TokenStats(tuple(flight.entropies), tuple(flight.offsets)),
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
