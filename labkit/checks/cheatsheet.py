"""Checks for notebook 12_cheatsheet: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import CheckFailed, exercise, ok, require


@exercise("12.1")
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
