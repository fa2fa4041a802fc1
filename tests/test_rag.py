"""Retrieval and grounded answers: chunking, the index, evaluation, source packing, the gold-fact metric,
the paired comparison, and the same pipeline built with LangChain (offline, on the kit's own models)."""

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


@pytest.fixture(scope="module")
def questions():
    return rag.load_questions()


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


def test_title_heads_every_chunk_once(corpus):
    _, chunks = corpus
    first, later = chunks[0], chunks[1]
    assert first.embedding_text().count(first.title) == 1  # the first chunk starts with the title already
    assert later.embedding_text().startswith(later.title + "\n")
    assert later.embedding_text(with_title=False) == later.text


def test_whole_documents_exceed_the_embedder_window(embedder, corpus):
    whole = rag.whole_documents(corpus[0], embedder.tokenizer)
    assert any(c.n_tokens > embedder.max_seq_length for c in whole)


def test_retrieval_beats_the_keyword_baseline_and_reaches_the_target(vector_index, corpus, questions):
    assert len(questions) >= 60
    table = rag.evaluate_retrieval({"MiniLM": vector_index, "BM25": rag.KeywordIndex(corpus[1])}, questions)
    assert table.loc["MiniLM", "recall@5"] >= 0.9
    assert table.loc["MiniLM", "recall@5"] > table.loc["BM25", "recall@5"]
    assert table.loc["MiniLM", "MRR"] > table.loc["BM25", "MRR"]


def test_index_persists_and_reloads(vector_index, embedder, questions, tmp_path):
    vector_index.save(tmp_path / "index")
    again = rag.VectorIndex.load(tmp_path / "index", embedder)
    query = questions[0]["question"]
    assert [h.chunk.id for h in again.search(query, 5)] == [h.chunk.id for h in vector_index.search(query, 5)]
    with pytest.raises(FileNotFoundError, match="index.faiss"):
        rag.VectorIndex.load(tmp_path / "missing", embedder)


def test_question_subset_is_fixed_and_spread():
    qs = [{"id": f"q{i:02d}"} for i in range(1, 74)]
    sub = rag.question_subset(qs, 24)
    assert [q["id"] for q in sub[:3]] == ["q01", "q04", "q07"] and len(sub) == 24
    assert rag.question_subset(qs, 73) == qs and rag.question_subset(qs, 100) == qs
    with pytest.raises(ValueError):
        rag.question_subset(qs, 0)


# --- packing sources into a token budget --------------------------------------------------------------------------

def n_tokens(tokenizer, text):
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_pack_sources_numbers_best_first_within_budget(vector_index, embedder, questions):
    tok = embedder.tokenizer
    hits = vector_index.search(questions[0]["question"], 6)
    text, ids = rag.pack_sources(hits, tok, 600)
    assert n_tokens(tok, text) <= 600
    assert ids == [h.chunk.id for h in hits[:len(ids)]] and 1 < len(ids) < len(hits)  # best first, not all fit
    assert text.startswith("[1] ") and hits[0].chunk.title in text.splitlines()[0]
    assert all(f"[{n}] " in text for n in range(1, len(ids) + 1))
    everything, all_ids = rag.pack_sources(hits, tok, 100_000)
    assert len(all_ids) == len(hits) and everything.startswith(text)


def test_pack_sources_never_lets_a_later_chunk_jump_the_queue(vector_index, embedder, questions):
    tok = embedder.tokenizer
    hits = vector_index.search(questions[0]["question"], 3)
    short = rag.Hit(rag.Chunk(id="tiny#0", doc_id="tiny", text="Short.", n_tokens=2), 0.0)
    long_text = " ".join(["word"] * 400)
    long = rag.Hit(rag.Chunk(id="long#0", doc_id="long", text=long_text, n_tokens=400), 0.0)
    budget = n_tokens(tok, rag.source_block(1, hits[0].chunk)) + 20
    text, ids = rag.pack_sources([hits[0], long, short], tok, budget)
    assert ids == [hits[0].chunk.id]  # "short" would fit but comes after a chunk that does not


def test_pack_sources_cuts_the_best_chunk_when_nothing_fits(vector_index, embedder, questions):
    tok = embedder.tokenizer
    hits = vector_index.search(questions[0]["question"], 3)
    text, ids = rag.pack_sources(hits, tok, 40)
    assert ids == [hits[0].chunk.id] and text.rstrip().endswith("…") and n_tokens(tok, text) <= 40
    with pytest.raises(ValueError, match="budget"):
        rag.pack_sources(hits, tok, 3)


def test_answer_prompts_use_the_chat_template():
    from transformers import AutoTokenizer

    from labkit.models import role_source

    tok = AutoTokenizer.from_pretrained(role_source("llm"))
    closed = rag.answer_prompt(tok, "Who paid?")
    grounded = rag.answer_prompt(tok, "Who paid?", "[1] Case file: X\nThe bank paid.\n\n")
    assert closed.endswith("<|im_start|>assistant\n") and grounded.endswith("<|im_start|>assistant\n")
    assert rag.SYSTEM_CLOSED_BOOK in closed and "Sources:" not in closed
    assert rag.SYSTEM_WITH_SOURCES in grounded and "[1] Case file: X\nThe bank paid.\n\nQuestion: Who paid?" in grounded


def test_cited_numbers():
    assert rag.cited_numbers("Paid [2]. Also [1, 3] and [2][4].") == [2, 1, 3, 4]
    assert rag.cited_numbers("No citation, just [sic] text.") == []
    assert rag.cited_numbers(None) == []


# --- the gold-fact metric -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, normal", [
    ("£412,000", "412000"), ("US$4,218,000", "4218000"), ("$1.05 million", "1050000"), ("£1,050,000!", "1050000"),
    ("Twenty-five per cent", "25 percent"), ("4%", "4 percent"), ("4 percent", "4 percent"),
    ("10 a.m.", "10am"), ("10:00 am", "10am"), ("the 25th birthday", "the 25 birthday"), ("forty hours", "40 hours"),
    ("Seventy-two hour deadline", "72 hour deadline"), ("a ten-year average.", "a 10 year average"),
    ("It's 1.5 metres", "it s 1.5 metres"), ("  MANY   spaces ", "many spaces"), (None, ""), (42, ""),
])
def test_normalize_answer(raw, normal):
    assert rag.normalize_answer(raw) == normal


def test_contains_fact_matches_whole_normalised_words():
    assert rag.contains_fact("Harbor Freight won £412,000 [1].", ["£412,000"])
    assert rag.contains_fact("They got 412000 pounds", "£412,000")
    assert not rag.contains_fact("They got £41,200", "£412,000")
    assert rag.contains_fact("70% of its costs", "70 per cent")
    assert not rag.contains_fact("at 14 per cent", "4 per cent")
    assert rag.contains_fact("announced 9 days before", "nine days")
    assert not rag.contains_fact("announced nineteen days before", "nine days")
    assert rag.contains_fact("relied on aerial photos", ["aerial photographs", "aerial photos"])
    assert not rag.contains_fact("", "£412,000") and not rag.contains_fact(None, ["£412,000"])
    with pytest.raises(ValueError, match="Gold facts"):
        rag.contains_fact("anything", [])
    with pytest.raises(ValueError, match="Gold facts"):
        rag.contains_fact("anything", ["!!"])


def test_every_question_has_gold_facts_its_evidence_and_reference_answer_state(questions):
    for q in questions:
        assert q["gold"] and rag.contains_fact(q["evidence"], q["gold"]), q["id"]
        assert rag.contains_fact(q["answer"], q["gold"]), q["id"]
        assert not rag.contains_fact(q["question"], q["gold"]), q["id"]  # repeating the question is not an answer


# --- comparing two answer sets on the same questions ----------------------------------------------------------------

def test_paired_difference_counts_and_interval():
    with_r = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1] * 3
    without = [0, 1, 0, 0, 0, 0, 1, 0, 0, 0] * 3
    result = rag.paired_difference(with_r, without, seed=0)
    assert result["n"] == 30 and result["with"] == pytest.approx(0.7) and result["without"] == pytest.approx(0.2)
    assert result["difference"] == pytest.approx(0.5)
    assert result["only_with"] == 15 and result["only_without"] == 0
    assert 0 < result["ci_low"] < 0.5 < result["ci_high"] <= 1
    assert rag.paired_difference(with_r, without, seed=0) == result  # seeded


def test_pairing_narrows_the_interval_when_questions_differ_in_difficulty():
    import numpy as np

    from labkit.metrics import bootstrap_ci

    rng = np.random.default_rng(1)
    easy = rng.random(60) < 0.5  # half the questions are easy: both systems tend to get them right
    a = (easy | (rng.random(60) < 0.3)).astype(float)
    b = (easy & (rng.random(60) < 0.9)).astype(float)
    paired = rag.paired_difference(a, b, seed=0)
    _, a_lo, a_hi = bootstrap_ci(a, seed=0)
    _, b_lo, b_hi = bootstrap_ci(b, seed=1)
    assert paired["ci_high"] - paired["ci_low"] < (a_hi - a_lo) + (b_hi - b_lo)


def test_paired_difference_rejects_unpaired_input():
    with pytest.raises(ValueError, match="equally long"):
        rag.paired_difference([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="equally long"):
        rag.paired_difference([], [])


# --- the same pipeline with LangChain, offline ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_corpus(embedder):
    docs = rag.load_documents()[:3]
    chunks = rag.chunk_corpus(docs, embedder.tokenizer, chunk_tokens=128, overlap=32)
    qs = [q for q in rag.load_questions() if q["doc_id"] in {d.id for d in docs}]
    return chunks, rag.VectorIndex(embedder, chunks), qs


def test_langchain_store_retrieves_what_labkit_retrieves(small_corpus):
    chunks, index, qs = small_corpus
    store = rag.langchain_vector_store(chunks)
    retriever = store.as_retriever(search_kwargs={"k": 3})
    for q in qs:
        docs = retriever.invoke(q["question"])
        assert [d.id for d in docs] == [h.chunk.id for h in index.search(q["question"], 3)]
        assert docs[0].metadata["doc_id"] == docs[0].id.split("#")[0]


def test_langchain_chain_wires_retrieval_prompt_and_parser(small_corpus, embedder):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import AIMessage, HumanMessage

    chunks, index, qs = small_corpus
    retriever = rag.langchain_vector_store(chunks).as_retriever(search_kwargs={"k": 2})
    chain = rag.langchain_rag_chain(retriever, FakeListChatModel(responses=["It was £412,000 [1]."] * 2))
    out = chain.invoke({"question": qs[1]["question"]})
    assert set(out) == {"question", "docs", "sources", "answer"} and out["answer"] == "It was £412,000 [1]."
    text, ids = rag.pack_sources(index.search(qs[1]["question"], 2), embedder.tokenizer, 100_000)
    assert out["sources"] == text and [d.id for d in out["docs"]] == ids
    history = [HumanMessage("First question?"), AIMessage("First answer.")]
    messages = rag.langchain_prompt().invoke({**out, "history": history}).to_messages()
    assert [m.type for m in messages] == ["system", "human", "ai", "human"]
    assert messages[-1].content == f"Sources:\n{text}Question: {qs[1]['question']}"


@pytest.mark.slow
def test_langchain_chain_on_the_local_llm_matches_labkit(small_corpus):
    from langchain_core.messages import convert_to_openai_messages

    from labkit import generation
    from labkit.models import load_llm

    chunks, index, qs = small_corpus
    llm, tok = load_llm()
    retriever = rag.langchain_vector_store(chunks).as_retriever(search_kwargs={"k": 2})
    chain = rag.langchain_rag_chain(retriever, rag.langchain_chat_model(llm, tok, max_new_tokens=12))
    q = qs[0]["question"]
    out = chain.invoke({"question": q})
    sources, _ = rag.pack_sources(index.search(q, 2), tok, 100_000)
    prompt = rag.answer_prompt(tok, q, sources)
    messages = convert_to_openai_messages(rag.langchain_prompt().invoke(out).to_messages())
    assert tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == prompt
    ours = generation.generate(llm, tok, prompt, generation.generation_config("greedy", max_new_tokens=12))
    assert isinstance(out["answer"], str) and out["answer"].strip() == ours  # greedy: same model, same prompt
    assert prompt not in out["answer"]  # return_full_text=False: the pipeline returns only the new text
