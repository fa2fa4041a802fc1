"""Checks for notebook 04_evaluation_and_benchmarks: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import CheckFailed, close, exercise, ok, require  # noqa: F401
