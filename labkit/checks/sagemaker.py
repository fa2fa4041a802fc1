"""Checks for notebook 11_sagemaker: one function per exercise, registered under its id."""

from __future__ import annotations

import math

from labkit.checks.base import CheckFailed, exercise, ok, require

#: The lecture's memory table for training in 32-bit floats: weights 4 + Adam's two states 8 + gradients 4
#: + activations and temporary memory ~8 bytes per parameter (about 6x the weights alone).
TRAINING_BYTES_PER_PARAMETER = 4 + 8 + 4 + 8


@exercise("11.1")
def check_weekend_cost(weekend_cost, instance_type: str = "ml.g4dn.xlarge", instance_count: int = 1,
                       hours: float = 64) -> None:
    """what an endpoint left running from Friday 17:00 to Monday 09:00 costs (estimate)."""
    from labkit import sagemaker

    per_hour = sagemaker.price(instance_type) * instance_count
    expected = sagemaker.estimate_cost(instance_type, hours, instance_count)

    def near(value, target):  # cents are enough
        return abs(float(value) - target) <= max(0.01, 1e-3 * abs(target))

    require(weekend_cost is not None, "Set `weekend_cost` to a number of dollars.")
    require(isinstance(weekend_cost, (int, float)) and not isinstance(weekend_cost, bool),
            "Give the cost as a number (dollars), not a string.")
    require(not near(weekend_cost, per_hour),
            f"${per_hour:.2f} is the price of one hour. An endpoint bills for every hour it exists, "
            "busy or idle: multiply by the hours it stays up.")
    require(not near(weekend_cost, per_hour * 48),
            "48 hours is Saturday and Sunday only. The endpoint is already up on Friday evening and still "
            "up on Monday morning: count from Friday 17:00 to Monday 09:00.")
    require(not near(weekend_cost, per_hour * 72),
            "72 hours counts from Friday 00:00. Count from Friday 17:00 to Monday 09:00.")
    require(instance_count == 1 or not near(weekend_cost, expected / instance_count),
            f"The endpoint runs {instance_count} instances: each one bills.")
    require(near(weekend_cost, expected),
            f"${float(weekend_cost):.2f} is not it. Hours from Friday 17:00 to Monday 09:00, times the "
            f"estimated ${per_hour:.2f}/hour of {instance_count} x {instance_type} (labkit.sagemaker.price).")
    ok(f"About ${expected:.2f} for {hours:g} idle hours - delete endpoints when you stop working.")


def _reference_pick(n_params: float, table, bytes_per_parameter: float = TRAINING_BYTES_PER_PARAMETER,
                    per_gpu: bool = True, cheapest: bool = True) -> str | None:
    """The right answer to 10.2 (defaults) and the plausible wrong ones (other arguments), for the hints."""
    need_gb = n_params * bytes_per_parameter / 1e9
    rows = table[table["GPUs"] > 0]
    memory = rows["GB per GPU"] if per_gpu else rows["GB per GPU"] * rows["GPUs"]
    fits = rows[memory >= need_gb]
    if fits.empty:
        return None
    return str(fits.sort_values("est. $/hour", kind="stable").iloc[0]["instance type"] if cheapest
               else fits.iloc[0]["instance type"])


@exercise("11.2")
def check_pick_instance(pick_instance) -> None:
    """``pick_instance(n_params, instances)``: the cheapest instance whose every GPU holds full fine-tuning
    (DDP: one full copy per GPU) at the lecture's 24 bytes per parameter, or None."""
    import pandas as pd

    from labkit import sagemaker

    require(callable(pick_instance), "Define `pick_instance(n_params, instances)` as a function.")
    table = pd.DataFrame(sagemaker.instances())
    cases = [(248e6, table), (783e6, table), (1.5e9, table), (2.85e9, table),
             (248e6, table.iloc[::-1].reset_index(drop=True)),  # the cheapest, not the first in the table
             (783e6, table[table["GPUs"] == 0].reset_index(drop=True))]  # CPU instances only
    for n_params, instances in cases:
        expected = _reference_pick(n_params, instances)
        try:
            got = pick_instance(n_params, instances.copy())
        except NotImplementedError:
            raise
        except Exception as err:
            raise CheckFailed(f"pick_instance({n_params:.3g}, instances) raised {type(err).__name__}: {err}") from None
        if got is not None and not isinstance(got, str):
            raise CheckFailed(f"Return the instance type as a string such as 'ml.g4dn.xlarge' (or None), not "
                              f"{type(got).__name__}.")
        if got == expected:
            continue
        where = f"For {n_params / 1e9:g} B parameters you returned {got!r}"
        need = n_params * TRAINING_BYTES_PER_PARAMETER / 1e9
        if expected is None and got is not None and got in set(instances["instance type"]):
            if got == _reference_pick(n_params, instances, per_gpu=False):
                raise CheckFailed(f"{where}, which has enough GPU memory only in total. With DDP each GPU holds a "
                                  "full copy of the weights, gradients and optimizer states, so the model must fit "
                                  "in ONE GPU: compare with 'GB per GPU'.")
            if any(got == _reference_pick(n_params, instances, bytes_per_parameter=b) for b in (2, 4, 8, 12, 16)):
                raise CheckFailed(f"{where}. Training needs {need:.0f} GB here: 4 bytes per parameter for the "
                                  "weights, +8 for Adam's two states, +4 for the gradients and ~+8 for activations "
                                  "and temporary memory - 24 bytes per parameter, about 6x the weights alone.")
            raise CheckFailed(f"{where}, but nothing in that table fits ({need:.0f} GB per GPU): return None.")
        if got == _reference_pick(n_params, instances, per_gpu=False):
            raise CheckFailed(f"{where}: it has enough memory only across all its GPUs. With DDP each GPU holds a "
                              "full copy, so compare the need with 'GB per GPU', not GPUs x GB.")
        if any(got == _reference_pick(n_params, instances, bytes_per_parameter=b) for b in (2, 4, 8, 12, 16, 20)):
            raise CheckFailed(f"{where}, too small: full fine-tuning needs ~{need:.1f} GB per GPU. Count 4 bytes "
                              "(weights) + 8 (Adam) + 4 (gradients) + 8 (activations, temporary) = 24 bytes per "
                              "parameter, the lecture's table.")
        if got == _reference_pick(n_params, instances, cheapest=False):
            raise CheckFailed(f"{where}: the first instance in the table that fits, not the cheapest. Compare "
                              "'est. $/hour' among those that fit (the table passed in may come in any order).")
        if expected is None:
            raise CheckFailed(f"{where}, but no GPU instance in that table fits ({need:.0f} GB per GPU): return None.")
        raise CheckFailed(f"{where}; the answer is {expected!r}: the cheapest instance with a GPU of at least "
                          f"{need:.1f} GB (24 bytes per parameter).")
    ok("pick_instance keeps one full training copy per GPU and picks the cheapest instance that holds it.")


@exercise("11.4")
def check_script_hyperparameters(hyperparameters, *, n_train: int, global_batch: int, processes: int,
                                 method: str = "full") -> None:
    """Hyperparameters for ``python -m labkit.train`` under SageMaker's torchrun driver: the script's flags,
    one pass over ``n_train`` dialogues at ``global_batch`` examples per step across ``processes`` processes,
    and the output where SageMaker saves it."""
    from labkit import sagemaker

    require(isinstance(hyperparameters, dict) and hyperparameters,
            "Set `hyperparameters` to a dict of flag name -> value.")
    try:
        sent = sagemaker.script_hyperparameters(hyperparameters)
    except ValueError as err:
        raise CheckFailed(str(err)) from None
    require(sent["method"] == method, f"method={sent['method']!r}: the memory estimate and the instance you picked "
                                      f"are for {method!r} fine-tuning; train that way ({method!r}).")

    def number(name):
        try:
            value = float(sent[name])
        except ValueError:
            raise CheckFailed(f"{name}={hyperparameters[name]!r} must be a whole number.") from None
        require(value == int(value), f"{name}={hyperparameters[name]!r} must be a whole number.")
        return int(value)

    per_device = global_batch // processes
    require("per-device-batch-size" in sent,
            f"Set 'per-device-batch-size': each of the {processes} processes takes its share of the global batch "
            f"of {global_batch}.")
    got = number("per-device-batch-size")
    require(got != global_batch or processes == 1,
            f"{got} is the global batch. Every one of the {processes} processes takes per-device-batch-size "
            f"examples per step, so a step would see {got * processes}: divide by the number of processes.")
    require(got == per_device,
            f"per-device-batch-size={got}: {processes} processes x {got} = {processes * got} examples per step, not "
            f"the {global_batch} of notebook 03. Processes = instances x GPUs per instance (one process per GPU).")
    steps = math.ceil(n_train / global_batch)
    got = number("max-steps")
    require(got != math.floor(n_train / global_batch) or got == steps,
            f"{got} steps x {global_batch} = {got * global_batch} dialogues: the last {n_train - got * global_batch} "
            "are left out. Round up - the last, smaller batch is a step too.")
    require(got != math.ceil(n_train / per_device) or got == steps,
            f"{got} steps is n_train / per-device batch. One step consumes the GLOBAL batch ({processes} processes x "
            f"{per_device} = {global_batch} dialogues), so one pass takes fewer steps.")
    require(got == steps, f"max-steps={got}: one pass over {n_train} dialogues at {global_batch} per step takes "
                          f"ceil({n_train} / {global_batch}) steps.")
    ok(f"{len(sent)} flags, sent as --name value: {steps} steps of {processes} x {per_device} = {global_batch} "
       "dialogues, saved where SageMaker uploads it.")


@exercise("11.3")
def check_who_wrote_it(written_by_flan_t5, evidence, *, target, summary: str) -> None:
    """Read the run: did a model write the endpoint's answer, or the emulator's labelled echo? Cite the output."""
    from labkit.sagemaker.emulator import REPLY_LABEL

    require(isinstance(written_by_flan_t5, bool), "`written_by_flan_t5` is True or False.")
    require(isinstance(evidence, str) and evidence.strip(), "`evidence` is a piece of text copied from the output.")
    echoed = bool(target.is_emulator) or REPLY_LABEL in summary
    require(written_by_flan_t5 != echoed,
            "Look at the target line and the start of the answer: " + (
                f"this run talked to the emulator, whose answers begin {REPLY_LABEL!r} - no model ran."
                if echoed else "this run talked to a real endpoint, and its answer carries no emulator label."))
    shown = f"{summary}\n{target.label}"
    require(evidence.strip() in shown,
            "Copy the evidence from this run's output: a piece of the answer or of the target line.")
    ok("an emulator's echo is no model output - say so wherever the number or text appears." if echoed
       else "a real FLAN-T5 endpoint wrote it: name the model and version beside the text.")
