"""Shared fixtures: where the shared test corpus lives."""

from __future__ import annotations

from pathlib import Path

import pytest

# Data from public projects, kept beside the repository (../shared/corpus), never committed in it.
CORPUS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CORPUS_MISSING = f"shared test corpus not found at {CORPUS_DIR} (expected at ../shared/corpus)"


@pytest.fixture(scope="session")
def CORPUS() -> Path:
    """The shared corpus folder; a test that asks for it is skipped when the folder is absent."""
    if not CORPUS_DIR.is_dir():
        pytest.skip(CORPUS_MISSING)
    return CORPUS_DIR
