"""Checks for notebook 06_preference_tuning: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import CheckFailed, close, exercise, ok, require  # noqa: F401
