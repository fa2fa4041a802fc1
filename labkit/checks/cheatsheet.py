"""Checks for notebook 12_cheatsheet: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import CheckFailed, exercise, ok, require


@exercise("12.2")
def check_stage_for_brief(choice, table, budget_seconds: float) -> None:
    """the stage a brief calls for, read from this run's measured table."""
    from labkit.cheatsheet import SHARED_BASE_STAGES, stage_for_brief

    expected = stage_for_brief(table, budget_seconds)
    require(choice is None or choice in table.index,
            f"Name a stage exactly as the table's index does ({', '.join(map(repr, table.index))}), or None.")
    if choice == expected:
        ok(f"Right: {expected!r}." if expected else "Right: no stage meets this brief on this machine.")
        return
    if choice is not None and choice not in SHARED_BASE_STAGES:
        reason = ("needs a reward model, not example summaries" if choice.startswith("RLHF") else
                  "trains nothing" if table.loc[choice, "trainable parameters"] == 0 else
                  "changes every weight, so each style would need its own full copy of the model")
        raise CheckFailed(f"{choice!r} {reason}. The brief keeps one base model shared between styles.")
    if choice is not None and table.loc[choice, "estimated training seconds"] > budget_seconds:
        raise CheckFailed(f"{choice!r} needs about {table.loc[choice, 'estimated training seconds']:.0f} s here, "
                          f"over the budget of {budget_seconds:.0f} s.")
    if choice is None:
        raise CheckFailed("At least one stage that keeps the base shared fits the budget here: compare each one's "
                          "'estimated training seconds' with the budget.")
    raise CheckFailed(f"{choice!r} fits, but the brief asks for the most trainable parameters among the stages "
                      "that fit: compare the 'trainable parameters' column.")


@exercise("12.1")
def check_trainable_share(fn, model, tokenizer) -> None:
    """the share of a model's parameters a stage trains, matched with the counts peft and torch give."""
    import copy

    from peft import get_peft_model

    from labkit import finetune
    from labkit.cheatsheet import count_parameters
    from labkit.checks.base import call

    cases = {"the model as loaded": copy.deepcopy(model),
             "LoRA": finetune.add_lora(copy.deepcopy(model), finetune.lora_config()),
             "prompt tuning": get_peft_model(copy.deepcopy(model), finetune.prompt_tuning_config(tokenizer))}
    frozen = copy.deepcopy(model)
    for p in frozen.parameters():
        p.requires_grad_(False)
    cases["everything frozen"] = frozen
    for name, case in cases.items():
        trainable, total = count_parameters(case)
        got = call(fn, case, name="trainable_share")
        require(isinstance(got, (int, float)) or hasattr(got, "__float__"), "Return one number between 0 and 1.")
        got, want = float(got), trainable / total
        if abs(got - want) <= 1e-9:
            continue
        require(abs(got - 100 * want) > 1e-6, f"{name}: {got} is a percentage; return the share (0 to 1).")
        require(abs(got - 1.0) > 1e-9 or want == 1.0,
                f"{name}: you return 1.0. Count only the parameters with requires_grad=True.")
        raise CheckFailed(f"{name}: expected {want:.6f} ({trainable:,} of {total:,} parameters train), got {got}. "
                          "Count elements (p.numel()), not tensors, and include the frozen ones in the total.")
    ok("Your shares match for the loaded model, LoRA, prompt tuning and a frozen copy.")


@exercise("12.3")
def check_where_time_goes(costliest_stage, lora_speedup, table) -> None:
    """two readings of the measured table: the costliest training stage, and LoRA's per-step speed-up."""
    seconds = table["estimated training seconds"]
    training = table[table["trainable parameters"] > 0]
    expected_stage = str(training["estimated training seconds"].idxmax())
    require(costliest_stage in table.index, f"Name a stage as the table's index spells it, not {costliest_stage!r}.")
    require(costliest_stage == expected_stage,
            f"{costliest_stage!r} needs {seconds[costliest_stage]:,.1f} s by this table; the longest training stage "
            f"is {expected_stage!r} with {seconds[expected_stage]:,.1f} s (only stages that train count).")
    want = table.loc["full fine-tuning", "seconds per step"] / table.loc["LoRA fine-tuning", "seconds per step"]
    try:
        got = float(lora_speedup)
    except (TypeError, ValueError):
        raise CheckFailed("Set `lora_speedup` to a number.") from None
    require(abs(want - 1) < 1e-9 or abs(got * want - 1) > 1e-6,
            f"{got:.3f} is LoRA's time over full fine-tuning's: the speed-up is full over LoRA.")
    require(abs(got - want) <= 1e-6 * max(1.0, want), f"Expected {want:.3f} (full fine-tuning's seconds per step "
                                                       f"divided by LoRA's), got {got:.3f}.")
    ok(f"Right: {expected_stage} is the costliest; LoRA's step is {want:.2f}x as fast as full fine-tuning's here.")
