"""Notebook checks (rag): each accepts the right answer and rejects plausible wrong ones with a hint."""

import pytest

from labkit import checks, rag


@pytest.fixture(scope="module")
def setup():
    from labkit.models import load_embedder

    embedder = load_embedder()
    docs = rag.load_documents()
    questions = rag.load_questions()
    indexes = {size: rag.VectorIndex(embedder, rag.chunk_corpus(docs, embedder.tokenizer, size, size // 4))
               for size in (128, 256)}
    return embedder, questions, indexes


def recall(index, questions, k):
    return sum(any(rag.is_relevant(h, q) for h in index.search(q["question"], k)) for q in questions) / len(questions)


@pytest.mark.slow
def test_chunk_budget_check(setup):
    _, questions, indexes = setup
    budget, candidates = 256, (128, 256)
    table = {size: recall(indexes[size], questions, budget // size) for size in candidates}
    best = max(table, key=table.get)
    other = min(table, key=table.get)
    checks.check_chunk_budget(table, best, budget // best, indexes[best], questions, budget, candidates)

    with pytest.raises(checks.CheckFailed, match="more than the budget"):  # k=5 regardless of the budget
        checks.check_chunk_budget(table, best, 5, indexes[best], questions, budget, candidates)
    with pytest.raises(checks.CheckFailed, match="as many as fit"):  # k=1 for every size
        checks.check_chunk_budget(table, 128, 1, indexes[128], questions, budget, candidates)
    fixed_k = {size: recall(indexes[size], questions, 1) for size in candidates}  # every size measured at k=1
    with pytest.raises(checks.CheckFailed, match="own k"):
        checks.check_chunk_budget(fixed_k, 128, 2, indexes[128], questions, budget, candidates)
    with pytest.raises(checks.CheckFailed, match="choose by the measurement"):
        checks.check_chunk_budget(table, other, budget // other, indexes[other], questions, budget, candidates)
    with pytest.raises(checks.CheckFailed, match="chosen size"):  # the index of another size
        checks.check_chunk_budget(table, best, budget // best, indexes[other], questions, budget, candidates)
    with pytest.raises(checks.CheckFailed, match="each candidate"):
        checks.check_chunk_budget({best: table[best]}, best, budget // best, indexes[best], questions, budget,
                                  candidates)


def test_pack_check(setup):
    _, questions, indexes = setup
    from labkit.models import load_llm

    _, tok = load_llm()
    index = indexes[128]

    def right(hits, tokenizer, budget):
        text, ids = "", []
        for hit in hits:
            candidate = text + rag.source_block(len(ids) + 1, hit.chunk)
            if len(tokenizer(candidate, add_special_tokens=False)["input_ids"]) > budget:
                break
            text, ids = candidate, ids + [hit.chunk.id]
        return text, ids

    def counts_words(hits, tokenizer, budget):
        text, ids = "", []
        for hit in hits:
            candidate = text + rag.source_block(len(ids) + 1, hit.chunk)
            if len(candidate.split()) > budget:
                break
            text, ids = candidate, ids + [hit.chunk.id]
        return text, ids

    def jumps_queue(hits, tokenizer, budget):
        text, ids = "", []
        for hit in hits:
            candidate = text + rag.source_block(len(ids) + 1, hit.chunk)
            if len(tokenizer(candidate, add_special_tokens=False)["input_ids"]) <= budget:
                text, ids = candidate, ids + [hit.chunk.id]
        return text, ids

    def unnumbered(hits, tokenizer, budget):
        text, ids = right(hits, tokenizer, budget)
        return text.replace("[1] ", "").replace("[2] ", ""), ids

    def only_best(hits, tokenizer, budget):
        text, ids = right(hits[:1], tokenizer, budget)
        return text, ids

    checks.check_pack(right, index, questions, tok)
    checks.check_pack(lambda h, t, b: rag.pack_sources(h, t, b), index, questions, tok)  # cutting the best is fine
    with pytest.raises(checks.CheckFailed, match="not words or characters"):
        checks.check_pack(counts_words, index, questions, tok)
    with pytest.raises(checks.CheckFailed, match="jump the queue"):
        checks.check_pack(jumps_queue, index, questions, tok, budgets=(260, 300, 330))
    with pytest.raises(checks.CheckFailed, match="Number the sources"):
        checks.check_pack(unnumbered, index, questions, tok)
    with pytest.raises(checks.CheckFailed, match="fit but you packed"):
        checks.check_pack(only_best, index, questions, tok)
    with pytest.raises(checks.CheckFailed, match="tuple"):
        checks.check_pack(lambda h, t, b: right(h, t, b)[0], index, questions, tok)


def test_evidence_gain_check_follows_the_run():
    import numpy as np

    from labkit.metrics import bootstrap_ci

    rng = np.random.default_rng(0)
    evidence = np.array([True] * 14 + [False] * 6)
    gain = np.where(evidence, rng.normal(6, 1, 20), rng.normal(0.5, 1, 20))
    with_e, without_e = bootstrap_ci(gain[evidence], seed=3), bootstrap_ci(gain[~evidence], seed=3)
    checks.check_evidence_gain(with_e, without_e, True, gain, evidence)
    with pytest.raises(checks.CheckFailed, match="follows from your numbers"):
        checks.check_evidence_gain(with_e, without_e, False, gain, evidence)
    with pytest.raises(checks.CheckFailed, match="Select the questions"):
        checks.check_evidence_gain(bootstrap_ci(gain), without_e, True, gain, evidence)
    flat = rng.normal(3, 1, 20)  # the same gain with and without evidence: no concentration
    checks.check_evidence_gain(bootstrap_ci(flat[evidence]), bootstrap_ci(flat[~evidence]),
                               bool(bootstrap_ci(flat[evidence])[1] > flat[~evidence].mean()), flat, evidence)
    one_missing = np.array([True] * 19 + [False])
    checks.check_evidence_gain(bootstrap_ci(gain[one_missing]), None,
                               bool(bootstrap_ci(gain[one_missing])[1] > gain[~one_missing].mean()), gain, one_missing)
    with pytest.raises(checks.CheckFailed, match="use None"):
        checks.check_evidence_gain(bootstrap_ci(gain[one_missing]), (0.0, 0.0, 0.0), True, gain, one_missing)
