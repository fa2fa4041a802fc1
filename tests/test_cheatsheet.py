"""Notebook 12's measurements: each lifecycle stage measured with the code the chapters use."""

import copy

import pytest
import torch

from labkit import cheatsheet, config


def test_step_seconds_really_trains(summarizer, dialogsum):
    model, tokenizer = summarizer
    model = copy.deepcopy(model)
    rows = dialogsum["train"].select(range(4))
    batch = cheatsheet.summary_batch(tokenizer, rows["dialogue"], rows["summary"])
    with torch.no_grad():
        before = model(**batch).loss.item()
    seconds = cheatsheet.step_seconds(model, batch, repeats=3, learning_rate=1e-3)
    with torch.no_grad():
        after = model(**batch).loss.item()
    assert seconds > 0 and after < before  # four real AdamW steps on the same batch: the loss falls


def test_every_stage_is_measured_and_the_parameter_counts_order_as_the_lesson_says(summarizer, dialogsum):
    config.set_profile("tiny")
    model, tokenizer = summarizer
    rows = dialogsum["train"].select(range(4))

    def reward(texts):
        return torch.tensor([float(len(t.split())) for t in texts])

    table = cheatsheet.measure_lifecycle(model, tokenizer, rows["dialogue"], rows["summary"], reward=reward,
                                         repeats=1)
    assert list(table.index) == list(cheatsheet.STAGES)
    total = sum(p.numel() for p in model.parameters())
    trainable = table["trainable parameters"]
    assert trainable["full fine-tuning"] == trainable["pre-training"] == total
    assert 0 < trainable["prompt tuning"] < trainable["LoRA fine-tuning"] < total
    assert trainable["prompt engineering"] == trainable["compression (int8)"] == 0
    assert (table["seconds per step"] > 0).all()
    tuned = table.loc[["pre-training", "prompt tuning", "LoRA fine-tuning", "full fine-tuning", "RLHF (PPO)"]]
    assert tuned["estimated training seconds"].tolist() == pytest.approx(
        (tuned["seconds per step"] * tuned["steps (this profile)"]).tolist())
    assert table.loc["full fine-tuning", "steps (this profile)"] == config.setting("full")["max_steps"]
    assert "less memory" in table.loc["compression (int8)", "what changes"]
    assert all(p.requires_grad for p in model.parameters())  # the caller's model is left as it was


def test_the_course_table_has_the_courses_five_stages_and_four_columns():
    assert list(cheatsheet.COURSE_CHEAT_SHEET.columns) == ["training duration", "customization", "objective",
                                                           "expertise"]
    assert len(cheatsheet.COURSE_CHEAT_SHEET) == 5
