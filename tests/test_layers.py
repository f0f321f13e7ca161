"""The folder tree is the architecture: the core stays pure, and no module grows past the limit.

Read from the source with `ast`, without importing anything: the core (bot/core) and every
module it reaches import nothing from the adapters, the pipeline or the faces, no library that
does I/O, and read no file and no environment; no module imports a layer above its own; and
no module under bot/ is longer than MAX_LINES.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"
MAX_LINES = 400

# The layers the core must never reach (the environment settings are an adapter too).
OUTER_LAYERS = ("bot.adapters", "bot.pipeline", "bot.faces")
# Libraries (top-level names, or dotted where only part of a package does I/O) that touch files,
# the network, processes, databases, models or the clock of a server: none belongs in the core.
IO_MODULES = frozenset(
    {
        "aiohttp",
        "alembic",
        "anthropic",
        "asyncio",
        "exllamav2",
        "githubkit",
        "glob",
        "http.client",
        "httpx",
        "httpx2",
        "importlib.resources",
        "logging",
        "os",
        "procrastinate",
        "prometheus_client",
        "psycopg",
        "requests",
        "shutil",
        "socket",
        "sqlalchemy",
        "sqlite3",
        "ssl",
        "starlette",
        "structlog",
        "subprocess",
        "tempfile",
        "torch",
        "urllib.request",
        "uvicorn",
    }
)
# From pathlib only the pure paths, which compute with names and never touch the disk.
PURE_PATHLIB = frozenset({"PurePath", "PurePosixPath", "PureWindowsPath"})
# Calls and attributes that read a file or the environment, whatever module they come from.
IO_CALLS = frozenset({"open", "input", "getenv", "putenv"})
IO_ATTRIBUTES = frozenset(
    {"environ", "getenv", "read_text", "read_bytes", "write_text", "write_bytes", "stdin"}
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a module must not do, where it does it."""

    module: str
    line: int
    what: str


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(BOT.rglob("*.py"))}


def imported(tree: ast.AST, known: set[str]) -> list[tuple[str, int]]:
    """Every module a tree imports, at any depth (a function's lazy import counts), with its
    line; `from a import b` gives `a.b` too when that is a module of ours."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.append((node.module, node.lineno))
            found += [
                (f"{node.module}.{alias.name}", node.lineno)
                for alias in node.names
                if f"{node.module}.{alias.name}" in known
            ]
    return found


def violations(module: str, source: str, known: set[str]) -> list[Finding]:
    """What in one module's source breaks the core's rules."""
    tree = ast.parse(source)
    found: list[Finding] = []
    for name, line in imported(tree, known):
        if name.startswith(OUTER_LAYERS):
            found.append(Finding(module, line, f"imports {name}, outside the core"))
        elif any(name == io or name.startswith(io + ".") for io in IO_MODULES):
            found.append(Finding(module, line, f"imports {name}, which does I/O"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "pathlib":
            impure = [a.name for a in node.names if a.name not in PURE_PATHLIB]
            if impure:
                found.append(Finding(module, node.lineno, f"imports pathlib.{impure[0]}"))
        elif isinstance(node, ast.Import) and any(a.name == "pathlib" for a in node.names):
            found.append(Finding(module, node.lineno, "imports pathlib whole (use PurePath)"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in IO_CALLS
        ):
            found.append(Finding(module, node.lineno, f"calls {node.func.id}()"))
        elif isinstance(node, ast.Attribute) and node.attr in IO_ATTRIBUTES:
            found.append(Finding(module, node.lineno, f"uses .{node.attr}"))
    return found


def reached_from_core(modules: dict[str, Path]) -> set[str]:
    """The core's modules and every module of ours they import, directly or not."""
    known = set(modules)
    todo = [name for name in modules if name == "bot.core" or name.startswith("bot.core.")]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for target, _ in imported(ast.parse(modules[name].read_text(encoding="utf-8")), known):
            if target in modules:
                todo.append(target)
            elif target.startswith("bot."):  # a parent package of ours
                parent = target.rsplit(".", 1)[0]
                if parent in modules:
                    todo.append(parent)
    return seen


def test_the_core_exists_and_holds_the_pure_modules() -> None:
    names = set(all_modules())
    expected = {
        "bot.core.complexity",
        "bot.core.cost",
        "bot.core.pricing",
        "bot.core.repo_settings",
        "bot.core.types",
    }
    assert expected <= names


def test_the_core_and_everything_it_reaches_do_no_io_and_import_no_outer_layer() -> None:
    modules = all_modules()
    reached = reached_from_core(modules)
    assert {"bot.core.complexity", "bot.core.types", "bot.core.diff"} <= reached
    found = [
        finding
        for name in sorted(reached)
        for finding in violations(name, modules[name].read_text(encoding="utf-8"), set(modules))
    ]
    assert found == []


# The layers, lowest first: a module may import its own layer and those below it, never above.
LAYERS = ("bot.core", "bot.adapters", "bot.pipeline", "bot.faces")


def layer_of(module: str) -> int | None:
    return next(
        (i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + ".")),
        None,
    )


def test_arrows_point_from_the_faces_to_the_core_only() -> None:
    """Faces → pipeline → adapters → core: no module imports a layer above its own."""
    modules = all_modules()
    upward = [
        (name, target)
        for name, path in modules.items()
        if (own := layer_of(name)) is not None
        for target, _ in imported(ast.parse(path.read_text(encoding="utf-8")), set(modules))
        if (other := layer_of(target)) is not None and other > own
    ]
    assert upward == []


def test_every_module_belongs_to_a_layer() -> None:
    """Nothing lives beside the layers but the package itself and `python -m bot`."""
    outside = sorted(name for name in all_modules() if layer_of(name) is None)
    assert outside == ["bot", "bot.__main__"]


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("from bot.adapters.ledger import Ledger", "imports bot.adapters.ledger, outside the core"),
        ("def f():\n    import bot.pipeline", "imports bot.pipeline, outside the core"),
        (
            "from bot.adapters.settings import Settings",
            "imports bot.adapters.settings, outside the core",
        ),
        ("import httpx", "imports httpx, which does I/O"),
        ("from sqlalchemy.engine import Engine", "imports sqlalchemy.engine, which does I/O"),
        ("import os.path", "imports os.path, which does I/O"),
        ("from urllib.request import urlopen", "imports urllib.request, which does I/O"),
        ("from pathlib import Path", "imports pathlib.Path"),
        ("text = open('x').read()", "calls open()"),
        ("import sys\nkey = sys.environ['K']", "uses .environ"),
        ("def f(p):\n    return p.read_text()", "uses .read_text"),
    ],
)
def test_the_check_finds_each_kind_of_breach(source: str, what: str) -> None:
    """The rules above catch what they are for (so a clean result means something)."""
    found = violations("bot.core.sample", source, {"bot.adapters.ledger"})
    assert [f.what for f in found] == [what]


def test_pure_code_passes_the_check() -> None:
    source = (
        "import re\nfrom pathlib import PurePosixPath\nfrom urllib.parse import quote\n"
        "from bot.core.types import Usage\nname = PurePosixPath('a/b').name\n"
    )
    assert violations("bot.core.sample", source, set()) == []


def line_counts() -> dict[str, int]:
    return {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(BOT.rglob("*.py"))
    }


def test_no_module_is_over_the_line_limit() -> None:
    over = {path: lines for path, lines in line_counts().items() if lines > MAX_LINES}
    assert over == {}
