"""Notebook 08's checks: each accepts a right answer and rejects plausible wrong ones with a targeted hint."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from labkit import checks, optimization

# --- 07.1 int8 quantization of a tensor --------------------------------------------------------------


def quantize_int8(w):
    scale = w.abs().max() / 127
    return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale


def test_int8_quantizer_accepts_a_right_answer(capsys):
    checks.check_int8_quantizer(quantize_int8)
    assert "worst error" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda w: (torch.round(w / (w.abs().max() / 127)), w.abs().max() / 127), "torch.int8"),
    (lambda w: (torch.round(w / (w.abs().max() / 255)).clamp(-127, 127).to(torch.int8), w.abs().max() / 255), "max"),
    (lambda w: ((w / (w.abs().max() / 127)).to(torch.int8), w.abs().max() / 127), "round"),
    (lambda w: quantize_int8(w)[0], "pair"),
])
def test_int8_quantizer_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_int8_quantizer(wrong)


# --- 07.2 predicting the size after dynamic int8 -----------------------------------------------------


def int8_dynamic_bytes(model):
    total = 0
    linear_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    for p in model.parameters():
        total += p.numel() * (1 if id(p) in linear_weights else p.element_size())
    return total


def test_int8_size_accepts_a_right_answer_and_matches_torch(capsys):
    checks.check_int8_size(int8_dynamic_bytes)
    assert "after dynamic int8" in capsys.readouterr().out
    # the prediction is what torch's dynamic quantization actually stores (the notebook compares on MiniLM)
    from labkit.checks.optimization import _toy_encoder

    model = _toy_encoder()
    measured = optimization.memory_bytes(optimization.quantize_dynamic_int8(model))
    assert int8_dynamic_bytes(model) == pytest.approx(measured, rel=0.01)


def _all_params(model, per_number):
    return sum(p.numel() * per_number for p in model.parameters())


def _linear_only(model):
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def _bias_too(model):
    return int8_dynamic_bytes(model) - 3 * sum(m.bias.numel() for m in model.modules() if isinstance(m, nn.Linear))


def _by_name(model):
    return sum(p.numel() * (1 if name.endswith("weight") else 4) for name, p in model.named_parameters())


def _top_level_only(model):  # misses the nested Linear
    total = sum(p.numel() * 4 for p in model.parameters())
    return total - 3 * sum(m.weight.numel() for m in model.children() if isinstance(m, nn.Linear))


@pytest.mark.parametrize("wrong, hint", [
    (lambda m: _all_params(m, 4), "fp32 size"),
    (lambda m: _all_params(m, 1), "count of numbers"),
    (_linear_only, "only the Linear weights"),
    (_bias_too, "Biases stay in float"),
    (_by_name, "not by the parameter's name"),
    (_top_level_only, "nested ones included"),
    (lambda m: None, "number of bytes"),
    (lambda m: "50 kB", "number of bytes"),
])
def test_int8_size_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_int8_size(wrong)


# --- 07.3 the distillation loss ----------------------------------------------------------------------


def distill_loss(student_logits, teacher_logits, labels, T, alpha):
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=-1), F.softmax(teacher_logits / T, dim=-1),
                    reduction="batchmean") * T ** 2
    labelled = labels != -100
    hard = F.cross_entropy(student_logits[labelled], labels[labelled]) if labelled.any() else soft * 0
    return alpha * soft + (1 - alpha) * hard


def test_distillation_loss_accepts_right_answers():
    checks.check_distillation_loss(distill_loss)
    checks.check_distillation_loss(optimization.distillation_loss)


def _no_t2(s, t, y, T, a):
    return a * F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean") + \
        (1 - a) * F.cross_entropy(s, y)


def _swapped(s, t, y, T, a):
    return distill_loss(s, t, y, T, 1 - a)


def _sum_reduction(s, t, y, T, a):
    return a * F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="sum") * T ** 2 + \
        (1 - a) * F.cross_entropy(s, y)


def _nan_without_labels(s, t, y, T, a):  # F.cross_entropy's ignore_index handles -100, but not an empty batch
    return a * F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean") * T ** 2 + \
        (1 - a) * F.cross_entropy(s, y)


def _crash_on_unlabelled(s, t, y, T, a):
    if (y == -100).any():
        y = torch.nn.functional.one_hot(y, s.shape[-1])  # one_hot of -100 raises
    return distill_loss(s, t, y, T, a)


def _unlabelled_as_zero(s, t, y, T, a):  # averages the student loss over every example, unlabelled ones as 0
    soft = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean") * T ** 2
    return a * soft + (1 - a) * F.cross_entropy(s, y, reduction="none").mean()


@pytest.mark.parametrize("wrong, hint", [
    (_no_t2, "T²"),
    (_swapped, "swapped"),
    (_sum_reduction, "batchmean"),
    (_nan_without_labels, "no hard labels"),
    (_crash_on_unlabelled, "-100"),
    (_unlabelled_as_zero, "labelled examples only"),
])
def test_distillation_loss_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_distillation_loss(wrong)


def test_training_with_a_nan_loss_stops_with_a_message():
    torch.manual_seed(0)
    ids = torch.randint(1, 50, (40, 10))
    labels = torch.full((40,), -100)
    student = optimization.small_student(50, 2, seed=0, dim=8)
    with pytest.raises(ValueError, match="no hard labels"):
        optimization.train_student(student, ids, torch.ones_like(ids), labels, torch.randn(40, 2), steps=3,
                                   batch_size=8, loss_fn=_nan_without_labels)


# --- 07.4 choosing a variant to deploy ---------------------------------------------------------------


def choose_variant(table, max_drop, memory_budget_mb):
    floor = table.loc["fp32", "accuracy"] - max_drop
    fits = table[(table["accuracy"] >= floor) & (table["memory MB"] <= memory_budget_mb)]
    return None if fits.empty else fits["latency ms"].idxmin()


def test_deployment_choice_accepts_a_right_answer(capsys):
    checks.check_deployment_choice(choose_variant)
    assert "fastest variant" in capsys.readouterr().out


def _ignores_accuracy(table, max_drop, budget):
    fits = table[table["memory MB"] <= budget]
    return None if fits.empty else fits["latency ms"].idxmin()


def _smallest(table, max_drop, budget):
    fits = table[(table["accuracy"] >= table.loc["fp32", "accuracy"] - max_drop) & (table["memory MB"] <= budget)]
    return None if fits.empty else fits["memory MB"].idxmin()


def _strict(table, max_drop, budget):
    fits = table[(table["accuracy"] > table.loc["fp32", "accuracy"] - max_drop) & (table["memory MB"] <= budget)]
    return None if fits.empty else fits["latency ms"].idxmin()


def _ignores_budget(table, max_drop, budget):
    fits = table[table["accuracy"] >= table.loc["fp32", "accuracy"] - max_drop]
    return None if fits.empty else fits["latency ms"].idxmin()


def _relative(table, max_drop, budget):
    fits = table[(table["accuracy"] >= table.loc["fp32", "accuracy"] * (1 - max_drop))
                 & (table["memory MB"] <= budget)]
    return None if fits.empty else fits["latency ms"].idxmin()


def _no_none(table, max_drop, budget):
    fits = table[(table["accuracy"] >= table.loc["fp32", "accuracy"] - max_drop) & (table["memory MB"] <= budget)]
    return fits["latency ms"].idxmin()


def _row(table, max_drop, budget):
    name = choose_variant(table, max_drop, budget)
    return None if name is None else table.loc[name]


@pytest.mark.parametrize("wrong, hint", [
    (_ignores_accuracy, "more than max_drop below"),
    (_smallest, "fastest"),
    (_strict, "boundary"),
    (_ignores_budget, "over the budget"),
    (_relative, "not a share"),
    (_no_none, "return None"),
    (_row, "variant's name"),
])
def test_deployment_choice_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_deployment_choice(wrong)


def test_checks_are_registered_in_order():
    assert [checks.exercise_of(c) for c in (checks.check_int8_quantizer, checks.check_int8_size,
                                            checks.check_distillation_loss, checks.check_deployment_choice)] == \
        ["08.1", "08.2", "08.3", "08.4"]
