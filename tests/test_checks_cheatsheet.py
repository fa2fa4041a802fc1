"""Notebook 12 checks (cheatsheet): the brief is read from the measured table, whatever it holds."""

import pandas as pd
import pytest

from labkit import checks


def _table():
    rows = {"pre-training": (100, 10.0), "prompt engineering": (0, 0.0), "prompt tuning": (5, 2.0),
            "LoRA fine-tuning": (20, 4.0), "full fine-tuning": (100, 9.0), "RLHF (PPO)": (25, 30.0),
            "compression (int8)": (0, 0.1)}
    return pd.DataFrame({"trainable parameters": {k: v[0] for k, v in rows.items()},
                         "estimated training seconds": {k: v[1] for k, v in rows.items()}})


def test_stage_for_brief():
    table = _table()
    checks.check_stage_for_brief("LoRA fine-tuning", table, 5.0)
    checks.check_stage_for_brief("prompt tuning", table, 3.0)  # LoRA no longer fits
    checks.check_stage_for_brief(None, table, 1.0)
    with pytest.raises(checks.CheckFailed, match="its own full copy"):
        checks.check_stage_for_brief("full fine-tuning", table, 50.0)
    with pytest.raises(checks.CheckFailed, match="reward model"):
        checks.check_stage_for_brief("RLHF (PPO)", table, 50.0)
    with pytest.raises(checks.CheckFailed, match="over the budget"):
        checks.check_stage_for_brief("LoRA fine-tuning", table, 3.0)
    with pytest.raises(checks.CheckFailed, match="most trainable parameters"):
        checks.check_stage_for_brief("prompt tuning", table, 5.0)
    with pytest.raises(checks.CheckFailed, match="At least one stage"):
        checks.check_stage_for_brief(None, table, 5.0)
    with pytest.raises(checks.CheckFailed, match="exactly as the table"):
        checks.check_stage_for_brief("LoRA", table, 5.0)


def test_where_time_goes():
    table = _table().assign(**{"seconds per step": [0.1, 0.5, 0.02, 0.03, 0.06, 1.0, 0.1]})
    checks.check_where_time_goes("RLHF (PPO)", 2.0, table)  # RLHF's 30 s is the longest training stage
    with pytest.raises(checks.CheckFailed, match="only stages that train count"):
        checks.check_where_time_goes("pre-training", 2.0, table)
    with pytest.raises(checks.CheckFailed, match="speed-up is full over LoRA"):
        checks.check_where_time_goes("RLHF (PPO)", 0.5, table)
    with pytest.raises(checks.CheckFailed, match="Expected 2.000"):
        checks.check_where_time_goes("RLHF (PPO)", 3.0, table)
    with pytest.raises(checks.CheckFailed, match="index spells"):
        checks.check_where_time_goes("RLHF", 2.0, table)


def test_trainable_share(summarizer):
    model, tokenizer = summarizer

    def right(m):
        params = list(m.parameters())
        return sum(p.numel() for p in params if p.requires_grad) / sum(p.numel() for p in params)

    checks.check_trainable_share(right, model, tokenizer)
    with pytest.raises(checks.CheckFailed, match="percentage"):
        checks.check_trainable_share(lambda m: 100 * right(m), model, tokenizer)
    with pytest.raises(checks.CheckFailed, match="requires_grad"):
        checks.check_trainable_share(lambda m: 1.0, model, tokenizer)
    with pytest.raises(checks.CheckFailed, match="elements"):  # counting tensors, not elements
        checks.check_trainable_share(lambda m: sum(p.requires_grad for p in m.parameters())
                                     / len(list(m.parameters())), model, tokenizer)
