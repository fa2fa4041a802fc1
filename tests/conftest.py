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
from labkit.config import OFFLINE_ENV  # noqa: E402  (labkit reads the environment only when asked)

for key, value in OFFLINE_ENV.items():
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


# Seconds each unit of work took in a fresh clone's `make test` (empty cache, so a notebook's time includes the
# artifacts it builds first; one thread per worker; 2026-12-02 evening): a notebook, or a test file (xdist's
# --dist loadscope hands out a file as one unit). Only the order matters. A notebook not listed counts as long
# (new notebooks tend to be), a test file not listed as short. docs/decisions.md, "Test suite time".
NOTEBOOK_SECONDS = {"06": 300, "03": 298, "07": 240, "05": 152, "08": 145, "10": 129, "01": 92, "09": 90, "02": 59,
                    "00": 27, "04": 25, "11": 16}
TEST_FILE_SECONDS = {"test_notebooks.py": 85, "test_sagemaker.py": 30, "test_rlhf.py": 80, "test_train.py": 45,
                     "test_browser.py": 45, "test_grade.py": 42, "test_finetune.py": 32, "test_checks_rag.py": 20,
                     "test_generation.py": 15, "test_rag.py": 12, "test_agents.py": 8, "test_pretraining.py": 6}


def expected_seconds(nodeid: str) -> float:
    name = Path(nodeid.split("::")[0]).name
    if name.endswith(".ipynb"):
        return NOTEBOOK_SECONDS.get(name[:2], 10_000)
    return TEST_FILE_SECONDS.get(name, 5)


def pytest_collection_modifyitems(config, items):
    """The notebooks first, then the test files, each longest first. Under ``make test`` (two xdist workers,
    ``--dist loadscope``, scopes kept in this order) each worker takes the next unit when it is free. Notebooks go
    first because they build the shared artifacts (tiny T5, instruct summarizer, SmolLM2 checkpoint) that many
    test files then load, under the cache's locks. The sort is stable: tests keep their order within a file."""
    def key(item):
        is_notebook = Path(item.nodeid.split("::")[0]).suffix == ".ipynb"  # not "in nodeid": test ids name notebooks
        return not is_notebook, -expected_seconds(item.nodeid)

    items.sort(key=key)


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
