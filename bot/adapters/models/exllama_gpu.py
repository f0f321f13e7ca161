"""Where the local model can run: the GPU libraries, a CUDA GPU, and a model folder that is one.

Nothing heavy is imported here: torch and exllamav2 are only looked up, or imported inside
functions through `import_heavy`, so this module imports anywhere.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from pathlib import Path
from typing import Any

from bot.adapters.models.chat import read_json

BACKEND = "local"
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


def import_heavy(name: str) -> Any:
    """Import a heavy or optional module by name, typed Any: they ship no type information
    usable here (see bot.adapters.models.exllama)."""
    return importlib.import_module(name)


# --- where it can run ---------------------------------------------------------------------------


@functools.cache
def gpu_stack_problem() -> str | None:
    """Why the GPU libraries cannot run here, or None. Cached: it does not change in a process.
    exllamav2 is only looked up, not imported: its first import compiles a CUDA extension."""
    missing = [name for name in _GPU_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return f"{GPU_EXTRA_MISSING}: cannot import {', '.join(missing)}"
    try:
        torch = import_heavy("torch")
        visible = bool(torch.cuda.is_available())
    except (ImportError, OSError, RuntimeError) as exc:
        return f"torch is installed but cannot use CUDA here: {exc}"
    if not visible:
        return "no CUDA GPU is visible (torch.cuda.is_available() is False)"
    return None


def model_dir_problem(model_dir: Path) -> str | None:
    """Why `model_dir` is not an EXL2 model folder (config, weights, tokenizer), or None."""
    if not model_dir.is_dir():
        return f"the local model folder {model_dir} does not exist"
    if not (model_dir / "config.json").is_file():
        return f"the local model folder {model_dir} has no config.json"
    if not any(model_dir.glob("*.safetensors")):
        return f"the local model folder {model_dir} has no .safetensors weights"
    if not any((model_dir / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        return f"the local model folder {model_dir} has no tokenizer.json or tokenizer.model"
    return None


def model_window(model_dir: Path) -> int | None:
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


def stop_tokens(model_dir: Path, tokenizer: Any, config: Any) -> tuple[int, ...]:
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
