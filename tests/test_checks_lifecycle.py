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


# ------------------------------------------------------------------ 00.8 compute-optimal size for a budget
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


# ------------------------------------------------------------------ 00.4 the row-parallel half of the MLP
def right_row(hidden_shard, fc2, rank, world_size):
    partial = hidden_shard @ fc2.weight.chunk(world_size, dim=1)[rank].T
    return partial + fc2.bias if rank == 0 else partial


def test_row_parallel_is_exercise_00_4_and_accepts_either_way_of_adding_the_bias(capsys):
    assert checks.exercise_of(checks.check_row_parallel) == "00.4"
    checks.check_row_parallel(right_row)
    checks.check_row_parallel(lambda h, fc2, r, n: h @ fc2.weight.chunk(n, dim=1)[r].T + fc2.bias / n)
    assert "1, 2, 4 and 8 ranks" in capsys.readouterr().out


@pytest.mark.parametrize("fn,hint", [
    (lambda h, fc2, r, n: h @ fc2.weight.chunk(n, dim=1)[r].T + fc2.bias, "bias 2 times"),  # bias on every rank
    (lambda h, fc2, r, n: h @ fc2.weight.chunk(n, dim=1)[r].T, "never adds fc2's bias"),
    (lambda h, fc2, r, n: h @ fc2.weight.chunk(n, dim=0)[r].T, "keep the columns"),  # rows: output features
    (lambda h, fc2, r, n: h @ fc2.weight.T, "keep the columns"),  # the whole weight for a shard of the input
    (lambda h, fc2, r, n: right_row(h, fc2, 0, n) if r == 0 else h @ fc2.weight.chunk(n, dim=1)[0].T,
     "chunk r of"),  # every rank takes the first chunk
    (lambda h, fc2, r, n: right_row(h, fc2, r, n)[:, : fc2.out_features // n], "does not concatenate"),
    (lambda h, fc2, r, n: [1.0], "as a tensor"),
    (lambda h, fc2, r, n: 1 / 0, "raised ZeroDivisionError"),
    (42, "Define a function"),
])
def test_row_parallel_rejects_plausible_slips(fn, hint):
    fails(hint, checks.check_row_parallel, fn)


def test_row_parallel_must_not_call_labkits_own():
    def uses_labkit(hidden_shard, fc2, rank, world_size):
        return lifecycle.row_parallel(hidden_shard, fc2.weight.chunk(world_size, dim=1)[rank], fc2.bias, rank)

    fails("instead of calling labkit's row_parallel", checks.check_row_parallel, uses_labkit)


# ------------------------------------------------------------------ 00.5 predict the pipeline bubble
IDEAL = {m: 1 / (m + 1) for m in (1, 2, 4, 8)}


def test_bubble_prediction_is_exercise_00_5_and_accepts_the_schedule_count():
    assert checks.exercise_of(checks.check_bubble_prediction) == "00.5"
    checks.check_bubble_prediction(dict(IDEAL))
    checks.check_bubble_prediction({1: 0.5, 2: 0.33, 4: 0.2, 8: 0.11})  # two decimals are enough
    checks.check_bubble_prediction({m: 3 / (m + 3) for m in (1, 2, 4, 8)}, stages=4)


@pytest.mark.parametrize("answer,hint", [
    ({m: 1 / m for m in IDEAL}, "relative to the work"),
    ({m: m / (m + 1) for m in IDEAL}, "busy"),
    ({m: 0.0 for m in IDEAL}, "always waits"),
    ({m: 0.5 for m in IDEAL}, "one micro-batch"),
    ({**IDEAL, 4: 0.25}, r"predicted_bubble\[4\]"),
    ({**IDEAL, 8: 11.1}, "between 0 and 1"),
    ({**IDEAL, 2: "a third"}, "give a number"),
    ({"one": 0.5}, "keys are numbers"),
    ([0.5, 0.33], "Set `predicted_bubble` to a dict"),
    ({}, "Set `predicted_bubble` to a dict"),
])
def test_bubble_prediction_rejects_plausible_slips(answer, hint):
    fails(hint, checks.check_bubble_prediction, answer)


# ------------------------------------------------------------------ 00.7 a 3D-parallel layout for a brief
BRIEF = dict(n_params=175e9, n_gpus=512, gpu_gb=80, reserve_gb=30, micro_batches=8, max_bubble=0.2, gpus_per_node=8)


def test_3d_layout_is_exercise_00_6_and_accepts_the_layout_that_meets_the_brief(capsys):
    assert checks.exercise_of(checks.check_3d_layout) == "00.7"
    checks.check_3d_layout({"data": 32, "pipeline": 2, "tensor": 8}, **BRIEF)
    assert "only layout" in capsys.readouterr().out
    looser = {**BRIEF, "max_bubble": 0.5}  # a brief with several answers: each one passes, the others are named
    checks.check_3d_layout({"data": 16, "pipeline": 4, "tensor": 8}, **looser)
    assert "Other layouts that meet the brief" in capsys.readouterr().out


@pytest.mark.parametrize("layout,hint", [
    ({"data": 64, "pipeline": 1, "tensor": 8}, "more than the 50 GB"),  # tensor alone leaves 91.6 GB
    ({"data": 128, "pipeline": 1, "tensor": 4}, "more than the 50 GB"),
    ({"data": 8, "pipeline": 8, "tensor": 8}, "idle 47%"),
    ({"data": 16, "pipeline": 2, "tensor": 16}, "one node of 8"),
    ({"data": 32, "pipeline": 2, "tensor": 4}, "256 GPUs"),
    ({"data": 32, "pipeline": 2.0, "tensor": 8}, "whole number"),
    ({"data": 32, "pipeline": 2}, "Set `layout`"),
    ((32, 2, 8), "Set `layout`"),
])
def test_3d_layout_rejects_layouts_that_break_the_brief(layout, hint):
    fails(hint, checks.check_3d_layout, layout, **BRIEF)


def test_compute_optimal_params_is_now_exercise_00_7():
    assert checks.exercise_of(checks.check_compute_optimal_params) == "00.8"


# ------------------------------------------------------------------ 00.6 reading this run's pipeline table
def test_bubble_reading():
    import pandas as pd

    table = pd.DataFrame({"timed wait": [0.52, 0.36, 0.23, 0.14], "computed": [0.60, 0.50, 0.20, 0.30]},
                         index=pd.Index([1, 2, 4, 8], name="micro_batches"))
    checks.check_bubble_reading(True, True, table)  # 3 of 4 computed above
    with pytest.raises(checks.CheckFailed, match="every larger m"):
        checks.check_bubble_reading(False, True, table)
    with pytest.raises(checks.CheckFailed, match="more than half"):
        checks.check_bubble_reading(True, False, table)
    flat = table.assign(**{"timed wait": [0.5, 0.5, 0.2, 0.1], "computed": [0.4, 0.6, 0.1, 0.2]})
    checks.check_bubble_reading(False, False, flat)  # a tie is not a fall; 2 of 4 is not more than half
    with pytest.raises(checks.CheckFailed, match="True or False"):
        checks.check_bubble_reading("yes", True, table)
    assert checks.exercise_of(checks.check_bubble_reading) == "00.6"
