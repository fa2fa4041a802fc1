"""Shared test set-up: the suite runs offline in the tiny profile (the Makefile sets the environment)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Running plain `pytest` (not `make test`) still gets the offline tiny profile.
for key, value in {"LABKIT_PROFILE": "tiny", "LABKIT_NO_NETWORK": "1", "HF_HUB_OFFLINE": "1",
                   "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg"}.items():
    os.environ.setdefault(key, value)


@pytest.fixture
def profile(monkeypatch):
    """Switch labkit's profile for one test and restore it afterwards."""
    from labkit import config

    def use(name: str):
        monkeypatch.setenv("LABKIT_PROFILE", name)
        return config.get_profile(refresh=True)

    yield use
    config.get_profile(refresh=True)


@pytest.fixture(scope="session")
def summarizer():
    """The tiny summarizer (built once per machine, then loaded from labkit's cache)."""
    from labkit.models import load_summarizer

    return load_summarizer()


@pytest.fixture(scope="session")
def dialogsum():
    from labkit.data import load_dialogsum

    return load_dialogsum()


def pytest_configure(config):
    sys.path.insert(0, str(ROOT))
