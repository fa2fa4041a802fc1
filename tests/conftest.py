"""Shared test set-up: the suite runs offline in the tiny profile (the Makefile sets the environment)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
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
    # Every process that resolves a profile (test processes and each notebook kernel) appends it here.
    # Under pytest-xdist the controller creates the log and the workers inherit it.
    if "LABKIT_PROFILE_LOG" not in os.environ or not hasattr(config, "workerinput"):
        log = Path(tempfile.mkdtemp(prefix="labkit-profiles-")) / "profiles.log"
        os.environ["LABKIT_PROFILE_LOG"] = str(log)


# Seconds each notebook took in the tiny profile (2 cores, warm cache; docs/decisions.md, "Test suite time").
# Longest first, so the two workers finish together; a notebook not listed here goes first.
NOTEBOOK_SECONDS = {"03": 130, "06": 128, "05": 86, "09": 81, "07": 74, "08": 55, "02": 40, "10": 23, "00": 20,
                    "04": 14, "01": 13}


def pytest_collection_modifyitems(config, items):
    """The notebooks first, longest first. Under ``make test`` (two xdist workers, ``--dist loadscope``, scopes
    kept in this order) each worker takes one notebook at a time and the unit tests fill in after."""
    def expected_seconds(item):
        return -NOTEBOOK_SECONDS.get(Path(item.nodeid.split("::")[0]).name[:2], 10_000)

    notebooks = sorted((item for item in items if ".ipynb" in item.nodeid), key=expected_seconds)
    chosen = set(notebooks)
    items[:] = notebooks + [item for item in items if item not in chosen]


def pytest_sessionfinish(session, exitstatus):
    """Guard: fail the run if any notebook kernel ran outside the tiny profile (checked once, by the controller)."""
    if hasattr(session.config, "workerinput"):
        return
    log = Path(os.environ.get("LABKIT_PROFILE_LOG", ""))
    if not log.is_file():
        return
    lines = [line.split() for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    # test processes switch profiles on purpose (test_config); only kernels must stay in tiny
    kernels = [line for line in lines if len(line) > 2 and line[2] == "kernel"]
    wrong = [" ".join(line) for line in kernels if line[1] != "tiny"]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    say = reporter.write_line if reporter else print
    if wrong:
        say(f"labkit guard: notebook kernels ran outside the tiny profile: {wrong}", red=True)
        session.exitstatus = 1
    elif kernels:
        say(f"labkit guard: {len(kernels)} notebook kernel(s) resolved the tiny profile")
    shutil.rmtree(log.parent, ignore_errors=True)
