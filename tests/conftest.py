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


@pytest.fixture(scope="session")
def stand_in_hub():
    """A loopback server speaking the hub's API, serving each course id from labkit's tiny artifacts."""
    from stand_in_hub import course_hub  # tests/ is on sys.path under pytest

    hub = course_hub().start()
    yield hub
    hub.stop()


@pytest.fixture(scope="session")
def course_env(stand_in_hub, tmp_path_factory):
    """The environment of a GPU user's course profile, pointed at the stand-in hub, with every count shrunk.

    ``LABKIT_PROFILE=course`` and ``LABKIT_SIZES=smoke``; the hub libraries online but ``HF_ENDPOINT`` on loopback
    (the network guard stays on, so anything else is refused); Hugging Face's and labkit's caches in a temporary
    folder, so the user's caches are never touched (and nothing trained on a stand-in is cached as a course model).
    """
    root = tmp_path_factory.mktemp("course-profile")
    env = {key: value for key, value in os.environ.items()
           if key not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE",
                          "HF_DATASETS_CACHE", "LABKIT_SIZES")}
    env.update(LABKIT_PROFILE="course", LABKIT_SIZES="smoke", LABKIT_NO_NETWORK="1", HF_ENDPOINT=stand_in_hub.endpoint,
               HF_HOME=str(root / "hf"), LABKIT_CACHE=str(root / "labkit"), HF_HUB_DISABLE_TELEMETRY="1",
               LABKIT_KERNEL_PURPOSE=COURSE_KERNEL_PURPOSE)
    return env


def pytest_configure(config):
    sys.path.insert(0, str(ROOT))
    # Every process that resolves a profile (test processes and each notebook kernel) appends it here.
    # Under pytest-xdist the controller creates the log and the workers inherit it.
    if "LABKIT_PROFILE_LOG" not in os.environ or not hasattr(config, "workerinput"):
        log = Path(tempfile.mkdtemp(prefix="labkit-profiles-")) / "profiles.log"
        os.environ["LABKIT_PROFILE_LOG"] = str(log)


# Seconds each unit of work took (one thread per worker, two workers side by side): a notebook, or a test file
# (xdist's --dist loadscope hands out a file as one unit). Notebooks: 2026-12-08, per-cell timings with the shared
# artifacts already built (a fresh clone adds their build to whichever notebook asks first); test files: the fresh
# clone of 2026-12-07. Only the order matters. A notebook not listed counts as long (new notebooks tend to be), a
# test file not listed as short. docs/decisions.md, "Test suite time".
NOTEBOOK_SECONDS = {"03": 480, "05": 460, "06": 430, "02": 305, "08": 280, "10": 277, "07": 235, "09": 229,
                    "01": 171, "00": 69, "04": 43, "11": 35, "12": 25}
TEST_FILE_SECONDS = {"test_notebooks.py": 190, "test_grade.py": 140, "test_course_profile.py": 165,
                     "test_train.py": 80, "test_browser.py": 75, "test_grading_sandbox.py": 60, "test_finetune.py": 60,
                     "test_sagemaker.py": 40, "test_checks_rag.py": 30, "test_lifecycle.py": 20,
                     "test_generation.py": 15, "test_rag.py": 20, "test_cheatsheet.py": 10, "test_pretraining.py": 10,
                     "test_rlhf.py": 10, "test_agents.py": 10}


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


# The one exemption from the guard below: kernels that tests/test_course_profile.py starts on purpose in the course
# profile, against the stand-in hub on loopback (tests/stand_in_hub.py). They set LABKIT_KERNEL_PURPOSE to this
# value, and labkit.config logs it with the hub endpoint the kernel used.
COURSE_KERNEL_PURPOSE = "course-profile-test-on-stand-in-hub"


def exempt_course_kernel(line: list[str]) -> bool:
    """A logged kernel (pid, profile, kind, purpose, endpoint) the guard lets through: the course-profile tests'
    own kernels, and only while their hub endpoint is on this machine (no real hub was reachable to them)."""
    from urllib.parse import urlsplit

    from labkit import netguard

    if len(line) < 5 or line[1] != "course" or line[3] != COURSE_KERNEL_PURPOSE:
        return False
    return netguard._is_local((urlsplit(line[4]).hostname or "", 0))


def pytest_sessionfinish(session, exitstatus):
    """Guard: fail the run if any notebook kernel ran outside the tiny profile (checked once, by the controller).

    The nbmake run of the notebooks must stay in tiny; the only kernels exempt are :func:`exempt_course_kernel`'s."""
    if hasattr(session.config, "workerinput"):
        return
    log = Path(os.environ.get("LABKIT_PROFILE_LOG", ""))
    if not log.is_file():
        return
    lines = [line.split() for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    # test processes switch profiles on purpose (test_config); only kernels must stay in tiny
    kernels = [line for line in lines if len(line) > 2 and line[2] == "kernel"]
    exempt = [line for line in kernels if exempt_course_kernel(line)]
    wrong = [" ".join(line) for line in kernels if line[1] != "tiny" and line not in exempt]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    say = reporter.write_line if reporter else print
    if wrong:
        say(f"labkit guard: notebook kernels ran outside the tiny profile: {wrong}", red=True)
        session.exitstatus = 1
    elif kernels:
        say(f"labkit guard: {len(kernels) - len(exempt)} notebook kernel(s) resolved the tiny profile"
            + (f"; {len(exempt)} course-profile test kernel(s) ran against the stand-in hub" if exempt else ""))
    shutil.rmtree(log.parent, ignore_errors=True)
