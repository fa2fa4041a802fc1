"""Transformers from the inside: tokenizers, attention by hand, the three architectures and their objectives.

Notebook 01_pretraining uses every function here. Each one does one step of the lesson
on real models, so the notebook can compare what it computes by hand with what the model computes:

* tokenization - :func:`tokens_per_word`, :func:`tokenization_table`;
* embeddings and attention - :func:`load_encoder` (MiniLM with attention weights exposed),
  :func:`bert_head_projections`, :func:`llama_head_projections`, :func:`attention` (softmax(QKᵀ/√d)V),
  :func:`plot_attention`, :func:`attention_parameters` / :func:`measured_attention_parameters`;
* the three pre-training objectives - masked tokens (:func:`load_masked_lm`, :func:`fill_mask`,
  :func:`masked_token_accuracy`), the next token (:func:`next_token_table`, :func:`token_losses`),
  span corruption (:func:`choose_spans`, :func:`corrupt_spans`, :func:`fill_spans`);
* compute-optimal scaling - :func:`chinchilla_frontier`.

The module is not called ``transformers`` on purpose: that name belongs to Hugging Face's library.
"""

from __future__ import annotations

import inspect
import math
import random
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from labkit import cache, config

# --- models --------------------------------------------------------------------------------------------------


def encoder_source() -> str:
    """Where the encoder-only model (all-MiniLM-L6-v2, the ``embedder`` role) loads from: ``models.source``."""
    from labkit import models

    return models.source("embedder")


def load_encoder(device=None):
    """all-MiniLM-L6-v2 as a plain ``BertModel`` and its WordPiece tokenizer, with attention weights exposed.

    sentence-transformers wraps the same weights for embeddings (``models.load_embedder``); here the
    notebook needs the transformer itself. ``attn_implementation="eager"`` computes attention as the
    formula reads, so ``output_attentions=True`` returns the weights (the fused kernels do not).
    """
    from transformers import AutoModel, AutoTokenizer

    from labkit import models

    def load(source):
        return AutoModel.from_pretrained(source, attn_implementation="eager"), AutoTokenizer.from_pretrained(source)

    model, tokenizer = models.load_role("embedder", load)
    return model.to(device or config.device()).eval(), tokenizer


# --- tokenization --------------------------------------------------------------------------------------------


def tokens_per_word(tokenizer, texts: Sequence[str] | str) -> float:
    """How many tokens a tokenizer spends per whitespace-separated word: total tokens / total words.

    Special tokens the tokenizer adds around a text ([CLS], [SEP], </s>) are not counted: they cost the
    same whatever the text. A lower number means the vocabulary fits the text better; the context
    window and the price of an API call are counted in tokens, not words. (Exercise 01.1's answer.)
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    words = sum(len(text.split()) for text in texts)
    if words == 0:
        raise ValueError("tokens_per_word needs at least one word of text")
    tokens = sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False).input_ids)
    return tokens / words


def tokenization_table(tokenizers: dict, text: str) -> pd.DataFrame:
    """How each tokenizer splits ``text``: its pieces, their number and the tokenizer's vocabulary size."""
    rows = []
    for name, tokenizer in tokenizers.items():
        ids = tokenizer(text, add_special_tokens=False).input_ids
        pieces = tokenizer.convert_ids_to_tokens(ids)
        rows.append({"tokenizer": name, "vocabulary": len(tokenizer), "tokens": len(ids),
                     "round trip": tokenizer.decode(ids) == text, "pieces": " | ".join(pieces)})
    return pd.DataFrame(rows).set_index("tokenizer")


# --- attention -----------------------------------------------------------------------------------------------


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False):
    """Scaled dot-product attention: ``(softmax(q kᵀ / √d) v, weights)``. (Exercise 01.2's answer.)

    ``q`` is (..., queries, d), ``k`` and ``v`` are (..., keys, d). Row i of the weights says how much
    query i takes from each key; every row sums to 1. Dividing by √d keeps the scores' spread the same
    whatever the head size, so the softmax does not saturate. ``causal=True`` lets query i see keys
    0..i only (a decoder): later keys get weight exactly 0.
    """
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    if causal:
        n_q, n_k = scores.shape[-2], scores.shape[-1]
        future = torch.ones(n_q, n_k, dtype=torch.bool, device=scores.device).triu(n_k - n_q + 1)
        scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def bert_head_projections(layer, hidden: torch.Tensor, head: int | None = None):
    """The queries, keys and values one BERT layer computes from its input ``hidden`` (tokens, width).

    Each is (heads, tokens, head size), or (tokens, head size) for one ``head``: the layer's three
    linear maps, split into heads - exactly what the layer's self-attention starts with.
    """
    attn = layer.attention.self
    n_heads, size = attn.num_attention_heads, attn.attention_head_size
    split = [m(hidden).reshape(hidden.shape[0], n_heads, size).transpose(0, 1)
             for m in (attn.query, attn.key, attn.value)]
    return tuple(t[head] for t in split) if head is not None else tuple(split)


def llama_head_projections(model, input_ids: torch.Tensor, layer: int = 0):
    """Queries, keys and values of one layer of a Llama-style decoder (SmolLM2, Qwen2.5), rotary positions applied.

    Returns q (heads, tokens, d) and k, v (key/value heads, tokens, d) for a single sequence. With
    grouped-query attention there are fewer key/value heads than query heads: query head h reads
    key/value head ``h // (heads // kv_heads)``. Only layer 0 is supported (its input is the embeddings).
    """
    if layer != 0:
        raise ValueError("llama_head_projections computes layer 0 only (its input is the token embeddings)")
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    decoder = model.model
    block = decoder.layers[layer]
    ids = input_ids.reshape(1, -1)
    n = ids.shape[1]
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    hidden = block.input_layernorm(decoder.embed_tokens(ids))
    cos, sin = decoder.rotary_emb(hidden, torch.arange(n, device=ids.device)[None])
    attn = block.self_attn
    q = attn.q_proj(hidden).view(1, n, -1, head_dim).transpose(1, 2)
    k = attn.k_proj(hidden).view(1, n, -1, head_dim).transpose(1, 2)
    v = attn.v_proj(hidden).view(1, n, -1, head_dim).transpose(1, 2)
    q, k = apply_rotary_pos_emb(q, k, cos, sin)
    return q[0], k[0], v[0]


def plot_attention(weights, tokens: Sequence[str], ax=None, title: str = "attention weights"):
    """A heat map of attention weights: one row per query token, one column per key token."""
    import matplotlib.pyplot as plt

    weights = torch.as_tensor(weights).detach().float().cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * len(tokens) + 2, 0.45 * len(tokens) + 1.5))
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=max(float(weights.max()), 1e-9))
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def attention_parameters(hidden_size: int, num_heads: int, head_dim: int, num_kv_heads: int | None = None,
                         bias: bool = True) -> int:
    """Parameters of one self-attention block's four projections (query, key, value, output). (Exercise 01.3.)

    Queries take ``hidden_size -> num_heads·head_dim``; keys and values ``hidden_size -> num_kv_heads·head_dim``
    (fewer with grouped-query attention; ``None`` means as many as query heads); the output projection maps
    ``num_heads·head_dim -> hidden_size``. Each has a bias of its output size when ``bias`` is true.
    """
    kv = num_heads if num_kv_heads is None else num_kv_heads
    q_out, kv_out = num_heads * head_dim, kv * head_dim
    weights = hidden_size * q_out + 2 * hidden_size * kv_out + q_out * hidden_size
    biases = (q_out + 2 * kv_out + hidden_size) if bias else 0
    return weights + biases


def attention_shape(model_config) -> dict:
    """The arguments of :func:`attention_parameters` read from a BERT, Llama or T5 configuration.

    Qwen2 (the course profile's LLM) is read too, with ``bias=True``: its q, k and v projections have biases
    but its output projection has none, so the formula counts ``hidden_size`` parameters more than the model has.
    """
    kind = model_config.model_type
    if kind in ("bert", "roberta"):
        heads = model_config.num_attention_heads
        return {"hidden_size": model_config.hidden_size, "num_heads": heads,
                "head_dim": model_config.hidden_size // heads, "num_kv_heads": heads, "bias": True}
    if kind in ("llama", "qwen2", "mistral"):
        heads = model_config.num_attention_heads
        head_dim = getattr(model_config, "head_dim", None) or model_config.hidden_size // heads
        bias = bool(getattr(model_config, "attention_bias", kind == "qwen2"))
        return {"hidden_size": model_config.hidden_size, "num_heads": heads, "head_dim": head_dim,
                "num_kv_heads": model_config.num_key_value_heads, "bias": bias}
    if kind == "t5":
        return {"hidden_size": model_config.d_model, "num_heads": model_config.num_heads,
                "head_dim": model_config.d_kv, "num_kv_heads": model_config.num_heads, "bias": False}
    raise ValueError(f"attention_shape knows BERT, Llama and T5 configurations, not {kind!r}")


# (model type, the first self-attention block's projections: query, key, value, output)
_PROJECTIONS = {
    "bert": ("encoder.layer.0.attention.self.query", "encoder.layer.0.attention.self.key",
             "encoder.layer.0.attention.self.value", "encoder.layer.0.attention.output.dense"),
    "llama": tuple(f"model.layers.0.self_attn.{p}_proj" for p in "qkvo"),
    "t5": tuple(f"encoder.block.0.layer.0.SelfAttention.{p}" for p in "qkvo"),
}


def measured_attention_parameters(model) -> int:
    """Count the parameters of the first self-attention block's four projections in a loaded model."""
    kind = model.config.model_type
    names = _PROJECTIONS.get("llama" if kind in ("llama", "qwen2", "mistral") else kind)
    if names is None:
        raise ValueError(f"measured_attention_parameters knows BERT, Llama and T5 models, not {kind!r}")
    modules = dict(model.named_modules())
    prefix = "bert." if kind == "bert" and "bert.encoder.layer.0.attention.self.query" in modules else ""
    return sum(p.numel() for name in names for p in modules[prefix + name].parameters())


# --- encoder-only: masked-token prediction -------------------------------------------------------------------

MASKED_LM = {"steps": 150, "batch_size": 16, "lr": 2e-4, "head_lr": 3e-3, "warmup": 10, "max_length": 40,
             "mlm_probability": 0.15, "seed": 0}


def _train_turns(split: str = "train") -> list[str]:
    """The dialogue turns of one split without their speaker tags: plain sentences for a WordPiece model."""
    from labkit.data import read_records

    name = {"train": "dialogsum.train.jsonl", "test": "dialogsum.test.jsonl"}[split]
    records = read_records(config.data_dir() / "dialogsum" / name, required=("dialogue",), what="dialogue file",
                           regenerate="python data/dialogsum/generate.py")
    return [turn.split(": ", 1)[-1] for rec in records for turn in rec["dialogue"].split("\n") if turn.strip()]


def _masked_logits(model, batch):
    """The MLM head's logits at the masked positions only (the other positions are not scored: cheaper)."""
    hidden = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    where = batch["labels"] != -100
    return model.cls(hidden[where]), batch["labels"][where]


def _build_masked_lm(folder: Path) -> dict:
    """MiniLM + a new MLM head, trained briefly with BERT's masked-language-modelling objective on the dialogues.

    The sentence-transformers release of all-MiniLM-L6-v2 keeps the encoder but not an MLM head, and its
    last layers were tuned for sentence embeddings. So the whole encoder and a fresh head (tied to the
    word embeddings, as in BERT) are trained for a few steps on the training dialogues' turns, masking 15%
    of the tokens with BERT's 80/10/10 rule (transformers' DataCollatorForLanguageModeling).
    """
    import transformers
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    from labkit.tiny import minilm_path

    start = time.perf_counter()
    settings = MASKED_LM
    source = str(minilm_path())
    tokenizer = AutoTokenizer.from_pretrained(source)
    torch.manual_seed(settings["seed"])
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "head newly initialised": yes, that is the point
    try:
        model = AutoModelForMaskedLM.from_pretrained(source)
    finally:
        transformers.logging.set_verbosity(verbosity)
    head = [p for n, p in model.named_parameters() if n.startswith("cls.") and p.requires_grad
            and p is not model.get_input_embeddings().weight]
    body = [p for n, p in model.named_parameters() if not n.startswith("cls.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": settings["lr"]},
                                   {"params": head, "lr": settings["head_lr"]}], weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / settings["warmup"]))
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=settings["mlm_probability"],
                                               seed=settings["seed"])
    losses = []
    model.train()
    with torch.enable_grad():  # also when the caller (a notebook) switched gradients off
        _train_masked_lm(model, tokenizer, optimizer, schedule, collator, settings, losses)
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {"seconds": round(time.perf_counter() - start, 1), "losses": losses, "settings": settings,
            "base": "all-MiniLM-L6-v2"}


def _train_masked_lm(model, tokenizer, optimizer, schedule, collator, settings: dict, losses: list) -> None:
    from tqdm.auto import tqdm

    turns = _train_turns("train")
    rng = random.Random(settings["seed"])
    for _ in tqdm(range(settings["steps"]), desc="masked-LM training of MiniLM (once, then cached)"):
        texts = rng.sample(turns, settings["batch_size"])
        batch = collator([tokenizer(t, truncation=True, max_length=settings["max_length"]) for t in texts])
        logits, labels = _masked_logits(model, batch)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(round(loss.item(), 4))


def masked_lm_path() -> Path:
    """The folder of the tiny profile's masked LM, built once (about a minute on 2 cores) and cached."""
    key = cache.content_hash(config.data_dir() / "dialogsum" / "dialogsum.train.jsonl", MASKED_LM,
                             *(inspect.getsource(f) for f in (_build_masked_lm, _train_masked_lm, _masked_logits,
                                                              _train_turns)))
    return cache.artifact("minilm-mlm", key, _build_masked_lm)


def load_masked_lm(device=None):
    """The encoder-only model with a masked-language-modelling head, and its tokenizer, in eval mode.

    ``course``: BERT-base (uncased) with the MLM head it was pre-trained with. ``tiny``: all-MiniLM-L6-v2
    (the same WordPiece vocabulary) with a new MLM head, trained with the same objective for a few steps on
    the project's dialogues (:func:`_build_masked_lm`), cached after the first build.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from labkit import models

    def load(source):
        return AutoModelForMaskedLM.from_pretrained(source), AutoTokenizer.from_pretrained(source)

    model, tokenizer = models.load_role("masked_lm", load)
    return model.to(device or config.device()).eval(), tokenizer


@torch.inference_mode()
def fill_mask(model, tokenizer, text: str, k: int = 5) -> pd.DataFrame:
    """The ``k`` most likely tokens for the one ``[MASK]`` in ``text``, with their probabilities."""
    text = text.replace("[MASK]", tokenizer.mask_token)
    enc = tokenizer(text, return_tensors="pt").to(next(model.parameters()).device)
    where = (enc.input_ids[0] == tokenizer.mask_token_id).nonzero().flatten()
    if len(where) != 1:
        raise ValueError(f"fill_mask needs exactly one {tokenizer.mask_token} in the text, found {len(where)}")
    probs = model(**enc).logits[0, where[0]].float().softmax(-1)
    top = probs.topk(k)
    return pd.DataFrame({"token": tokenizer.convert_ids_to_tokens(top.indices.tolist()),
                         "probability": top.values.tolist()}, index=pd.RangeIndex(1, k + 1, name="rank"))


def _maskable(tokenizer, ids: list[int]) -> list[int]:
    """Positions holding a word piece made of letters (not punctuation, numbers or special tokens)."""
    special = set(tokenizer.all_special_ids)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    return [i for i, (token, piece) in enumerate(zip(ids, pieces, strict=True))
            if token not in special and piece.lstrip("#▁Ġ").isalpha()]


@torch.inference_mode()
def masked_token_accuracy(model, tokenizer, texts: Sequence[str], seed: int = 0, context: str = "both",
                          batch_size: int = 32) -> dict:
    """Mask one word piece per text and count how often the model's top guess (and top 5) is the hidden one.

    ``context="both"`` shows the model the whole text, as in pre-training; ``"left"`` cuts the text right
    after the mask, so only the words before it are left - what a left-to-right model would know there.
    The same positions are masked in both cases (chosen with ``seed``). A text without a word piece made of letters
    is skipped; when no text has one, the accuracies are NaN and a one-line note says why (nothing was measured).
    """
    if tokenizer.mask_token_id is None:
        raise ValueError(f"{type(tokenizer).__name__} has no mask token: masked_token_accuracy needs the tokenizer "
                         "of a masked language model (BERT, MiniLM, RoBERTa).")
    if context not in ("both", "left"):
        raise ValueError("context must be 'both' or 'left'")
    rng = random.Random(seed)
    rows = []
    for text in texts:
        ids = tokenizer(text, truncation=True, max_length=128).input_ids
        options = _maskable(tokenizer, ids)
        if not options:
            continue
        pos = rng.choice(options)
        masked = ids[:pos] + [tokenizer.mask_token_id] + ids[pos + 1:]
        if context == "left":
            masked = masked[:pos + 1] + [tokenizer.sep_token_id]
        rows.append((masked, pos, ids[pos]))
    device = next(model.parameters()).device
    hits1 = hits5 = 0
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        width = max(len(r[0]) for r in chunk)
        input_ids = torch.tensor([r[0] + [tokenizer.pad_token_id] * (width - len(r[0])) for r in chunk])
        mask = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in chunk])
        logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
        top = logits[torch.arange(len(chunk)), torch.tensor([r[1] for r in chunk])].topk(5).indices.cpu()
        truth = torch.tensor([r[2] for r in chunk])
        hits1 += int((top[:, 0] == truth).sum())
        hits5 += int((top == truth[:, None]).any(-1).sum())
    n = len(rows)
    if n == 0:
        print(f"labkit: none of the {len(texts)} texts has a word piece of letters to mask, so the masked-token "
              "accuracy is not defined (NaN).")
        return {"context": context, "masked": 0, "top1": float("nan"), "top5": float("nan")}
    return {"context": context, "masked": n, "top1": hits1 / n, "top5": hits5 / n}


def most_frequent_piece_accuracy(tokenizer, train_texts: Sequence[str], texts: Sequence[str], seed: int = 0) -> float:
    """The baseline for :func:`masked_token_accuracy`: always guess the commonest word piece of the training text.

    NaN, with a one-line note, when there is nothing to guess from or nothing to score.
    """
    from collections import Counter

    counts = Counter()
    for text in train_texts:
        ids = tokenizer(text, truncation=True, max_length=128).input_ids
        counts.update(ids[i] for i in _maskable(tokenizer, ids))
    if not counts:
        print("labkit: the training texts hold no word piece of letters, so the most-frequent-piece baseline is "
              "not defined (NaN).")
        return float("nan")
    guess = counts.most_common(1)[0][0]
    rng = random.Random(seed)
    hits = n = 0
    for text in texts:
        ids = tokenizer(text, truncation=True, max_length=128).input_ids
        options = _maskable(tokenizer, ids)
        if options:
            n += 1
            hits += ids[rng.choice(options)] == guess
    if n == 0:
        print(f"labkit: none of the {len(texts)} texts has a word piece of letters to mask, so the baseline is not "
              "defined (NaN).")
        return float("nan")
    return hits / n


# --- decoder-only: next-token prediction ---------------------------------------------------------------------


def next_token_table(model, tokenizer, prompt: str, k: int = 10) -> pd.DataFrame:
    """The ``k`` most likely next tokens after ``prompt`` for a causal LM, with probabilities and their running sum."""
    from labkit.generation import next_token_probs

    probs = next_token_probs(model, tokenizer, prompt)
    top = probs.topk(k)
    table = pd.DataFrame({"token": [repr(tokenizer.decode([i])) for i in top.indices.tolist()],
                          "probability": top.values.tolist()}, index=pd.RangeIndex(1, k + 1, name="rank"))
    table["cumulative"] = table["probability"].cumsum()
    return table


@torch.inference_mode()
def token_losses(model, tokenizer, text: str) -> tuple[pd.DataFrame, float]:
    """Each token's probability and negative log-likelihood given the tokens before it, and the model's own loss.

    The first token has nothing before it and is not scored. The mean of the ``nll`` column is the
    causal-LM loss; transformers computes the same number when given ``labels=input_ids``.
    """
    device = next(model.parameters()).device
    ids = tokenizer(text, return_tensors="pt").input_ids.to(device)
    out = model(input_ids=ids, labels=ids)
    log_probs = torch.log_softmax(out.logits[0, :-1].float(), dim=-1)
    targets = ids[0, 1:]
    nll = -log_probs[torch.arange(len(targets)), targets]
    table = pd.DataFrame({"token": [repr(tokenizer.decode([t])) for t in targets.tolist()],
                          "probability": nll.neg().exp().tolist(), "nll": nll.tolist()},
                         index=pd.RangeIndex(1, len(targets) + 1, name="position"))
    return table, float(out.loss)


# --- encoder-decoder: span corruption ------------------------------------------------------------------------

SENTINEL = "<extra_id_{}>"
FILL_SPANS_COLUMNS = ("dialogue", "sentinel", "hidden words", "sentinel in output", "model wrote", "exact")


def choose_spans(words: Sequence[str], rng: random.Random, noise: float = 0.15,
                 mean_span: int = 3) -> list[tuple[int, int]]:
    """Which words to hide, as (start, length) spans: the same random draw as the tiny T5's pre-training.

    About ``noise`` of the words are hidden in spans of about ``mean_span`` words, at random places
    (``labkit.tiny._span_corrupt`` makes the same choices with the same random generator).
    """
    from labkit.tiny import N_SENTINELS

    n_spans = max(1, min(N_SENTINELS - 1, round(len(words) * noise / mean_span)))
    starts = sorted(rng.sample(range(max(1, len(words) - mean_span)), n_spans))
    spans, pos = [], 0
    for start in starts:
        if start < pos:
            continue
        length = max(1, min(len(words) - start, round(rng.expovariate(1 / mean_span)) or 1))
        spans.append((start, length))
        pos = start + length
    return spans


def corrupt_spans(words: Sequence[str], spans: Sequence[tuple[int, int]]) -> tuple[str, str]:
    """T5's span corruption: the encoder's input and the decoder's target for hiding ``spans``. (Exercise 01.4.)

    Span k becomes the sentinel ``<extra_id_k>`` in the input; the target lists each sentinel followed by
    the words it hides, and ends with one more sentinel. Words are joined with single spaces.
    """
    source, target, pos = [], [], 0
    for k, (start, length) in enumerate(spans):
        source += list(words[pos:start]) + [SENTINEL.format(k)]
        target += [SENTINEL.format(k)] + list(words[start:start + length])
        pos = start + length
    source += list(words[pos:])
    return " ".join(source), " ".join(target + [SENTINEL.format(len(spans))])


def dialogue_words(dialogue: str) -> list[str]:
    """A dialogue as the tiny T5's pre-training saw it: words split on spaces, each line break a word of its own."""
    return dialogue.replace("\n", " \n ").split(" ")


def split_sentinels(text: str) -> dict[int, str]:
    """``"<extra_id_0> a b <extra_id_1> c"`` -> ``{0: "a b", 1: "c"}`` (whitespace normalised)."""
    parts = re.split(r"<extra_id_(\d+)>", text)
    return {int(k): " ".join(span.split()) for k, span in zip(parts[1::2], parts[2::2], strict=True)}


@torch.inference_mode()
def fill_spans(model, tokenizer, dialogues: Sequence[str], seed: int = 0, max_new_tokens: int = 64,
               corrupt=None) -> pd.DataFrame:
    """Corrupt each dialogue's spans, let the encoder-decoder fill them greedily, and compare span by span.

    One row per hidden span: the words hidden, whether the model's output contains that sentinel, the words it
    wrote after it (empty when it wrote none or skipped the sentinel), and whether they match exactly (ignoring
    spacing). Spans that hid only a line break have no words to recover and are left out. ``corrupt(words, spans)``
    formats the input and target (default :func:`corrupt_spans`; the notebook passes the learner's own).
    """
    corrupt = corrupt or corrupt_spans
    rng = random.Random(seed)
    examples = []
    for i, dialogue in enumerate(dialogues):
        words = dialogue_words(dialogue)
        spans = choose_spans(words, rng)
        source, target = corrupt(words, spans)
        examples.append((i, source, target))
    device = next(model.parameters()).device
    rows = []
    for start in range(0, len(examples), 16):
        chunk = examples[start:start + 16]
        enc = tokenizer([s for _, s, _ in chunk], return_tensors="pt", padding=True, truncation=True).to(device)
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        texts = tokenizer.batch_decode(out, skip_special_tokens=False)
        for (i, _, target), text in zip(chunk, texts, strict=True):
            for token in (tokenizer.pad_token, tokenizer.eos_token):
                text = text.replace(token, " ")
            predicted, truth = split_sentinels(text), split_sentinels(target)
            for k in sorted(truth)[:-1]:  # the last sentinel only closes the target
                if not truth[k]:  # the span hid only a line break: no words to recover
                    continue
                guess = predicted.get(k, "")
                rows.append({"dialogue": i, "sentinel": SENTINEL.format(k), "hidden words": truth[k],
                             "sentinel in output": k in predicted, "model wrote": guess, "exact": guess == truth[k]})
    if not rows:
        print(f"labkit: the {len(examples)} dialogue(s) gave no hidden span with words to recover; the table is empty.")
    return pd.DataFrame(rows, columns=FILL_SPANS_COLUMNS)


# --- compute-optimal scaling ---------------------------------------------------------------------------------


def chinchilla_frontier(flops: Sequence[float], compute_optimal=None) -> pd.DataFrame:
    """Compute-optimal parameters and tokens for each budget in ``flops``: ``C = 6·N·D`` with ``D = 20·N``.

    ``compute_optimal(flops) -> (params, tokens)`` defaults to labkit's (the notebook passes the learner's).
    """
    from labkit import lifecycle

    def default(c):
        n = lifecycle.compute_optimal_params(c)
        return n, lifecycle.compute_optimal_tokens(n)

    fn = compute_optimal or default
    rows = [dict(zip(("params", "tokens"), map(float, fn(c)), strict=True), flops=float(c)) for c in flops]
    return pd.DataFrame(rows, columns=["flops", "params", "tokens"])
