"""The local backend (ExLlamaV2).

On any machine: it imports no GPU library, says plainly why it cannot run, renders prompts with
the repeating parts first, and reads exllamav2's results (a stop-token ending's last step is in
`held`). On a CUDA GPU (`pytest -m gpu`, see deploy/gpu-check.sh): a tiny random Llama, built
offline, loads for real and answers concurrent requests with one finite entropy per generated
token, token counts that match the tokenizer, and TOO_LARGE for what does not fit.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.models.chat import PLAIN_ANSWER_CUE, SCHEMA_INSTRUCTION, PromptFormat
from bot.adapters.models.entropy import entropy_from_logits
from bot.adapters.models.exllama import LocalBackend
from bot.adapters.models.exllama_gpu import GPU_EXTRA_MISSING
from bot.adapters.models.exllama_steps import digest_result, logits_entropies
from bot.core.types import Completion, CompletionRequest, ErrorKind, ModelError
from tests.tiny_llama import CHAT_TEMPLATE, build_tiny_llama, tokenizer_vocab_size

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "exllamav2", "tokenizers", "safetensors", "lmformatenforcer", "jinja2")
SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "comments": {"type": "array"}},
    "required": ["summary", "comments"],
}
SUMMARY_ONLY = {
    "type": "object",
    "properties": {"summary": {"type": "string"}},
    "required": ["summary"],
}
INF = math.inf


def review_request(prompt: str, max_output_tokens: int = 16) -> CompletionRequest:
    return CompletionRequest(
        system="You review pull requests.",
        stable="Guidelines: cite real lines; answer with JSON.",
        prompt=prompt,
        schema=SCHEMA,
        max_output_tokens=max_output_tokens,
    )


def _missing_gpu_modules() -> list[str]:
    return [name for name in ("torch", "exllamav2", "tokenizers") if not _importable(name)]


def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# --- any machine --------------------------------------------------------------------------------


def test_importing_the_backend_loads_no_gpu_library() -> None:
    code = (
        "import json, sys\n"
        "from bot.adapters.models.exllama import LocalBackend\n"
        "import bot.adapters.models.entropy\n"
        "LocalBackend('/nonexistent/model', context_tokens=4096, cache_mode='q4')\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_unavailable_reason_says_why_it_cannot_run_here(tmp_path: Path) -> None:
    reason = LocalBackend(tmp_path / "no-model").unavailable_reason()
    assert reason
    if _missing_gpu_modules():
        assert reason.startswith(GPU_EXTRA_MISSING)
        assert all(name in reason for name in _missing_gpu_modules())
    elif not importlib.import_module("torch").cuda.is_available():
        assert "no CUDA GPU is visible" in reason
    else:
        assert "does not exist" in reason


def test_a_folder_that_is_not_a_model_is_named_in_the_reason(tmp_path: Path) -> None:
    if _missing_gpu_modules():
        pytest.skip("the GPU libraries are reported first: " + ", ".join(_missing_gpu_modules()))
    (tmp_path / "weights.bin").write_bytes(b"")
    reason = LocalBackend(tmp_path).unavailable_reason()
    assert reason
    assert "no CUDA GPU" in reason or "config.json" in reason


def test_complete_raises_unavailable_where_it_cannot_run(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "no-model")
    with pytest.raises(ModelError) as caught:
        asyncio.run(backend.complete(review_request("diff")))
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert caught.value.message == backend.unavailable_reason()
    assert caught.value.backend == "local"


def test_settings_are_checked_when_the_backend_is_built(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cache_mode"):
        LocalBackend(tmp_path, cache_mode="q3")
    with pytest.raises(ValueError, match="context_tokens"):
        LocalBackend(tmp_path, context_tokens=100)
    with pytest.raises(ValueError, match="max_batch"):
        LocalBackend(tmp_path, max_batch=0)
    backend = LocalBackend(tmp_path / "some-model-exl2", cache_mode="q6", max_batch=8)
    assert (backend.name, backend.model, backend.runtime) == ("local", "some-model-exl2", None)
    assert LocalBackend(tmp_path, model_name="qwen-14b").model == "qwen-14b"


def test_the_window_is_the_models_own_under_the_cap_in_pages(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 32768}))
    assert LocalBackend(tmp_path).context_tokens == 32768
    assert LocalBackend(tmp_path, context_tokens=8192).context_tokens == 8192
    assert LocalBackend(tmp_path, context_tokens=5000).context_tokens == 4864
    assert LocalBackend(tmp_path, context_tokens=65536).context_tokens == 32768
    assert LocalBackend(tmp_path / "missing").context_tokens == 0


def test_plain_prompt_puts_the_repeating_parts_first() -> None:
    request = review_request("diff --git a/x b/x")
    prompt = PromptFormat().render(request)
    assert not prompt.templated
    order = [
        request.system,
        SCHEMA_INSTRUCTION,
        json.dumps(SCHEMA),
        request.stable,
        request.prompt,
        PLAIN_ANSWER_CUE,
    ]
    positions = [prompt.text.index(part) for part in order]
    assert positions == sorted(positions)
    assert prompt.text.endswith(PLAIN_ANSWER_CUE)


def test_chat_template_prompt_has_system_and_user_turns() -> None:
    pytest.importorskip("jinja2", reason="jinja2 renders chat templates (it comes with torch)")
    request = review_request("diff --git a/x b/x")
    prompt = PromptFormat(CHAT_TEMPLATE, "<s>", "</s>").render(request)
    assert prompt.templated
    assert prompt.text.startswith(
        "<s><|system|>\nYou review pull requests.\n\n" + SCHEMA_INSTRUCTION
    )
    assert f"<|user|>\n{request.stable}\n\n{request.prompt}\n" in prompt.text
    assert prompt.text.endswith("<|assistant|>\n")


def test_a_template_without_a_system_role_gets_one_user_turn() -> None:
    pytest.importorskip("jinja2", reason="jinja2 renders chat templates (it comes with torch)")
    no_system = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "[{{ m['role'] }}] {{ m['content'] }}{% endfor %}"
    )
    prompt = PromptFormat(no_system).render(review_request("the diff"))
    assert prompt.templated
    assert prompt.text.startswith("[user] You review pull requests.")
    assert prompt.text.endswith("the diff")


def test_a_broken_template_falls_back_to_the_plain_format() -> None:
    prompt = PromptFormat("{% for %}").render(review_request("the diff"))
    assert not prompt.templated
    assert prompt.text.endswith(PLAIN_ANSWER_CUE)


def _pure_entropies(logits: Any) -> list[float]:
    return [entropy_from_logits(row) for row in logits[0]]


def test_a_stop_token_ending_is_read_from_held() -> None:
    streamed = {
        "identifier": 7,
        "stage": "streaming",
        "eos": False,
        "text": "{",
        "logits": [[[0.0, 0.0, -INF, -INF]]],
    }
    ended = {
        "identifier": 7,
        "stage": "streaming",
        "eos": True,
        "eos_reason": "stop_token",
        "eos_triggering_token_id": 2,
        "new_tokens": 3,
        "full_completion": "{}",
        "held": {
            "text": "</s>",
            "token_ids": [[99, 2]],
            "logits": [[[1.0, 1.0, 1.0, 1.0], [9.0, -INF, -INF, -INF]]],
        },
    }
    first = digest_result(streamed, _pure_entropies)
    assert (first.identifier, first.text, first.eos) == (7, "{", False)
    assert first.entropies == pytest.approx((math.log(2),))
    last = digest_result(ended, _pure_entropies)
    assert (last.eos, last.eos_reason, last.new_tokens) == (True, "stop_token", 3)
    assert last.entropies == pytest.approx((math.log(4), 0.0))
    assert last.text == ""  # the stop token is not part of the answer


def test_a_max_tokens_ending_carries_its_step_in_the_result() -> None:
    ended = {
        "identifier": "x",
        "stage": "streaming",
        "eos": True,
        "eos_reason": "max_new_tokens",
        "new_tokens": 1,
        "text": "}",
        "logits": [[[3.0, 3.0, 3.0, -INF]]],
    }
    event = digest_result(ended, _pure_entropies)
    assert (event.text, event.eos_reason, event.new_tokens) == ("}", "max_new_tokens", 1)
    assert event.entropies == pytest.approx((math.log(3),))


def test_prefill_and_start_results_carry_nothing() -> None:
    event = digest_result({"identifier": 1, "stage": "prefill", "eos": False}, _pure_entropies)
    assert (event.stage, event.text, event.entropies, event.eos) == ("prefill", "", (), False)


def test_torch_entropies_agree_with_the_pure_function() -> None:
    torch = pytest.importorskip("torch", reason=f"{GPU_EXTRA_MISSING}: no torch")
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn((1, 6, 40), generator=generator) * 4
    logits[..., 33:] = -INF  # vocabulary padding
    logits[0, 1, :] = -INF
    logits[0, 1, 3] = 2.0  # one-hot
    logits[0, 2, 5] = math.nan
    logits[0, 3, :30] = 1e30  # huge, equal
    logits[0, 4, 7] = INF
    got = logits_entropies(logits, vocab_size=36)
    expected = [entropy_from_logits(row) for row in logits[0, :, :36].tolist()]
    assert got == pytest.approx(expected, abs=1e-6)
    assert logits_entropies(torch.full((2, 8), -INF)) == [0.0, 0.0]


# --- a CUDA GPU ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cuda() -> None:
    """Skip, with the reason, unless torch sees a CUDA GPU and exllamav2 imports (its first
    import compiles the CUDA extension: minutes, once per machine)."""
    torch = pytest.importorskip("torch", reason=f"{GPU_EXTRA_MISSING}: no torch")
    for name in ("tokenizers", "safetensors"):
        pytest.importorskip(name, reason=f"{GPU_EXTRA_MISSING}: no {name}")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU is visible (torch.cuda.is_available() is False)")
    pytest.importorskip("exllamav2", reason=f"{GPU_EXTRA_MISSING}: no exllamav2")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, cuda: None) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tiny-llama")
    return {
        "chat": build_tiny_llama(base / "chat"),
        "plain": build_tiny_llama(base / "plain", chat_template=False),
        "eos": build_tiny_llama(base / "eos", eos_logit=12.0),
    }


def run(backend: LocalBackend, *requests: CompletionRequest) -> list[Completion]:
    """Complete the requests concurrently in one event loop, then close the backend."""

    async def scenario() -> list[Completion]:
        try:
            completions = await asyncio.gather(*(backend.complete(r) for r in requests))
            print("runtime:", backend.runtime)
            return list(completions)
        finally:
            await backend.aclose()

    return asyncio.run(scenario())


def prompt_token_count(model_dir: Path, request: CompletionRequest) -> int:
    """Counted with the tokenizers library, not exllamav2: the plain format adds a BOS."""
    tokenizers = importlib.import_module("tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    prompt = PromptFormat.of_model(model_dir).render(request)
    ids = tokenizer.encode(prompt.text, add_special_tokens=False).ids
    return len(ids) + (0 if prompt.templated else 1)


def entropies_of(completion: Completion) -> Iterator[float]:
    assert completion.token_stats is not None
    yield from completion.token_stats.entropies


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["chat", "plain"])
def test_concurrent_requests_each_get_one_entropy_per_token(
    tiny: dict[str, Path], kind: str
) -> None:
    model_dir = tiny[kind]
    backend = LocalBackend(model_dir, context_tokens=1024, max_batch=4)
    assert backend.unavailable_reason() is None
    requests = [
        review_request(f"Change {i}: the lock is released twice on failure.", tokens)
        for i, tokens in enumerate((8, 16, 24, 12, 5, 30))
    ]
    completions = run(backend, *requests)
    bound = math.log(tokenizer_vocab_size(model_dir)) + 1e-9
    assert len(completions) == len(requests)
    for request, completion in zip(requests, completions, strict=True):
        assert (completion.backend, completion.model) == ("local", model_dir.name)
        assert 0 < completion.usage.output_tokens <= request.max_output_tokens
        entropies = list(entropies_of(completion))
        assert len(entropies) == completion.usage.output_tokens
        assert all(math.isfinite(h) and 0.0 <= h <= bound for h in entropies)
        # Where each token's text ends: in order, within the text, the last at its end.
        assert completion.token_stats is not None
        offsets = completion.token_stats.offsets
        assert len(offsets) == len(entropies)
        assert list(offsets) == sorted(offsets)
        assert offsets[-1] == len(completion.text)
        assert completion.usage.input_tokens == prompt_token_count(model_dir, request)
        assert completion.stop_reason in ("max_tokens", "end_turn")
        assert completion.gpu_seconds > 0
        if completion.parsed is not None:
            assert completion.parsed == json.loads(completion.text)


@pytest.mark.gpu
def test_a_stop_token_ending_counts_its_step(tiny: dict[str, Path]) -> None:
    requests = [review_request("Change A"), review_request("Change B")]
    for completion in run(LocalBackend(tiny["eos"], context_tokens=1024), *requests):
        assert completion.stop_reason == "end_turn"
        assert completion.usage.output_tokens == 1
        assert completion.text == ""
        [entropy] = entropies_of(completion)
        assert 0.0 <= entropy < 1.0  # the EOS took nearly all the mass


@pytest.mark.gpu
def test_what_does_not_fit_the_window_is_too_large(tiny: dict[str, Path]) -> None:
    backend = LocalBackend(tiny["chat"], context_tokens=512)

    async def scenario() -> Completion:
        try:
            for request in (
                review_request("word " * 2000),
                review_request("a short change", max_output_tokens=600),
            ):
                with pytest.raises(ModelError) as caught:
                    await backend.complete(request)
                assert caught.value.kind is ErrorKind.TOO_LARGE
            assert backend.context_tokens == 512
            return await backend.complete(review_request("a short change", 8))
        finally:
            await backend.aclose()

    completion = asyncio.run(scenario())
    assert 0 < completion.usage.output_tokens <= 8


@pytest.mark.gpu
def test_with_lm_format_enforcer_the_answer_follows_the_schema(tiny: dict[str, Path]) -> None:
    pytest.importorskip("lmformatenforcer", reason="lm-format-enforcer is not installed")
    backend = LocalBackend(tiny["chat"], context_tokens=1024)

    async def scenario() -> tuple[Completion, Any]:
        try:
            request = replace(review_request("Change A", 96), schema=SUMMARY_ONLY)
            completion = await backend.complete(request)
            return completion, backend.runtime
        finally:
            await backend.aclose()

    completion, runtime = asyncio.run(scenario())
    assert runtime is not None
    assert runtime["json_constraint"] is True, runtime
    assert completion.text.lstrip()[:1] in ("", "{")
    assert completion.parsed is not None or completion.stop_reason == "max_tokens"
