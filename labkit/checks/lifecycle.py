"""Checks for notebook 00_lifecycle: one function per exercise, registered under its id."""

from __future__ import annotations

import math
import numbers

from labkit.checks.base import CheckFailed, close, exercise, ok, require


def _number(value, name: str) -> float:
    require(value is not None, f"Set `{name}` to a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CheckFailed(f"`{name}` should be a number, not {type(value).__name__} {value!r}.") from None
    require(math.isfinite(number) and number > 0, f"`{name}` should be a positive number, got {value!r}.")
    return number


@exercise("00.1")
def check_training_memory(gb, n_params: float) -> None:
    """GPU memory (GB) to fully fine-tune ``n_params`` parameters with fp16/bf16 mixed precision and Adam."""
    from labkit import lifecycle

    expected = sum(lifecycle.MIXED_PRECISION_BYTES.values()) * n_params / lifecycle.GB
    gb = _number(gb, "training_gb")
    require(not close(gb, expected * 1e9, 1e-3), f"{gb:.3g} is in bytes: divide by 1e9 for GB.")
    require(not close(gb, expected * 1e9 / 2**30, 1e-3),
            "That is in GiB (2**30 bytes): this notebook uses decimal GB (1e9 bytes), as GPU data sheets do.")
    per_param = gb * lifecycle.GB / n_params
    hints = {
        2: "That is what *inference* needs: the 16-bit weights alone. Training also keeps gradients, the fp32 "
           "master weights, Adam's two states and activations.",
        12: "That is the course's simplified fp16 figure, which halves every component. Mixed precision keeps the "
            "master copy of the weights and Adam's two states in fp32 (4 bytes each per parameter).",
        24: "That is the fp32 figure. In mixed precision the working copy of the weights, the gradients and the "
            "activations are 16-bit (2 bytes); only the master weights and Adam's states stay fp32.",
        16: "4 bytes per parameter short: did you count both the fp32 master weights and the 16-bit activations "
            "(half of the course's 8 bytes)?",
        18: "2 bytes per parameter short: count the 16-bit working copy of the weights *and* the 16-bit gradients.",
        14: "6 bytes per parameter short: the fp32 master weights are 4 bytes, Adam keeps *two* fp32 states.",
    }
    for wrong, hint in hints.items():
        require(not close(per_param, wrong, 1e-3), f"{gb:.3g} GB is {wrong} bytes per parameter. {hint}")
    require(close(gb, expected, 1e-3),
            f"{gb:.3g} GB is {per_param:.3g} bytes per parameter. Add up, per parameter: the 16-bit weights, the fp32 "
            "master weights, Adam's two fp32 states, the 16-bit gradients and the 16-bit activations; multiply by "
            "the parameter count; divide by 1e9.")
    simplified = float(lifecycle.memory_table(n_params, dtypes=("fp16",)).loc["training_total", "fp16"])
    ok(f"Mixed-precision fine-tuning of {n_params / 1e6:.0f} M parameters takes about {expected:.2f} GB, "
       f"{expected / simplified:.2f}x the course's simplified fp16 figure ({simplified:.2f} GB).")


# (n_params, n_gpus) pairs every ZeRO answer is tried on: the ZeRO paper's 7.5B on 64 GPUs, one GPU, and more.
_ZERO_CASES = ((7.5e9, 64), (1e9, 1), (13e9, 8), (70e9, 16))


def _variants():
    """Plausible wrong ways to compute ZeRO memory per GPU, each with the hint it earns."""
    from labkit import lifecycle

    def model(bytes_, sharded_by_stage, unit=lifecycle.GB):
        def fn(n, g, s):
            return sum(n * b / unit / (g if part in sharded_by_stage[s] else 1) for part, b in bytes_.items())
        return fn

    mixed = lifecycle.model_state_bytes("mixed")
    right = {s: sharded for s, (_, sharded) in lifecycle.ZERO_STAGES.items()}
    everything = ("parameters", "gradients", "optimizer_states")
    return [
        (model({**mixed, "optimizer_states": 8.0}, right),
         "Your optimizer states are 8 bytes per parameter: in mixed precision they also hold the fp32 master copy of "
         "the weights (4 bytes), so 12 bytes in all."),
        (model(lifecycle.model_state_bytes("fp32"), right),
         "Those are fp32 model states (4 + 4 + 8 bytes). In mixed precision the parameters and gradients are 16-bit "
         "(2 bytes each); the optimizer states are 12 bytes (fp32 master weights + Adam's two states)."),
        (model(mixed, {0: (), 1: everything, 2: everything, 3: everything}),
         "At stages 1 and 2 you split everything across the GPUs. Stage 1 shards only the optimizer states, stage 2 "
         "also the gradients; only stage 3 shards the parameters too."),
        (model(mixed, {s: everything for s in right}),
         "Stage 0 is plain DDP: every GPU keeps a full copy of parameters, gradients and optimizer states, so more "
         "GPUs never lower its memory."),
        (model(mixed, {0: (), 1: (), 2: (), 3: ()}),
         "Your answer ignores the stage. Each ZeRO stage divides more of the model states by the number of GPUs."),
        (model(mixed, {0: (), 1: right[2], 2: right[3], 3: right[3]}),
         "Your stages are one ahead: stage 1 shards only the optimizer states (not the gradients)."),
        (model(mixed, {0: (), 1: (), 2: right[1], 3: right[2]}),
         "Your stages are one behind: stage 1 already shards the optimizer states, and stage 3 the parameters too."),
        (model(mixed, right, unit=2**30),
         "That is in GiB (2**30 bytes): use decimal GB (1e9 bytes)."),
        (model(mixed, right, unit=1),
         "That is in bytes: divide by 1e9 for GB."),
    ]


@exercise("00.2")
def check_zero_memory(zero_memory_gb) -> None:
    """``zero_memory_gb(n_params, n_gpus, stage)``: model-state GB per GPU (mixed precision, Adam) at ZeRO stage 0-3."""
    from labkit import lifecycle

    require(callable(zero_memory_gb), "Define a function `zero_memory_gb(n_params, n_gpus, stage)` that returns GB.")
    got = {}
    for n, g in _ZERO_CASES:
        for stage in range(4):
            try:
                value = zero_memory_gb(n, g, stage)
            except Exception as err:  # the learner's code: say which call failed and how
                raise CheckFailed(f"zero_memory_gb({n:g}, {g}, {stage}) raised {type(err).__name__}: {err}") from None
            try:
                got[n, g, stage] = float(value)
            except (TypeError, ValueError):
                raise CheckFailed(f"zero_memory_gb({n:g}, {g}, {stage}) returned {value!r}; return a number of GB "
                                  "(the total over parameters, gradients and optimizer states).") from None
    expected = {(n, g, s): lifecycle.memory_per_gpu(n, g, s)["total"] for n, g, s in got}
    if all(close(got[k], expected[k], 1e-6) for k in got):
        n, g = _ZERO_CASES[0]
        ok("Memory per GPU for 7.5B parameters on 64 GPUs: " + ", ".join(
            f"stage {s} {expected[n, g, s]:.1f} GB" for s in range(4)) + " - the ZeRO paper's figures.")
        return
    for variant, hint in _variants():
        if all(close(got[k], variant(*k), 1e-6) for k in got):
            raise CheckFailed(hint)
    wrong = next(k for k in got if not close(got[k], expected[k], 1e-6))
    n, g, stage = wrong
    label, sharded = lifecycle.ZERO_STAGES[stage]
    what = ", ".join(sharded) if sharded else "nothing"
    raise CheckFailed(f"zero_memory_gb({n:g}, {g}, {stage}) returned {got[wrong]:.4g} GB, which is not right. At stage "
                      f"{stage} ({label}) each GPU keeps 1/{g} of: {what}, and all of the rest. Per parameter: 2 bytes "
                      "of 16-bit parameters, 2 of 16-bit gradients, 12 of optimizer states.")


@exercise("00.3")
def check_fewest_gpus(fewest_gpus, n_params: float, gpu_gb: float, reserve_gb: float) -> None:
    """The fewest GPUs (or None) per stage 0-3 for the model states of ``n_params`` to fit next to ``reserve_gb``."""
    from labkit import lifecycle

    require(isinstance(fewest_gpus, dict), "Set `fewest_gpus` to a dict {stage: number of GPUs, or None}.")
    require(set(fewest_gpus) == {0, 1, 2, 3},
            f"`fewest_gpus` needs one entry for each stage 0, 1, 2, 3; it has {sorted(fewest_gpus, key=str)}.")
    expected = {s: lifecycle.gpus_needed(n_params, gpu_gb, s, reserve_gb=reserve_gb) for s in range(4)}
    no_reserve = {s: lifecycle.gpus_needed(n_params, gpu_gb, s) for s in range(4)}
    for stage in range(4):
        answer, right = fewest_gpus[stage], expected[stage]
        if answer == right and (answer is None or isinstance(answer, numbers.Integral)):
            continue
        if right is None:
            if stage == 0:
                raise CheckFailed("Stage 0 is DDP: every GPU holds all the model states, so no number of GPUs "
                                  "lowers the memory per GPU. Use None when nothing fits.")
            raise CheckFailed(f"Stage {stage}: what does each GPU keep whole, whatever the number of GPUs? Compare "
                              f"it with the {gpu_gb - reserve_gb:g} GB left per GPU. Use None when nothing fits.")
        require(answer is not None, f"Stage {stage}: enough GPUs do make it fit - find the fewest.")
        require(isinstance(answer, numbers.Integral) and not isinstance(answer, bool),
                f"Stage {stage}: give a whole number of GPUs, not {answer!r} (round up: 6.1 GPUs means 7).")
        require(answer != no_reserve[stage],
                f"Stage {stage}: {answer} GPUs fill each one to {gpu_gb:g} GB, but {reserve_gb:g} GB per GPU must stay "
                "free for activations.")
        require(answer != right - 1, f"Stage {stage}: {answer} GPUs are not quite enough; round the GPU count up.")
        require(answer > right, f"Stage {stage}: {answer} GPUs are too few - the model states do not fit.")
        raise CheckFailed(f"Stage {stage}: {answer} GPUs fit, but fewer would too. Find the *fewest*.")
    ok("Fewest GPUs per stage: " + ", ".join(f"stage {s}: {'never' if v is None else v}" for s, v in expected.items())
       + ".")


@exercise("00.4")
def check_compute_optimal_params(optimal_params, gpus: int, peak_tflops: float, utilization: float,
                                 days: float) -> None:
    """The compute-optimal model size for ``gpus`` GPUs at ``peak_tflops`` x ``utilization`` for ``days`` days."""
    from labkit import lifecycle

    params = _number(optimal_params, "optimal_params")
    flops = gpus * peak_tflops * 1e12 * utilization * days * 86400
    expected = lifecycle.compute_optimal_params(flops)
    peak = lifecycle.compute_optimal_params(flops / utilization)
    require(not close(params, peak, 1e-3),
            f"{params:.3g} parameters would use the GPUs at their peak; they deliver only {utilization:.0%} of it.")
    require(not close(params, math.sqrt(flops / lifecycle.FLOPS_PER_PARAM_PER_TOKEN), 1e-3),
            "That trains on one token per parameter. Compute-optimal training sees about 20 tokens per parameter: "
            "put D = 20 N into C = 6 N D and solve for N.")
    require(not close(params, flops / (lifecycle.FLOPS_PER_PARAM_PER_TOKEN * lifecycle.CHINCHILLA_TOKENS_PER_PARAM),
                      1e-3),
            "That is N squared: with D = 20 N, C = 6 N D = 120 N^2, so N is the square root of C / 120.")
    require(not close(params, lifecycle.compute_optimal_params(flops / 86400), 1e-3)
            and not close(params, lifecycle.compute_optimal_params(flops / 3600), 1e-3),
            "Check your time units: the GPUs run for days; a FLOP/s rate needs seconds (86,400 per day).")
    require(not close(params, 20 * expected, 1e-3), "That is the number of training *tokens* (20 per parameter), not "
                                                    "of parameters.")
    require(close(params, expected, 1e-3),
            f"{params:.3g} parameters is not right. Budget C = GPUs x peak FLOP/s x utilization x seconds; with "
            "D = 20 N, C = 6 N D = 120 N^2.")
    pf_days = lifecycle.petaflop_s_days(flops)
    ok(f"{pf_days:.1f} petaflop/s-days buy a compute-optimal model of about {expected / 1e9:.2f} B parameters trained "
       f"on {20 * expected / 1e9:.0f} B tokens.")
