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
