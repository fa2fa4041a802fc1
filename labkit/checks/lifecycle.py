"""Checks for notebook 00_lifecycle: one function per exercise, registered under its id."""

from __future__ import annotations

import math
import numbers
import re

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


# (batch, d_model, hidden, world_size): shapes the row-parallel answer is tried on, with 1, 2, 4 and 8 ranks
_ROW_CASES = ((3, 8, 16, 2), (5, 6, 24, 4), (2, 4, 8, 1), (4, 16, 32, 8), (64, 256, 1024, 2))


def _source(fn) -> str:
    import inspect

    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


@exercise("00.4")
def check_row_parallel(my_row_parallel) -> None:
    """``my_row_parallel(hidden_shard, fc2, rank, world_size)``: a rank's partial output of the row-parallel layer."""
    import torch

    from labkit import lifecycle

    require(callable(my_row_parallel),
            "Define a function `my_row_parallel(hidden_shard, fc2, rank, world_size)` that returns a tensor.")
    require(not re.search(r"(?<!\w)row_parallel\s*\(", _source(my_row_parallel)),
            "Slice fc2's weight and multiply yourself instead of calling labkit's row_parallel: the point is to see "
            "which part of the weight each rank needs.")
    for batch, d_model, hidden, world_size in _ROW_CASES:
        x, fc1, fc2 = lifecycle.tensor_parallel_example(batch, d_model, hidden, seed=batch + world_size)
        with torch.no_grad():
            expected = fc2(torch.nn.functional.gelu(fc1(x)))
            total = torch.zeros_like(expected)
            for rank in range(world_size):
                shards = lifecycle.tensor_parallel_shards(fc1, fc2, rank, world_size)
                hidden_shard = lifecycle.column_parallel(x, shards["fc1.weight"], shards["fc1.bias"])
                call = f"my_row_parallel(hidden_shard of shape {tuple(hidden_shard.shape)}, fc2, rank={rank}, " \
                       f"world_size={world_size})"
                try:
                    partial = my_row_parallel(hidden_shard, fc2, rank, world_size)
                except NotImplementedError:
                    raise
                except RuntimeError as err:  # shapes that do not multiply
                    raise CheckFailed(
                        f"{call} raised RuntimeError: {str(err).splitlines()[0]}. Rank {rank} holds "
                        f"{hidden // world_size} of the {hidden} hidden features; "
                        f"fc2.weight has shape (out_features, in_features) = {tuple(fc2.weight.shape)}: keep the "
                        "columns (in_features) that match this rank's hidden features.") from None
                except Exception as err:  # the learner's code: say which call failed and how
                    raise CheckFailed(f"{call} raised {type(err).__name__}: {err}") from None
                require(isinstance(partial, torch.Tensor), f"{call} returned {type(partial).__name__}; return the "
                                                           "rank's partial output as a tensor.")
                require(tuple(partial.shape) == tuple(expected.shape),
                        f"{call} returned shape {tuple(partial.shape)}; each rank's partial output has the layer's "
                        f"full output shape {tuple(expected.shape)} - the all-reduce *adds* the ranks' outputs, it "
                        "does not concatenate them.")
                total = total + partial
        if torch.allclose(total, expected, atol=1e-5, rtol=1e-4):
            continue
        bias = fc2.bias.detach()
        if world_size > 1 and torch.allclose(total, expected + (world_size - 1) * bias, atol=1e-5, rtol=1e-4):
            raise CheckFailed(f"With {world_size} ranks your sum has fc2's bias {world_size} times: every rank adds "
                              "it, and the all-reduce adds them up. Add it on one rank only (rank 0).")
        require(not torch.allclose(total, expected - bias, atol=1e-5, rtol=1e-4),
                "Your sum never adds fc2's bias: add it once, on one rank (rank 0).")
        raise CheckFailed(
            f"With {world_size} ranks (hidden {hidden}, d_model {d_model}) the summed partial outputs differ from "
            f"fc2(hidden) by up to {float((total - expected).abs().max()):.3g}. Rank r holds hidden features "
            f"chunk r of {world_size} equal chunks (rank 0 the first {hidden // world_size}); its partial output is "
            "its hidden shard times the matching columns of fc2.weight, transposed.")
    ok("Summed over the ranks, your partial outputs equal fc2(hidden) for 1, 2, 4 and 8 ranks: the all-reduce "
       "completes the row-parallel layer.")


@exercise("00.5")
def check_bubble_prediction(predicted_bubble, stages: int = 2) -> None:
    """``predicted_bubble``: {micro_batches: idle share of a GPipe step} for a pipeline of ``stages`` stages."""
    from labkit import lifecycle

    require(isinstance(predicted_bubble, dict) and predicted_bubble,
            "Set `predicted_bubble` to a dict {number of micro-batches: predicted idle share between 0 and 1}.")
    counts = sorted(predicted_bubble, key=str)
    require(all(isinstance(m, int) and m >= 1 for m in counts),
            f"The keys are numbers of micro-batches (1, 2, 4, 8), not {counts}.")
    got = {}
    for m in counts:
        try:
            got[m] = float(predicted_bubble[m])
        except (TypeError, ValueError):
            raise CheckFailed(f"predicted_bubble[{m}] = {predicted_bubble[m]!r}: give a number between 0 and 1 "
                              "(a share of the step's time).") from None
        require(0 <= got[m] <= 1, f"predicted_bubble[{m}] = {got[m]:g}: a share of the time lies between 0 and 1 "
                                  "(write 20 % as 0.2).")
    p = stages

    def matches(formula) -> bool:
        return all(math.isclose(got[m], formula(m), abs_tol=0.006) for m in counts)

    if matches(lambda m: lifecycle.pipeline_bubble(p, m)):
        ok("Predicted: " + ", ".join(f"m={m}: {lifecycle.pipeline_bubble(p, m):.3f}" for m in counts)
           + f" - (p - 1) / (m + p - 1) with p = {p}. Now see how close the measurement comes.")
        return
    require(not matches(lambda m: (p - 1) / m),
            "That is the idle time *relative to the work* ((p - 1) slots per m slots of work). The bubble is a share "
            "of the whole step: idle slots over all slots, (p - 1) + m of them per stage.")
    require(not matches(lambda m: m / (m + p - 1)),
            "That is the share of the step each stage is *busy*; the bubble is the rest.")
    require(not matches(lambda m: 0.0), "A pipeline always waits: the last stage has nothing to do until the first "
                                        "micro-batch reaches it, and the first waits again for the last gradient.")
    require(not matches(lambda m: (p - 1) / p),
            "That is the bubble with one micro-batch. Splitting the batch lets the stages overlap: the wait at either "
            "end stays one slot per extra stage, while the work grows to m slots.")
    wrong = next(m for m in counts if not math.isclose(got[m], lifecycle.pipeline_bubble(p, m), abs_tol=0.006))
    raise CheckFailed(f"predicted_bubble[{wrong}] = {got[wrong]:.3g} is not what the schedule gives. Draw it for "
                      f"{p} stages and {wrong} micro-batches: count, per stage, the slots of work (forward and "
                      "backward of each micro-batch) and the slots it waits at the start and at the end.")


def read_bubbles(bubbles) -> tuple[bool, bool]:
    """The two readings exercise 00.6 asks for, from a run's bubble table (index: micro-batches; columns
    "timed wait", "computed"): does the schedule's bubble fall at every larger m, and do the computed steps sit
    above the timed-wait ones for more than half of the micro-batch counts?"""
    wait = [float(v) for v in bubbles["timed wait"]]
    falls = all(later < earlier for earlier, later in zip(wait, wait[1:], strict=False))
    above = sum(float(c) > float(w) for c, w in zip(bubbles["computed"], bubbles["timed wait"], strict=True))
    return falls, 2 * above > len(wait)


@exercise("00.6")
def check_bubble_reading(schedule_follows_formula, machine_adds_idle, bubbles) -> None:
    """two readings of this run's own pipeline table."""
    answers = {"schedule_follows_formula": schedule_follows_formula, "machine_adds_idle": machine_adds_idle}
    for name, value in answers.items():
        require(isinstance(value, bool) or type(value).__name__ == "bool_", f"Set `{name}` to True or False.")
    falls, above = read_bubbles(bubbles)
    wait = ", ".join(f"m={m}: {v:.3f}" for m, v in bubbles["timed wait"].items())
    require(bool(schedule_follows_formula) == falls,
            f"The timed-wait column reads {wait}. 'Falls' means every larger m has a smaller bubble than the one "
            f"before it: that is {falls} here.")
    pairs = ", ".join(f"m={m}: {c:.3f} vs {w:.3f}" for m, c, w in
                      zip(bubbles.index, bubbles["computed"], bubbles["timed wait"], strict=True))
    require(bool(machine_adds_idle) == above,
            f"Computed vs timed wait, per m: {pairs}. Count the micro-batch counts where the computed step idles "
            f"more; more than half of them? That is {above} here.")
    ok(f"Read right: the schedule's bubble {'falls' if falls else 'does not fall'} at every larger m, and the "
       f"computed steps {'do' if above else 'do not'} idle more than the schedule alone for most m.")


@exercise("00.7")
def check_3d_layout(layout, n_params: float, n_gpus: int, gpu_gb: float, reserve_gb: float, micro_batches: int,
                    max_bubble: float, gpus_per_node: int, zero_stage: int = 1) -> None:
    """``layout = {"data": d, "pipeline": p, "tensor": t}`` meeting a 3D-parallelism brief."""
    from labkit import lifecycle

    keys = {"data", "pipeline", "tensor"}
    require(isinstance(layout, dict) and set(layout) == keys,
            'Set `layout` to a dict {"data": ..., "pipeline": ..., "tensor": ...} of whole numbers of GPUs.')
    for name in ("data", "pipeline", "tensor"):
        value = layout[name]
        require(isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1,
                f'layout["{name}"] = {value!r}: a degree of parallelism is a whole number of GPUs, at least 1.')
    d, p, t = layout["data"], layout["pipeline"], layout["tensor"]
    require(d * p * t == n_gpus, f"{d} x {p} x {t} = {d * p * t} GPUs; the brief has {n_gpus}: data x pipeline x "
                                 "tensor must use every GPU.")
    require(t <= gpus_per_node and gpus_per_node % t == 0,
            f"A tensor-parallel group of {t} does not fit in one node of {gpus_per_node} GPUs: tensor parallelism "
            "all-reduces activations in every layer, so its group must stay on one node's fast links.")
    bubble = lifecycle.pipeline_bubble(p, micro_batches)
    require(bubble <= max_bubble + 1e-9,
            f"With {p} pipeline stages and {micro_batches} micro-batches the GPUs idle {bubble:.0%} of each step, more "
            f"than the brief's {max_bubble:.0%}.")
    memory = lifecycle.memory_per_gpu_3d(n_params, d, p, t, stage=zero_stage)["total"]
    budget = gpu_gb - reserve_gb
    require(memory <= budget,
            f"Each GPU would hold {memory:.1f} GB of model states, more than the {budget:g} GB left after the "
            f"activations. Only pipeline x tensor (= {p * t} now) divides the parameters, gradients and 16-bit "
            f"weights; ZeRO-{zero_stage} over the data-parallel replicas divides only the optimizer states.")
    valid = []
    for tensor in (x for x in range(1, gpus_per_node + 1) if gpus_per_node % x == 0):
        for pipeline in (x for x in range(1, n_gpus // tensor + 1) if (n_gpus // tensor) % x == 0):
            data = n_gpus // (tensor * pipeline)
            if data * pipeline * tensor == n_gpus and lifecycle.pipeline_bubble(pipeline, micro_batches) <= max_bubble \
                    and lifecycle.memory_per_gpu_3d(n_params, data, pipeline, tensor, zero_stage)["total"] <= budget:
                valid.append((data, pipeline, tensor))
    others = [v for v in valid if v != (d, p, t)]
    ok(f"{d} data x {p} pipeline x {t} tensor: {memory:.1f} GB of model states per GPU (of {budget:g}), a bubble of "
       f"{bubble:.0%}. " + (f"Other layouts that meet the brief: {others}." if others else
                            "It is the only layout that meets the brief."))


@exercise("00.8")
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
