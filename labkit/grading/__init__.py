"""``labkit grade``: grade a class's lab submissions, one status per exercise, in a way instructors can trust.

    labkit grade SUBMISSIONS --out DIR [--solutions DIR] [--profile tiny] [--timeout 600] [--shard I/N] [--force]
    labkit grade merge OUT... --out DIR
    labkit release DIR

One module per job; a learner's kernel imports only :mod:`~labkit.grading.integrity` (so this package imports
nothing when it is imported, and its names below load on first use):

================  ==================================================================================
``solutions``     the solution notebooks and the instructor's hidden checks (:class:`Solution`)
``submissions``   one folder or zip per learner (:func:`read_submissions`)
``scan``          names a cell binds and reads; the static tamper scan (:func:`find_tampering`)
``assembly``      the notebook that runs: the learner's cells, the lab's checks, the grader's cells
``integrity``     inside the kernel: the fingerprint of the checks, and the hidden checks
``sandbox``       bubblewrap: one sandbox per learner x notebook, its limits, :func:`sandbox.status`
``supervise``     PID 1 inside a sandbox: starts the kernel, enforces the limits, kills what is left
``execute``       cell by cell in a fresh kernel, time limits, capped output (:class:`Outcome`)
``statuses``      one status per exercise (:func:`exercise_status`)
``state``         what a grade depends on, the re-run state, shards
``reports``       grades.csv, summary.md, feedback, junit.xml
``grader``        a notebook, a class, merging shards (:func:`grade_class`, :func:`merge`)
``release``       what a graded class receives (:func:`write_release`)
``cli``           the ``labkit grade`` command
================  ==================================================================================

The README's "Grading" section is the user guide; ``docs/grading.md`` the design, the threat model and its limits.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "solutions": ("Solution", "HiddenChecks", "load_solution", "load_solutions", "solution_from", "HIDDEN_DIR"),
    "submissions": ("Submission", "read_submissions", "safe_name", "MAX_NOTEBOOK_BYTES"),
    "scan": ("python_source", "cell_names", "find_tampering", "guarded_modules"),
    "assembly": ("GradingPlan", "assemble", "check_roots"),
    "integrity": ("IntegrityError", "HiddenCheckFailed", "kernel_snapshot", "kernel_verify", "run_hidden",
                  "HIDDEN_FAILED"),
    "sandbox": ("Limits", "SandboxSpec", "SandboxUnavailable"),
    "execute": ("Outcome", "RunSettings", "execute_plan", "kernel_env", "OUTPUT_LIMIT", "KERNEL_LOG_LIMIT"),
    "statuses": ("STATUSES", "NOT_DONE", "one_line", "exercise_status", "runtime_tampering", "setup_failure"),
    "state": ("STATE_FILE", "grader_digest", "checked_modules", "parse_shard", "in_shard"),
    "reports": ("COLUMNS", "write_reports", "summary_markdown", "feedback_markdown", "write_junit"),
    "grader": ("Graded", "ClassResult", "grade_notebook", "grade_class", "merge"),
    "release": ("write_release",),
    "cli": ("main", "build_parser"),
}
_WHERE = {name: module for module, names in _NAMES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
