"""Notebook checks (lifecycle): each accepts the right answer and rejects plausible wrong ones with a hint."""

import math

import pytest

from labkit import checks, lifecycle

N = 247_577_856  # FLAN-T5-base


def fails(match, check, *args, **kwargs):
    with pytest.raises(checks.CheckFailed, match=match):
        check(*args, **kwargs)


# ------------------------------------------------------------------ 00.1 mixed-precision training memory
def test_training_memory_accepts_mixed_precision():
    checks.check_training_memory(N * 20 / 1e9, N)
    checks.check_training_memory(N * (2 + 4 + 8 + 2 + 4) / 1e9 * (1 + 1e-5), N)  # rounding is fine


@pytest.mark.parametrize("bytes_per_param,hint", [
    (2, "inference"),  # the 16-bit weights alone
    (12, "simplified fp16"),  # the course's simplification: everything halved
    (24, "fp32 figure"),
    (16, "4 bytes per parameter short"),  # no master weights, or no activations
    (18, "2 bytes per parameter short"),
    (14, "Adam keeps \\*two\\* fp32 states"),
    (21, "Add up, per parameter"),
])
def test_training_memory_rejects_plausible_slips(bytes_per_param, hint):
    fails(hint, checks.check_training_memory, N * bytes_per_param / 1e9, N)


def test_training_memory_units_and_types():
    fails("in bytes", checks.check_training_memory, N * 20, N)
    fails("GiB", checks.check_training_memory, N * 20 / 2**30, N)
    fails("Set `training_gb`", checks.check_training_memory, None, N)
    fails("should be a number", checks.check_training_memory, "4.95 GB", N)


# ------------------------------------------------------------------ 00.2 ZeRO memory per GPU
def right_zero(n, g, stage):
    params, grads, optim = 2 * n / 1e9, 2 * n / 1e9, 12 * n / 1e9
    if stage >= 1:
        optim /= g
    if stage >= 2:
        grads /= g
    if stage >= 3:
        params /= g
    return params + grads + optim


def test_zero_memory_accepts_a_hand_written_function(capsys):
    checks.check_zero_memory(right_zero)
    assert "120.0 GB" in capsys.readouterr().out  # the ZeRO paper's DDP figure for 7.5B


def _zero(bytes_=(2, 2, 12), shards=None, unit=1e9):
    shards = shards or {0: (), 1: (2,), 2: (1, 2), 3: (0, 1, 2)}

    def fn(n, g, stage):
        return sum(n * b / unit / (g if i in shards[stage] else 1) for i, b in enumerate(bytes_))
    return fn


@pytest.mark.parametrize("fn,hint", [
    (_zero(bytes_=(2, 2, 8)), "master copy"),
    (_zero(bytes_=(4, 4, 8)), "fp32 model states"),
    (_zero(shards={0: (), 1: (0, 1, 2), 2: (0, 1, 2), 3: (0, 1, 2)}), "Stage 1 shards only the optimizer states"),
    (_zero(shards={s: (0, 1, 2) for s in range(4)}), "plain DDP"),
    (_zero(shards={s: () for s in range(4)}), "ignores the stage"),
    (_zero(shards={0: (), 1: (1, 2), 2: (0, 1, 2), 3: (0, 1, 2)}), "one ahead"),
    (_zero(shards={0: (), 1: (), 2: (2,), 3: (1, 2)}), "one behind"),
    (_zero(unit=2**30), "GiB"),
    (lambda n, g, s: right_zero(n, g, s) * (1.5 if s == 2 else 1), r"zero_memory_gb\(7.5e\+09, 64, 2\)"),
])
def test_zero_memory_rejects_plausible_slips(fn, hint):
    fails(hint, checks.check_zero_memory, fn)


def test_zero_memory_bad_functions():
    fails("Define a function", checks.check_zero_memory, 42)
    fails("raised ZeroDivisionError", checks.check_zero_memory, lambda n, g, s: 1 / 0)
    fails("return a number", checks.check_zero_memory, lambda n, g, s: {"total": 1.0})


# ------------------------------------------------------------------ 00.3 fewest GPUs per stage
SCENARIO = dict(n_params=13e9, gpu_gb=40, reserve_gb=10)
RIGHT = {0: None, 1: None, 2: 46, 3: 7}


def test_fewest_gpus_accepts_the_right_counts():
    assert {s: lifecycle.gpus_needed(13e9, 40, s, reserve_gb=10) for s in range(4)} == RIGHT
    checks.check_fewest_gpus(dict(RIGHT), **SCENARIO)
    import numpy as np

    checks.check_fewest_gpus({**RIGHT, 3: np.int64(7)}, **SCENARIO)  # np.ceil(...).astype(int) is fine


@pytest.mark.parametrize("answer,hint", [
    ({**RIGHT, 0: 8}, "DDP"),
    ({**RIGHT, 1: 128}, "keep whole"),  # stage 1 never fits: the 16-bit parameters and gradients alone are 52 GB
    ({**RIGHT, 2: 13, 3: 6}, "must stay free"),  # forgot the reserve for activations
    ({**RIGHT, 2: 45}, "round the GPU count up"),
    ({**RIGHT, 3: 6.93}, "whole number"),
    ({**RIGHT, 3: 5}, "too few"),
    ({**RIGHT, 3: 8}, "fewest"),
    ({**RIGHT, 2: None}, "find the fewest"),
    ({2: 46, 3: 7}, "one entry for each stage"),
    ([None, None, 46, 7], "dict"),
])
def test_fewest_gpus_rejects_plausible_slips(answer, hint):
    fails(hint, checks.check_fewest_gpus, answer, **SCENARIO)


# ------------------------------------------------------------------ 00.4 compute-optimal size for a budget
BUDGET = dict(gpus=8, peak_tflops=125, utilization=0.4, days=30)
FLOPS = 8 * 125e12 * 0.4 * 30 * 86400


def test_compute_optimal_params_accepts_the_derivation(capsys):
    checks.check_compute_optimal_params(math.sqrt(FLOPS / 120), **BUDGET)
    assert "12.0 petaflop/s-days" in capsys.readouterr().out


@pytest.mark.parametrize("answer,hint", [
    (math.sqrt(FLOPS / 0.4 / 120), "peak"),
    (math.sqrt(FLOPS / 6), "one token per parameter"),
    (FLOPS / 120, "N squared"),
    (math.sqrt(FLOPS / 86400 / 120), "time units"),
    (20 * math.sqrt(FLOPS / 120), "tokens"),
    (2 * math.sqrt(FLOPS / 120), "not right"),
    (None, "Set `optimal_params`"),
])
def test_compute_optimal_params_rejects_plausible_slips(answer, hint):
    fails(hint, checks.check_compute_optimal_params, answer, **BUDGET)
