"""`tierbot doctor`: whether the local tier can run here (the GPU, the exllamav2 extension,
the model folder, one short generation)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bot.adapters.settings import Settings
from bot.core.printable import printable
from bot.core.types import CompletionRequest, ModelError
from bot.faces.action.inputs import EXIT_FAILED, EXIT_OK

_DOCTOR_REQUEST = CompletionRequest(
    system="You are a health check. Answer with JSON only.",
    stable="",
    prompt='Answer with {"ok": true}.',
    schema={
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    },
    max_output_tokens=16,
    label="doctor",
)


@dataclass
class _Check:
    name: str
    ok: bool | None  # None: not checked, because an earlier check failed
    detail: str


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """`tierbot doctor`: 0 when the local model ran one generation here, else 1."""
    model_dir = args.model_dir or settings.local_model_dir
    checks = asyncio.run(doctor(model_dir, settings.local_context_tokens))
    out = sys.stdout
    for check in checks:
        state = "ok" if check.ok else "not checked" if check.ok is None else "FAILED"
        out.write(f"{check.name + ':':<22} {state}: {printable(check.detail)}\n")
    failed = [c for c in checks if not c.ok]
    if failed:
        names = ", ".join(c.name for c in failed if c.ok is False)
        out.write(f"tierbot doctor: the local model cannot run here (failed: {names}).\n")
        return EXIT_FAILED
    out.write("tierbot doctor: the local model is ready.\n")
    return EXIT_OK


async def doctor(model_dir: str | None, context_tokens: int) -> list[_Check]:
    """The GPU, the exllamav2 extension, the model folder, and one short generation."""
    checks = [_gpu_check()]
    gpu_ok = checks[0].ok is True
    checks.append(_extension_check(gpu_ok))
    folder = _folder_check(model_dir)
    checks.append(folder)
    if not (gpu_ok and checks[1].ok and folder.ok):
        checks.append(_Check("generation", None, "needs the checks above to pass"))
        return checks
    assert model_dir is not None
    checks.append(await _generation_check(model_dir, context_tokens))
    return checks


def _gpu_check() -> _Check:
    from bot.adapters.models.exllama_gpu import GPU_EXTRA_MISSING  # noqa: PLC0415 - light, no GPU imports

    missing = [
        m for m in ("torch", "exllamav2", "tokenizers") if importlib.util.find_spec(m) is None
    ]
    if missing:
        return _Check("GPU", False, f"{GPU_EXTRA_MISSING}: cannot import {', '.join(missing)}")
    try:
        torch: Any = importlib.import_module("torch")
        if not torch.cuda.is_available():
            return _Check(
                "GPU",
                False,
                f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU "
                "(check the NVIDIA driver with nvidia-smi, and that torch was built for CUDA)",
            )
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        free, total = torch.cuda.mem_get_info(0)
    except (ImportError, OSError, RuntimeError) as exc:
        return _Check("GPU", False, f"torch cannot use CUDA here: {exc}")
    return _Check(
        "GPU",
        True,
        f"{', '.join(names)}; {free / 2**30:.1f} of {total / 2**30:.1f} GiB free; "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}",
    )


def _extension_check(gpu_ok: bool) -> _Check:
    if not gpu_ok:
        return _Check("exllamav2 extension", None, "needs a working GPU (above)")
    started = time.monotonic()
    try:
        # The first import compiles the CUDA extension (minutes); later ones load the cache.
        ext: Any = importlib.import_module("exllamav2.ext")
        installed = version("exllamav2")
    except Exception as exc:  # noqa: BLE001 - a failed build raises anything; report it
        return _Check(
            "exllamav2 extension",
            False,
            f"{type(exc).__name__}: {exc} (a prebuilt wheel must match torch's version and "
            "CUDA; building needs nvcc from a CUDA toolkit of torch's CUDA version)",
        )
    module = getattr(ext, "exllamav2_ext", None)
    where = getattr(module, "__file__", None)
    return _Check(
        "exllamav2 extension",
        True,
        f"exllamav2 {installed} loaded in {time.monotonic() - started:.1f} s"
        + (f" from {where}" if where else ""),
    )


def _folder_check(model_dir: str | None) -> _Check:
    from bot.adapters.models.exllama_gpu import model_dir_problem  # noqa: PLC0415 - the backend's own check

    if not model_dir:
        return _Check("model folder", False, "none given: --model-dir or TIERBOT_LOCAL_MODEL_DIR")
    problem = model_dir_problem(Path(model_dir))
    if problem is not None:
        return _Check("model folder", False, problem)
    return _Check("model folder", True, str(Path(model_dir).resolve()))


async def _generation_check(model_dir: str, context_tokens: int) -> _Check:
    from bot.adapters.models.exllama import LocalBackend  # noqa: PLC0415 - the GPU stack on demand

    backend = LocalBackend(model_dir, context_tokens=context_tokens)
    started = time.monotonic()
    try:
        completion = await backend.complete(_DOCTOR_REQUEST)
    except ModelError as exc:
        return _Check("generation", False, f"the model did not load or generate: {exc}")
    finally:
        total = time.monotonic() - started
        await backend.aclose()
    loaded = max(total - completion.wall_seconds, 0.0)
    tokens = completion.usage.output_tokens
    rate = f", {tokens / completion.gpu_seconds:.0f} tokens/s" if completion.gpu_seconds else ""
    runtime = backend.runtime or {}
    return _Check(
        "generation",
        True,
        f"model {backend.model} loaded in {loaded:.1f} s; one short generation of {tokens} "
        f"tokens took {completion.wall_seconds:.2f} s{rate}; answer {completion.text.strip()!r}"
        + (f"; {', '.join(f'{k}={v}' for k, v in runtime.items())}" if runtime else ""),
    )
