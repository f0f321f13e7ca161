"""The frontier backend: Anthropic's Messages API through the official `anthropic` SDK.

One request is one `messages.create` call, to the backend's model or the one the request names
(`CompletionRequest.model`: the cheapest model checks comments): the system prompt and the stable
block (guidelines,
repo instructions) go in `system` with a prompt-cache breakpoint on the last of them, the
change goes in the single user message, and the answer is constrained to the request's JSON
schema with structured outputs (`output_config.format`), not with a forced tool, which the newest
models refuse. Failures come back as `ModelError` with the kind the pipeline acts on.

The SDK is imported on first use, not with this module: it takes about two seconds to import,
and commands that only need to know whether the backend could run (`unavailable_reason`) or that
never call it should not pay for that.

Configuration is explicit. The SDK reads `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`, profiles and
other credentials from the environment when its arguments are None; this backend never lets it:
without an `api_key` it makes no client at all (it is unavailable), and without a `base_url` it
passes `DEFAULT_BASE_URL`. The caller (the CLI) passes the environment's values in. The SDK still
adds headers from `ANTHROPIC_CUSTOM_HEADERS` when that variable is set.

Time is bounded: `timeout` limits each HTTP attempt, the SDK retries connection errors,
timeouts, 408, 409, 429 and 5xx (529 included) up to `max_retries` times with its backoff, and
a server that asks (`retry-after`) for a longer wait than `max_retry_wait` fails the call at once
instead of the SDK sleeping for as long as asked. The worst case is about
`(max_retries + 1) * timeout + max_retries * max_retry_wait`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot.core.types import Completion, CompletionRequest, ErrorKind, ModelError, Usage

if TYPE_CHECKING:
    import anthropic
    from anthropic import APIRequest, AsyncAnthropic, AsyncAPIResponse, AsyncCallNext
    from anthropic.types import MessageParam, OutputConfigParam, TextBlockParam

DEFAULT_BASE_URL = "https://api.anthropic.com"
# The window of the current Claude models, prompt and answer together.
DEFAULT_CONTEXT_TOKENS = 200_000
NO_KEY = "ANTHROPIC_API_KEY is not set"

# https://platform.claude.com/docs/en/api/errors: "prompt is too long: N tokens > M maximum";
# "input length and `max_tokens` exceed context limit: ..." when prompt and answer do not fit.
_TOO_LONG = re.compile(r"prompt is too long|exceeds? (the )?context (limit|window)", re.IGNORECASE)
_MESSAGE_CHARS = 500


class FrontierBackend:
    """Reviews with a Claude model over the Messages API.

    `timeout` is seconds per HTTP attempt; `max_retries` is the SDK's retry count;
    `max_retry_wait` is the longest `retry-after` wait the SDK may honour between attempts;
    `context_tokens` is the model's window, prompt and answer together. A backend belongs to one
    event loop (its HTTP client is made on first use there); call `aclose` when done with it.
    `on_retry`, when set, is called each time the SDK sends a request again.
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        max_retry_wait: float = 60.0,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    ) -> None:
        if timeout <= 0 or max_retries < 0 or max_retry_wait < 0 or context_tokens <= 0:
            raise ValueError(
                "timeout and context_tokens must be positive, max_retries and max_retry_wait "
                "not negative"
            )
        self._model = model
        self._api_key = api_key or None
        self._base_url = base_url or DEFAULT_BASE_URL
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_retry_wait = max_retry_wait
        self._context_tokens = context_tokens
        self._client: AsyncAnthropic | None = None
        # Called as the SDK sends a request again (after a timeout, 429, 5xx): for progress.
        self.on_retry: Callable[[], None] | None = None

    @property
    def name(self) -> str:
        return "frontier"

    @property
    def model(self) -> str:
        return self._model

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    @property
    def base_url(self) -> str:
        """Where requests go: the `base_url` given, or `DEFAULT_BASE_URL`."""
        return self._base_url

    def unavailable_reason(self) -> str | None:
        return None if self._api_key else NO_KEY

    async def complete(self, request: CompletionRequest) -> Completion:
        """Run one request and return the answer, its JSON (None when the text is not JSON) and
        its usage; raise ModelError for a refusal, an answer with no text, or any API error
        (naming the model the request asked for)."""
        try:
            return await self._complete(request)
        except ModelError as error:
            if request.model:
                error.model = request.model
            raise

    async def _complete(self, request: CompletionRequest) -> Completion:
        client = self._client_or_raise()
        import anthropic  # noqa: PLC0415 (imported by the client already)

        output_config = _output_config(request.schema)
        started = time.monotonic()
        try:
            message = await client.messages.create(
                model=request.model or self._model,
                max_tokens=request.max_output_tokens,
                system=_system_blocks(request),
                messages=_messages(request),
                output_config=output_config,
            )
        except anthropic.APIError as error:
            raise self._mapped(error) from _cause(error)
        wall = time.monotonic() - started

        usage = Usage(
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            cache_write_tokens=message.usage.cache_creation_input_tokens or 0,
            cache_read_tokens=message.usage.cache_read_input_tokens or 0,
        )
        if message.stop_reason == "refusal":
            details = message.stop_details
            why = (
                ", ".join(filter(None, (details.category, details.explanation))) if details else ""
            )
            raise self._error(
                ErrorKind.REFUSED,
                f"the model declined to answer{f' ({why})' if why else ''}",
                usage=usage,
            )
        text = "".join(block.text for block in message.content if block.type == "text")
        if not text.strip():
            raise self._error(
                ErrorKind.BAD_OUTPUT,
                f"the answer has no text (stop reason {message.stop_reason})",
                usage=usage,
            )
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = None
        return Completion(
            text=text,
            parsed=parsed,
            model=message.model or request.model or self._model,
            backend=self.name,
            usage=usage,
            wall_seconds=wall,
            stop_reason=message.stop_reason,
            request_id=message._request_id,
        )

    async def count_tokens(self, request: CompletionRequest) -> int:
        """The input tokens `request` would use, counted by the API (no answer is generated and
        nothing is billed); errors map as in `complete`."""
        client = self._client_or_raise()
        import anthropic  # noqa: PLC0415 (imported by the client already)

        try:
            counted = await client.messages.count_tokens(
                model=request.model or self._model,
                system=_system_blocks(request),
                messages=_messages(request),
                output_config=_output_config(request.schema),
            )
        except anthropic.APIError as error:
            raise self._mapped(error) from _cause(error)
        return counted.input_tokens

    async def aclose(self) -> None:
        """Close the HTTP client, if one was made; a later request makes a new one."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    def _client_or_raise(self) -> AsyncAnthropic:
        if self._api_key is None:
            raise self._error(ErrorKind.UNAVAILABLE, NO_KEY)
        if self._client is None:
            import anthropic  # noqa: PLC0415 (slow to import; see the module docstring)

            self._client = anthropic.AsyncAnthropic(
                api_key=self._api_key,
                base_url=self._base_url,
                timeout=self._timeout,
                max_retries=self._max_retries,
                middleware=[self._bounded_retry_wait],
            )
        return self._client

    async def _bounded_retry_wait(
        self, request: APIRequest, call_next: AsyncCallNext
    ) -> AsyncAPIResponse[Any]:
        """SDK middleware, run on each attempt: fail now when the server asks for a longer wait
        than `max_retry_wait`, since the SDK would otherwise sleep for as long as it is told."""
        if request.retries_taken and self.on_retry is not None:
            self.on_retry()
        response = await call_next(request)
        http = response.http_response
        wait = _retry_after(http.headers)
        if http.is_success or wait is None or wait <= self._max_retry_wait:
            return response
        await http.aread()
        try:
            body: object = json.loads(http.content)
        except ValueError:
            body = http.text
        raise self._status_error(
            http.status_code,
            body,
            http.headers.get("request-id"),
            f"; asked to wait {wait:g} s before retrying, more than the {self._max_retry_wait:g} s "
            "allowed",
        )

    def _mapped(self, error: anthropic.APIError) -> ModelError:
        """The ModelError for an error the SDK raised."""
        import anthropic  # noqa: PLC0415 (imported by the client already)

        if isinstance(error, anthropic.APITimeoutError):
            attempts = self._max_retries + 1
            return self._error(
                ErrorKind.TIMEOUT,
                f"no answer within {self._timeout:g} s"
                + (f" on any of {attempts} attempts" if attempts > 1 else ""),
            )
        if isinstance(error, anthropic.APIConnectionError):
            cause = error.__cause__ or error
            return self._error(
                ErrorKind.OUTAGE,
                f"could not reach {self._base_url}: {type(cause).__name__}: {cause}",
            )
        if isinstance(error, anthropic.APIStatusError):
            return self._status_error(error.status_code, error.body, error.request_id)
        return self._error(ErrorKind.API, f"{type(error).__name__}: {error.message}")

    def _status_error(
        self, status: int, body: object, request_id: str | None, note: str = ""
    ) -> ModelError:
        error = body.get("error") if isinstance(body, Mapping) else None
        kind_name = error.get("type") if isinstance(error, Mapping) else None
        said = error.get("message") if isinstance(error, Mapping) else body
        text = str(said or "").strip()[:_MESSAGE_CHARS]
        if status == 529 or kind_name == "overloaded_error":
            kind = ErrorKind.OVERLOADED
        elif status == 429 or kind_name == "rate_limit_error":
            kind = ErrorKind.RATE_LIMITED
        elif status in {401, 403} or kind_name in {"authentication_error", "permission_error"}:
            kind = ErrorKind.AUTH
        elif status == 413 or kind_name == "request_too_large" or _TOO_LONG.search(text):
            kind = ErrorKind.TOO_LARGE
        elif status in {408, 504} or kind_name == "timeout_error":
            kind = ErrorKind.TIMEOUT
        elif status >= 500 or kind_name == "api_error":
            # https://platform.claude.com/docs/en/api/errors: api_error (500) is an internal failure
            kind = ErrorKind.OUTAGE
        else:
            kind = ErrorKind.API
        message = f"HTTP {status}" + (f" {kind_name}" if kind_name else "")
        message += (f": {text}" if text else "") + note
        message += f" (request {request_id})" if request_id else ""
        return self._error(kind, message, status=status)

    def _error(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        usage: Usage | None = None,
    ) -> ModelError:
        # A provider may quote the credential it rejected; keys are long, so a short test value
        # is not worth scrubbing out of every word.
        if self._api_key and len(self._api_key) >= 8:
            message = message.replace(self._api_key, "[redacted]")
        return ModelError(
            kind,
            message,
            backend=self.name,
            model=self._model,
            status=status,
            usage=usage or Usage(),
        )


def _cause(error: anthropic.APIError) -> BaseException | None:
    """What to chain a ModelError to: the SDK's error, except for an HTTP error status, whose
    text quotes the response body (which might quote the key) and adds nothing to our message."""
    import anthropic  # noqa: PLC0415 (imported by the client already)

    return None if isinstance(error, anthropic.APIStatusError) else error


def _system_blocks(request: CompletionRequest) -> list[TextBlockParam]:
    """The system prompt and the stable block, with the cache breakpoint on the last one.

    A breakpoint caches everything before it, so one on the last stable block caches both. Empty
    text blocks are rejected by the API, so they are left out. Prompts under the model's minimum
    cacheable length (about 1024 tokens) are simply not cached; usage then shows no cache writes.
    https://platform.claude.com/docs/en/build-with-claude/prompt-caching
    """
    blocks: list[TextBlockParam] = [
        {"type": "text", "text": text} for text in (request.system, request.stable) if text.strip()
    ]
    if blocks:
        blocks[-1]["cache_control"] = {"type": "ephemeral"}
    return blocks


def _messages(request: CompletionRequest) -> list[MessageParam]:
    return [{"role": "user", "content": request.prompt}]


def _output_config(schema: dict[str, Any]) -> OutputConfigParam:
    """Structured outputs with `schema` passed through the SDK's `transform_schema`.

    The API accepts a subset of JSON schema: every object gets `additionalProperties: false`,
    `oneOf` becomes `anyOf`, and keywords it does not enforce (minimum, maxLength, pattern, minItems
    above 1, ...) move into the description, where the model reads them but nothing checks them.
    The caller's dict is not changed. A list-valued `type` (`["string", "null"]`) is not supported:
    use `anyOf`. https://platform.claude.com/docs/en/build-with-claude/structured-outputs
    """
    from anthropic import transform_schema  # noqa: PLC0415 (see the module docstring)

    try:
        strict = transform_schema(schema)
    except (ValueError, AssertionError) as error:
        raise ValueError(f"JSON schema not supported by structured outputs: {error}") from error
    return {"format": {"type": "json_schema", "schema": strict}}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait the server asked for, in seconds, as the SDK reads it (`retry-after-ms`, then
    `retry-after` in seconds); None when it asked for none. An HTTP-date is left to the SDK."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None
