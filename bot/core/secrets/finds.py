"""What the secret rules find (`Secret`), and how a file writes values (`form_of`).

Pure. Shared by the line rules (bot.core.secrets.detectors, bot.core.secrets.assignments,
bot.core.secrets.usages) and bot.core.secrets.redaction, which merges and redacts what they find.
"""

from __future__ import annotations

from dataclasses import dataclass

HIGH_ENTROPY = "high-entropy-string"
"""The one kind that is redacted but never reported as a committed secret: random-looking
strings are often test data, and a wrong "rotate this key" comment costs a reviewer's trust."""


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret in a text: its kind, where it is (`text[start:end]`), and whether it is sure
    enough to report as a committed secret (otherwise it is only redacted)."""

    kind: str
    start: int
    end: int
    sure: bool = True


CODE, CONFIG, SHELL, PROSE = "code", "config", "shell", "prose"
_CONFIG_SUFFIXES = (
    ".env",
    ".ini",
    ".cfg",
    ".conf",
    ".cnf",
    ".properties",
    ".toml",
    ".yaml",
    ".yml",
    ".tfvars",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".service",
    ".eyaml",
)
_SHELL_SUFFIXES = (".sh", ".bash", ".zsh", ".ksh", ".envrc", ".mk", ".bashrc", ".profile")
_SHELL_NAMES = ("dockerfile", "containerfile", "makefile", "gnumakefile", "justfile", "procfile")
_PROSE_SUFFIXES = (".md", ".markdown", ".rst", ".txt", ".adoc", ".html", ".htm")


def form_of(path: str) -> str:
    """How values are written in this file: `config` (an unquoted value is the rest of the
    line), `shell` (an unquoted value is one shell word), `prose` (free text: a value is a
    word, held to a stricter look), or `code` (only quoted literals)."""
    name = path.rsplit("/", 1)[-1].lower()
    if not path or name.endswith(_PROSE_SUFFIXES):
        return PROSE
    if name.endswith(_SHELL_SUFFIXES) or name.startswith(_SHELL_NAMES):
        return SHELL
    if (
        name.startswith((".env", "docker-compose", "compose."))
        or name.endswith(_CONFIG_SUFFIXES)
        or ".env." in name
        or "." not in name
    ):
        return CONFIG
    return CODE
