"""Notebook checks (rag): each accepts the right answer and rejects plausible wrong ones with a hint."""

import pytest

from labkit import checks


def test_rag_checks():
    from labkit import rag
    from labkit.models import load_embedder

    embedder = load_embedder()
    docs = rag.load_documents()
    good = rag.chunk_corpus(docs, embedder.tokenizer, chunk_tokens=200, overlap=50)
    checks.check_chunks(good, docs, embedder.tokenizer, max_tokens=200)
    with pytest.raises(checks.CheckFailed, match="chunk every document"):
        checks.check_chunks(good[:5], docs, embedder.tokenizer, max_tokens=200)
    with pytest.raises(checks.CheckFailed, match="longer than 200 tokens"):
        checks.check_chunks(rag.whole_documents(docs, embedder.tokenizer), docs, embedder.tokenizer, max_tokens=200)
    no_overlap = rag.chunk_corpus(docs, embedder.tokenizer, chunk_tokens=200, overlap=0)
    with pytest.raises(checks.CheckFailed, match="overlap"):
        checks.check_chunks(no_overlap, docs, embedder.tokenizer, max_tokens=200)

    questions = rag.load_questions()[:20]
    index, bm25 = rag.VectorIndex(embedder, good), rag.KeywordIndex(good)

    def found(r, q):
        return any(rag.is_relevant(h, q) for h in r.search(q["question"], 5))

    right = [q["id"] for q in questions if found(index, q) and not found(bm25, q)]
    checks.check_only_embeddings(right, questions, index, bm25)
    with pytest.raises(checks.CheckFailed, match="BM25 too"):
        checks.check_only_embeddings(right + [q["id"] for q in questions if found(bm25, q)][:1], questions, index, bm25)
    with pytest.raises(checks.CheckFailed, match="question ids"):
        checks.check_only_embeddings([], questions, index, bm25)


def test_recall_check():
    from labkit import rag
    from labkit.models import load_embedder

    embedder = load_embedder()
    chunks = rag.chunk_corpus(rag.load_documents(), embedder.tokenizer)
    retrievers = {"bm25": rag.KeywordIndex(chunks)}
    questions = rag.load_questions()[:15]

    def right(r, qs, k):
        return sum(any(rag.is_relevant(h, q) for h in r.search(q["question"], k)) for q in qs) / len(qs)

    def counts_hits(r, qs, k):  # counts relevant chunks, not questions
        return sum(rag.is_relevant(h, q) for q in qs for h in r.search(q["question"], k)) / (len(qs) * k)

    checks.check_recall_at_k(right, retrievers, questions)
    with pytest.raises(checks.CheckFailed, match="ANY"):
        checks.check_recall_at_k(counts_hits, retrievers, questions)
