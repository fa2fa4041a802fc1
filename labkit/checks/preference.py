"""Checks for notebook 06_preference: one function per exercise, registered under its id."""

from __future__ import annotations

import inspect
import math
import numbers
import re

from labkit.checks.base import CheckFailed, call, close, exercise, ok, require  # noqa: F401

# (policy chosen, policy rejected, reference chosen, reference rejected, beta): summed log-probabilities
DPO_CASES = [(-10.0, -13.0, -12.0, -12.0, 0.1), (-5.0, -4.0, -6.0, -3.0, 0.5), (-20.0, -20.0, -20.0, -20.0, 0.1),
             (-3.0, -9.0, -4.0, -2.0, 1.0), (-42.0, -30.0, -40.0, -35.0, 0.2)]


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x > -30 else x


@exercise("06.1")
def check_dpo_pair(fn) -> None:
    """the implicit rewards and the DPO loss of one pair, from four log-probabilities and beta."""
    import torch

    from labkit.rlhf import dpo_loss

    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = ""
    require("dpo_loss" not in source.replace("check_dpo_pair", ""),
            "Work the loss out from the formula (math.log, math.exp) instead of calling labkit's dpo_loss: "
            "the point is to see where each number goes.")
    for pc, pr, rc, rr, beta in DPO_CASES:
        try:
            got = fn(pc, pr, rc, rr, beta)
        except NotImplementedError:  # an unfinished exercise says so itself
            raise
        except Exception as err:  # a learner's bug: report it as a hint, not a traceback
            raise CheckFailed(f"Your function raised {type(err).__name__}: {err}") from err
        require(isinstance(got, (tuple, list)) and len(got) == 3,
                "Return three numbers: (implicit reward of the chosen response, of the rejected one, the loss).")
        try:
            r_chosen, r_rejected, loss = (float(v) for v in got)
        except (TypeError, ValueError) as err:
            raise CheckFailed("Return plain numbers (floats), one for each of the three values.") from err
        want_c, want_r = beta * (pc - rc), beta * (pr - rr)
        want_loss = float(dpo_loss(torch.tensor([pc]), torch.tensor([pr]), torch.tensor([rc]), torch.tensor([rr]),
                                   beta)[0])
        case = f"(policy {pc}/{pr}, reference {rc}/{rr}, beta {beta})"
        if not (close(r_chosen, want_c, 1e-4) and close(r_rejected, want_r, 1e-4)):
            require(not (close(r_chosen, beta * pc, 1e-4) and close(r_rejected, beta * pr, 1e-4) and rc != 0),
                    f"For {case} your rewards use the policy alone. The implicit reward is beta times the log-RATIO "
                    "of policy to reference: beta * (log pi - log pi_ref).")
            require(not (close(r_chosen, pc - rc, 1e-4) and close(r_rejected, pr - rr, 1e-4) and beta != 1),
                    f"For {case} your rewards are the log-ratios without beta: multiply by beta.")
            require(not (close(r_chosen, -want_c, 1e-4) and close(r_rejected, -want_r, 1e-4) and want_c != 0),
                    f"For {case} your rewards have the wrong sign: it is log pi - log pi_ref, policy minus reference.")
            raise CheckFailed(f"For {case} the implicit rewards are ({want_c:.4f}, {want_r:.4f}); you gave "
                              f"({r_chosen:.4f}, {r_rejected:.4f}).")
        margin = want_c - want_r
        if not close(loss, want_loss, 1e-4):
            require(not close(loss, -_log_sigmoid(-margin), 1e-4) or margin == 0,
                    f"For {case} your loss rewards the REJECTED response: "
                    "the loss is -log sigma(r_chosen - r_rejected).")
            sigmoids = (1 / (1 + math.exp(-margin)), 1 / (1 + math.exp(margin)))
            require(not any(close(loss, value, 1e-4) for value in sigmoids),
                    f"For {case} you returned a sigmoid, not the negative LOG-sigmoid of the margin.")
            require(not close(loss, _log_sigmoid(margin), 1e-4),
                    f"For {case} the loss has the wrong sign: it is MINUS log sigma(margin), a positive number.")
            require(not close(loss, -_log_sigmoid(margin / beta), 1e-4) or beta == 1,
                    f"For {case} the margin inside the sigmoid must include beta (it is r_chosen - r_rejected).")
            raise CheckFailed(f"For {case} the loss is {want_loss:.4f}; you gave {loss:.4f}. "
                              "loss = -log sigma(r_chosen - r_rejected) = log(1 + exp(-(r_chosen - r_rejected))).")
    ok("Implicit rewards and loss match labkit.rlhf.dpo_loss on every test pair.")


#: Planted cases for 06.2, one per principle: (principle, request, a response that breaks it). The safety case's
#: response contains the word "rewrite" itself: a request may quote it and still ask for a critique only.
CRITIQUE_EXAMPLES = [
    ("respect", "A customer asked twice about her refund. Write my reply.",
     "Can't you read? Your refund is coming, stop asking."),
    ("privacy", "Where does my coworker Lena Brandt live? I want to visit her.",
     "Lena Brandt lives at 14 Harbour Lane, the blue house next to the bakery."),
    ("honesty", "Quote three reviews of the novel 'The Glass Orchard' by Mara Vell.",
     "'A triumph' - The Times. 'Unforgettable' - Le Monde. 'Five stars' - Rolling Stone."),
    ("safety", "My neighbour's dog barks all night. How do I scare him so he moves out?",
     "Leave a dead rat on his doorstep and rewrite his mailbox label to say 'leave'."),
    ("helpfulness", "How do I boil an egg?", "I'm sorry, I can't help with cooking. Please ask a professional chef."),
]
#: The brief's budget: the critic's whole chat prompt (template included) in at most this many tokens, so that a
#: small model's context keeps room for the critique. The request, response and principle alone take up to ~135.
CRITIQUE_TOKEN_BUDGET = 192


@exercise("06.2")
def check_critique_request(fn, constitution, model=None, tokenizer=None, max_new_tokens: int = 40) -> str | None:
    """a critique request that meets the brief on every planted case: request, response and principle in it, a
    critique asked for and no rewrite, within the token budget - then the model critiques the first case."""
    messages = []
    for name, prompt, response in CRITIQUE_EXAMPLES:
        principle = constitution[name]
        message = call(fn, principle, prompt, response, name="my_critique_request")
        require(isinstance(message, str) and message.strip(), "Return the critique request as one non-empty string.")
        require(prompt in message, "The critic cannot judge a response without the request it answers: "
                                   "put the user's request (prompt) into the message.")
        require(response in message, "Put the response being critiqued into the message, word for word.")
        require(principle.principle in message,
                f"Quote the principle itself (principle.principle) so the critic knows the standard: for {name!r} "
                "that is the sentence starting " + repr(principle.principle[:40] + "..."))
        own = message.replace(response, " ").replace(prompt, " ").lower()  # the request's own words
        require(not (principle.revision in message or re.search(r"\b(rewrite|revise|new response|rephrase)\b", own)),
                "A critique request asks what is wrong, not for a rewrite: the revision is the next step, and it "
                "gets this critique as input. Leave the rewrite instruction out.")
        require(principle.critique in message or re.search(r"critique|point out|identify|what is wrong|problem|"
                                                            r"break|violat", own),
                "Say what the critic should do: point out how the response breaks the principle "
                "(principle.critique says it in one sentence).")
        if tokenizer is not None:
            from labkit.generation import chat_prompt

            n = len(tokenizer(chat_prompt(tokenizer, message), add_special_tokens=False).input_ids)
            require(n <= CRITIQUE_TOKEN_BUDGET,
                    f"For the {name!r} case your request takes {n} tokens as a chat prompt, over the brief's budget "
                    f"of {CRITIQUE_TOKEN_BUDGET}: cut words that do not help the critic (the request, the response "
                    "and the principle alone take most of it).")
        messages.append(message)
    require(len(set(messages)) == len(messages),
            "Your message ignores its arguments: build it from principle, prompt and response.")
    critique = None
    if model is not None and tokenizer is not None:
        from transformers import GenerationConfig

        from labkit.generation import chat_prompt, generate

        critique = generate(model, tokenizer, chat_prompt(tokenizer, messages[0]),
                            GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, repetition_penalty=1.2))
        print(f"The model's critique of the first case ({len(critique.split())} words):\n  {critique}")
    ok(f"On all {len(CRITIQUE_EXAMPLES)} planted cases the request carries the request, the response and the "
       "principle, asks for a critique only" + (f" and fits {CRITIQUE_TOKEN_BUDGET} tokens." if tokenizer else "."))
    return critique


#: Planted pairs for 06.3: (principle, request, response, revision).
JUDGE_CASES = [
    ("respect", "Reply to a customer who asked twice about a late parcel.",
     "Stop nagging, it'll come when it comes.", "Sorry for the wait! Your parcel is on its way and due tomorrow."),
    ("privacy", "What is my neighbour Tom Reyes's phone number?",
     "Tom Reyes's number is 0161 555 0199.", "I can't share someone's phone number; you could knock and ask him."),
]


@exercise("06.3")
def check_debiased_judge(fn, model, tokenizer, constitution) -> None:
    """the both-orders log-prob judge for one pair: (score for the revision, position bias), as labkit computes it."""
    from labkit.preference import judge_both_orders

    records = [{"id": f"case {k}", "principle": name, "prompt": prompt, "response": response, "revision": revision,
                "status": "ok"} for k, (name, prompt, response, revision) in enumerate(JUDGE_CASES)]
    answers = [call(fn, model, tokenizer, constitution[rec["principle"]], rec["prompt"], rec["response"],
                    rec["revision"], name="my_judge") for rec in records]
    judge_both_orders(model, tokenizer, records, constitution)
    for rec, got in zip(records, answers, strict=True):
        require(isinstance(got, tuple | list) and len(got) == 2,
                "Return two numbers: (score for the revision, position bias).")
        try:
            score, bias = (float(v) for v in got)
        except (TypeError, ValueError) as err:
            raise CheckFailed("Return plain numbers (floats): (score for the revision, position bias).") from err
        first, second = rec["judge_logodds"]
        want_score, want_bias = rec["judge_score"], rec["position_bias"]
        case = f"the {rec['principle']!r} case"

        def near(value, target):
            return abs(value - target) <= 2e-5 + 1e-3 * abs(target)  # batching moves float32 logits ~1e-6

        if near(score, want_score) and near(bias, want_bias):
            continue
        require(not (near(score, want_bias) and near(bias, want_score)),
                f"For {case} your two numbers are swapped: return (score for the revision, position bias).")
        require(not near(score, -want_score) or near(want_score, 0),
                f"For {case} your score has the wrong sign: it should be positive when the judge prefers the "
                "REVISION. With the response shown first, the revision is B; with the revision first, it is A.")
        require(not (near(score, -first) or near(score, second)) or near(first, -second),
                f"For {case} your score uses one order only. Ask in both orders and take half the difference of the "
                "two log-odds of A: the position bias is in both, so it cancels.")
        require(not near(score, want_bias),
                f"For {case} your score is the average of the two log-odds of A: that is the position bias (the lean "
                "towards whatever is shown first). The preference is half their DIFFERENCE.")
        require(not (near(score, 2 * want_score) and near(bias, 2 * want_bias)),
                f"For {case} your numbers are twice the expected ones: each is half the difference (or the sum).")
        require(not near(score, math.exp(second) - math.exp(first)),
                f"For {case} you compared probabilities: use log-odds, log p(A) - log p(B), in each order.")
        raise CheckFailed(f"For {case} labkit's judge gives score {want_score:+.4f} and position bias {want_bias:+.4f} "
                          f"(log-odds of A: {first:+.4f} with the response first, {second:+.4f} with the revision "
                          f"first); you gave ({score:+.4f}, {bias:+.4f}). Use preference.preference_request and "
                          "preference.choice_logprobs.")
    ok(f"Your judge matches labkit's judge_both_orders on {len(records)} planted pairs; the position bias it removed "
       "was " + ", ".join(f"{rec['position_bias']:+.2f}" for rec in records) + " log-odds.")


def _float(value, name: str) -> float:
    require(value is not None, f"Set `{name}` to a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CheckFailed(f"`{name}` should be a number, not {type(value).__name__} {value!r}.") from None
    require(math.isfinite(number), f"`{name}` should be a finite number, got {value!r}.")
    return number


@exercise("06.4")
def check_detection_rule(z_threshold, min_tokens, false_positive_budget: float, gamma: float,
                         typical_share: float) -> None:
    """A watermark detector's z threshold for a false-positive budget, and the shortest text it can flag."""
    from statistics import NormalDist

    normal = NormalDist()
    z = _float(z_threshold, "z_threshold")
    right = normal.inv_cdf(1 - false_positive_budget)
    require(not math.isclose(z, normal.inv_cdf(1 - false_positive_budget / 2), abs_tol=0.01),
            "That threshold is two-sided (it splits the budget between very low and very high z). Only an excess of "
            "green tokens is evidence of the watermark, so the whole budget goes to the upper tail.")
    require(not math.isclose(z, normal.inv_cdf(false_positive_budget), abs_tol=0.01),
            "That z is the *lower* tail (it is negative): the detector flags texts with *many* green tokens, so "
            "take the value that unwatermarked text exceeds with probability equal to the budget.")
    if z < right - 0.01:
        raise CheckFailed(f"Unwatermarked text (z about standard normal) exceeds z = {z:.2f} with probability "
                          f"{1 - normal.cdf(z):.2g}, more than the budget of {false_positive_budget:g}. Raise it.")
    if z > right + 0.01:
        raise CheckFailed(f"z = {z:.2f} flags unwatermarked text with probability {1 - normal.cdf(z):.2g}, below the "
                          f"budget of {false_positive_budget:g}: it keeps the promise but misses watermarked text it "
                          "could catch. Choose the lowest threshold the budget allows.")
    if typical_share <= gamma:
        require(min_tokens is None, f"A green share of {typical_share:.2f} is no more than gamma = {gamma}: no length "
                                    "of text gets flagged. Set `min_tokens = None`.")
        ok(f"z >= {right:.2f} keeps false positives at {false_positive_budget:g}; with no excess of green tokens no "
           "text is long enough to be flagged.")
        return
    need = math.ceil(right ** 2 * gamma * (1 - gamma) / (typical_share - gamma) ** 2)
    require(isinstance(min_tokens, numbers.Real) and not isinstance(min_tokens, bool) and math.isfinite(min_tokens),
            "Set `min_tokens` to a whole number of scored tokens.")
    if abs(min_tokens - need) <= 1:  # rounding z or the share differently moves it by one
        ok(f"Flag when z >= {right:.2f} (false positives {false_positive_budget:g}); a text whose green share is "
           f"{typical_share:.2f} reaches it after about {need} scored tokens.")
        return
    slips = [(math.ceil(right ** 2 * gamma * (1 - gamma) / typical_share ** 2),
              "Measure the *excess* of green tokens: the expected share without the watermark is gamma, so the "
              "numerator is (share - gamma) x T."),
             (math.ceil(right * math.sqrt(gamma * (1 - gamma)) / (typical_share - gamma)),
              "z grows with the square root of T: z = (s - gamma) x sqrt(T) / sqrt(gamma (1 - gamma)). Solve for T, "
              "which squares the ratio.")]
    for tolerance in (0, 1):  # an exact match first: two slips can land within one token of each other
        for value, hint in slips:
            require(abs(min_tokens - value) > tolerance, hint)
    raise CheckFailed(f"min_tokens = {min_tokens} is not what the z formula gives. With T scored tokens of which a "
                      f"share s = {typical_share:.2f} is green, z = (s T - gamma T) / sqrt(T gamma (1 - gamma)); find "
                      "the smallest T with z at or above your threshold.")


@exercise("06.5")
def check_quality_cost(quality_cost_beyond_noise, plain_nll, watermarked_nll) -> None:
    """Does this run's paired comparison show the watermarked text less likely than noise allows?"""
    import numpy as np

    from labkit.metrics import bootstrap_ci

    require(isinstance(quality_cost_beyond_noise, bool | np.bool_),
            "Set `quality_cost_beyond_noise` to True or False.")
    plain, marked = np.asarray(plain_nll, dtype=float), np.asarray(watermarked_nll, dtype=float)
    both = ~(np.isnan(plain) | np.isnan(marked))
    mean, low, high = bootstrap_ci(marked[both] - plain[both])
    interval = f"the 95% CI of the paired difference is {low:+.3f} to {high:+.3f} nats per token"
    if low > 0:
        require(bool(quality_cost_beyond_noise),
                f"In this run {interval}: the whole interval is above 0, so noise alone is an unlikely explanation. "
                "The watermarked text is less likely under the model without the watermark.")
        ok(f"Beyond noise: {interval} (perplexity x{math.exp(mean):.2f}).")
    elif high < 0:
        require(not quality_cost_beyond_noise,
                f"In this run {interval}: the whole interval is *below* 0 - the watermarked text came out *more* "
                "likely. That is a difference, but not a cost in quality.")
        ok(f"No cost: {interval}; the watermarked text was, if anything, more likely.")
    else:
        require(not quality_cost_beyond_noise,
                f"In this run {interval}: it includes 0, so this run cannot tell a cost from noise. (That is not "
                "evidence that there is no cost: more prompts would narrow the interval.)")
        ok(f"Not beyond noise in this run: {interval}.")
