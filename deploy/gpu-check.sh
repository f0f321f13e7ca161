#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU: install the `gpu` extra (exllamav2, torch,
# tokenizers) with uv, make sure torch sees the GPU and exllamav2 imports, then run the tests
# marked `gpu` (tests/test_local_gpu.py: a tiny random Llama built offline, served for real by
# the local backend). Arguments go to pytest. TIERBOT_GPU_CHECK_LMFE=1 also installs
# lm-format-enforcer, to check the JSON-constrained path.
#
# exllamav2 0.3.2 compiles its CUDA extension on first import (minutes; cached in
# ~/.cache/torch_extensions): it needs nvcc from a CUDA toolkit matching torch's CUDA version.
# TORCH_CUDA_ARCH_LIST defaults to this GPU's compute capability, so only that is compiled.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
    export PATH="$HOME/.local/bin:$PATH"
fi
if ! nvidia-smi -L; then
    echo "gpu-check: no NVIDIA GPU is visible (nvidia-smi failed)" >&2
    exit 1
fi
if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    TORCH_CUDA_ARCH_LIST="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1)"
    export TORCH_CUDA_ARCH_LIST
fi
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
    echo "gpu-check: warning: no nvcc; exllamav2 cannot compile its CUDA extension" >&2
fi

with=()
if [ "${TIERBOT_GPU_CHECK_LMFE:-0}" = 1 ]; then
    with=(--with lm-format-enforcer)
fi
run() { uv run --locked --extra gpu ${with[@]+"${with[@]}"} "$@"; }

uv sync --locked --extra gpu
run python -c '
import sys, torch
print("torch", torch.__version__, "CUDA", torch.version.cuda)
if not torch.cuda.is_available():
    sys.exit("gpu-check: torch sees no CUDA GPU")
print("GPU", torch.cuda.get_device_name(0))
'
run python -c '
from importlib.metadata import version
import exllamav2  # compiles the CUDA extension the first time
print("exllamav2", version("exllamav2"))
'
# -rA shows each passed test's output too: the generator's runtime (paged, batch, JSON).
run pytest -m gpu -rA "$@"
