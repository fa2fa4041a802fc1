"""pytest settings for the solution notebooks, which `make test` executes with nbmake."""

import os

# `make test` runs two pytest workers with one OpenMP thread each; the worker that executes the notebooks
# (one after another) gives each notebook's kernel both threads instead. Passive waiting keeps the two
# OpenMP threads from spinning while the other worker has the core: oversubscribed *spinning* threads are
# what made two torch processes on 2 cores 10x slower.
KERNEL_THREADS = {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}
_saved: dict = {}


def pytest_runtest_setup(item):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _saved.update({key: os.environ.get(key) for key in KERNEL_THREADS})
        os.environ.update(KERNEL_THREADS)  # the kernel nbmake starts inherits this environment


def pytest_runtest_teardown(item):
    for key, value in _saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _saved.clear()
