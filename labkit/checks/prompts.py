"""Checks for notebook 02_prompts: one function per exercise, registered under its id.

02.1 top-p (nucleus) filtering written by hand, compared with transformers' ``TopPLogitsWarper``;
02.2 a few-shot conversation in a chat model's message format; 02.3 the most worked examples that fit
a token budget when the answer shares the window with the prompt (a decoder-only model); 02.4 reading this
run's paired intervals: which prompts beat zero-shot, which lost, which the run cannot tell apart.
"""

from __future__ import annotations

from labkit.checks.base import CheckFailed, exercise, ok, require

# --- 02.1 top-p ---------------------------------------------------------------------------------------------

def _reference_top_p(probs, p: float):
    """What transformers does when sampling with ``top_p=p``: its warper on log-probabilities, then softmax."""
    import torch
    from transformers import TopPLogitsWarper

    scores = torch.log(probs.double()).unsqueeze(0)
    return torch.softmax(TopPLogitsWarper(top_p=p)(None, scores), dim=-1)[0]


def _top_p_cases():
    import torch

    gen = torch.Generator().manual_seed(2)
    cases = []
    for size, spread, p in [(12, 1.5, 0.5), (12, 1.5, 0.9), (40, 2.5, 0.8), (40, 0.7, 0.95), (200, 3.0, 0.6),
                            (8, 4.0, 0.3), (30, 1.0, 1.0)]:
        probs = torch.softmax(torch.randn(size, generator=gen, dtype=torch.float64) * spread, dim=-1)
        cases.append((probs, p))
    return cases


def _as_tensor(value):
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64).reshape(-1)
    if isinstance(value, (list, tuple, np.ndarray)):
        return torch.as_tensor(np.asarray(value, dtype=float)).reshape(-1)
    raise CheckFailed(f"Return the filtered distribution as a tensor like `probs` (got {type(value).__name__}).")


def _explain_top_p(out, kept, want, probs, p: float) -> None:
    import torch

    order = torch.argsort(probs, descending=True)
    n_kept, n_want = int(kept.sum()), int(want.sum())
    extra = kept & ~want
    if bool(extra.any()) and float(out[extra].max()) < 1e-6:
        raise CheckFailed("Filtered tokens must get probability exactly 0 (not a tiny number): the model must never "
                          "sample them.")
    top_block = bool(kept[order[:n_kept]].all())  # the kept tokens are the n_kept most likely ones
    if top_block and n_kept == n_want - 1:
        raise CheckFailed(f"With p={p} you keep one token too few: add tokens, most likely first, until the running "
                          "total reaches p - including the token that gets it there. transformers keeps that token "
                          "too, and always at least one token.")
    if top_block and n_kept > n_want:
        raise CheckFailed(f"With p={p} you keep {n_kept} tokens where the {n_want} most likely already reach p: stop "
                          "at the first token whose running total (most likely first) reaches p.")
    if n_kept == n_want:
        raise CheckFailed("You keep the right number of tokens but not the right ones: sort by probability, highest "
                          "first, keep the tokens at the top, and put each kept probability back at its own token's "
                          "index (the output is in vocabulary order, like `probs`).")
    raise CheckFailed(f"With p={p} your filter keeps {n_kept} tokens, transformers keeps {n_want}: sort the "
                      "probabilities from the highest, add them up, and keep the tokens up to the one where the "
                      "running total reaches p.")


@exercise("02.1")
def check_top_p_filter(top_p_filter) -> None:
    """``top_p_filter(probs, p)``: keep the smallest set of most likely tokens whose probabilities reach ``p``,
    zero the rest, renormalise - the same distribution transformers samples from with ``top_p=p``."""
    import torch

    require(callable(top_p_filter), "Define a function top_p_filter(probs, p).")
    for probs, p in _top_p_cases():
        given = probs.clone()
        try:
            raw = top_p_filter(given, p)
        except (CheckFailed, NotImplementedError):  # an unfinished exercise stays unfinished
            raise
        except Exception as err:  # the learner's code failed: say how, as a hint
            raise CheckFailed(f"top_p_filter(probs, {p}) raised {type(err).__name__}: {err}") from None
        require(torch.equal(given, probs), "Leave `probs` as it is: work on a copy (e.g. probs.clone()).")
        out = _as_tensor(raw)
        expected = _reference_top_p(probs, p)
        require(out.shape == probs.shape,
                f"Return one probability per vocabulary token ({probs.numel()} values, in vocabulary order), "
                f"with 0 for the filtered tokens; got {tuple(out.shape)}.")
        require(not bool(torch.isnan(out).any()), "Your filter returns NaN: divide by the kept total, not by 0.")
        kept, want = out > 0, expected > 0
        if not torch.equal(kept, want):
            _explain_top_p(out, kept, want, probs, p)
        total = float(out.sum())
        require(abs(total - 1) < 1e-5,
                f"The kept probabilities add up to {total:.4f}: renormalise them (divide by their sum) so the model "
                "samples from a proper distribution.")
        require(torch.allclose(out, expected, atol=1e-6),
                "The right tokens are kept and the total is 1, but the probabilities differ: each kept token keeps "
                "its probability divided by the kept total, at its own index (vocabulary order).")
    ok("Your top-p filter keeps exactly the tokens transformers' TopPLogitsWarper keeps, with the same probabilities.")


# --- 02.2 few-shot conversation for a chat model ------------------------------------------------------------

def _reference_messages(examples, dialogue: str) -> list[dict]:
    from labkit import prompts

    messages = []
    for example in examples:
        shot_dialogue, summary = prompts.pair(example)
        messages += [{"role": "user", "content": prompts.summary_request(shot_dialogue)},
                     {"role": "assistant", "content": summary}]
    return messages + [{"role": "user", "content": prompts.summary_request(dialogue)}]


_SHOTS = [{"dialogue": "#Person1#: Is the bus late?\n#Person2#: Yes, ten minutes.",
           "summary": "#Person2# tells #Person1# the bus is ten minutes late."},
          {"dialogue": "#Person1#: Tea or coffee?\n#Person2#: Tea, please.", "summary": "#Person2# would like tea."},
          {"dialogue": "#Person1#: Where is the library?\n#Person2#: Next to the bank.",
           "summary": "#Person2# tells #Person1# the library is next to the bank."}]
_TARGET = "#Person1#: Shall we go?\n#Person2#: Not yet, I need my coat."


def _explain_messages(got, want, examples, dialogue) -> None:
    from labkit import prompts

    require(isinstance(got, list) and all(isinstance(m, dict) for m in got),
            "Return a list of messages, each a dict {'role': ..., 'content': ...}.")
    require(all(set(m) >= {"role", "content"} for m in got), "Every message needs a 'role' and a 'content'.")
    require(not got or got[0]["role"] != "system",
            "Leave out the system message: the chat template adds the model's own default one.")
    roles = [m["role"] for m in got]
    require(set(roles) <= {"user", "assistant"}, f"Use the roles 'user' and 'assistant' (got {sorted(set(roles))}).")
    end = ("End with the user's request for the new dialogue, prompts.summary_request(dialogue): the model "
           "writes the assistant turn that follows.")
    require(got and roles[-1] == "user", end)
    require(len(got) == len(want),
            f"{len(examples)} worked example(s) make {len(want)} messages: each example is two turns - the user "
            "asks (summary_request of the example's dialogue), the assistant answers with its human summary - "
            "then the final request.")
    require(got[-1]["content"] == prompts.summary_request(dialogue), end)
    require(roles == [m["role"] for m in want], "Alternate user and assistant turns, starting with the user.")
    for i, example in enumerate(examples):
        shot_dialogue, summary = prompts.pair(example)
        asked, answered = got[2 * i]["content"], got[2 * i + 1]["content"]
        if asked != prompts.summary_request(shot_dialogue):
            others = [prompts.summary_request(prompts.pair(e)[0]) for e in examples]
            require(asked not in others, "Keep the worked examples in the order given.")
            raise CheckFailed("Each example's user turn is prompts.summary_request(its dialogue): the same request as "
                              "the final one, so the examples show the model exactly the task it will get.")
        require(answered == summary, "Each example's assistant turn is exactly its human summary - nothing added: "
                                     "that is the answer format the model will copy.")


@exercise("02.2")
def check_few_shot_messages(few_shot_messages) -> None:
    """``few_shot_messages(examples, dialogue)``: worked examples as earlier user/assistant turns, then the request."""
    require(callable(few_shot_messages), "Define a function few_shot_messages(examples, dialogue).")
    for examples in (_SHOTS[:2], _SHOTS, _SHOTS[:1], []):
        try:
            got = few_shot_messages(list(examples), _TARGET)
        except (CheckFailed, NotImplementedError):  # an unfinished exercise stays unfinished
            raise
        except Exception as err:
            raise CheckFailed(f"few_shot_messages({len(examples)} examples, dialogue) raised "
                              f"{type(err).__name__}: {err}") from None
        want = _reference_messages(examples, _TARGET)
        if got != want:
            _explain_messages(got, want, examples, _TARGET)
            raise CheckFailed("The messages differ from the expected conversation: compare yours with "
                              "[user request, assistant summary] per example, then the final user request.")
    ok("Worked examples as earlier turns of the conversation, the new dialogue as the last user turn.")


# --- 02.3 shots within a token budget -----------------------------------------------------------------------

def _tokens_needed(tokenizer, examples, dialogues, max_new_tokens: int = 0) -> list[int]:
    from labkit import generation

    return [len(tokenizer(generation.chat_prompt(tokenizer, _reference_messages(examples, d))).input_ids)
            + max_new_tokens for d in dialogues]


def _most_that_fit(tokenizer, pool, dialogues, budget: int, max_new_tokens: int) -> int:
    best = -1
    for k in range(len(pool) + 1):
        if max(_tokens_needed(tokenizer, pool[:k], dialogues, max_new_tokens)) > budget:
            break
        best = k
    return best


@exercise("02.3")
def check_shots_that_fit(k, tokenizer, pool, dialogues, budget: int, max_new_tokens: int) -> None:
    """the largest ``k``: for every dialogue, the k-shot chat prompt plus ``max_new_tokens`` fits ``budget``."""
    pool, dialogues = list(pool), list(dialogues)
    require(isinstance(k, int) and not isinstance(k, bool), f"k is a whole number of worked examples (got {k!r}).")
    require(0 <= k <= len(pool), f"k counts examples taken from `pool`, which holds {len(pool)}.")
    best = _most_that_fit(tokenizer, pool, dialogues, budget, max_new_tokens)
    if k == best:
        need = max(_tokens_needed(tokenizer, pool[:k], dialogues, max_new_tokens))
        ok(f"{k} worked examples: the longest request needs {need} of {budget} tokens, summary included.")
        return
    if k == _most_that_fit(tokenizer, pool, dialogues, budget, 0):
        raise CheckFailed("Those prompts fit, but the summary does not: a decoder-only model writes its answer into "
                          f"the same window as the prompt, so count the {max_new_tokens} new tokens too.")
    if k == _most_that_fit(tokenizer, pool, dialogues[:1], budget, max_new_tokens) or k == _most_that_fit(
            tokenizer, pool, [min(dialogues, key=len)], budget, max_new_tokens):
        raise CheckFailed("That many examples fit for one dialogue, but every dialogue must fit: the longest one "
                          "decides.")
    if k > best:
        need = max(_tokens_needed(tokenizer, pool[:k], dialogues, max_new_tokens))
        raise CheckFailed(f"With {k} examples the longest request needs {need} tokens (prompt plus "
                          f"{max_new_tokens} new tokens), more than the budget of {budget}.")
    need = max(_tokens_needed(tokenizer, pool[:k + 1], dialogues, max_new_tokens))
    raise CheckFailed(f"{k + 1} examples still fit: the longest request then needs {need} of {budget} tokens. "
                      "Count the tokens of the full chat prompt (generation.chat_prompt), as the model reads it.")


# --- 02.4 reading the paired intervals ---------------------------------------------------------------------------

VERDICTS = ("better", "worse", "no difference")


def interval_verdict(low: float, high: float) -> str:
    """'better' when the whole 95% interval of the paired change is above 0, 'worse' when below, else
    'no difference' (the run cannot tell the two prompts apart)."""
    return "better" if low > 0 else "worse" if high < 0 else "no difference"


@exercise("02.4")
def check_icl_verdicts(verdicts, paired) -> None:
    """one verdict per (model, prompt) row of this run's paired table, read from its interval."""
    require(isinstance(verdicts, dict), "Set `verdicts` to a dict: {(model, prompt): 'better' | 'worse' | "
                                        "'no difference'} with one entry per row of the table.")
    expected = {key: interval_verdict(row["95% CI low"], row["95% CI high"]) for key, row in paired.iterrows()}
    missing = [key for key in expected if key not in verdicts]
    require(not missing, f"No verdict for {missing}: give one per row of `paired` (its index is (model, prompt)).")
    odd = {key: v for key, v in verdicts.items() if v not in VERDICTS}
    require(not odd, f"Verdicts are one of {VERDICTS}; got {odd}.")
    for key, want in expected.items():
        got, row = verdicts[key], paired.loc[key]
        where = (f"{key}: the change is {row['Δ ROUGE-1 vs zero-shot']:+.3f}, 95% CI {row['95% CI low']:+.3f} to "
                 f"{row['95% CI high']:+.3f}")
        if got == want:
            continue
        if want == "no difference":
            raise CheckFailed(f"{where}. The interval contains 0: the run cannot tell the two prompts apart, "
                              f"whatever the sign of the mean - not '{got}'.")
        raise CheckFailed(f"{where}. The whole interval is on one side of 0, so the run does tell them apart: "
                          f"'{want}', not '{got}'.")
    counts = {v: sum(x == v for x in expected.values()) for v in VERDICTS}
    ok("Read right: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".")
