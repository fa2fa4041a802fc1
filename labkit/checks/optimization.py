"""Checks for notebook 08_optimization: one function per exercise, registered under its id."""

from __future__ import annotations

import math

from labkit.checks.base import close, exercise, ok, require


@exercise("08.1")
def check_int8_quantizer(quantize_int8) -> None:
    """symmetric int8 quantization of a tensor: (int8 values, scale)."""
    import torch

    torch.manual_seed(0)
    w = torch.randn(64, 32) * 0.05
    w[3, 4] = 0.4  # an outlier sets the range
    out = quantize_int8(w)
    require(isinstance(out, tuple) and len(out) == 2, "Return a pair: (q, scale).")
    q, scale = out
    require(isinstance(q, torch.Tensor) and q.dtype == torch.int8,
            "q should be a torch.int8 tensor (use .to(torch.int8)).")
    scale = float(scale)
    require(math.isclose(scale, 0.4 / 127, rel_tol=1e-4),
            f"scale is {scale:.6f}; symmetric int8 maps the largest |value| to 127: scale = max|w| / 127.")
    require(int(q.abs().max()) == 127, "The largest |value| should map to ±127.")
    error = (q.float() * scale - w).abs().max().item()
    require(error <= scale / 2 + 1e-7,
            f"Reconstruction error {error:.5f} is larger than half a step: round, don't truncate.")
    ok(f"int8 with scale {scale:.5f}: worst error {error:.5f} (half a step is {scale / 2:.5f}).")


def _toy_encoder():
    """A miniature of the teacher: token embeddings, a nested Linear block, a LayerNorm, a Linear head."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(500, 24), nn.Sequential(nn.Linear(24, 48), nn.ReLU()), nn.LayerNorm(48),
                         nn.Linear(48, 6))


@exercise("08.2")
def check_int8_size(int8_dynamic_bytes) -> None:
    """predict the bytes of a model's parameters after dynamic int8 quantization, before measuring."""
    from torch import nn

    model = _toy_encoder()
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    linear_weights = sum(m.weight.numel() for m in linear)
    biases = sum(m.bias.numel() for m in linear)
    embeddings = model[0].weight.numel()
    norm_weight = model[2].weight.numel()
    everything = sum(p.numel() for p in model.parameters())
    fp32 = everything * 4
    expected = linear_weights + (everything - linear_weights) * 4
    got = int8_dynamic_bytes(model)
    require(got is not None, "Return a number of bytes.")
    try:
        got = float(got)
    except (TypeError, ValueError):
        require(False, f"Return a number of bytes, not {type(got).__name__}.")
    if close(got, expected):
        ok(f"{fp32:,} bytes in fp32 -> {expected:,.0f} after dynamic int8: only the Linear weights "
           f"({linear_weights:,} numbers) shrink, 4 bytes -> 1; the rest stays in fp32.")
        return
    require(not close(got, fp32), "That is the fp32 size: every nn.Linear weight takes 1 byte per number in int8.")
    require(not close(got, everything),
            "That is one byte for every parameter (or a count of numbers, not bytes). Only the nn.Linear weights "
            "become int8; embeddings, biases and LayerNorm keep 4 bytes per number.")
    require(not close(got, linear_weights),
            "That is only the Linear weights. The rest of the model is still there, in fp32 (4 bytes per number).")
    require(not close(got, expected - biases * 3),
            "Biases stay in float: dynamic quantization stores each Linear's weight in int8 but keeps its bias at "
            "4 bytes per number.")
    require(not close(got, expected - embeddings * 3) and not close(got, expected - (embeddings + norm_weight) * 3),
            "The embedding table is not a Linear layer: dynamic quantization leaves it (and LayerNorm) in fp32. "
            "Pick tensors by module type (isinstance(module, nn.Linear)), not by the parameter's name 'weight'.")
    require(False, f"Got {got:,.0f} bytes, expected {expected:,.0f} for this small model ({fp32:,} in fp32). "
                   "Walk model.modules() (nested ones included): each nn.Linear's weight costs 1 byte per number, "
                   "every other parameter numel() x element_size().")


@exercise("08.3")
def check_distillation_loss(distill_loss) -> None:
    """the distillation loss (KL on softened outputs, x T²) plus the student loss; unlabelled examples (-100)."""
    import torch

    from labkit.optimization import distillation_loss

    torch.manual_seed(0)
    student, teacher = torch.randn(8, 5), torch.randn(8, 5) * 3
    labels = torch.randint(0, 5, (8,))
    for temperature, alpha in [(4.0, 0.5), (1.0, 0.5), (2.0, 0.0), (3.0, 1.0)]:
        expected = float(distillation_loss(student, teacher, labels, temperature, alpha))
        got = float(distill_loss(student, teacher, labels, temperature, alpha))
        if math.isclose(got, expected, rel_tol=1e-4):
            continue
        kl = float(distillation_loss(student, teacher, labels, temperature, 1.0)) / temperature ** 2
        ce = float(distillation_loss(student, teacher, labels, temperature, 0.0))
        require(alpha == 0 or not math.isclose(got, alpha * kl + (1 - alpha) * ce, rel_tol=1e-4),
                "Multiply the KL term by T²: softening by T shrinks its gradients by 1/T².")
        require(not math.isclose(got, (1 - alpha) * kl * temperature ** 2 + alpha * ce, rel_tol=1e-4),
                "The weights are swapped: alpha goes with the distillation loss, (1 - alpha) with the student loss.")
        require(False, f"At T={temperature}, alpha={alpha} the loss is {got:.4f}, expected {expected:.4f}. Soft "
                       "labels: softmax(teacher / T); soft predictions: log_softmax(student / T); KL with reduction "
                       "'batchmean', times T²; then alpha * that + (1 - alpha) * cross-entropy with the hard labels.")

    # The notebook's setting: only some examples have a person's label; the rest are marked -100.
    partly = labels.clone()
    partly[::2] = -100
    expected = float(distillation_loss(student, teacher, partly, 2.0, 0.7))
    try:
        got = float(distill_loss(student, teacher, partly, 2.0, 0.7))
    except (IndexError, RuntimeError) as exc:
        require(False, f"Labels of -100 mean 'no hard label' and crashed your function ({type(exc).__name__}). "
                       "Leave them out of the student loss (F.cross_entropy skips -100 by default).")
    require(math.isclose(got, expected, rel_tol=1e-4),
            f"With half the labels -100 (unlabelled) the loss is {got:.4f}, expected {expected:.4f}: the student "
            "loss averages over the labelled examples only; the distillation loss over all of them.")
    nobody = torch.full_like(labels, -100)
    expected = float(distillation_loss(student, teacher, nobody, 2.0, 0.7))
    try:
        got = float(distill_loss(student, teacher, nobody, 2.0, 0.7))
    except (IndexError, RuntimeError, ValueError) as exc:
        require(False, f"A batch with no hard labels at all crashed your function ({type(exc).__name__}); it "
                       "happens when most data is unlabelled. Make the student loss 0 when no label is there.")
    require(math.isfinite(got),
            f"A batch with no hard labels (all -100) gives {got}: cross-entropy over zero examples is a mean of "
            "nothing. Make the student loss 0 when no example is labelled (e.g. `if (labels != -100).any()`).")
    require(math.isclose(got, expected, rel_tol=1e-4),
            f"With no hard labels the loss should be alpha x the distillation loss = {expected:.4f}, got {got:.4f}.")
    ok("Distillation loss matches at every temperature and weight, with and without hard labels.")


def _hits(rng, n_seeds: int, n_dialogues: int, rate: float):
    import torch

    return (torch.rand(n_seeds, n_dialogues, generator=rng) < rate).float()


@exercise("08.4")
def check_qat_verdict(qat_verdict) -> None:
    """read a paired comparison: does QAT beat PTQ beyond the noise, per test dialogue over the seeds?"""
    import torch

    from labkit.metrics import bootstrap_ci

    rng = torch.Generator().manual_seed(0)
    answers = ("QAT better", "PTQ better", "within noise")

    def expected(ptq, qat):
        _, low, high = bootstrap_ci((qat.mean(0) - ptq.mean(0)).numpy())
        return "QAT better" if low > 0 else "PTQ better" if high < 0 else "within noise"

    def ask(ptq, qat):
        try:
            got = qat_verdict(ptq.clone(), qat.clone())
        except Exception as exc:  # noqa: BLE001 - any crash is a hint, not a traceback
            require(False, f"Your function raised {type(exc).__name__}: {exc}. It receives two float tensors of 0/1, "
                           "one row per seed and one column per test dialogue.")
        require(got in answers, f"Return one of {answers}, not {got!r}.")
        return got

    # QAT gets 8 more of 200 dialogues right in every seed, and the two arms share which dialogues are hard: each
    # arm's own interval is wide (several points), but no per-dialogue difference is negative.
    ptq = _hits(rng, 5, 200, 0.6)
    ptq[:, :8] = 0
    qat = ptq.clone()
    qat[:, :8] = 1
    assert expected(ptq, qat) == "QAT better"
    got = ask(ptq, qat)
    require(got != "within noise",
            "QAT is right on every dialogue PTQ gets right, and on 8 more, in every seed: pair the arms by dialogue. "
            "Compare the per-dialogue difference (share of seeds right with QAT minus with PTQ) and bootstrap its "
            "mean; two separate intervals, one per arm, overlap because both include how hard the dialogues are.")
    require(got == "QAT better", f"Got {got!r}: here QAT wins on 8 dialogues and loses on none.")
    require(ask(qat, ptq) == "PTQ better", "With the arms swapped the answer must flip to 'PTQ better'.")

    # a small edge for QAT (3 dialogues up, 2 down out of 200): the mean is above zero, the interval holds zero
    mixed = ptq.clone()
    mixed[:, :3] = 1
    always_right = torch.nonzero(ptq.mean(0) == 1).flatten()[:2]
    mixed[:, always_right] = 0
    assert expected(ptq, mixed) == "within noise"
    got = ask(ptq, mixed)
    require(got == "within noise",
            f"Got {got!r}, but the paired 95% interval here contains zero (QAT gains on 3 dialogues and loses on "
            "2 of 200). A mean above zero is not a win: say 'within noise' unless the whole interval is on one side.")
    ok("Paired by dialogue, read from the interval: your verdicts match in all three cases.")


@exercise("08.5")
def check_deployment_choice(choose_variant) -> None:
    """pick the fastest variant that fits a memory budget and loses at most max_drop accuracy."""
    import pandas as pd

    table = pd.DataFrame({"memory MB": [90.0, 45.0, 58.0, 0.9, 90.0],
                          "latency ms": [400.0, 900.0, 150.0, 4.0, 410.0],
                          "accuracy": [0.875, 0.875, 0.8125, 0.5, 0.875]},
                         index=["fp32", "fp16", "int8 dynamic", "student", "pruned"])

    def ask(max_drop, budget):
        try:
            got = choose_variant(table.copy(), max_drop, budget)
        except (ValueError, KeyError, IndexError) as exc:
            require(False, f"With max_drop={max_drop} and a {budget} MB budget your function raised "
                           f"{type(exc).__name__}: {exc}. When no variant qualifies, return None.")
        require(got is None or isinstance(got, str),
                f"Return the variant's name (a row label such as 'fp16') or None, not {type(got).__name__}.")
        return got

    over_budget = "{} needs {:g} MB: drop the variants whose 'memory MB' is over the budget ({:g} MB)."
    # no accuracy may be lost, 100 MB: fp32, fp16 and pruned qualify; fp32 is the fastest of them
    got = ask(0.0, 100.0)
    require(got not in ("student", "int8 dynamic"),
            f"{got!r} is fast but less accurate than fp32: drop the variants whose accuracy is more than max_drop "
            "below the fp32 row's.")
    require(got is not None, "Nothing qualified, yet fp32 itself loses no accuracy and fits 100 MB: 'at most "
                             "max_drop below' includes the boundary (>=, not >).")
    require(got != "fp16", "Among the variants that qualify, pick the fastest (lowest 'latency ms'), not the smallest.")
    require(got == "fp32", f"Got {got!r}; expected 'fp32': it keeps fp32's accuracy (of course), fits 100 MB and is "
                           "the fastest that does.")
    # max_drop is in accuracy points: 0.875 - 0.4 = 0.475 lets the student (0.5) in; 0.875 x 0.6 = 0.525 would not
    got = ask(0.4, 1.0)
    if got in table.index and got != "student":
        require(False, over_budget.format(got, table.loc[got, "memory MB"], 1.0))
    require(got == "student", f"Got {got!r}; with max_drop=0.4 and a 1 MB budget the student qualifies (0.875 - 0.4 "
                              "= 0.475 <= 0.5). max_drop is in accuracy points, not a share of fp32's accuracy.")
    # 60 MB, up to 0.0625 lost: fp16 (45 MB) and int8 dynamic (58 MB, loses exactly 0.0625); int8 is faster
    got = ask(0.0625, 60.0)
    if got in ("fp32", "pruned"):
        require(False, over_budget.format(got, table.loc[got, "memory MB"], 60.0))
    require(got != "fp16", "int8 dynamic loses exactly max_drop (0.875 - 0.8125 = 0.0625) and is faster than fp16: "
                           "'at most max_drop' includes the boundary (>=, not >).")
    require(got == "int8 dynamic", f"Got {got!r}; expected 'int8 dynamic' (fits 60 MB, loses exactly 0.0625, "
                                   "fastest of what qualifies).")
    got = ask(0.0, 1.0)
    if got in table.index:
        require(False, over_budget.format(got, table.loc[got, "memory MB"], 1.0))
    require(got is None, f"Got {got!r}; nothing fits 1 MB without losing accuracy: return None.")
    ok("The pick follows the brief: within the memory budget and the accuracy margin, the fastest variant.")


@exercise("08.6")
def check_nf4_code_book(nf4_code_book) -> None:
    """the 16 NF4 levels from normal quantiles, compared with bitsandbytes' code book."""
    import torch
    from bitsandbytes.functional import get_4bit_type

    reference = get_4bit_type("nf4", device="cpu").float()
    try:
        got = torch.as_tensor(nf4_code_book(), dtype=torch.float32).flatten()
    except (TypeError, ValueError, RuntimeError) as exc:
        require(False, f"Return the 16 levels as a tensor (or a list of numbers); got an error: {exc}.")
    require(got.numel() == 16, f"NF4 has 16 levels (4 bits); you returned {got.numel()}. 8 positive quantiles + "
                               "7 negative ones + an exact zero. Drop the 0.5 quantile (its value is 0) from each "
                               "side: linspace(offset, 0.5, 9)[:-1] and linspace(offset, 0.5, 8)[:-1].")
    require(bool((got[1:] >= got[:-1]).all()), "Sort the levels from -1 to 1 (bitsandbytes indexes them in order).")
    require(math.isclose(float(got.max()), 1.0, abs_tol=1e-6),
            f"The largest level is {float(got.max()):.4f}: divide every level by the largest so the code spans "
            "[-1, 1] (each block is scaled by its absmax into that range).")
    require(int((got == 0).sum()) == 1, "Zero must be one of the levels, exactly once: padding and many weights are 0.")
    n_negative = int((got < 0).sum())
    require(n_negative == 7, f"You have {n_negative} negative and {int((got > 0).sum())} positive levels; NF4 is "
                             "asymmetric: 7 negative, zero, 8 positive (the positive side gets the extra level).")
    require(math.isclose(float(got.min()), -1.0, abs_tol=1e-6),
            f"The smallest level is {float(got.min()):.4f}, not -1: both sides start at the same outermost quantile "
            "(the offset), so after dividing by the largest positive value the ends are -1 and +1.")
    error = float((got - reference).abs().max())
    require(error < 1e-5,
            f"Your levels differ from bitsandbytes' NF4 by up to {error:.4f}. Use the offset "
            f"1 - (1/32 + 1/30) / 2 = {1 - (1 / 32 + 1 / 30) / 2:.7f} and evenly spaced probabilities from it to 0.5 "
            "(9 points for the positive side, 8 for the negative, the 0.5 point dropped), turned into quantiles "
            "with the normal inverse CDF (torch.distributions.Normal(0, 1).icdf or scipy.stats.norm.ppf).")
    ok(f"Your 16 NF4 levels match bitsandbytes' code book to {error:.1e}.")


def _nf4_bytes(n_quantized, n_other, other_bytes, blocksize, double_quant):
    constants = n_quantized / blocksize * ((1 + 4 / 256) if double_quant else 4)
    return n_quantized / 2 + constants + n_other * other_bytes


@exercise("08.7")
def check_4bit_size(predict_4bit_bytes) -> None:
    """predict the bytes of a model loaded in 4-bit NF4 from its parameter counts, before loading it."""
    cases = [(4_194_304, 1_000_000, 4, 64, True), (4_194_304, 1_000_000, 4, 64, False),
             (8_388_608, 500_000, 2, 64, True), (1_048_576, 0, 4, 128, False)]
    for n_quantized, n_other, other_bytes, blocksize, double_quant in cases:
        expected = _nf4_bytes(n_quantized, n_other, other_bytes, blocksize, double_quant)
        try:
            got = float(predict_4bit_bytes(n_quantized, n_other, other_bytes=other_bytes, blocksize=blocksize,
                                           double_quant=double_quant))
        except (TypeError, ValueError) as exc:
            require(False, f"Return a number of bytes; calling predict_4bit_bytes({n_quantized:,}, {n_other:,}, "
                           f"other_bytes={other_bytes}, blocksize={blocksize}, double_quant={double_quant}) raised "
                           f"{type(exc).__name__}: {exc}.")
        if math.isclose(got, expected, rel_tol=1e-6):
            continue
        setting = (f"({n_quantized:,} quantized numbers, {n_other:,} others at {other_bytes} bytes, blocks of "
                   f"{blocksize}, double_quant={double_quant})")
        weights = n_quantized / 2 + n_other * other_bytes
        require(not math.isclose(got, n_quantized * 4 + n_other * other_bytes, rel_tol=1e-3),
                f"{setting}: 4 bits is half a byte, not 4 bytes: two 4-bit numbers share a byte.")
        require(not math.isclose(got, (n_quantized + n_other) / 2, rel_tol=1e-3) and not math.isclose(
            got, _nf4_bytes(n_quantized + n_other, 0, other_bytes, blocksize, double_quant), rel_tol=1e-3),
                f"{setting}: only the Linear layers' numbers go to 4 bits; the others (embeddings, norms) keep "
                "other_bytes each.")
        require(not math.isclose(got, weights, rel_tol=1e-3),
                f"{setting}: you left out the quantization constants. Every block of blocksize numbers stores its "
                "absmax: 4 bytes (fp32), or with double quantization 1 byte plus 4 bytes per 256 blocks.")
        require(not (double_quant and math.isclose(
            got, _nf4_bytes(n_quantized, n_other, other_bytes, blocksize, False), rel_tol=1e-3)),
                f"{setting}: with double quantization each block's absmax is an 8-bit code (1 byte), plus one fp32 "
                "scale (4 bytes) per 256 blocks - not 4 bytes per block.")
        require(not (double_quant and math.isclose(got, weights + n_quantized / blocksize, rel_tol=1e-3)),
                f"{setting}: nearly - the 8-bit absmax codes need their own fp32 scale, one per 256 blocks.")
        require(False, f"{setting}: expected {expected:,.0f} bytes, got {got:,.0f}. Add: quantized numbers x 0.5 byte, "
                       "their constants (n_quantized / blocksize blocks: 4 bytes each, or 1 + 4/256 with double "
                       "quantization), and n_other x other_bytes.")
    ok("Your prediction follows the arithmetic of NF4 with and without double quantization.")
