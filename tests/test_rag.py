"""Retrieval: chunking, the vector index and its persistence, evaluation, prompt packing."""

import pytest

from labkit import rag
from labkit.models import load_embedder


@pytest.fixture(scope="module")
def embedder():
    return load_embedder()


@pytest.fixture(scope="module")
def corpus(embedder):
    docs = rag.load_documents()
    chunks = rag.chunk_corpus(docs, embedder.tokenizer, chunk_tokens=200, overlap=50)
    return docs, chunks


@pytest.fixture(scope="module")
def vector_index(embedder, corpus):
    return rag.VectorIndex(embedder, corpus[1])


def test_chunks_are_exact_overlapping_slices_within_the_window(embedder, corpus):
    docs, chunks = corpus
    by_doc = {d.id: d for d in docs}
    assert len({c.id for c in chunks}) == len(chunks)
    for chunk in chunks:
        assert chunk.text in by_doc[chunk.doc_id].text
        assert chunk.n_tokens <= 200
        assert len(embedder.tokenizer(chunk.text)["input_ids"]) <= embedder.max_seq_length
    first, second = [c for c in chunks if c.doc_id == docs[0].id][:2]
    assert first.text[-30:] in second.text  # the overlap repeats the end of the previous chunk


def test_chunking_rejects_bad_overlap(embedder, corpus):
    with pytest.raises(ValueError, match="overlap"):
        rag.chunk_document(corpus[0][0], embedder.tokenizer, chunk_tokens=32, overlap=32)


def test_whole_documents_exceed_the_embedder_window(embedder, corpus):
    whole = rag.whole_documents(corpus[0], embedder.tokenizer)
    assert any(c.n_tokens > embedder.max_seq_length for c in whole)


def test_retrieval_beats_the_keyword_baseline_and_reaches_the_target(vector_index, corpus):
    questions = rag.load_questions()
    assert len(questions) >= 60
    table = rag.evaluate_retrieval({"MiniLM": vector_index, "BM25": rag.KeywordIndex(corpus[1])}, questions)
    assert table.loc["MiniLM", "recall@5"] >= 0.9
    assert table.loc["MiniLM", "recall@5"] > table.loc["BM25", "recall@5"]
    assert table.loc["MiniLM", "MRR"] > table.loc["BM25", "MRR"]


def test_index_persists_and_reloads(vector_index, embedder, tmp_path):
    vector_index.save(tmp_path / "index")
    again = rag.VectorIndex.load(tmp_path / "index", embedder)
    query = rag.load_questions()[0]["question"]
    assert [h.chunk.id for h in again.search(query, 5)] == [h.chunk.id for h in vector_index.search(query, 5)]
    with pytest.raises(FileNotFoundError, match="index.faiss"):
        rag.VectorIndex.load(tmp_path / "missing", embedder)


def test_prompt_fits_the_window_and_cites_sources(vector_index, embedder):
    question = rag.load_questions()[0]["question"]
    hits = vector_index.search(question, 8)
    prompt, used = rag.build_prompt(question, hits, embedder.tokenizer, context_window=600, reserve_tokens=40)
    assert len(embedder.tokenizer(prompt)["input_ids"]) <= 600 - 40
    assert used and all(f"[{cid}]" in prompt for cid in used)
    assert used[0] == hits[0].chunk.id  # best first
    assert len(used) < len(hits)  # not everything fits a 600-token window
    tight, used_tight = rag.build_prompt(question, hits, embedder.tokenizer, context_window=150, reserve_tokens=20)
    assert used_tight == [hits[0].chunk.id] and "…" in tight  # the best chunk, cut to fit
    assert len(embedder.tokenizer(tight)["input_ids"]) <= 150 - 20
    with pytest.raises(ValueError, match="does not fit"):
        rag.build_prompt("word " * 400, hits, embedder.tokenizer, context_window=128)


def test_extractive_reader_answers_from_the_sources(vector_index, embedder):
    q = rag.load_questions()[0]
    sentence, source = rag.best_sentence(q["question"], vector_index.search(q["question"], 5), embedder)
    assert sentence and source.split("#")[0] in {h.chunk.doc_id for h in vector_index.search(q["question"], 5)}
