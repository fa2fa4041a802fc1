"""Tests for labkit.lifecycle (notebook 00: setup and the generative AI project lifecycle)."""

import math

import pandas as pd
import pytest
import torch

from labkit import lifecycle as lc

PI = math.pi


# --------------------------------------------------------------------------- memory


def test_dtype_bytes():
    for dtype, nbytes in {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}.items():
        assert lc.DTYPE_BYTES[dtype] == nbytes


def test_memory_per_parameter_fp32_matches_course_slide():
    assert lc.memory_per_parameter() == {"weights": 4.0}
    train = lc.memory_per_parameter("fp32", training=True)
    assert train == {"weights": 4.0, "adam_states": 8.0, "gradients": 4.0, "activations_temp": 8.0}
    assert sum(train.values()) == 24.0
    assert sum(train.values()) / lc.memory_per_parameter()["weights"] == 6.0


@pytest.mark.parametrize("dtype,factor", [("fp16", 0.5), ("bf16", 0.5), ("int8", 0.25)])
def test_memory_per_parameter_scales_with_precision(dtype, factor):
    fp32 = lc.memory_per_parameter("fp32", training=True)
    other = lc.memory_per_parameter(dtype, training=True)
    assert other == {k: v * factor for k, v in fp32.items()}


def test_memory_table_one_billion_params():
    t = lc.memory_table(1e9)
    assert list(t.index) == [
        "weights",
        "adam_states",
        "gradients",
        "activations_temp",
        "inference_total",
        "training_total",
    ]
    assert list(t.columns) == ["fp32", "fp16", "bf16", "int8"]
    assert t.loc["inference_total", "fp32"] == pytest.approx(4.0)
    assert t.loc["training_total", "fp32"] == pytest.approx(24.0)
    assert t.loc["inference_total", "fp16"] == pytest.approx(2.0)
    assert t.loc["inference_total", "bf16"] == pytest.approx(2.0)
    assert t.loc["inference_total", "int8"] == pytest.approx(1.0)
    assert t.loc["adam_states", "fp32"] == pytest.approx(8.0)
    # components add up to the training total in every column
    components = t.loc[["weights", "adam_states", "gradients", "activations_temp"]].sum()
    pd.testing.assert_series_equal(components, t.loc["training_total"], check_names=False)


def test_memory_table_custom_dtypes_and_scale():
    t = lc.memory_table(175e9, dtypes=("fp32",))
    assert list(t.columns) == ["fp32"]
    assert t.loc["inference_total", "fp32"] == pytest.approx(700.0)


@pytest.mark.parametrize(
    "n,expected",
    [(0, "0.0 B"), (512, "512.0 B"), (1500, "1.5 KB"), (4e9, "4.0 GB"), (24e9, "24.0 GB"),
     (999_999, "1.0 MB"), (1.4e12, "1.4 TB")],
)
def test_human_bytes(n, expected):
    assert lc.human_bytes(n) == expected


# --------------------------------------------------------------------------- number formats


def test_float_bits_fp32_pi():
    fb = lc.float_bits(PI, "fp32")
    assert fb.dtype == "fp32"
    assert fb.sign == "0"
    assert fb.exponent == "10000000"
    assert fb.mantissa == "10010010000111111011011"
    assert fb.bits == "01000000010010010000111111011011"
    assert fb.spaced == "0 10000000 10010010000111111011011"
    assert fb.stored == 3.1415927410125732
    assert fb.error == pytest.approx(3.1415927410125732 - PI)
    assert fb.rel_error == pytest.approx(abs(fb.error) / PI)


def test_float_bits_fp16_pi():
    fb = lc.float_bits(PI, "fp16")
    assert (fb.sign, fb.exponent, fb.mantissa) == ("0", "10000", "1001001000")
    assert fb.bits == "0100001001001000"
    assert fb.stored == 3.140625


def test_float_bits_bf16_pi():
    fb = lc.float_bits(PI, "bf16")
    assert (fb.sign, fb.exponent, fb.mantissa) == ("0", "10000000", "1001001")
    assert fb.bits == "0100000001001001"
    # bf16 is the top half of the fp32 pattern
    assert fb.bits == lc.float_bits(PI, "fp32").bits[:16]
    assert fb.stored == 3.140625


def test_float_bits_negative_and_special_values():
    fb = lc.float_bits(-2.0, "fp32")
    assert fb.sign == "1" and fb.exponent == "10000000" and set(fb.mantissa) == {"0"}
    assert fb.stored == -2.0 and fb.error == 0.0 and fb.rel_error == 0.0
    zero = lc.float_bits(0.0, "fp16")
    assert zero.bits == "0" * 16 and zero.rel_error == 0.0
    # fp16 overflows above 65504, bf16 keeps fp32's range
    assert math.isinf(lc.float_bits(1e5, "fp16").stored)
    assert lc.float_bits(1e5, "bf16").stored == pytest.approx(1e5, rel=1e-2)


def test_float_bits_int8_pi_absmax_4():
    fb = lc.float_bits(PI, "int8", int8_absmax=4.0)
    scale = 4.0 / 127
    assert round(PI / scale) == 100
    assert fb.sign == "" and fb.exponent == ""
    assert fb.mantissa == "01100100" == fb.bits  # 100 in two's complement
    assert fb.stored == pytest.approx(100 * scale)
    assert fb.stored == pytest.approx(3.1496, abs=1e-4)
    assert fb.error == pytest.approx(100 * scale - PI)


def test_float_bits_int8_default_absmax_and_clamping():
    fb = lc.float_bits(PI, "int8")  # absmax = |x| -> q = 127
    assert fb.bits == "01111111"
    assert fb.stored == pytest.approx(PI)
    neg = lc.float_bits(-1.0, "int8", int8_absmax=4.0)  # q = round(-31.75) = -32
    assert neg.bits == format(-32 & 0xFF, "08b") == "11100000"
    assert neg.stored == pytest.approx(-32 * 4.0 / 127)
    clamped = lc.float_bits(10.0, "int8", int8_absmax=4.0)  # outside the range -> +127
    assert clamped.bits == "01111111"
    assert clamped.stored == pytest.approx(4.0)
    assert lc.float_bits(0.0, "int8").stored == 0.0


def test_float_bits_table():
    t = lc.float_bits_table(PI, int8_absmax=4.0)
    assert list(t["dtype"]) == ["fp32", "fp16", "bf16", "int8"]
    for col in ["dtype", "bits", "sign", "exponent", "mantissa", "stored", "error", "range"]:
        assert col in t.columns
    by = t.set_index("dtype")
    assert by.loc["fp32", "stored"] == 3.1415927410125732
    assert by.loc["fp16", "stored"] == 3.140625
    assert by.loc["bf16", "stored"] == 3.140625
    assert by.loc["int8", "stored"] == pytest.approx(3.1496, abs=1e-4)
    assert by.loc["fp16", "range"] == 65504.0
    assert by.loc["bf16", "range"] == pytest.approx(3.3895e38, rel=1e-4)
    assert by.loc["fp32", "range"] == pytest.approx(3.4028e38, rel=1e-4)
    assert by.loc["int8", "range"] == "±4"


# --------------------------------------------------------------------------- compute


def test_training_flops_and_petaflop_s_days():
    assert lc.training_flops(1e9, 20e9) == 6 * 1e9 * 20e9
    gpt3 = lc.training_flops(175e9, 300e9)
    assert gpt3 == pytest.approx(3.15e23)
    # GPT-3's paper reports ~3,640 petaflop/s-days
    assert lc.petaflop_s_days(gpt3) == pytest.approx(3646, rel=1e-3)
    assert lc.petaflop_s_days(1e15 * 86400) == pytest.approx(1.0)


def test_chinchilla_rule_of_thumb():
    assert lc.compute_optimal_tokens(70e9) == pytest.approx(1.4e12)


@pytest.mark.parametrize("n_params", [1e6, 7e9, 70e9, 175e9])
def test_compute_optimal_params_round_trip(n_params):
    flops = lc.training_flops(n_params, lc.compute_optimal_tokens(n_params))
    assert lc.compute_optimal_params(flops) == pytest.approx(n_params)


def test_compute_budget_table():
    t = lc.compute_budget_table({"Chinchilla": (70e9, 1.4e12), "GPT-3": (175e9, 300e9)})
    assert list(t.columns) == [
        "params",
        "tokens",
        "tokens_per_param",
        "compute_optimal_tokens",
        "flops",
        "petaflop_s_days",
    ]
    assert list(t.index) == ["Chinchilla", "GPT-3"]
    assert t.loc["Chinchilla", "tokens_per_param"] == pytest.approx(20.0)
    assert t.loc["Chinchilla", "compute_optimal_tokens"] == pytest.approx(1.4e12)
    assert t.loc["GPT-3", "compute_optimal_tokens"] == pytest.approx(3.5e12)
    assert t.loc["GPT-3", "flops"] == pytest.approx(3.15e23)
    assert t.loc["GPT-3", "petaflop_s_days"] == pytest.approx(lc.petaflop_s_days(3.15e23))


def test_course_models_default_table():
    assert lc.COURSE_MODELS["Chinchilla"] == (70e9, 1.4e12)
    assert lc.COURSE_MODELS["GPT-3"] == (175e9, 300e9)
    t = lc.compute_budget_table()
    assert set(t.index) == set(lc.COURSE_MODELS)
    # GPT-3 is under-trained relative to Chinchilla's 20 tokens/param
    assert t.loc["GPT-3", "tokens_per_param"] < 20 <= t.loc["LLaMA-65B", "tokens_per_param"]


def test_gpus_days():
    # 1 petaflop/s-day on 8 GPUs delivering 125 TFLOP/s each = 1 PFLOP/s -> 1 day
    assert lc.gpus_days(1.0, gpus=8, peak_tflops=125, utilization=1.0) == pytest.approx(1.0)
    assert lc.gpus_days(1.0, gpus=8, peak_tflops=125, utilization=0.5) == pytest.approx(2.0)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", [0, -1, -1e9, float("nan"), float("inf")])
def test_non_positive_sizes_raise(bad):
    with pytest.raises(ValueError, match="n_params"):
        lc.memory_table(bad)
    with pytest.raises(ValueError, match="n_params"):
        lc.training_flops(bad, 1e9)
    with pytest.raises(ValueError, match="n_tokens"):
        lc.training_flops(1e9, bad)
    with pytest.raises(ValueError, match="n_params"):
        lc.compute_optimal_tokens(bad)
    with pytest.raises(ValueError, match="flops"):
        lc.compute_optimal_params(bad)
    with pytest.raises(ValueError, match="flops"):
        lc.petaflop_s_days(bad)
    with pytest.raises(ValueError, match="n_tokens"):
        lc.compute_budget_table({"bad": (1e9, bad)})


def test_unknown_dtype_raises_listing_valid_ones():
    with pytest.raises(ValueError, match="fp64.*fp32, fp16, bf16, int8"):
        lc.memory_per_parameter("fp64")
    with pytest.raises(ValueError, match="valid dtypes"):
        lc.memory_table(1e9, dtypes=("fp32", "float8"))
    with pytest.raises(ValueError, match="valid dtypes.*fp32"):
        lc.float_bits(1.0, "fp8")


def test_other_invalid_inputs_raise():
    with pytest.raises(ValueError, match="int8_absmax"):
        lc.float_bits(1.0, "int8", int8_absmax=0)
    with pytest.raises(ValueError):
        lc.float_bits(float("nan"), "int8")
    with pytest.raises(ValueError):
        lc.human_bytes(-1)
    with pytest.raises(ValueError, match="utilization"):
        lc.gpus_days(1.0, utilization=1.5)


# --------------------------------------------------------------------------- mixed precision


def test_mixed_precision_keeps_fp32_master_weights_and_adam_states():
    assert sum(lc.MIXED_PRECISION_BYTES.values()) == 20.0
    t = lc.mixed_precision_table(1e9)
    assert t.loc["training_total", "fp32 (course)"] == pytest.approx(24.0)
    assert t.loc["training_total", "fp16 simplified (course)"] == pytest.approx(12.0)
    assert t.loc["training_total", "fp16/bf16 mixed precision"] == pytest.approx(20.0)
    assert t.loc["master_weights", "fp16/bf16 mixed precision"] == pytest.approx(4.0)
    assert t.loc["adam_states", "fp16/bf16 mixed precision"] == t.loc["adam_states", "fp32 (course)"]
    components = t.drop(index="training_total").sum()
    pd.testing.assert_series_equal(components, t.loc["training_total"], check_names=False)


# --------------------------------------------------------------------------- DDP / ZeRO / FSDP memory per GPU


def test_model_states_are_16_bytes_per_parameter_either_way():
    assert lc.model_state_bytes("mixed") == {"parameters": 2.0, "gradients": 2.0, "optimizer_states": 12.0}
    assert sum(lc.model_state_bytes("fp32").values()) == sum(lc.model_state_bytes("mixed").values()) == 16.0
    with pytest.raises(ValueError, match="mixed"):
        lc.model_state_bytes("fp8")


@pytest.mark.parametrize("stage,gb", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_memory_per_gpu_reproduces_the_zero_paper(stage, gb):
    # Rajbhandari et al., figure 1: 7.5B parameters, Adam in mixed precision, 64 GPUs
    assert lc.memory_per_gpu(7.5e9, 64, stage)["total"] == pytest.approx(gb, abs=0.05)


def test_memory_per_gpu_shards_what_each_stage_says():
    ddp = lc.memory_per_gpu(1e9, 8, "DDP")
    assert ddp == lc.memory_per_gpu(1e9, 1, 3)  # DDP on 8 GPUs holds what one GPU holds alone
    assert ddp["total"] == pytest.approx(16.0)
    z1, z2, z3 = (lc.memory_per_gpu(1e9, 8, s) for s in ("ZeRO-1", "SHARD_GRAD_OP", "FULL_SHARD"))
    assert z1["optimizer_states"] == pytest.approx(12 / 8) and z1["gradients"] == pytest.approx(2.0)
    assert z2["gradients"] == pytest.approx(2 / 8) and z2["parameters"] == pytest.approx(2.0)
    assert z3["total"] == pytest.approx(16 / 8)
    assert lc.memory_per_gpu(1e9, 8, "zero3") == z3 == lc.memory_per_gpu(1e9, 8, "fsdp full_shard")


def test_memory_per_gpu_table_rows_fall_with_the_gpu_count_except_ddp():
    t = lc.memory_per_gpu_table(7e9, (1, 2, 8, 64))
    assert list(t.columns) == [1, 2, 8, 64] and len(t) == 4
    assert t.iloc[0].nunique() == 1  # DDP: flat
    for _, row in t.iloc[1:].iterrows():
        assert row.is_monotonic_decreasing and row[64] < row[1]
    assert (t[1] == t.iloc[0, 0]).all()  # on one GPU every strategy holds everything


def test_gpus_needed():
    assert lc.gpus_needed(1e9, 80, 0) == 1  # 16 GB fits one GPU
    assert lc.gpus_needed(7e9, 80, 0) is None  # 112 GB never fits with DDP
    assert lc.gpus_needed(7e9, 80, 3) == 2
    assert lc.gpus_needed(13e9, 40, 1, reserve_gb=10) is None  # 52 GB stay unsharded at stage 1
    assert lc.gpus_needed(13e9, 40, 2, reserve_gb=10) == 46
    assert lc.gpus_needed(13e9, 40, 3, reserve_gb=10) == 7
    assert lc.gpus_needed(1e12, 80, 3, max_gpus=100) is None


def test_distributed_memory_bad_input():
    with pytest.raises(ValueError, match="unknown stage"):
        lc.memory_per_gpu(1e9, 8, 4)
    with pytest.raises(ValueError, match="unknown stage"):
        lc.memory_per_gpu(1e9, 8, "ZeRO-4")
    with pytest.raises(ValueError, match="whole number"):
        lc.memory_per_gpu(1e9, 2.5, 3)
    with pytest.raises(ValueError, match="n_gpus"):
        lc.memory_per_gpu(1e9, 0, 3)
    with pytest.raises(ValueError, match="reserve_gb"):
        lc.gpus_needed(1e9, 40, 3, reserve_gb=40)
    with pytest.raises(ValueError, match="gpu_counts"):
        lc.memory_per_gpu_table(1e9, ())


# --------------------------------------------------------------------------- the petaflop/s-day in GPUs


def test_petaflop_gpu_table_matches_the_lecture():
    t = lc.petaflop_gpu_table()
    assert t.loc["V100", "gpus_for_1_pflops"] == pytest.approx(8.0)  # "8 V100s"
    assert t.loc["A100 (2:4 sparse)", "gpus_for_1_pflops"] == pytest.approx(1.6, abs=0.01)  # "2 A100s", rounded
    assert t.loc["A100", "gpus_for_1_pflops"] == pytest.approx(3.2, abs=0.01)  # at the dense peak
    assert lc.petaflop_gpu_table(0.5).loc["V100", "gpus_for_1_pflops"] == pytest.approx(16.0)
    with pytest.raises(ValueError, match="utilization"):
        lc.petaflop_gpu_table(1.5)


def test_other_optimizers_keep_less_state():
    assert lc.model_state_bytes("mixed", "sgd") == {"parameters": 2.0, "gradients": 2.0, "optimizer_states": 4.0}
    assert lc.model_state_bytes("mixed", "adam_8bit")["optimizer_states"] == 6.0
    assert lc.model_state_bytes("fp32", "sgd_momentum")["optimizer_states"] == 4.0
    assert lc.memory_per_gpu(1e9, 8, 1, optimizer="sgd")["total"] == pytest.approx(2 + 2 + 4 / 8)
    assert lc.gpus_needed(7e9, 80, 0, optimizer="adam_8bit") == 1  # 10 bytes x 7e9 = 70 GB
    with pytest.raises(ValueError, match="unknown optimizer"):
        lc.model_state_bytes("mixed", "lion")


# --------------------------------------------------------------------------- tensor and pipeline parallelism


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_tensor_parallel_ranks_sum_to_the_whole_mlp(world_size):
    x, fc1, fc2 = lc.tensor_parallel_example(batch=5, d_model=8, hidden=32, seed=1)
    with torch.no_grad():
        whole = fc2(torch.nn.functional.gelu(fc1(x)))
    assert torch.allclose(lc.simulate_tensor_parallel(x, fc1, fc2, world_size), whole, atol=1e-6)
    shards = [lc.tensor_parallel_shards(fc1, fc2, r, world_size) for r in range(world_size)]
    assert all(s["fc1.weight"].shape == (32 // world_size, 8) and s["fc2.weight"].shape == (8, 32 // world_size)
               for s in shards)
    # each rank holds 1/N of everything but fc2's bias, which every rank keeps whole
    held = [sum(t.numel() for t in s.values()) for s in shards]
    total = sum(p.numel() for p in (*fc1.parameters(), *fc2.parameters()))
    assert sum(held) == total + (world_size - 1) * fc2.bias.numel()


def test_row_parallel_adds_the_bias_on_rank_0_only():
    x, fc1, fc2 = lc.tensor_parallel_example(batch=2, d_model=4, hidden=8, seed=0)
    hidden = torch.ones(2, 4)
    w = fc2.weight.chunk(2, dim=1)
    with torch.no_grad():
        assert torch.allclose(lc.row_parallel(hidden, w[1], fc2.bias, 1), hidden @ w[1].T)
        assert torch.allclose(lc.row_parallel(hidden, w[0], fc2.bias, 0), hidden @ w[0].T + fc2.bias)
    # outside a process group, tensor_parallel_mlp returns the rank's partial output
    assert not torch.allclose(lc.tensor_parallel_mlp(x, fc1, fc2, 1, 2), lc.simulate_tensor_parallel(x, fc1, fc2, 2))


def test_tensor_parallel_example_is_the_same_for_the_same_seed():
    a, b = lc.tensor_parallel_example(seed=3), lc.tensor_parallel_example(seed=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1].weight, b[1].weight) and torch.equal(a[2].bias, b[2].bias)
    assert not torch.equal(a[0], lc.tensor_parallel_example(seed=4)[0])


def test_tensor_parallel_bad_input():
    _, fc1, fc2 = lc.tensor_parallel_example(batch=2, d_model=4, hidden=6)
    with pytest.raises(ValueError, match="split evenly"):
        lc.tensor_parallel_shards(fc1, fc2, 0, 4)
    with pytest.raises(ValueError, match="rank must be"):
        lc.tensor_parallel_shards(fc1, fc2, 2, 2)


@pytest.mark.parametrize("stages,micro_batches,expected", [(2, 1, 1 / 2), (2, 4, 1 / 5), (4, 8, 3 / 11), (1, 3, 0.0)])
def test_pipeline_bubble(stages, micro_batches, expected):
    assert lc.pipeline_bubble(stages, micro_batches) == pytest.approx(expected)


def test_pipeline_bubble_bad_input():
    for stages, micro in ((0, 4), (2, 0), (2.5, 4)):
        with pytest.raises(ValueError, match="whole numbers"):
            lc.pipeline_bubble(stages, micro)


@pytest.mark.parametrize("stages,micro_batches", [(2, 1), (2, 4), (3, 5), (4, 8)])
def test_gpipe_schedule_idles_exactly_the_bubble_and_respects_dependencies(stages, micro_batches):
    t = lc.gpipe_schedule(stages, micro_batches, forward=1.0, backward=2.0)
    assert len(t) == 2 * stages * micro_batches
    makespan = t["end"].max()
    busy = (t["end"] - t["start"]).sum()
    assert 1 - busy / (stages * makespan) == pytest.approx(lc.pipeline_bubble(stages, micro_batches))
    end = {(r.kind, r.stage, r.micro_batch): r.end for r in t.itertuples()}
    for r in t.itertuples():
        if r.kind == "forward" and r.stage > 0:
            assert r.start >= end["forward", r.stage - 1, r.micro_batch]
        if r.kind == "backward" and r.stage < stages - 1:
            assert r.start >= end["backward", r.stage + 1, r.micro_batch]
    for _, ops in t.groupby("stage"):  # a stage does one thing at a time
        assert (ops["start"].to_numpy()[1:] >= ops["end"].to_numpy()[:-1] - 1e-12).all()


def test_split_stages_keeps_the_layers_in_order():
    model, x, _ = lc.pipeline_example(batch=4, width=6, layers=3, seed=0)
    stages = lc.split_stages(model, 2)
    assert [len(s) for s in stages] == [3, 3] and sum(len(s) for s in stages) == len(model)
    with torch.no_grad():
        assert torch.equal(stages[1](stages[0](x)), model(x))
    with pytest.raises(ValueError, match="cannot cut"):
        lc.split_stages(model, 7)


def test_a_one_stage_pipeline_step_with_micro_batches_gives_the_whole_batchs_gradients():
    """With one stage there is no peer to talk to: micro-batching alone must not change the gradients."""
    model, x, y = lc.pipeline_example(batch=8, width=4, layers=2, seed=0)
    torch.nn.functional.mse_loss(model(x), y).backward()
    whole = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    events, loss = lc.pipeline_step(model, 0, 1, x, y, micro_batches=4)
    assert loss == pytest.approx(torch.nn.functional.mse_loss(model(x), y).item(), rel=1e-5)
    assert all(torch.allclose(p.grad, g, atol=1e-6) for p, g in zip(model.parameters(), whole, strict=True))
    kinds = [e[0] for e in events]
    assert kinds == ["start"] + ["forward"] * 4 + ["backward"] * 4
    assert [e[1] for e in events[5:]] == [3, 2, 1, 0]  # backward passes in reverse order
    assert all(e[3] >= e[2] for e in events)


def test_memory_per_gpu_3d():
    plain = lc.memory_per_gpu(175e9, 32, 1)
    assert lc.memory_per_gpu_3d(175e9, data=32, stage=1)["total"] == pytest.approx(plain["total"])
    three_d = lc.memory_per_gpu_3d(175e9, data=32, pipeline=2, tensor=8, stage=1)
    assert three_d["gpus"] == 512
    # p x t divide everything; ZeRO-1 over the 32 replicas divides the optimizer states once more
    assert three_d["parameters"] == pytest.approx(2 * 175e9 / 16 / 1e9)
    assert three_d["optimizer_states"] == pytest.approx(12 * 175e9 / 16 / 32 / 1e9)
    assert three_d["total"] == pytest.approx(47.85, abs=0.01)
    table = lc.parallelism_3d_table(175e9, [(32, 2, 8), (8, 8, 8)], micro_batches=8)
    assert list(table.columns) == ["data", "pipeline", "tensor", "gpus", "GB per GPU", "pipeline bubble"]
    assert table["pipeline bubble"].tolist() == pytest.approx([1 / 9, 7 / 15])
    for bad in ({"data": 0}, {"pipeline": 1.5}, {"tensor": True}):
        with pytest.raises(ValueError, match="whole number"):
            lc.memory_per_gpu_3d(1e9, **bad)


@pytest.mark.slow
@pytest.mark.distributed
def test_tensor_parallel_on_two_processes_matches_one_process():
    result = lc.run_tensor_parallel(world_size=2, batch=4, d_model=8, hidden=16, seed=2, timeout=240)
    assert result["ranks_agree"]
    assert result["max_abs_diff"] < 1e-5
    assert result["parameters_per_rank"] == [8 * 8 + 8 + 8 * 8 + 8] * 2  # half of fc1 and fc2, fc2's bias whole
    assert result["allreduce_bytes"] == 4 * 8 * 4


@pytest.mark.slow
@pytest.mark.distributed
def test_pipeline_on_two_processes_matches_one_process_and_times_every_step():
    run = lc.run_pipeline(micro_batches=(1, 4), stages=2, repeats=2, batch=8, width=6, layers=2, seed=0,
                          work=(0.002, 0.004), timeout=240)
    assert all(diff < 1e-6 for diff in run.max_grad_diff.values()) and set(run.max_grad_diff) == {1, 4}
    assert run.max_loss_diff < 1e-6
    assert len(run.steps) == 2 * 2 * 2  # (computed, timed wait) x micro-batch counts x repeats
    assert set(run.steps["work"]) == {"computed", "timed wait"}
    assert run.steps["measured bubble"].between(0, 1).all()
    assert (run.steps["predicted bubble"] == run.steps["micro_batches"].map(lambda m: 1 / (m + 1))).all()
    one_step = run.timeline.query("work == 'timed wait' and micro_batches == 4 and repeat == 0")
    assert sorted(one_step.groupby(["stage", "kind"]).size().tolist()) == [4, 4, 4, 4]


@pytest.mark.slow
@pytest.mark.distributed
def test_a_failing_process_raises_in_the_launcher():
    from torch.multiprocessing import ProcessRaisedException

    with pytest.raises(ProcessRaisedException, match="split evenly"):
        lc.launch_processes(lc._tensor_parallel_worker, 2, 2, 4, 7, 0, timeout=240)  # 7 hidden features, 2 ranks
