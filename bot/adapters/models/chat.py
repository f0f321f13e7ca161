"""How a local chat model wants its prompt: its chat template, or a plain documented format.

Read from the model folder's files alone (tokenizer_config.json, chat_template.jinja), so the
layout can be tested without a GPU. The parts that repeat across reviews (system, schema,
`stable`) come before the change, so the generator can reuse their cached pages.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from bot.core.types import CompletionRequest

SCHEMA_INSTRUCTION = (
    "Answer with one JSON object and nothing else. It must follow this JSON schema:"
)
PLAIN_ANSWER_CUE = "Answer (JSON):\n"


@dataclass(frozen=True, slots=True)
class PromptText:
    """A rendered prompt. `templated`: made by the model's chat template, so special tokens in the
    text are parsed as such and no BOS is added (the template writes its own); otherwise the plain
    format, encoded as text with a BOS in front."""

    text: str
    templated: bool


@dataclass(frozen=True, slots=True)
class PromptFormat:
    """How a model wants its prompt: its chat template (Jinja, from tokenizer_config.json or
    chat_template.jinja) and the BOS/EOS strings the template may use.

    With a template, the messages are a system message (the request's system text and the schema
    instruction) and a user message (`stable`, then `prompt`); a template that refuses a system
    role gets one user message with both. Without a usable template, or without jinja2, the plain
    format is the system text, the schema instruction, `stable` and `prompt`, separated by blank
    lines, then `Answer (JSON):` on its own line.
    """

    chat_template: str | None = None
    bos_token: str = ""
    eos_token: str = ""

    @classmethod
    def of_model(cls, model_dir: Path) -> PromptFormat:
        """Read the format from a model folder's files (no tokenizer needed)."""
        config = read_json(model_dir / "tokenizer_config.json") or {}
        template = config.get("chat_template")
        if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default", next(iter(named.values()), None))
        if not isinstance(template, str):
            template = None
            jinja_file = model_dir / "chat_template.jinja"
            if jinja_file.is_file():
                template = jinja_file.read_text(encoding="utf-8")
            else:
                loose = (read_json(model_dir / "chat_template.json") or {}).get("chat_template")
                template = loose if isinstance(loose, str) else None
        return cls(
            template, _token_text(config.get("bos_token")), _token_text(config.get("eos_token"))
        )

    def render(self, request: CompletionRequest) -> PromptText:
        """The prompt text for `request` (see the class docstring for the layout)."""
        schema = ""
        if request.schema:
            schema = SCHEMA_INSTRUCTION + "\n" + json.dumps(request.schema, ensure_ascii=False)
        system = _join(request.system, schema)
        user = _join(request.stable, request.prompt)
        if self.chat_template is not None:
            text = _apply_chat_template(self, system, user)
            if text is not None:
                return PromptText(text, templated=True)
        return PromptText(_join(system, user, PLAIN_ANSWER_CUE), templated=False)


def _join(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)


def _token_text(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def _apply_chat_template(fmt: PromptFormat, system: str, user: str) -> str | None:
    """Render like transformers' apply_chat_template (sandboxed Jinja, trim/lstrip blocks, the
    `raise_exception` and `strftime_now` helpers), or None when jinja2 is missing or the
    template fails for both message layouts."""
    try:
        sandbox = _import("jinja2.sandbox")
        errors = _import("jinja2.exceptions")
    except ImportError:
        return None

    def raise_exception(message: str) -> NoReturn:
        raise errors.TemplateError(message)

    def tojson(value: object, indent: int | None = None, **_: object) -> str:
        return json.dumps(value, ensure_ascii=False, indent=indent)

    env = sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    failures = (errors.TemplateError, TypeError, ValueError, LookupError)
    try:
        template = env.from_string(fmt.chat_template)
    except failures:
        return None
    layouts = [[{"role": "user", "content": _join(system, user)}]]
    if system:
        layouts.insert(
            0, [{"role": "system", "content": system}, {"role": "user", "content": user}]
        )
    for messages in layouts:
        try:
            return str(
                template.render(
                    messages=messages,
                    add_generation_prompt=True,
                    bos_token=fmt.bos_token,
                    eos_token=fmt.eos_token,
                )
            )
        except failures:
            continue
    return None


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _import(name: str) -> Any:
    return importlib.import_module(name)
