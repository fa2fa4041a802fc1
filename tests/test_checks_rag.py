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


def test_contains_fact_check():
    checks.check_contains_fact(rag.contains_fact)

    def naive(answer, facts):
        facts = [facts] if isinstance(facts, str) else facts
        return any(f in answer for f in facts)

    def lower_only(answer, facts):
        facts = [facts] if isinstance(facts, str) else facts
        return bool(answer) and any(f.lower() in answer.lower() for f in facts)

    def no_word_boundaries(answer, facts):
        facts = [facts] if isinstance(facts, str) else facts
        norm = rag.normalize_answer(answer)
        return any(rag.normalize_answer(f) in norm for f in facts) if norm else False

    def first_phrasing_only(answer, facts):
        return rag.contains_fact(answer, facts if isinstance(facts, str) else facts[0])

    with pytest.raises(checks.CheckFailed):  # crashes on None, or misses the upper-case answer
        checks.check_contains_fact(naive)
    with pytest.raises(checks.CheckFailed, match="currency signs"):
        checks.check_contains_fact(lower_only)
    with pytest.raises(checks.CheckFailed, match="whole"):
        checks.check_contains_fact(no_word_boundaries)
    with pytest.raises(checks.CheckFailed, match="any one of them"):
        checks.check_contains_fact(first_phrasing_only)
    with pytest.raises(checks.CheckFailed, match="not crash"):
        checks.check_contains_fact(lambda answer, facts: rag.contains_fact(answer.strip(), facts))
