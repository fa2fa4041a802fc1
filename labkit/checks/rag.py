"""Checks for notebook 09_rag: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import close, exercise, ok, require


def _recall(index, questions, k: int) -> float:
    from labkit import rag

    return sum(any(rag.is_relevant(h, q) for h in index.search(q["question"], k)) for q in questions) / len(questions)


@exercise("09.1")
def check_chunk_budget(recall_under_budget, chunk_tokens, k, index, questions, budget: int, candidates) -> None:
    """chunk size and k chosen under a token budget for the sources, justified by the recall each choice reaches."""
    require(isinstance(recall_under_budget, dict) and set(recall_under_budget) == set(candidates),
            f"`recall_under_budget` should map each candidate chunk size {tuple(candidates)} to its recall.")
    require(all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in recall_under_budget.values()),
            "Recall values are shares of questions, between 0 and 1.")
    require(chunk_tokens in candidates, f"`chunk_tokens` should be one of the candidates {tuple(candidates)}.")
    require(isinstance(k, int) and k >= 1, "`k` (how many chunks go into the prompt) should be a positive integer.")
    require(k * chunk_tokens <= budget,
            f"{k} chunks of {chunk_tokens} tokens are {k * chunk_tokens} tokens, more than the budget of {budget}: "
            "k can be at most budget // chunk_tokens.")
    require(k == budget // chunk_tokens,
            f"With {chunk_tokens}-token chunks the budget holds {budget // chunk_tokens} of them; you use k={k}. "
            "Retrieve as many as fit: each one is another chance to catch the evidence.")
    sizes = [c.n_tokens for c in getattr(index, "chunks", [])]
    require(sizes and max(sizes) == chunk_tokens,
            f"`index` should hold the chunks of your chosen size ({chunk_tokens} tokens, overlap {chunk_tokens // 4}); "
            f"its longest chunk has {max(sizes) if sizes else 0} tokens.")
    measured = _recall(index, questions, k)
    require(close(recall_under_budget[chunk_tokens], measured, 1e-9),
            f"For {chunk_tokens}-token chunks your table says recall {recall_under_budget[chunk_tokens]:.3f}, but "
            f"recall@{k} of `index` is {measured:.3f}. Measure each size at its own k = budget // chunk_tokens "
            "(not at a fixed k), over all the labelled questions.")
    best = max(recall_under_budget, key=recall_under_budget.get)
    require(recall_under_budget[chunk_tokens] >= recall_under_budget[best],
            f"{best}-token chunks reach recall {recall_under_budget[best]:.3f} in your own table, more than "
            f"{chunk_tokens}-token chunks ({recall_under_budget[chunk_tokens]:.3f}): choose by the measurement.")
    ok(f"{chunk_tokens}-token chunks, {k} per prompt: recall {measured:.3f} within a {budget}-token budget.")


@exercise("09.2")
def check_pack(pack, index, questions, tokenizer, budgets=(96, 200, 384)) -> None:
    """numbered sources, best first, packed into a token budget without letting a later chunk jump the queue."""
    import re

    from labkit import rag

    require(callable(pack), "Define `pack(hits, tokenizer, budget_tokens)` returning (text, ids).")
    for q in questions[:12]:
        hits = index.search(q["question"], 4)
        for budget in budgets:
            expected_text, expected = rag.pack_sources(hits, tokenizer, budget)
            result = pack(hits, tokenizer, budget)
            require(isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], str),
                    "`pack` should return a tuple (text, ids): the packed sources and the ids of the chunks in them.")
            text, ids = result[0], list(result[1])
            n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
            require(n <= budget, f"With a budget of {budget} tokens your packed text has {n} tokens. Count tokens with "
                                 "the generator's tokenizer on the packed text, not words or characters.")
            ranked = [h.chunk.id for h in hits]
            require(all(i in ranked for i in ids),
                    "`ids` should be the chunk ids (hit.chunk.id) of the packed sources, in the order you packed them.")
            if len(expected) == 1 and not expected_text.startswith(rag.source_block(1, hits[0].chunk)):
                require(ids in ([], ranked[:1]), "When not even the best chunk fits, pack nothing or the best one cut "
                                                 "to fit - never a lower-ranked chunk instead.")
                continue
            require(ids == ranked[:len(ids)],
                    f"You packed {ids} from hits ranked {ranked}: once a chunk does not fit, stop - a lower-ranked "
                    "chunk must not jump the queue, and the order must stay best first.")
            require(len(ids) == len(expected),
                    f"With a budget of {budget} tokens, {len(expected)} source(s) fit but you packed {len(ids)}. Add "
                    "blocks while the packed text (numbers, titles and all) stays within the budget.")
            labels = [int(x) for x in re.findall(r"^\[(\d+)\]", text, flags=re.M)]
            require(labels == list(range(1, len(ids) + 1)),
                    "Number the sources [1], [2], ... at the start of each block (use rag.source_block), so that an "
                    "answer can cite them.")
    ok("Sources are packed best first, numbered, and always within the budget.")


FACT_CASES = [  # (answer, gold facts, expected)
    ("The award was £412,000 plus interest.", ["£412,000"], True),
    ("THE AWARD WAS 412,000 POUNDS.", ["£412,000"], True),
    ("They paid 412000.", ["£412,000"], True),
    ("Harbor Freight got £41,200.", ["£412,000"], False),
    ("Lindqvist paid 70% of the costs.", ["70 per cent"], True),
    ("Lindqvist paid 70 percent of the costs.", ["70 per cent"], True),
    ("Interest ran at 14 per cent.", ["4 per cent"], False),
    ("It was announced 9 days before sailing.", ["nine days"], True),
    ("It was announced nineteen days before sailing.", ["nine days"], False),
    ("They notified the regulator after forty hours.", ["40 hours"], True),
    ("Within twelve years of the breach.", ["twelve years"], True),
    ("The judge relied on aerial photos.", ["aerial photographs", "aerial photos"], True),
    ("The judge relied on witness statements.", ["aerial photographs", "aerial photos"], False),
    ("A conditional-fee arrangement.", ["conditional fee arrangement"], True),
    ("", ["£412,000"], False),
    (None, ["£412,000"], False),
    ("The award (£412,000) was paid.", "£412,000", True),
]


@exercise("09.3")
def check_evidence_gain(with_evidence, without_evidence, evidence_matters, gain, evidence) -> None:
    """Read the run: does retrieval's log-probability gain concentrate where the evidence reached the prompt?"""
    import numpy as np

    from labkit.metrics import bootstrap_ci

    gain, evidence = np.asarray(gain, dtype=float), np.asarray(evidence, dtype=bool)
    groups = {"with_evidence": (with_evidence, gain[evidence]), "without_evidence": (without_evidence, gain[~evidence])}
    for name, (given, values) in groups.items():
        if len(values) < 2:
            require(given is None, f"`{name}` covers {len(values)} question(s): too few for an interval - use None.")
            continue
        mean, low, high = bootstrap_ci(values)
        require(isinstance(given, (tuple, list)) and len(given) == 3,
                f"`{name}` is (mean, low, high) from metrics.bootstrap_ci over the questions of that group.")
        require(abs(float(given[0]) - mean) < 1e-6,
                f"The mean gain {name.replace('_', ' ')} is {mean:+.3f} over {len(values)} questions; you have "
                f"{float(given[0]):+.3f}. Select the questions with `fact_gain[evidence]` (or `[~evidence]`).")
        width = high - low
        require(abs(float(given[1]) - low) <= 0.5 * width + 0.05 and abs(float(given[2]) - high) <= 0.5 * width + 0.05,
                f"A 95% interval of the gain {name.replace('_', ' ')} is about [{low:+.2f}, {high:+.2f}]; yours is "
                f"[{float(given[1]):+.2f}, {float(given[2]):+.2f}].")
    both = bool(evidence.sum() >= 2 and (~evidence).any())
    truth = both and float(with_evidence[1]) > gain[~evidence].mean()
    require(isinstance(evidence_matters, (bool, np.bool_)), "`evidence_matters` is True or False.")
    require(bool(evidence_matters) == truth,
            "`evidence_matters` follows from your numbers: is the low end of the with-evidence interval above the "
            "without-evidence mean?" if both else
            "With too few questions on one side there is nothing to compare: `evidence_matters` is False.")
    ok("the gain " + ("concentrates where the evidence is in the prompt: retrieval at work." if truth else
                      "does not separate by evidence on this run." ))
