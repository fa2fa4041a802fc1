"""Checks for notebook 01_pretraining: one function per exercise, registered under its id.

01.1 read this run's recurrence-vs-attention table (interpret); 01.2 tokens per word (compute); 01.3 predict
the order of four texts' tokens per word before measuring (predict); 01.4 scaled dot-product attention by hand,
matched to torch's ``scaled_dot_product_attention`` (implement); 01.5 the parameters of one attention block
(implement); 01.6 T5's span-corruption format (implement); 01.7 fit a scaling curve a·N^-α + c and
extrapolate (implement); 01.8 choose a model from its card for a stated brief (design).
"""

from __future__ import annotations

import math

from labkit.checks.base import CheckFailed, close, exercise, ok, require

# --- 01.1 recurrence vs attention: read the run -------------------------------------------------------------------


@exercise("01.1")
def check_recall_reach(recall_reach, recall_table, threshold: float = 0.9) -> None:
    """``recall_reach = {model: d}``: the longest distance d with accuracy ≥ threshold at every distance 1..d."""
    from labkit import pretraining

    columns = list(recall_table.columns)
    require(isinstance(recall_reach, dict) and set(recall_reach) == set(columns),
            f"Set `recall_reach` to a dict with one entry per model: {columns}.")
    for name in columns:
        accuracy = recall_table[name].sort_index()
        want = pretraining.reach(accuracy, threshold)
        got = recall_reach[name]
        require(isinstance(got, (int, float)) and not isinstance(got, bool) and float(got) == int(got),
                f"recall_reach[{name!r}] should be a whole distance (0 when even distance 1 is below {threshold}), "
                f"not {got!r}.")
        got = int(got)
        if got == want:
            continue
        at_or_above = [int(d) for d, a in accuracy.items() if a >= threshold]
        below = [int(d) for d, a in accuracy.items() if a < threshold]
        require(not (below and got == below[0] and want == below[0] - 1),
                f"{name}: at distance {below[0] if below else ''} its accuracy is already below {threshold}: "
                "the reach is the last distance *before* the first one that falls short.")
        require(not (at_or_above and got == max(at_or_above)),
                f"{name}: read the distances in order and stop at the first one below {threshold}: a far distance "
                "that happens to score well after a miss does not count.")
        require(not (got == len(accuracy) and want < len(accuracy)),
                f"{name}: not every distance reaches {threshold}: look for the first one that falls short.")
        raise CheckFailed(f"{name}: {got} is not what this run's table says. Walk down the column from distance 1 "
                          f"and stop before the first accuracy below {threshold}.")
    ok("; ".join(f"{name} keeps ≥ {threshold:.0%} up to distance {pretraining.reach(recall_table[name], threshold)}"
                 for name in columns) + " in this run.")


# --- 01.2 tokens per word ---------------------------------------------------------------------------------------


@exercise("01.2")
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


# --- 01.3 predict the order of tokens per word ----------------------------------------------------------------


@exercise("01.3")
def check_tokens_per_word_order(predicted_order, tokenizer, texts: dict) -> None:
    """``predicted_order``: the names of ``texts`` from the fewest tokens per word to the most, for ``tokenizer``.

    The rule stated before the measurement: the prediction passes when its order is the measured one.
    """
    from labkit import pretraining

    names = list(texts)
    require(isinstance(predicted_order, (list, tuple)) and sorted(map(str, predicted_order)) == sorted(names),
            f"Set `predicted_order` to a list holding each of {names} once, from the fewest tokens per word to the "
            "most.")
    measured = {name: pretraining.tokens_per_word(tokenizer, text) for name, text in texts.items()}
    order = sorted(names, key=measured.get)
    shown = ", ".join(f"{name} {measured[name]:.2f}" for name in order)
    if list(predicted_order) == order:
        ok(f"Measured tokens per word: {shown}. Your order was right.")
        return
    wrong = next(i for i, (a, b) in enumerate(zip(predicted_order, order, strict=True)) if a != b)
    raise CheckFailed(f"Not the measured order: tokens per word are {shown}. Your list puts "
                      f"{predicted_order[wrong]!r} in place {wrong + 1}. Look at the pieces the next cell prints: "
                      "which words does the vocabulary hold whole, and which does it cut up?")


# --- 01.4 attention -----------------------------------------------------------------------------------------------


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


@exercise("01.4")
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
        fused = torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=causal)[0]
        require(torch.allclose(out, fused, atol=1e-6),
                "Your output differs from torch.nn.functional.scaled_dot_product_attention on the same q, k, v.")
    ok("softmax(QKᵀ/√d)V with and without the causal mask, on five random cases: the same output as torch's "
       "fused scaled_dot_product_attention.")


def _columns_sum_to_one(weights) -> bool:
    import torch

    return bool(torch.allclose(weights.sum(0), torch.ones(weights.shape[-1], dtype=weights.dtype), atol=1e-6))


# --- 01.5 parameters of an attention block ------------------------------------------------------------------------

_SHAPES = {
    "all-MiniLM-L6-v2": dict(hidden_size=384, num_heads=12, head_dim=32, num_kv_heads=12, bias=True),
    "BERT-base": dict(hidden_size=768, num_heads=12, head_dim=64, num_kv_heads=12, bias=True),
    "SmolLM2-135M": dict(hidden_size=576, num_heads=9, head_dim=64, num_kv_heads=3, bias=False),
    "a GQA model with biases": dict(hidden_size=1024, num_heads=16, head_dim=64, num_kv_heads=4, bias=True),
    "tiny T5": dict(hidden_size=128, num_heads=4, head_dim=32, num_kv_heads=4, bias=False),
    "T5 with d_kv != d_model/heads": dict(hidden_size=512, num_heads=6, head_dim=64, num_kv_heads=6, bias=False),
}


@exercise("01.5")
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


# --- 01.6 span corruption -----------------------------------------------------------------------------------------

_SPAN_CASES = [
    ("Thank you for calling the City Library , how can I help you today ?".split(), [(2, 2), (8, 3)]),
    ("#Person1#: Is there a bank near here ? \n #Person2#: Yes , on Main Street .".split(" "), [(0, 1), (5, 1),
                                                                                             (9, 2), (14, 1)]),
    ("a b c d e f".split(), [(1, 1), (2, 2)]),  # adjacent spans: two sentinels in a row
    ("one two three".split(), [(0, 3)]),
]


@exercise("01.6")
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


# --- 01.7 a scaling curve ---------------------------------------------------------------------------------------

_PLANTED_LAWS = [  # (a, alpha, c, sizes): exact power laws with a floor, over the sizes a study might train
    (400.0, 0.34, 1.7, (1e7, 1e9, 9)),
    (50.0, 0.2, 2.5, (1e6, 1e10, 7)),
    (2000.0, 0.5, 0.0, (1e6, 1e8, 6)),
]


def _fit(fit_scaling_law, n, loss):
    import numpy as np

    from labkit.checks.base import call

    result = call(fit_scaling_law, np.asarray(n), np.asarray(loss), name="fit_scaling_law")
    require(isinstance(result, (tuple, list)) and len(result) == 3,
            "Return three numbers: (a, alpha, c) of L(N) = a·N^-alpha + c.")
    try:
        return tuple(float(x) for x in result)
    except (TypeError, ValueError):
        raise CheckFailed(f"Return three numbers (a, alpha, c), not {result!r}.") from None


@exercise("01.7")
def check_scaling_fit(fit_scaling_law, params, losses) -> None:
    """``fit_scaling_law(n, loss) -> (a, alpha, c)``: recovers planted laws and fits the notebook's points as
    well as scipy's ``curve_fit`` (:func:`labkit.pretraining.fit_power_law`)."""
    import numpy as np

    from labkit import pretraining

    require(callable(fit_scaling_law), "Define `fit_scaling_law(n, loss)` returning (a, alpha, c).")
    for a, alpha, c, (low, high, count) in _PLANTED_LAWS:
        n = np.logspace(np.log10(low), np.log10(high), count)
        loss = pretraining.power_law(n, a, alpha, c)
        got_a, got_alpha, got_c = _fit(fit_scaling_law, n, loss)
        law = f"points of L = {a:g}·N^-{alpha:g} + {c:g}"
        require(not (got_alpha < 0 and close(-got_alpha, alpha, 0.05)),
                f"{law}: your alpha has the wrong sign. The law is a·N^-alpha: return alpha > 0 (the slope of "
                "log(L - c) against log N is -alpha).")
        require(not (close(got_c, 0.0, 1e-9) and c > 0),
                f"{law}: you fitted c = 0, a straight line in log-log. The loss levels off at a floor c > 0: "
                "fit c too (try values of c below the smallest loss and keep the one that fits best).")
        far = high * 100
        want = pretraining.power_law(far, a, alpha, c)
        pred = pretraining.power_law(far, got_a, got_alpha, got_c)
        require(abs(got_alpha - alpha) <= 0.03 * alpha + 1e-3 and abs(pred - want) <= 0.01 * want,
                f"{law}: you found a = {got_a:.4g}, alpha = {got_alpha:.4g}, c = {got_c:.4g}, which predicts "
                f"{pred:.4g} at N = {far:.0e} instead of {want:.4g}. Exact points of a power law should give its "
                "parameters back.")
    n, loss = np.asarray(params, dtype=float), np.asarray(losses, dtype=float)
    mine = _fit(fit_scaling_law, n, loss)
    ref = pretraining.fit_power_law(n, loss)
    rms = float(np.sqrt(np.mean((np.log(pretraining.power_law(n, *mine)) - np.log(loss)) ** 2)))
    ref_rms = float(np.sqrt(np.mean((np.log(pretraining.power_law(n, *ref)) - np.log(loss)) ** 2)))
    require(rms <= 1.5 * ref_rms + 1e-4,
            f"On the notebook's points your curve misses by {rms:.2e} (RMS of log L); scipy's curve_fit gets "
            f"{ref_rms:.2e}. Fit a, alpha and c together.")
    far = n.max() * 70
    pred, want = pretraining.power_law(far, *mine), pretraining.power_law(far, *ref)
    require(abs(pred - want) <= 0.01 * want,
            f"At N = {far:.2g} your curve predicts {pred:.4g}, scipy's fit {want:.4g}: they should agree within 1%.")
    ok(f"three planted laws recovered; on the notebook's points a = {mine[0]:.4g}, alpha = {mine[1]:.4g}, "
       f"c = {mine[2]:.4g} (scipy's curve_fit: {ref[0]:.4g}, {ref[1]:.4g}, {ref[2]:.4g}).")


# --- 01.8 choose a model from its card ----------------------------------------------------------------------------

def _planted_tables():
    def row(licence="apache-2.0", data="some/corpus", use="text-generation", params=100_000_000):
        return {"model": "x", "licence": licence, "training data": data, "languages": "en", "intended use": use,
                "base model": "not stated", "parameters": params}

    return [
        ("a smaller model under a non-commercial licence",
         {"small-nc": row(licence="cc-by-nc-4.0", params=10**7), "ok": row(params=10**9)}, "ok"),
        ("a smaller model whose licence is not stated",
         {"small-unknown": row(licence="not stated", params=10**7), "ok": row(params=10**9)}, "ok"),
        ("a smaller model that does not write text (fill-mask)",
         {"encoder": row(use="fill-mask", params=10**7), "ok": row(use="text2text-generation", params=10**8)}, "ok"),
        ("a smaller model whose card does not name its training data",
         {"no-data": row(data="not stated", params=10**7), "ok": row(params=5 * 10**8)}, "ok"),
        ("a model over the size budget and none other that writes text",
         {"too-big": row(params=7 * 10**9), "encoder": row(use="fill-mask", params=10**8)}, None),
        ("a model just within the size budget", {"at-budget": row(params=2 * 10**9)}, "at-budget"),
        ("a model of unknown size",
         {"unknown-size": row(params=None), "ok": row(licence="mit", params=1_900_000_000)}, "ok"),
        ("two that qualify: the smaller one wins",
         {"big": row(params=10**9), "small": row(use="text2text-generation", params=2 * 10**8),
          "tiny-encoder": row(use="sentence-similarity", params=10**6)}, "small"),
        ("none that qualifies", {"nc": row(licence="cc-by-nc-4.0"), "encoder": row(use="fill-mask")}, None),
    ]


@exercise("01.8")
def check_model_choice(choose_model, table) -> None:
    """``choose_model(table)`` -> the row label that meets the brief (or None), on planted tables and this run's."""
    import pandas as pd

    from labkit import pretraining
    from labkit.checks.base import call

    require(callable(choose_model), "Define `choose_model(table)` returning a row label of the table (or None).")
    for what, rows, want in _planted_tables():
        planted = pd.DataFrame.from_dict(rows, orient="index")
        got = call(choose_model, planted, name="choose_model")
        require(got == want, f"A table with {what}: your rule picks {got!r}, the brief picks {want!r}.")
    want = pretraining.choose_model(table)
    got = call(choose_model, table, name="choose_model")
    require(got == want, f"On this notebook's table your rule picks {got!r}, the brief picks {want!r}.")
    ok(f"your rule meets the brief on nine planted tables and picks {want!r} here.")
