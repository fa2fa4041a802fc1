"""Checks for notebook 01_pretraining: one function per exercise, registered under its id.

01.1 tokens per word (a tokenizer's cost on real text); 01.2 scaled dot-product attention written by hand
(with and without the causal mask); 01.3 the parameters of one attention block from its shape (biases,
grouped-query attention); 01.4 T5's span-corruption format; 01.5 the compute-optimal model size and data
for a compute budget (Chinchilla).
"""

from __future__ import annotations

import math

from labkit.checks.base import CheckFailed, close, exercise, ok, require

# --- 01.1 tokens per word ---------------------------------------------------------------------------------------


@exercise("01.1")
def check_tokens_per_word(tokens_per_word, tokenizer, texts) -> None:
    """``tokens_per_word(tokenizer, texts)``: total tokens (no special tokens) / total whitespace words."""
    from labkit import pretraining

    require(callable(tokens_per_word), "Define a function `tokens_per_word(tokenizer, texts)`.")
    texts = list(texts)
    expected = pretraining.tokens_per_word(tokenizer, texts)
    try:
        got = float(tokens_per_word(tokenizer, texts))
    except NotImplementedError:
        raise
    except Exception as err:
        raise CheckFailed(f"tokens_per_word(tokenizer, texts) raised {type(err).__name__}: {err}") from err
    words = sum(len(t.split()) for t in texts)
    with_special = sum(len(ids) for ids in tokenizer(texts).input_ids) / words
    per_text = sum(pretraining.tokens_per_word(tokenizer, t) for t in texts) / len(texts)
    chars = sum(len(t) for t in texts) / words
    require(not close(got, 1 / expected, 1e-6),
            "That is words per token: divide the number of tokens by the number of words.")
    require(not (close(got, with_special, 1e-6) and not close(with_special, expected, 1e-9)),
            "You counted the special tokens the tokenizer adds around each text ([CLS]/[SEP], </s>...): "
            "call the tokenizer with add_special_tokens=False.")
    require(not (close(got, per_text, 1e-6) and not close(per_text, expected, 1e-9)),
            "That is the average of each text's own ratio. Add up the tokens of all texts and divide by all their "
            "words, so a long text counts for more than a short one.")
    require(not close(got, chars, 1e-6), "That counts characters per word: tokenize the texts first.")
    require(close(got, expected, 1e-6),
            f"{got:.4f} is not right. Count tokens with tokenizer(texts, add_special_tokens=False).input_ids and "
            "words with str.split(), over all texts, then divide.")
    # a different tokenizer-text pair, so a number fitted to the first one does not pass
    other = ["Tokenization splits rare words into several pieces.", "#Person1#: Hello!"]
    require(close(tokens_per_word(tokenizer, other), pretraining.tokens_per_word(tokenizer, other), 1e-6),
            "Your function gives the right number for these texts but not for others: compute it from the "
            "arguments, not from variables in the notebook.")
    ok(f"{expected:.3f} tokens per word on these texts.")


# --- 01.2 attention -----------------------------------------------------------------------------------------------


def _attention_cases():
    import torch

    gen = torch.Generator().manual_seed(1)
    cases = []
    for n_q, n_k, d, causal in [(1, 4, 8, False), (5, 5, 16, False), (6, 6, 32, True), (3, 3, 4, True),
                                (7, 7, 64, False)]:
        q = torch.randn(n_q, d, generator=gen, dtype=torch.float64) * 2
        k = torch.randn(n_k, d, generator=gen, dtype=torch.float64) * 2
        v = torch.randn(n_k, d, generator=gen, dtype=torch.float64)
        cases.append((q, k, v, causal))
    return cases


def _as_tensor(value, name):
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64)
    try:
        return torch.as_tensor(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        raise CheckFailed(f"Return {name} as a tensor (got {type(value).__name__}).") from None


@exercise("01.2")
def check_attention(attention) -> None:
    """``attention(q, k, v, causal=False) -> (output, weights)``: softmax(q kᵀ / √d) v, causal mask optional."""
    import torch

    from labkit import pretraining

    require(callable(attention), "Define a function `attention(q, k, v, causal=False)` returning (output, weights).")
    for q, k, v, causal in _attention_cases():
        try:
            result = attention(q, k, v, causal=causal)
        except NotImplementedError:
            raise
        except Exception as err:
            raise CheckFailed(f"attention(q, k, v, causal={causal}) with q {tuple(q.shape)}, k {tuple(k.shape)} "
                              f"raised {type(err).__name__}: {err}") from err
        require(isinstance(result, tuple) and len(result) == 2, "Return a pair: (output, weights).")
        out, weights = _as_tensor(result[0], "the output"), _as_tensor(result[1], "the weights")
        want_out, want = pretraining.attention(q, k, v, causal=causal)
        d = q.shape[-1]
        require(tuple(weights.shape) == tuple(want.shape),
                f"The weights should be (queries, keys) = {tuple(want.shape)}, got {tuple(weights.shape)}: "
                "one row per query, one column per key (q @ k.T).")
        scores = q @ k.T
        if causal:
            scores = scores.masked_fill(torch.ones_like(scores, dtype=torch.bool).triu(1), float("-inf"))
        if torch.allclose(weights, torch.softmax(scores, -1), atol=1e-6):
            raise CheckFailed("The scores are not scaled: divide q @ k.T by √d (d = the size of one query vector) "
                              "before the softmax.")
        if torch.allclose(weights, torch.softmax(scores / d, -1), atol=1e-6):
            raise CheckFailed("Scale by √d, not by d: dividing by d flattens the weights too much.")
        if torch.allclose(weights, torch.softmax(scores / math.sqrt(d), 0), atol=1e-6) or (
                _columns_sum_to_one(weights) and not torch.allclose(weights.sum(-1), torch.ones(len(weights)),
                                                                   atol=1e-6)):
            raise CheckFailed("The softmax runs over the wrong axis: each *query's* row must sum to 1 "
                              "(softmax over the keys, dim=-1).")
        if causal:
            future = weights.triu(1)
            require(float(future.abs().max()) < 1e-9,
                    "With causal=True, query i may not look at keys after i: their weights must be exactly 0. "
                    "Set those scores to -inf before the softmax.")
            require(torch.allclose(weights.sum(-1), torch.ones(len(weights), dtype=weights.dtype), atol=1e-6),
                    "With the causal mask each row must still sum to 1: mask the scores (-inf) before the softmax, "
                    "do not zero the weights after it.")
        else:
            hidden = torch.ones_like(scores, dtype=torch.bool).triu(1)
            masked = torch.softmax((scores / math.sqrt(d)).masked_fill(hidden, float("-inf")), -1)
            require(not torch.allclose(weights, masked, atol=1e-6),
                    "Without causal=True every query sees every key: apply the mask only when causal is true.")
        require(torch.allclose(weights, want, atol=1e-6),
                "The weights are not softmax(q @ k.T / √d) over the keys. Compare one row by hand.")
        require(tuple(out.shape) == tuple(want_out.shape) and torch.allclose(out, want_out, atol=1e-6),
                "The weights are right but the output is not: it is weights @ v (each query's weighted mix of the "
                "value vectors), shape (queries, d).")
    ok("softmax(QKᵀ/√d)V with and without the causal mask, on five random cases.")


def _columns_sum_to_one(weights) -> bool:
    import torch

    return bool(torch.allclose(weights.sum(0), torch.ones(weights.shape[-1], dtype=weights.dtype), atol=1e-6))


# --- 01.3 parameters of an attention block ------------------------------------------------------------------------

_SHAPES = {
    "all-MiniLM-L6-v2": dict(hidden_size=384, num_heads=12, head_dim=32, num_kv_heads=12, bias=True),
    "BERT-base": dict(hidden_size=768, num_heads=12, head_dim=64, num_kv_heads=12, bias=True),
    "SmolLM2-135M": dict(hidden_size=576, num_heads=9, head_dim=64, num_kv_heads=3, bias=False),
    "a GQA model with biases": dict(hidden_size=1024, num_heads=16, head_dim=64, num_kv_heads=4, bias=True),
    "tiny T5": dict(hidden_size=128, num_heads=4, head_dim=32, num_kv_heads=4, bias=False),
    "T5 with d_kv != d_model/heads": dict(hidden_size=512, num_heads=6, head_dim=64, num_kv_heads=6, bias=False),
}


@exercise("01.3")
def check_attention_parameters(attention_parameters) -> None:
    """``attention_parameters(hidden_size, num_heads, head_dim, num_kv_heads, bias) -> int``."""
    from labkit import pretraining

    require(callable(attention_parameters),
            "Define `attention_parameters(hidden_size, num_heads, head_dim, num_kv_heads, bias)`.")
    for name, shape in _SHAPES.items():
        try:
            got = attention_parameters(**shape)
        except NotImplementedError:
            raise
        except Exception as err:
            raise CheckFailed(f"attention_parameters(**{shape}) raised {type(err).__name__}: {err}") from err
        want = pretraining.attention_parameters(**shape)
        h, heads, d, kv, bias = (shape[k] for k in ("hidden_size", "num_heads", "head_dim", "num_kv_heads", "bias"))
        if got == want:
            continue
        all_heads = pretraining.attention_parameters(h, heads, d, heads, bias)
        require(not (kv != heads and got == all_heads),
                f"{name}: keys and values have only num_kv_heads = {kv} heads here (grouped-query attention: "
                f"{heads // kv} query heads share each key/value head), so k and v map {h} -> {kv}·{d}.")
        require(not (bias and got == pretraining.attention_parameters(h, heads, d, kv, False)),
                f"{name}: its projections have biases (bias=True): add one per output of q, k, v and o.")
        require(not (not bias and got == pretraining.attention_parameters(h, heads, d, kv, True)),
                f"{name}: bias=False - this model's projections have no bias vectors.")
        require(got != 3 * h * heads * d + (3 * heads * d if bias else 0),
                f"{name}: there are four projections - after q, k and v, the output projection maps the "
                f"concatenated heads ({heads}·{d}) back to {h}.")
        require(got != 4 * h * h + (4 * h if bias else 0),
                f"{name}: 4·hidden² assumes every projection is hidden x hidden. Count from the shapes: q is "
                f"{h} -> {heads}·{d}, k and v {h} -> {kv}·{d}, o {heads}·{d} -> {h}.")
        raise CheckFailed(f"{name}: {got:,} is not right ({shape}). Add the weight matrices of q, k, v and o "
                          "(input size x output size each) and, with bias=True, one bias per output.")
    ok("Right for multi-head attention with biases (BERT, MiniLM), grouped-query attention without biases (SmolLM2) "
       "and with biases, and T5.")


# --- 01.4 span corruption -----------------------------------------------------------------------------------------

_SPAN_CASES = [
    ("Thank you for calling the City Library , how can I help you today ?".split(), [(2, 2), (8, 3)]),
    ("#Person1#: Is there a bank near here ? \n #Person2#: Yes , on Main Street .".split(" "), [(0, 1), (5, 1),
                                                                                             (9, 2), (14, 1)]),
    ("a b c d e f".split(), [(1, 1), (2, 2)]),  # adjacent spans: two sentinels in a row
    ("one two three".split(), [(0, 3)]),
]


@exercise("01.4")
def check_corrupt_spans(corrupt_spans) -> None:
    """``corrupt_spans(words, spans) -> (source, target)`` in T5's sentinel format."""
    from labkit import pretraining

    require(callable(corrupt_spans), "Define `corrupt_spans(words, spans)` returning (source, target).")
    for words, spans in _SPAN_CASES:
        try:
            result = corrupt_spans(list(words), list(spans))
        except NotImplementedError:
            raise
        except Exception as err:
            raise CheckFailed(f"corrupt_spans(words, {spans}) raised {type(err).__name__}: {err}") from err
        require(isinstance(result, tuple) and len(result) == 2 and all(isinstance(x, str) for x in result),
                "Return a pair of strings: (source, target).")
        source, target = result
        want_source, want_target = pretraining.corrupt_spans(words, spans)
        example = f"words {' '.join(words)!r}, spans {spans}"
        hidden = [" ".join(words[s:s + n]) for s, n in spans]
        if source != want_source:
            require("<extra_id_1>" not in source or "<extra_id_0>" in source,
                    f"{example}: sentinels count from 0: the first span is <extra_id_0>.")
            require("<extra_id_0>" in source, f"{example}: the source must hold a sentinel <extra_id_0>, "
                                              "<extra_id_1>, ... where each hidden span was.")
            require(source.count("<extra_id_0>") == 1,
                    f"{example}: each span gets its own sentinel (<extra_id_0>, <extra_id_1>, ...), not the same one.")
            require(not all(h in source for h in hidden),
                    f"{example}: the hidden words must leave the source - only their sentinel stays.")
            raise CheckFailed(f"{example}: the source should be {want_source!r}, got {source!r}.")
        if target != want_target:
            require(target != want_target.rsplit(" ", 1)[0],
                    f"{example}: the target ends with one more sentinel (<extra_id_{len(spans)}>) after the last "
                    "span, as T5 does.")
            require(not any(w in target.split() for w in words if w not in " ".join(hidden).split()),
                    f"{example}: the target holds only sentinels and the hidden words, not the words that stayed.")
            raise CheckFailed(f"{example}: the target should be {want_target!r}, got {target!r}.")
    ok("Sources and targets match T5's span corruption, adjacent spans included.")


# --- 01.5 compute-optimal size ------------------------------------------------------------------------------------


@exercise("01.5")
def check_compute_optimal(compute_optimal) -> None:
    """``compute_optimal(flops) -> (params, tokens)`` with C = 6·N·D and D = 20·N."""
    from labkit import lifecycle

    require(callable(compute_optimal), "Define `compute_optimal(flops)` returning (params, tokens).")
    for flops in (5.76e23, 3.15e23, 1e21, 8.64e19):
        try:
            result = compute_optimal(flops)
        except NotImplementedError:
            raise
        except Exception as err:
            raise CheckFailed(f"compute_optimal({flops:.3g}) raised {type(err).__name__}: {err}") from err
        require(isinstance(result, (tuple, list)) and len(result) == 2, "Return a pair: (params, tokens).")
        n, d = (float(x) for x in result)
        want_n = lifecycle.compute_optimal_params(flops)
        want_d = lifecycle.compute_optimal_tokens(want_n)
        if close(n, want_d, 1e-3) and close(d, want_n, 1e-3):
            raise CheckFailed("Parameters and tokens are swapped: return (params, tokens).")
        require(not close(n, math.sqrt(flops / 20), 1e-3),
                "You left out the 6: C = 6·N·D, so with D = 20·N the budget is C = 120·N².")
        require(not close(n, math.sqrt(flops / 6), 1e-3),
                "You left out the 20 tokens per parameter: D = 20·N, so C = 6·N·(20·N).")
        require(not close(n, flops / 120, 1e-3), "C = 120·N² - take the square root: N = √(C / 120).")
        require(close(n, want_n, 1e-3),
                f"For C = {flops:.3g} FLOPs, N = {n:.3g} is not right: solve C = 6·N·D with D = 20·N for N.")
        require(close(d, want_d, 1e-3), f"The parameters are right; the tokens should be 20 per parameter "
                                        f"({want_d:.3g}), got {d:.3g}.")
        require(close(6 * n * d, flops, 1e-3), "Your N and D do not spend the budget: 6·N·D should equal C.")
    ok("N = √(C/120), D = 20·N: Chinchilla's 5.76e23 FLOPs give about 69B parameters and 1.4T tokens.")
