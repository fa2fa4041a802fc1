"""Retrieval augmented generation: chunk, embed, index, retrieve, cite (notebook 08).

An LLM only knows what it saw in training, and only reads what fits in its context window. RAG
puts the relevant passages of *your* documents into the prompt at question time:

1. :func:`chunk_document` cuts documents into overlapping token windows that fit the embedder
   (and, later, the prompt); every chunk keeps an id ``<doc_id>#<n>`` so answers can cite it.
2. :class:`VectorIndex` embeds the chunks and searches them by cosine similarity with FAISS; it
   saves to and loads from a folder. :class:`KeywordIndex` (BM25) is the baseline to beat.
3. :func:`evaluate_retrieval` measures recall@k and MRR on labelled questions.
4. :func:`build_prompt` packs the best chunks into the context window with their source ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

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
        return f"{self.title}\n{self.text}" if with_title and self.title else self.text


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
    path = Path(path or corpus_dir() / "questions.jsonl")
    questions = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                questions.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {lineno}: not valid JSON ({err.msg}).") from None
    return questions


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
        return [Hit(self.chunks[i], float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def __len__(self) -> int:
        return len(self.chunks)

    def save(self, folder: str | Path) -> Path:
        """Write the FAISS index and the chunk table (ids, texts) to ``folder``."""
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        (folder / "meta.json").write_text(json.dumps({"with_titles": self.with_titles, "dimension": self.index.d}))
        with (folder / "chunks.jsonl").open("w", encoding="utf-8") as handle:
            for chunk in self.chunks:
                handle.write(json.dumps(asdict(chunk)) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path, embedder) -> "VectorIndex":
        """Reload a saved index; the embedder must be the one that built it (checked by dimension)."""
        import faiss

        folder = Path(folder)
        if not (folder / "index.faiss").is_file():
            raise FileNotFoundError(f"No saved index in {folder} (expected index.faiss and chunks.jsonl).")
        meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").is_file() else {}
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


def is_relevant(hit: Hit, question: dict) -> bool:
    """A retrieved chunk answers a labelled question when it holds the question's evidence sentence."""
    return hit.chunk.doc_id == question["doc_id"] and " ".join(question["evidence"].split()) in " ".join(hit.chunk.text.split())


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


INSTRUCTION = ("Answer the question using only the sources below. Cite the source id in brackets, "
               "like [case-x#2]. If the sources do not contain the answer, say you don't know.")


def build_prompt(question: str, hits: Sequence[Hit], tokenizer, context_window: int | None = None,
                 reserve_tokens: int = 64) -> tuple[str, list[str]]:
    """An augmented prompt: instruction, retrieved chunks in rank order while they fit, the question.

    ``reserve_tokens`` are kept free for the answer. Chunks are added best first and packing stops at
    the first one that does not fit (a lower-ranked chunk never jumps the queue); if not even the best
    chunk fits, it is cut to the space left. Returns the prompt and the ids of the sources it holds.
    """
    window = context_window or int(tokenizer.model_max_length)
    head, tail = INSTRUCTION + "\n\n", f"\nQuestion: {question}\nAnswer:"

    def length(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    budget = window - reserve_tokens - length(head + tail) - 2  # 2: special tokens the model may add
    if budget <= 0:
        raise ValueError(f"The question alone does not fit a {window}-token context window.")
    blocks, used = [], []
    for hit in hits:
        block = f"[{hit.chunk.id}] {hit.chunk.text.strip()}\n\n"
        cost = length(block)
        if cost > budget:
            if not blocks:  # cut the best chunk to the space there is
                ids = tokenizer(block, add_special_tokens=False)["input_ids"][:max(budget - 2, 1)]
                blocks.append(tokenizer.decode(ids) + " …\n\n")
                used.append(hit.chunk.id)
            break
        blocks.append(block)
        used.append(hit.chunk.id)
        budget -= cost
    return head + "".join(blocks) + tail, used


def best_sentence(question: str, hits: Sequence[Hit], embedder) -> tuple[str, str]:
    """An extractive reader: the retrieved sentence closest in meaning to the question, and its source id.

    Works in every profile (no generator needed) and can only answer with text from the sources.
    """
    candidates = [(s.strip(), h.chunk.id) for h in hits for s in re.split(r"(?<=[.!?])\s+", h.chunk.text)
                  if len(s.split()) >= 4]
    if not candidates:
        return "", ""
    vectors = embedder.encode([question] + [c[0] for c in candidates], normalize_embeddings=True)
    best = int(np.argmax(vectors[1:] @ vectors[0]))
    return candidates[best]
