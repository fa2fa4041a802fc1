"""Checks for notebook 01_transformers_and_pretraining: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import CheckFailed, close, exercise, ok, require  # noqa: F401
