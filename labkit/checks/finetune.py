"""Checks for notebook 03_finetune: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import CheckFailed, call, exercise, ok, require


@exercise("03.1")
def check_tokenize_function(tokenize_function, split, tokenizer) -> None:
    """the preprocessing function - instruction prompt in, summary as labels, no padding."""
    from labkit import prompts

    require(callable(tokenize_function), "Define `tokenize_function(batch)` that returns a dict.")
    batch = split[:4]
    out = tokenize_function(batch)
    require(isinstance(out, dict) or hasattr(out, "keys"), "Return a dict (a tokenizer's BatchEncoding is fine).")
    for key in ("input_ids", "labels"):
        require(key in out, f"The result needs {key!r}: the model learns to map input_ids to labels.")
    expected_inputs = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True).input_ids
    expected_labels = tokenizer(text_target=batch["summary"], truncation=True).input_ids
    inputs, labels = [list(x) for x in out["input_ids"]], [list(x) for x in out["labels"]]
    padded = any(tokenizer.pad_token_id in ids for ids in inputs) and len({len(x) for x in inputs}) == 1
    require(not padded, "The inputs are padded: don't pad in the tokenize function - the data collator pads each "
                         "batch to its own longest example (dynamic padding), which wastes far less compute.")
    require(inputs == expected_inputs,
             "input_ids should be the tokenized zero-shot prompt (prompts.zero_shot(dialogue)), truncated to the "
             "context window: the same instruction the model will see at evaluation time.")
    require(labels != inputs, "labels must be the tokenized human *summary*, not the prompt.")
    require(labels == expected_labels,
             "labels should be the tokenized human summaries: "
             "tokenizer(text_target=batch['summary'], truncation=True).")
    ok("Prompt in, summary out, padded later per batch.")


def lora_count(model, target_modules, r: int) -> int:
    """The reference count: r * (in + out) over every Linear layer whose name ends with a target."""
    from labkit.finetune import lora_parameter_count

    return lora_parameter_count(model, target_modules, r)


# --- 03.2: is a change in topic accuracy beyond noise? --------------------------------------------------------

def _paired_reference(before, after) -> tuple[bool, float, float]:
    from labkit.metrics import bootstrap_ci

    _, low, high = bootstrap_ci([a - b for a, b in zip(after, before, strict=True)])
    return not (low <= 0 <= high), low, high


def _ask_change(topic_change, before, after):
    got = call(topic_change, list(before), list(after), name="topic_change",
               hints={TypeError: " (it receives two lists of 0/1 per dialogue, before and after)"})
    require(isinstance(got, tuple) and len(got) == 2,
            f"Return a pair: (beyond_noise, (low, high)) - a bool and the 95% interval of the change, not {got!r}.")
    verdict, interval = got
    require(isinstance(verdict, bool) or type(verdict).__name__ == "bool_",
            f"The first item says whether the change is beyond noise: True or False, not {verdict!r}.")
    require(isinstance(interval, (tuple, list)) and len(interval) == 2,
            f"The second item is the interval (low, high), not {interval!r}.")
    low, high = (float(x) for x in interval)
    require(low <= high, f"The interval ({low:.3f}, {high:.3f}) should be (low, high), low first.")
    return bool(verdict), low, high


TOLERANCE = 0.02  # on an interval endpoint: another bootstrap seed or resample count moves it by about 0.01


def _compare_change(topic_change, before, after, what: str) -> None:
    verdict, low, high = _ask_change(topic_change, before, after)
    expected, ref_low, ref_high = _paired_reference(before, after)
    mean = sum(after) / len(after) - sum(before) / len(before)
    if abs(low + ref_high) <= TOLERANCE and abs(high + ref_low) <= TOLERANCE and abs(mean) > TOLERANCE:
        raise CheckFailed(f"{what}: your interval ({low:.3f}, {high:.3f}) has the wrong sign. The change is after "
                          "minus before: positive when the second model names more topics right.")
    require(low - TOLERANCE <= mean <= high + TOLERANCE,
            f"{what}: the change in accuracy is {mean:+.3f}, outside your interval ({low:.3f}, {high:.3f}). The "
            "interval is for the change (after minus before), not for one model's accuracy.")
    if abs(low - ref_low) > TOLERANCE or abs(high - ref_high) > TOLERANCE:
        raise CheckFailed(
            f"{what}: your interval ({low:.3f}, {high:.3f}); the paired bootstrap gives ({ref_low:.3f}, "
            f"{ref_high:.3f}). Pair the models by dialogue: bootstrap the per-dialogue differences (after - before) "
            "with metrics.bootstrap_ci. Two separate intervals, one per model, are wider: both include how hard the "
            "dialogues are, which the pairing cancels.")
    borderline = min(abs(ref_low), abs(ref_high)) <= TOLERANCE
    require(verdict == expected or (borderline and verdict == (not (low <= 0 <= high))),
            f"{what}: the interval ({ref_low:.3f}, {ref_high:.3f}) "
            f"{'leaves out' if expected else 'includes'} zero, so the change is "
            f"{'beyond' if expected else 'within'} noise: return {expected}.")


@exercise("03.2")
def check_topic_change(topic_change, before, after) -> None:
    """read a paired comparison of two models on the same dialogues: is the change in topic accuracy beyond noise?"""
    require(callable(topic_change), "Define `topic_change(before, after)` returning (beyond_noise, (low, high)).")
    n = 100
    base = [1.0 if (i * 7) % 10 < 6 else 0.0 for i in range(n)]  # 60 of 100 right
    gained = list(base)
    wrong = [i for i in range(n) if base[i] == 0.0]
    for i in wrong[:8]:
        gained[i] = 1.0  # 8 more right, none lost: each model's own interval is wide, the paired one is not
    _compare_change(topic_change, base, gained, "Planted case (8 more right of 100, none lost)")
    require(_ask_change(topic_change, base, gained)[0],
            "8 more dialogues right and none lost is beyond noise once the models are paired by dialogue.")
    _compare_change(topic_change, gained, base, "The same case swapped (8 fewer right)")
    mixed = list(base)
    right = [i for i in range(n) if base[i] == 1.0]
    for i in wrong[:5]:
        mixed[i] = 1.0
    for i in right[:4]:
        mixed[i] = 0.0  # 5 gained, 4 lost: a small net change the interval cannot tell from zero
    _compare_change(topic_change, base, mixed, "Planted case (5 gained, 4 lost)")
    _compare_change(topic_change, before, after, "This run's multi-task model against the original")
    verdict, low, high = _ask_change(topic_change, before, after)
    ok(f"This run: change {sum(after) / len(after) - sum(before) / len(before):+.3f}, 95% CI ({low:.3f}, {high:.3f}): "
       f"{'beyond' if verdict else 'within'} noise.")


# --- 03.3: predict LoRA's trainable share ----------------------------------------------------------------------

SHARE_RULE = 0.15  # stated in the notebook before the prediction: within 15% of the measured share counts as right


def lora_share(model, target_modules, r: int) -> float:
    """LoRA's trainable share in percent of the adapted model (model + adapters), as peft prints it."""
    n = lora_count(model, target_modules, r)
    total = sum(p.numel() for p in model.parameters())
    return 100 * n / (total + n)


@exercise("03.3")
def check_lora_share(predicted_share, model, lora_settings: dict) -> None:
    """a prediction of LoRA's trainable share, graded by the rule stated before it: within 15% of the measurement."""
    import torch

    require(predicted_share is not None, "Set `predicted_share` to a number: the percentage you predict.")
    try:
        predicted = float(predicted_share)
    except (TypeError, ValueError):
        raise CheckFailed(f"`predicted_share` should be a number (a percentage), not {predicted_share!r}.") from None
    targets, r = list(lora_settings["target_modules"]), int(lora_settings["r"])
    share = lora_share(model, targets, r)
    require(predicted > 0, "LoRA trains some parameters: the share is above zero.")
    if abs(predicted - share) <= SHARE_RULE * share:
        ok(f"Predicted {predicted:.3f}%, measured {share:.3f}%: within the rule's 15%.")
        return
    total = sum(p.numel() for p in model.parameters())
    adapted = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
               and any(n == t or n.endswith("." + t) for t in targets)]

    def near(value: float) -> bool:
        return abs(predicted - value) <= SHARE_RULE * value

    no_cross = sum(r * (m.in_features + m.out_features) for n, m in adapted if "EncDecAttention" not in n)
    encoder_only = sum(r * (m.in_features + m.out_features) for n, m in adapted if n.startswith("encoder."))
    one_matrix = sum(r * m.in_features for _, m in adapted)
    full = sum(m.in_features * m.out_features for _, m in adapted)
    require(not near(share / 100), f"{predicted} looks like a fraction: give the share in percent (x 100).")
    require(not near(100 * no_cross / (total + no_cross)),
            f"Predicted {predicted:.3f}%, measured {share:.3f}%. Each decoder block has *two* attention layers, its "
            "own (self-attention) and one over the encoder's output (cross-attention, EncDecAttention), and both "
            "have q, k, v and o.")
    require(not near(100 * encoder_only / (total + encoder_only)),
            f"Predicted {predicted:.3f}%, measured {share:.3f}%. peft adapts the target matrices in the decoder too.")
    require(not near(100 * one_matrix / (total + one_matrix)),
            f"Predicted {predicted:.3f}%, measured {share:.3f}%. Each adapted matrix gets two: A (r x in) and "
            "B (out x r).")
    require(not near(100 * full / total),
            f"Predicted {predicted:.3f}%, measured {share:.3f}%. That is the share of the adapted weights "
            "themselves; LoRA freezes them and trains r * (in + out) per matrix.")
    raise CheckFailed(f"Predicted {predicted:.3f}%, measured {share:.3f}%: outside the rule's 15%. Count the adapted "
                      f"matrices ({len(adapted)} here: every block's attention layers x the targets), r * (in + out) "
                      "each, and divide by the model's parameters plus the adapters'.")


# --- 03.4: LoRA's forward pass by hand ---------------------------------------------------------------------------

def _lora_layer(n_in: int, n_out: int, r: int, alpha: int, bias: bool, seed: int):
    """A peft LoRA layer around Linear(n_in -> n_out) with a random, non-zero B (after training, as it were)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    holder = torch.nn.Module()
    holder.q = torch.nn.Linear(n_in, n_out, bias=bias)
    model = get_peft_model(holder, LoraConfig(r=r, lora_alpha=alpha, target_modules=["q"], lora_dropout=0.0))
    layer = model.base_model.model.q
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
        layer.lora_A["default"].weight.normal_()
    return layer.eval()


@exercise("03.4")
def check_lora_forward(lora_forward) -> None:
    """LoRA's output by hand, W x + b + (alpha/r) B A x, against peft's LoRA layer on the same input."""
    import torch

    require(callable(lora_forward), "Define `lora_forward(x, weight, A, B, alpha, r, bias=None)`.")
    for n_in, n_out, r, alpha, bias, shape in [(6, 10, 3, 6, True, (4, 6)), (8, 5, 4, 2, False, (2, 3, 8))]:
        layer = _lora_layer(n_in, n_out, r, alpha, bias, seed=n_in)
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(r))
        W, A, B = layer.base_layer.weight.detach(), layer.lora_A["default"].weight.detach(), \
            layer.lora_B["default"].weight.detach()
        b = layer.base_layer.bias.detach() if bias else None
        with torch.no_grad():
            expected = layer(x)
        got = call(lora_forward, x, W, A, B, alpha, r, b, name="lora_forward",
                   hints={RuntimeError: f" - shapes: x {tuple(x.shape)}, weight {tuple(W.shape)} (out x in, torch's "
                                        f"layout), A {tuple(A.shape)} (r x in), B {tuple(B.shape)} (out x r)"})
        require(isinstance(got, torch.Tensor), f"Return a tensor, not {type(got).__name__}.")
        require(tuple(got.shape) == tuple(expected.shape),
                f"For x of shape {tuple(x.shape)} the output has shape {tuple(expected.shape)}, not "
                f"{tuple(got.shape)}: the last dimension goes from in_features to out_features.")
        base = x @ W.T + (b if b is not None else 0)
        update = x @ A.T @ B.T
        if torch.allclose(got, expected, atol=1e-5):
            continue
        require(not torch.allclose(got, base + update, atol=1e-5),
                f"r = {r}, alpha = {alpha}: scale the low-rank update by alpha / r (= {alpha / r:g}).")
        require(not torch.allclose(got, base + (r / alpha) * update, atol=1e-5),
                f"The scale is alpha / r (= {alpha / r:g}), not r / alpha.")
        require(not torch.allclose(got, (alpha / r) * update, atol=1e-5),
                "The frozen weight still computes its part: W x (+ bias) plus the scaled update.")
        require(not (b is not None and torch.allclose(got, x @ W.T + (alpha / r) * update, atol=1e-5)),
                "Add the layer's bias to the frozen part when it has one.")
        raise CheckFailed(f"Your output differs from peft's by up to {(got - expected).abs().max():.3g}. LoRA's layer "
                          "computes x W^T + b + (alpha / r) * x A^T B^T (torch stores W as out x in).")
    ok("Your LoRA forward pass matches peft's layer: W x + (alpha/r) B A x.")


@exercise("03.5")
def check_budget_ranks(ranks, model, budget: int) -> None:
    """the largest LoRA rank that fits a parameter budget, for each choice of target modules."""
    require(isinstance(ranks, dict) and ranks, "Set `ranks` to a dict: {('q', 'v'): r, ('q', 'k', 'v', 'o'): r}.")
    for targets in [("q", "v"), ("q", "k", "v", "o")]:
        require(targets in ranks, f"`ranks` needs an entry for {targets}.")
        r = ranks[targets]
        require(isinstance(r, int) and not isinstance(r, bool) and r >= 1,
                f"The rank for {targets} should be a whole number >= 1, not {r!r}.")
        count = lora_count(model, targets, r)
        require(count <= budget, f"r = {r} on {targets} trains {count:,} parameters: over the budget of {budget:,}.")
        require(lora_count(model, targets, r + 1) > budget,
                f"r = {r} on {targets} trains {count:,} parameters; r = {r + 1} still fits the budget of "
                f"{budget:,}. Find the *largest* rank (the count grows linearly in r).")
    ok("The largest ranks within budget: " + ", ".join(f"{'+'.join(t)}: r = {r}" for t, r in ranks.items()))
