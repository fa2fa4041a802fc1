"""Checks for notebook 08_retrieval_augmented_generation: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import close, exercise, ok, require


@exercise("08.1")
def check_chunks(chunks, documents, tokenizer, max_tokens: int = 128) -> None:
    """overlapping chunks within the token budget, covering every document, with ids."""
    require(isinstance(chunks, (list, tuple)) and chunks, "`chunks` should be a non-empty list of rag.Chunk.")
    require(all(hasattr(c, "id") and hasattr(c, "doc_id") and hasattr(c, "text") for c in chunks),
             "Each chunk needs an id, a doc_id and a text: use rag.chunk_corpus.")
    covered = {c.doc_id for c in chunks}
    missing = [d.id for d in documents if d.id not in covered]
    require(not missing, f"No chunks for {len(missing)} document(s), e.g. {missing[:2]}: chunk every document.")
    too_long = [c.id for c in chunks if len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) > max_tokens + 2]
    require(not too_long, f"{len(too_long)} chunk(s) are longer than {max_tokens} tokens, e.g. {too_long[:1]}: "
                           "count tokens with the embedder's tokenizer, not words or characters.")
    require(len({c.id for c in chunks}) == len(chunks), "Chunk ids must be unique: answers cite them.")
    by_doc = {d.id: d.text for d in documents}
    pieces = [c for c in chunks if c.doc_id == documents[0].id]
    require(len(pieces) > 1 and pieces[0].text[-20:] in pieces[1].text,
             "Consecutive chunks should overlap, so that a sentence cut at one chunk's end is whole in the next.")
    require(all(c.text in by_doc[c.doc_id] for c in chunks), "Chunk texts should be exact slices of their document.")
    ok(f"{len(chunks)} overlapping chunks of at most {max_tokens} tokens, every document covered.")


@exercise("08.2")
def check_only_embeddings(only_embeddings, questions, index, keyword_index, k: int = 5) -> None:
    """the questions the embedding index answers in its top k and BM25 does not."""
    from labkit import rag

    def found(retriever, q):
        return any(rag.is_relevant(h, q) for h in retriever.search(q["question"], k))

    expected = {q["id"] for q in questions if found(index, q) and not found(keyword_index, q)}
    given = set(only_embeddings or [])
    require(given and all(isinstance(x, str) for x in given), "Give a list of question ids (strings such as 'q07').")
    both = {q["id"] for q in questions if found(index, q) and found(keyword_index, q)}
    require(not (given & both), "Some of these questions are found by BM25 too: keep only those BM25 misses.")
    require(given == expected, f"Not quite: expected {len(expected)} question(s), you have {len(given)}. Look at the top "
                                f"{k} hits of each retriever and keep questions only the embedding index answers.")
    ok(f"{len(expected)} question(s) are found only by meaning, not by keywords.")


@exercise("08.3")
def check_recall_at_k(recall_at_k, retrievers: dict, questions, ks=(1, 5)) -> None:
    """recall@k computed by hand agrees with labkit's evaluation for every retriever."""
    from labkit import rag

    require(callable(recall_at_k), "Define `recall_at_k(retriever, questions, k)`.")
    table = rag.evaluate_retrieval(retrievers, questions, ks=ks)
    for name, retriever in retrievers.items():
        for k in ks:
            got = recall_at_k(retriever, questions, k)
            expected = table.loc[name, f"recall@{k}"]
            require(got is not None and close(got, expected, 1e-9),
                     f"recall@{k} for {name!r}: got {got}, expected {expected:.3f}. Count a question once if ANY of "
                     "its top-k chunks is relevant, then divide by the number of questions.")
    ok("Your recall@k matches for every retriever and k.")
