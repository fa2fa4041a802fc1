"""Notebook 08's checks: each accepts a right answer and rejects plausible wrong ones with a targeted hint."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from labkit import checks, optimization

# --- 08.1 int8 quantization of a tensor --------------------------------------------------------------


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


# --- 08.2 predicting the size after dynamic int8 -----------------------------------------------------


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


# --- 08.3 the distillation loss ----------------------------------------------------------------------


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


# --- 08.4 reading QAT vs PTQ from a paired interval -------------------------------------------------


def qat_verdict(ptq_hits, qat_hits):
    _, low, high = optimization.bootstrap_ci((qat_hits.mean(0) - ptq_hits.mean(0)).numpy())
    return "QAT better" if low > 0 else "PTQ better" if high < 0 else "within noise"


def test_qat_verdict_accepts_a_right_answer(capsys):
    checks.check_qat_verdict(qat_verdict)
    assert "three cases" in capsys.readouterr().out


def _unpaired(ptq_hits, qat_hits):  # one interval per arm; a winner only when they do not overlap
    _, ptq_low, ptq_high = optimization.bootstrap_ci(ptq_hits.mean(0).numpy())
    _, qat_low, qat_high = optimization.bootstrap_ci(qat_hits.mean(0).numpy())
    return "QAT better" if qat_low > ptq_high else "PTQ better" if ptq_low > qat_high else "within noise"


def _means_only(ptq_hits, qat_hits):
    gap = float(qat_hits.mean() - ptq_hits.mean())
    return "QAT better" if gap > 0 else "PTQ better" if gap < 0 else "within noise"


def _arms_swapped(ptq_hits, qat_hits):
    return qat_verdict(qat_hits, ptq_hits)


@pytest.mark.parametrize("wrong, hint", [
    (_unpaired, "pair the arms by dialogue"),
    (_means_only, "contains zero"),
    (_arms_swapped, "8 dialogues and loses on none"),
    (lambda p, q: True, "Return one of"),
    (lambda p, q: p.item(), "raised"),
])
def test_qat_verdict_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_qat_verdict(wrong)


# --- 08.5 choosing a variant to deploy ---------------------------------------------------------------


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


# --- 08.6 the NF4 code book --------------------------------------------------------------------------


def nf4_code_book():
    offset = 1 - (1 / 32 + 1 / 30) / 2
    normal = torch.distributions.Normal(0.0, 1.0)
    positive = normal.icdf(torch.linspace(offset, 0.5, 9)[:-1])
    negative = -normal.icdf(torch.linspace(offset, 0.5, 8)[:-1])
    levels = torch.cat([negative, torch.zeros(1), positive]).sort().values
    return levels / levels.max()


def test_nf4_code_book_accepts_right_answers(capsys):
    checks.check_nf4_code_book(nf4_code_book)
    checks.check_nf4_code_book(optimization.nf4_code_book)
    checks.check_nf4_code_book(lambda: nf4_code_book().tolist())  # a list of numbers is fine too
    assert "match bitsandbytes" in capsys.readouterr().out


def _symmetric():  # 7 levels a side and zero: 15 levels
    normal = torch.distributions.Normal(0.0, 1.0)
    side = normal.icdf(torch.linspace(optimization.NF4_OFFSET, 0.5, 8)[:-1])
    levels = torch.cat([-side, torch.zeros(1), side]).sort().values
    return levels / levels.max()


def _with_half():  # the 0.5 point kept on both sides: zero three times
    normal = torch.distributions.Normal(0.0, 1.0)
    levels = torch.cat([-normal.icdf(torch.linspace(optimization.NF4_OFFSET, 0.5, 7)),
                        normal.icdf(torch.linspace(optimization.NF4_OFFSET, 0.5, 9))])
    return levels.sort().values / levels.max()


def _unnormalized():
    return nf4_code_book() * 1.848


def _extra_level_negative():  # the asymmetry the wrong way round: 8 negative levels, 7 positive
    return -nf4_code_book().flip(0)


def _wrong_offset():
    normal = torch.distributions.Normal(0.0, 1.0)
    positive = normal.icdf(torch.linspace(0.99, 0.5, 9)[:-1])
    negative = -normal.icdf(torch.linspace(0.99, 0.5, 8)[:-1])
    levels = torch.cat([negative, torch.zeros(1), positive]).sort().values
    return levels / levels.max()


@pytest.mark.parametrize("wrong, hint", [
    (_symmetric, "16 levels"),
    (_with_half, "exactly once"),
    (_unnormalized, "divide every level by the largest"),
    (lambda: nf4_code_book().flip(0), "Sort"),
    (_extra_level_negative, "asymmetric"),
    (_wrong_offset, "offset"),
    (lambda: torch.linspace(-1, 1, 16), "Zero must be one of the levels"),
])
def test_nf4_code_book_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_nf4_code_book(wrong)


# --- 08.7 predicting the 4-bit model's size -------------------------------------------------------------


def predict_4bit_bytes(n_quantized, n_other, other_bytes=4, blocksize=64, double_quant=True):
    per_block = 1 + 4 / 256 if double_quant else 4
    return n_quantized / 2 + n_quantized / blocksize * per_block + n_other * other_bytes


def test_4bit_size_accepts_a_right_answer_that_matches_bitsandbytes(capsys):
    checks.check_4bit_size(predict_4bit_bytes)
    assert "double quantization" in capsys.readouterr().out
    # the arithmetic is what bitsandbytes stores for one matrix (its code books and offset aside)
    from bitsandbytes import functional as bnbf

    weight = torch.randn(256, 512)
    for double_quant in (False, True):
        packed, state = bnbf.quantize_4bit(weight, blocksize=64, quant_type="nf4", compress_statistics=double_quant)
        tensors = [packed, state.absmax] + ([state.state2.absmax] if double_quant else [])
        stored = sum(t.numel() * t.element_size() for t in tensors)
        assert stored == pytest.approx(predict_4bit_bytes(weight.numel(), 0, double_quant=double_quant))


def _four_bytes(n_quantized, n_other, other_bytes=4, blocksize=64, double_quant=True):
    return n_quantized * 4 + n_other * other_bytes


def _everything_4bit(n_quantized, n_other, other_bytes=4, blocksize=64, double_quant=True):
    return predict_4bit_bytes(n_quantized + n_other, 0, other_bytes, blocksize, double_quant)


def _no_constants(n_quantized, n_other, other_bytes=4, blocksize=64, double_quant=True):
    return n_quantized / 2 + n_other * other_bytes


def _fp32_constants(n_quantized, n_other, other_bytes=4, blocksize=64, double_quant=True):
    return predict_4bit_bytes(n_quantized, n_other, other_bytes, blocksize, False)


def _no_second_scale(n_quantized, n_other, other_bytes=4, blocksize=64, double_quant=True):
    per_block = 1 if double_quant else 4
    return n_quantized / 2 + n_quantized / blocksize * per_block + n_other * other_bytes


def _others_fp32(n_quantized, n_other, other_bytes=4, blocksize=64, double_quant=True):
    return predict_4bit_bytes(n_quantized, n_other, 4, blocksize, double_quant)


@pytest.mark.parametrize("wrong, hint", [
    (_four_bytes, "half a byte"),
    (_everything_4bit, "only the Linear layers"),
    (_no_constants, "left out the quantization constants"),
    (_fp32_constants, "8-bit code"),
    (_no_second_scale, "own fp32 scale"),
    (_others_fp32, "expected"),
    (lambda *args, **kwargs: "168 MB", "number of bytes"),
])
def test_4bit_size_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_4bit_size(wrong)


def test_checks_are_registered_in_order():
    ordered = (checks.check_int8_quantizer, checks.check_int8_size, checks.check_distillation_loss,
               checks.check_qat_verdict, checks.check_deployment_choice, checks.check_nf4_code_book,
               checks.check_4bit_size)
    assert [checks.exercise_of(c) for c in ordered] == [f"08.{k}" for k in range(1, 8)]
