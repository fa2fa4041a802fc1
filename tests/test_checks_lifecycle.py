"""Notebook checks (lifecycle): each accepts the right answer and rejects plausible wrong ones with a hint."""

import pytest

from labkit import checks, lifecycle

N = 247_577_856


def test_training_memory():
    right = N * 24 / 2 / 1e9
    checks.check_training_memory(right, N, "fp16")
    with pytest.raises(checks.CheckFailed, match="inference"):
        checks.check_training_memory(N * 2 / 1e9, N, "fp16")
    with pytest.raises(checks.CheckFailed, match="fp32 figure"):
        checks.check_training_memory(N * 24 / 1e9, N, "fp16")
    with pytest.raises(checks.CheckFailed, match="not right"):
        checks.check_training_memory(5.0, N, "fp16")
    with pytest.raises(checks.CheckFailed):
        checks.check_training_memory(None, N, "fp16")


def test_compute_optimal_tokens():
    checks.check_compute_optimal_tokens(2e10, 1e9)
    with pytest.raises(checks.CheckFailed, match="20 tokens per parameter"):
        checks.check_compute_optimal_tokens(1e9, 1e9)
    with pytest.raises(checks.CheckFailed, match="20"):
        checks.check_compute_optimal_tokens(lifecycle.training_flops(1e9, 2e10), 1e9)

