"""The frontier backend, through the real Anthropic SDK against a local fake Messages API."""

from __future__ import annotations

import asyncio
import copy
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from bot.adapters.models.anthropic import DEFAULT_BASE_URL, NO_KEY, FrontierBackend
from bot.core.types import Completion, CompletionRequest, ErrorKind, ModelError, Usage
from tests.fake_anthropic import (
    MODEL,
    FakeAnthropic,
    Reply,
    error,
    fake_anthropic_fixture,  # noqa: F401 (the fake_anthropic fixture)
    message,
    token_count,
)

KEY = "sk-ant-test-0123456789abcdef"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "comments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "body": {"type": "string", "maxLength": 2000},
                },
                "required": ["path", "line", "body"],
            },
        }
    },
    "required": ["comments"],
}
REQUEST = CompletionRequest(
    system="You review pull requests.",
    stable="Guidelines: be brief. Repo instructions: none.",
    prompt="diff --git a/x.py b/x.py\n+print('hi')\n",
    schema=SCHEMA,
    max_output_tokens=1234,
)
ANSWER = '{"comments": [{"path": "x.py", "line": 1, "body": "Use logging."}]}'


def backend_for(fake: FakeAnthropic, **options: Any) -> FrontierBackend:
    return FrontierBackend(MODEL, api_key=KEY, base_url=fake.base_url, **{"timeout": 5, **options})


def complete(backend: FrontierBackend, request: CompletionRequest = REQUEST) -> Completion:
    async def run() -> Completion:
        try:
            return await backend.complete(request)
        finally:
            await backend.aclose()

    return asyncio.run(run())


def failure(backend: FrontierBackend, request: CompletionRequest = REQUEST) -> ModelError:
    with pytest.raises(ModelError) as caught:
        complete(backend, request)
    return caught.value


def objects_in(schema: Any) -> list[dict[str, Any]]:
    """Every sub-schema of type object."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found.extend(objects_in(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(objects_in(value))
    return found


def test_structured_answer_is_parsed_and_the_schema_is_sent(fake_anthropic: FakeAnthropic) -> None:
    """The JSON answer is decoded; the request asks for it with output_config.format, in the
    subset of JSON schema the API accepts, without tools or a temperature."""
    fake_anthropic.reply(message(ANSWER))
    before = copy.deepcopy(SCHEMA)

    completion = complete(backend_for(fake_anthropic))

    assert completion.parsed == {"comments": [{"path": "x.py", "line": 1, "body": "Use logging."}]}
    assert completion.text == ANSWER
    assert (completion.backend, completion.model) == ("frontier", MODEL)
    assert completion.stop_reason == "end_turn"
    assert completion.request_id == "req_fake_1"
    assert completion.wall_seconds > 0
    [sent] = fake_anthropic.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.body["model"] == MODEL
    assert sent.body["max_tokens"] == 1234
    assert "temperature" not in sent.body
    assert "tools" not in sent.body
    assert "tool_choice" not in sent.body
    output_format = sent.body["output_config"]["format"]
    assert output_format["type"] == "json_schema"
    sent_schema = output_format["schema"]
    assert sent_schema["required"] == ["comments"]
    assert len(objects_in(sent_schema)) == 2
    assert all(obj["additionalProperties"] is False for obj in objects_in(sent_schema))
    line = sent_schema["properties"]["comments"]["items"]["properties"]["line"]
    assert "minimum" not in line
    assert "minimum: 1" in line["description"]
    assert before == SCHEMA


def test_usage_counts_cache_writes_and_reads(fake_anthropic: FakeAnthropic) -> None:
    """All four token counts are kept; counts the API leaves null are zero."""
    fake_anthropic.reply(
        message(
            input_tokens=50,
            output_tokens=30,
            cache_creation_input_tokens=2000,
            cache_read_input_tokens=7,
        ),
        message(cache_creation_input_tokens=None, cache_read_input_tokens=None),
    )
    backend = backend_for(fake_anthropic)

    async def both() -> tuple[Completion, Completion]:
        try:
            return await backend.complete(REQUEST), await backend.complete(REQUEST)
        finally:
            await backend.aclose()

    first, second = asyncio.run(both())

    assert first.usage == Usage(
        input_tokens=50, output_tokens=30, cache_write_tokens=2000, cache_read_tokens=7
    )
    assert second.usage == Usage(input_tokens=100, output_tokens=20)


def test_the_stable_part_is_cached_and_the_prompt_is_not(fake_anthropic: FakeAnthropic) -> None:
    """The cache breakpoint sits on the last stable system block, which caches the system prompt
    and the guidelines; the user prompt, which changes every time, carries none."""
    fake_anthropic.reply(message(ANSWER))

    complete(backend_for(fake_anthropic))

    [sent] = fake_anthropic.requests
    assert sent.body["system"] == [
        {"type": "text", "text": REQUEST.system},
        {"type": "text", "text": REQUEST.stable, "cache_control": {"type": "ephemeral"}},
    ]
    assert sent.body["messages"] == [{"role": "user", "content": REQUEST.prompt}]
    assert "cache_control" not in sent.body


def test_without_a_stable_block_the_system_prompt_carries_the_breakpoint(
    fake_anthropic: FakeAnthropic,
) -> None:
    """An empty stable block is left out (the API rejects empty text blocks)."""
    fake_anthropic.reply(message(ANSWER))

    complete(backend_for(fake_anthropic), CompletionRequest("System.", "", "Prompt.", SCHEMA))

    assert fake_anthropic.requests[0].body["system"] == [
        {"type": "text", "text": "System.", "cache_control": {"type": "ephemeral"}}
    ]


def test_overloaded_is_retried_then_succeeds(fake_anthropic: FakeAnthropic) -> None:
    """A 529 is retried by the SDK with its own backoff; the retry's answer is the result."""
    fake_anthropic.reply(error(529, "overloaded_error"), message(ANSWER))

    completion = complete(backend_for(fake_anthropic))

    assert completion.parsed is not None
    assert [r.headers["x-stainless-retry-count"] for r in fake_anthropic.requests] == ["0", "1"]


def test_server_error_is_retried_then_succeeds(fake_anthropic: FakeAnthropic) -> None:
    """A 500 is retried too, after the wait the server asks for."""
    fake_anthropic.reply(error(500, "api_error", headers={"retry-after-ms": "10"}), message(ANSWER))

    completion = complete(backend_for(fake_anthropic))

    assert completion.text == ANSWER
    assert len(fake_anthropic.requests) == 2


def test_overloaded_after_all_retries_is_overloaded(fake_anthropic: FakeAnthropic) -> None:
    """When every attempt is overloaded the error says so, with the status."""
    fake_anthropic.reply(*[error(529, "overloaded_error", headers={"retry-after-ms": "5"})] * 2)

    err = failure(backend_for(fake_anthropic, max_retries=1))

    assert (err.kind, err.status) == (ErrorKind.OVERLOADED, 529)
    assert len(fake_anthropic.requests) == 2


def test_rate_limit_after_all_retries_is_rate_limited(fake_anthropic: FakeAnthropic) -> None:
    """429 on the first try and on both retries: RATE_LIMITED, after exactly three requests."""
    limited = error(429, "rate_limit_error", "Number of request tokens has exceeded your limit.")
    fake_anthropic.reply(*[Reply(429, limited.body, {"retry-after-ms": "10"})] * 3)

    err = failure(backend_for(fake_anthropic, max_retries=2))

    assert (err.kind, err.status) == (ErrorKind.RATE_LIMITED, 429)
    assert "rate_limit_error" in err.message
    assert "exceeded your limit" in err.message
    assert (err.backend, err.model) == ("frontier", MODEL)
    assert len(fake_anthropic.requests) == 3
    assert fake_anthropic.pending == 0


def test_a_long_retry_after_fails_at_once_instead_of_sleeping(
    fake_anthropic: FakeAnthropic,
) -> None:
    """The SDK would sleep as long as `retry-after` says; beyond max_retry_wait the call fails
    at once with the kind of the error, and the queued answer is never asked for."""
    fake_anthropic.reply(
        error(429, "rate_limit_error", headers={"retry-after": "3600"}), message(ANSWER)
    )
    started = time.monotonic()

    err = failure(backend_for(fake_anthropic, max_retry_wait=30))

    assert time.monotonic() - started < 3
    assert err.kind is ErrorKind.RATE_LIMITED
    assert "3600" in err.message
    assert len(fake_anthropic.requests) == 1


def test_a_slow_answer_is_a_timeout_within_the_limit(fake_anthropic: FakeAnthropic) -> None:
    """An answer slower than `timeout` is a TIMEOUT, raised after about `timeout` seconds."""
    fake_anthropic.reply(message(ANSWER, delay=2.0))
    started = time.monotonic()

    err = failure(backend_for(fake_anthropic, timeout=0.5, max_retries=0))

    assert time.monotonic() - started < 1.5
    assert err.kind is ErrorKind.TIMEOUT
    assert "0.5 s" in err.message
    assert err.status is None


def test_a_refusal_is_refused_and_keeps_its_usage(fake_anthropic: FakeAnthropic) -> None:
    """stop_reason "refusal" is REFUSED (not retried), with the tokens it cost and the reason."""
    fake_anthropic.reply(
        message(
            "",
            stop_reason="refusal",
            input_tokens=900,
            output_tokens=3,
            stop_details={"type": "refusal", "category": "cyber", "explanation": "Exploit code."},
        )
    )

    err = failure(backend_for(fake_anthropic))

    assert err.kind is ErrorKind.REFUSED
    assert err.usage == Usage(input_tokens=900, output_tokens=3)
    assert "cyber" in err.message
    assert len(fake_anthropic.requests) == 1


def test_text_that_is_not_json_is_returned_unparsed(fake_anthropic: FakeAnthropic) -> None:
    """Prose, or JSON cut off at max_tokens, comes back with parsed None: the caller decides."""
    fake_anthropic.reply(
        message("Looks fine to me."),
        message('{"comments": [{"path": "x.py", "li', stop_reason="max_tokens"),
    )
    backend = backend_for(fake_anthropic)

    async def both() -> tuple[Completion, Completion]:
        try:
            return await backend.complete(REQUEST), await backend.complete(REQUEST)
        finally:
            await backend.aclose()

    prose, truncated = asyncio.run(both())

    assert (prose.text, prose.parsed) == ("Looks fine to me.", None)
    assert truncated.parsed is None
    assert truncated.stop_reason == "max_tokens"


@pytest.mark.parametrize(
    "content",
    [[], [{"type": "text", "text": "  \n"}]],
    ids=["no-blocks", "blank-text"],
)
def test_an_answer_without_text_is_bad_output(
    fake_anthropic: FakeAnthropic, content: list[dict[str, Any]]
) -> None:
    """No text at all is BAD_OUTPUT, with the usage it cost."""
    fake_anthropic.reply(message(content=content, output_tokens=1))

    err = failure(backend_for(fake_anthropic))

    assert err.kind is ErrorKind.BAD_OUTPUT
    assert err.usage.output_tokens == 1


def test_only_text_blocks_make_the_answer(fake_anthropic: FakeAnthropic) -> None:
    """Thinking blocks, which the newest models may add, are not part of the answer."""
    fake_anthropic.reply(
        message(
            content=[
                {"type": "thinking", "thinking": "Let me look.", "signature": "sig"},
                {"type": "text", "text": ANSWER},
            ]
        )
    )

    assert complete(backend_for(fake_anthropic)).text == ANSWER


@pytest.mark.parametrize(
    ("status", "error_type"), [(401, "authentication_error"), (403, "permission_error")]
)
def test_a_bad_key_is_auth_and_the_key_is_never_quoted(
    fake_anthropic: FakeAnthropic, status: int, error_type: str
) -> None:
    """401 and 403 are AUTH, not retried; the key is redacted even when the provider quotes it."""
    fake_anthropic.reply(error(status, error_type, f"invalid x-api-key: {KEY}"))

    err = failure(backend_for(fake_anthropic))

    assert (err.kind, err.status) == (ErrorKind.AUTH, status)
    assert KEY not in err.message
    assert KEY not in str(err)
    assert KEY not in repr(err)
    assert err.__cause__ is None or KEY not in str(err.__cause__)
    assert len(fake_anthropic.requests) == 1
    sent = fake_anthropic.requests[0].headers
    assert KEY in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (error(413, "request_too_large", "Request exceeds the maximum size"), ErrorKind.TOO_LARGE),
        (
            error(
                400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"
            ),
            ErrorKind.TOO_LARGE,
        ),
        (error(400, "invalid_request_error", "max_tokens: field required"), ErrorKind.API),
        (error(404, "not_found_error", "model: claude-nope"), ErrorKind.API),
    ],
    ids=["413", "prompt-too-long", "other-400", "404"],
)
def test_client_errors_map_to_their_kind(
    fake_anthropic: FakeAnthropic, reply: Reply, kind: ErrorKind
) -> None:
    """Too large is TOO_LARGE whether by status or by the API's words; the rest is API, with the
    status and the provider's message."""
    fake_anthropic.reply(reply)

    err = failure(backend_for(fake_anthropic))

    assert (err.kind, err.status) == (kind, reply.status)
    assert reply.body["error"]["message"] in err.message
    assert f"HTTP {reply.status}" in err.message
    assert len(fake_anthropic.requests) == 1


def test_an_error_page_that_is_not_json_is_an_outage(fake_anthropic: FakeAnthropic) -> None:
    """A proxy's HTML error page still gives a readable message; a 5xx is worth a later try."""
    fake_anthropic.reply(Reply(502, "<html>Bad Gateway</html>"))

    err = failure(backend_for(fake_anthropic, max_retries=0))

    assert (err.kind, err.status) == (ErrorKind.OUTAGE, 502)
    assert "Bad Gateway" in err.message


def test_an_unreachable_server_is_an_outage() -> None:
    """Connection refused is an outage, naming where it tried."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    err = failure(FrontierBackend(MODEL, api_key=KEY, base_url=url, max_retries=0))

    assert err.kind is ErrorKind.OUTAGE
    assert url in err.message


def test_without_a_key_the_backend_is_unavailable(
    fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key given: unavailable, and nothing is sent, even with the SDK's variables set."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.base_url)

    for key in (None, ""):
        backend = FrontierBackend(MODEL, api_key=key, base_url=fake_anthropic.base_url)
        assert backend.unavailable_reason() == NO_KEY
        err = failure(backend)
        assert (err.kind, err.message) == (ErrorKind.UNAVAILABLE, NO_KEY)

    assert FrontierBackend(MODEL, api_key=KEY).unavailable_reason() is None
    assert fake_anthropic.requests == []


def test_base_url_comes_from_the_caller_not_the_environment(
    fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANTHROPIC_BASE_URL in the environment is ignored; the caller passes it in if wanted."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    fake_anthropic.reply(message(ANSWER))

    assert FrontierBackend(MODEL, api_key=KEY).base_url == DEFAULT_BASE_URL
    assert complete(backend_for(fake_anthropic)).text == ANSWER
    assert len(fake_anthropic.requests) == 1


def test_count_tokens_counts_the_whole_request(fake_anthropic: FakeAnthropic) -> None:
    """count_tokens asks the API's counter with the same system blocks, prompt and schema."""
    fake_anthropic.reply(token_count(1234))
    backend = backend_for(fake_anthropic)

    async def count() -> int:
        try:
            return await backend.count_tokens(REQUEST)
        finally:
            await backend.aclose()

    assert asyncio.run(count()) == 1234
    [sent] = fake_anthropic.requests
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert sent.body["messages"] == [{"role": "user", "content": REQUEST.prompt}]
    assert sent.body["output_config"]["format"]["type"] == "json_schema"


def test_count_tokens_maps_errors(fake_anthropic: FakeAnthropic) -> None:
    """A failed count raises ModelError like a failed completion."""
    fake_anthropic.reply(error(401, "authentication_error"))
    backend = backend_for(fake_anthropic)

    async def count() -> int:
        try:
            return await backend.count_tokens(REQUEST)
        finally:
            await backend.aclose()

    with pytest.raises(ModelError) as caught:
        asyncio.run(count())

    assert caught.value.kind is ErrorKind.AUTH


def test_an_unqueued_request_fails_clearly(fake_anthropic: FakeAnthropic) -> None:
    """The fake answers a request it has no reply for with a message that says so."""
    err = failure(backend_for(fake_anthropic))

    assert err.kind is ErrorKind.API
    assert "no reply queued for POST /v1/messages" in err.message
    assert len(fake_anthropic.requests) == 1


def test_unsupported_schemas_are_refused_before_sending(fake_anthropic: FakeAnthropic) -> None:
    """A schema structured outputs cannot take is a programming error, raised as ValueError."""
    request = CompletionRequest("System.", "", "Prompt.", {"type": ["string", "null"]})

    with pytest.raises(ValueError, match="not supported by structured outputs"):
        complete(backend_for(fake_anthropic), request)

    assert fake_anthropic.requests == []


def test_the_sdk_is_not_imported_until_a_request_needs_it() -> None:
    """Importing the module and asking whether the backend can run does not import the SDK,
    which takes seconds to import."""
    code = (
        "import sys\n"
        "from bot.adapters.models.anthropic import FrontierBackend\n"
        "FrontierBackend('m', api_key='k').unavailable_reason()\n"
        "print('anthropic' in sys.modules)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert done.stdout.strip() == "False"
