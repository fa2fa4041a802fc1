"""Notebook checks (fine_tuning): each accepts the right answer and rejects plausible wrong ones with a hint."""

import pytest
import torch

from labkit import checks, finetune, metrics, prompts
from labkit.checks.finetune import lora_count, lora_share


def test_tokenize_function_check(summarizer, dialogsum):
    _, tokenizer = summarizer
    train = dialogsum["train"]

    def right(batch):
        enc = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True)
        enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True)["input_ids"]
        return enc

    def padded(batch):
        enc = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True, padding="max_length")
        enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True)["input_ids"]
        return enc

    def no_prompt(batch):
        enc = tokenizer(batch["dialogue"], truncation=True)
        enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True)["input_ids"]
        return enc

    def prompt_as_labels(batch):
        enc = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True)
        enc["labels"] = enc["input_ids"]
        return enc

    checks.check_tokenize_function(right, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="dynamic padding"):
        checks.check_tokenize_function(padded, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="zero-shot prompt"):
        checks.check_tokenize_function(no_prompt, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="summary"):
        checks.check_tokenize_function(prompt_as_labels, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="labels"):
        checks.check_tokenize_function(lambda b: tokenizer(b["dialogue"]), train, tokenizer)


# --- 03.2: is the change in topic accuracy beyond noise? ------------------------------------------------------

def _paired(before, after):
    _, low, high = metrics.bootstrap_ci([a - b for a, b in zip(after, before, strict=True)])
    return not (low <= 0 <= high), (low, high)


def _unpaired(before, after):  # one interval per model, overlap read as "within noise"
    _, low_b, high_b = metrics.bootstrap_ci(before)
    _, low_a, high_a = metrics.bootstrap_ci(after)
    low, high = low_a - high_b, high_a - low_b
    return not (low <= 0 <= high), (low, high)


def _reversed(before, after):
    return _paired(after, before)


def _always_within(before, after):
    return False, _paired(before, after)[1]


def _after_only(before, after):
    _, low, high = metrics.bootstrap_ci(after)
    return True, (low, high)


def _run_data(shift):
    before = [1.0 if i % 3 else 0.0 for i in range(100)]
    after = list(before)
    for i in range(shift):
        after[3 * i] = 1.0
    return before, after


@pytest.mark.parametrize("shift", [0, 2, 15])
def test_topic_change_check_accepts_the_paired_bootstrap(shift):
    checks.check_topic_change(_paired, *_run_data(shift))


@pytest.mark.parametrize("wrong, hint", [
    (_unpaired, "Pair the models"),
    (_reversed, "wrong sign"),
    (_always_within, "beyond noise"),
    (_after_only, "not for one model"),
    (lambda before, after: 0.05, "Return a pair"),
    (lambda before, after: ("yes", (0, 1)), "True or False"),
    (lambda before, after: (True, (0.1, -0.1)), "low first"),
    (lambda before, after: before[1000], "raised IndexError"),
])
def test_topic_change_check_rejects_plausible_readings(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_topic_change(wrong, *_run_data(15))


def test_topic_change_check_lets_an_unfinished_exercise_stop_the_lab():
    def unfinished(before, after):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.check_topic_change(unfinished, *_run_data(0))


# --- 03.3: predict LoRA's trainable share ----------------------------------------------------------------------

SETTINGS = [{"r": 8, "target_modules": ["q", "k", "v", "o"]}, {"r": 32, "target_modules": ["q", "v"]}]


@pytest.mark.parametrize("settings", SETTINGS)
def test_lora_share_is_what_peft_prints(summarizer, settings):
    model, _ = summarizer
    peft_model = finetune.add_lora(model, finetune.lora_config(lora_alpha=settings["r"], **settings))
    assert lora_share(model, settings["target_modules"], settings["r"]) == pytest.approx(
        finetune.count_parameters(peft_model)[2])


@pytest.mark.parametrize("settings", SETTINGS)
def test_lora_share_check_grades_by_the_stated_rule(summarizer, settings):
    model, _ = summarizer
    share = lora_share(model, settings["target_modules"], settings["r"])
    for inside in (share, share * 0.9, share * 1.12):
        checks.check_lora_share(inside, model, settings)
    with pytest.raises(checks.CheckFailed, match="outside the rule|attention|two|fraction|themselves|decoder"):
        checks.check_lora_share(share * 1.5, model, settings)


def _share_of(model, settings, keep, per_matrix):
    total = sum(p.numel() for p in model.parameters())
    n = sum(per_matrix(m) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
            and name.split(".")[-1] in settings["target_modules"] and keep(name))
    return 100 * n / (total + n)


def test_lora_share_check_names_the_likely_mistake(summarizer):
    model, _ = summarizer
    settings = SETTINGS[0]
    r = settings["r"]
    both = lambda m: r * (m.in_features + m.out_features)  # noqa: E731
    no_cross = _share_of(model, settings, lambda n: "EncDecAttention" not in n, both)
    encoder = _share_of(model, settings, lambda n: n.startswith("encoder."), both)
    one = _share_of(model, settings, lambda n: True, lambda m: r * m.in_features)
    with pytest.raises(checks.CheckFailed, match="cross-attention"):
        checks.check_lora_share(no_cross, model, settings)
    with pytest.raises(checks.CheckFailed, match="decoder too"):
        checks.check_lora_share(encoder, model, settings)
    with pytest.raises(checks.CheckFailed, match="two: A"):
        checks.check_lora_share(one, model, settings)
    with pytest.raises(checks.CheckFailed, match="fraction"):
        checks.check_lora_share(lora_share(model, settings["target_modules"], r) / 100, model, settings)
    with pytest.raises(checks.CheckFailed, match="a number"):
        checks.check_lora_share("about 3%", model, settings)
    with pytest.raises(checks.CheckFailed, match="a number"):
        checks.check_lora_share(None, model, settings)


# --- 03.4: LoRA's forward pass by hand ---------------------------------------------------------------------------

def _right_forward(x, weight, A, B, alpha, r, bias=None):
    out = x @ weight.T + (alpha / r) * (x @ A.T @ B.T)
    return out + bias if bias is not None else out


def test_lora_forward_check_accepts_the_formula():
    checks.check_lora_forward(_right_forward)


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, W, A, B, alpha, r, bias=None: x @ W.T + (0 if bias is None else bias) + x @ A.T @ B.T, "alpha / r"),
    (lambda x, W, A, B, alpha, r, bias=None: x @ W.T + (0 if bias is None else bias) + r / alpha * (x @ A.T @ B.T),
     "not r / alpha"),
    (lambda x, W, A, B, alpha, r, bias=None: alpha / r * (x @ A.T @ B.T), "frozen weight"),
    (lambda x, W, A, B, alpha, r, bias=None: x @ W.T + alpha / r * (x @ A.T @ B.T), "bias"),
    (lambda x, W, A, B, alpha, r, bias=None: x @ W + alpha / r * (x @ A @ B), "shapes"),
    (lambda x, W, A, B, alpha, r, bias=None: (x @ W.T).sum(-1), "shape"),
    (lambda x, W, A, B, alpha, r, bias=None: (x @ W.T + alpha / r * (x @ A.T @ B.T)).tolist(), "tensor"),
])
def test_lora_forward_check_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_lora_forward(wrong)


# --- 03.5: a parameter budget --------------------------------------------------------------------------------------

def test_budget_ranks_check(summarizer):
    model, _ = summarizer
    budget = 20_000
    per_rank = {t: lora_count(model, t, 1) for t in [("q", "v"), ("q", "k", "v", "o")]}
    right = {t: budget // n for t, n in per_rank.items()}
    checks.check_budget_ranks(right, model, budget)
    with pytest.raises(checks.CheckFailed, match="over the budget"):
        checks.check_budget_ranks({**right, ("q", "v"): right[("q", "v")] + 1}, model, budget)
    with pytest.raises(checks.CheckFailed, match="largest"):
        checks.check_budget_ranks({**right, ("q", "k", "v", "o"): right[("q", "k", "v", "o")] - 1}, model, budget)
    with pytest.raises(checks.CheckFailed, match="needs an entry"):
        checks.check_budget_ranks({("q", "v"): right[("q", "v")]}, model, budget)
    with pytest.raises(checks.CheckFailed, match="whole number"):
        checks.check_budget_ranks({**right, ("q", "v"): budget / per_rank[("q", "v")]}, model, budget)
    with pytest.raises(checks.CheckFailed, match="dict"):
        checks.check_budget_ranks(None, model, budget)
