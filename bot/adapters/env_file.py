"""A `.env` file: `NAME=value` lines that `tierbot serve` and `tierbot replay` read from the working
directory, and that the App's registration (bot.faces.app.setup) writes.

Reading: blank lines and `#` comments are skipped, an `export ` prefix is allowed, a value may be
bare, in single quotes (taken as written) or in double quotes (where `\\n`, `\\"` and `\\\\` are
escapes, so a PEM key fits on one line). `with_env_file` lays the file under the real environment:
a variable set in the environment wins over the file.

Writing: `write_env_file` keeps the file's other lines, replaces the named variables, and writes
the result to a new file created with owner-only permissions (0600) that then replaces the old
one, so no reader ever sees a half-written file or one readable by others.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


class EnvFileError(ValueError):
    """A `.env` file that cannot be read or written; the message names the file and the line."""


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of the file at `path`; {} when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"cannot read {path}: {exc}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise EnvFileError(f"{path}:{number} is not a NAME=value line")
        name, raw = match.groups()
        values[name] = _value(raw, f"{path}:{number}")
    return values


def with_env_file(environ: Mapping[str, str], path: Path) -> dict[str, str]:
    """The environment with the file's variables under it: the environment wins."""
    return {**read_env_file(path), **environ}


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Set `values` in the file at `path` (created when missing), keeping its other lines, with
    owner-only permissions."""
    kept: list[str] = []
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"cannot read {path}: {exc}") from None
    for line in old.splitlines():
        match = _LINE.fullmatch(line)
        if match is None or match[1] not in values:
            kept.append(line)
    lines = kept + [f"{name}={_quoted(value)}" for name, value in values.items()]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        os.chmod(temporary, 0o600)  # whatever the umask let through
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise EnvFileError(f"cannot write {path}: {exc}") from None


def _value(raw: str, where: str) -> str:
    if raw[:1] == "'":
        if len(raw) < 2 or raw[-1] != "'":
            raise EnvFileError(f"{where}: a single-quoted value must end with '")
        return raw[1:-1]
    if raw[:1] != '"':
        return raw.split(" #", 1)[0].rstrip()
    if len(raw) < 2 or raw[-1] != '"':
        raise EnvFileError(f'{where}: a double-quoted value must end with "')
    out: list[str] = []
    chars = iter(raw[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            out.append(_ESCAPES.get(escaped, "\\" + escaped))
        else:
            out.append(char)
    return "".join(out)


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + escaped.replace("\n", "\\n") + '"'
