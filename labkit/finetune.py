"""Instruction fine-tuning: full, LoRA and prompt tuning, with checkpoints that resume (notebook 03).

The course's Lab 2 in library idioms: tokenize dialogues behind the instruction prompt, pad each batch
dynamically (``DataCollatorForSeq2Seq``, label padding ignored by the loss), train with transformers'
``Seq2SeqTrainer``, and add parameter-efficient methods with peft. Two traps of the original lab are
closed here: :func:`add_lora` and :func:`add_prompt_tuning` work on a *copy* (``get_peft_model``
changes the model it is given, which silently turned the "original" baseline into the LoRA model),
and :func:`train` resumes from the last checkpoint in its output folder instead of starting over.

Beyond the lab, the notebook measures what fine-tuning costs a model elsewhere: a *second task* (naming a
dialogue's topic, which the tiny T5 learnt in pre-training) is scored before and after single-task fine-tuning
(catastrophic forgetting), after LoRA with the adapter on and off, and after multi-task instruction tuning on
summaries plus topic questions (FLAN's idea, :func:`multitask_examples`).
The PEFT taxonomy maps onto this module: selective = :func:`freeze_except`, reparameterization =
:func:`add_lora`, additive = :func:`add_prompt_tuning`.
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from labkit import config, prompts
from labkit.tiny import SPEAKERS, TOPIC_PROMPTS

if TYPE_CHECKING:
    from peft import LoraConfig

# The course's LoRA settings (Lab 2): defined once, in labkit.config (the course profile's settings use it too).
LORA_DEFAULTS = config.COURSE_LORA


def count_parameters(model) -> tuple[int, int, float]:
    """(trainable, total, percent trainable) - the numbers that make PEFT's case."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total, 100 * trainable / total


def print_parameters(model) -> None:
    """Print the parameter counts the way the course's lab prints them."""
    trainable, total, percent = count_parameters(model)
    print(f"trainable model parameters: {trainable}\nall model parameters: {total}\n"
          f"percentage of trainable model parameters: {percent:.2f}%")


def lora_config(**overrides):
    """A peft LoraConfig with the course's defaults (r=32, alpha=32, q and v, dropout 0.05, no bias, seq2seq)."""
    from peft import LoraConfig, TaskType

    return LoraConfig(**{**copy.deepcopy(LORA_DEFAULTS), "task_type": TaskType.SEQ_2_SEQ_LM, **overrides})


def add_lora(model, lora: LoraConfig | None = None):
    """Wrap a *copy* of ``model`` with LoRA adapters: the model passed in stays untouched."""
    from peft import get_peft_model

    return get_peft_model(copy.deepcopy(model), lora or lora_config())


def prompt_tuning_config(tokenizer, num_virtual_tokens: int = 20,
                         init_text: str = "Summarize the following conversation."):
    """A peft PromptTuningConfig: ``num_virtual_tokens`` soft-prompt vectors initialised from ``init_text``."""
    from peft import PromptTuningConfig, PromptTuningInit, TaskType

    return PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=num_virtual_tokens,
                              prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=init_text,
                              tokenizer_name_or_path=tokenizer.name_or_path)


def add_prompt_tuning(model, tokenizer, num_virtual_tokens: int = 20,
                      init_text: str = "Summarize the following conversation."):
    """Prepend a trainable soft prompt to a *copy* of ``model``; every model weight stays frozen."""
    from peft import get_peft_model

    cfg = prompt_tuning_config(tokenizer, num_virtual_tokens, init_text)
    return get_peft_model(copy.deepcopy(model), cfg)


def freeze_except(model, patterns: Sequence[str]):
    """Selective fine-tuning: a *copy* of ``model`` in which only parameters whose name matches a pattern train.

    ``patterns`` are regular expressions searched in each parameter's name (``model.named_parameters()``),
    e.g. ``[r"decoder\\.block\\.1\\."]`` for the decoder's last block of the tiny T5. Raises when nothing matches,
    so a typo never silently freezes the whole model.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    selected = copy.deepcopy(model)
    matched = 0
    for name, parameter in selected.named_parameters():
        parameter.requires_grad = any(re.search(p, name) for p in patterns)
        matched += parameter.requires_grad
    if not matched:
        names = [n for n, _ in model.named_parameters()][:6]
        raise ValueError(f"No parameter name matches {list(patterns)}; names look like {names}.")
    return selected


# --- a second task: naming a dialogue's topic (catastrophic forgetting, multi-task instruction tuning) ----

TOPIC_INSTRUCTIONS = TOPIC_PROMPTS  # the ways of asking the tiny T5 met in pre-training (labkit.tiny)


def topic_prompt(dialogue: str, template: int = 0) -> str:
    """The second task's instruction around a dialogue: "What is the topic of this conversation?" by default."""
    return TOPIC_INSTRUCTIONS[template].format(dialogue=dialogue)


def topic_answer(topic: str) -> str:
    """The answer form the tiny T5 learnt in pre-training: "#Person1# and #Person2# are talking about <topic>."."""
    return f"{SPEAKERS[0]} and {SPEAKERS[1]} are talking about {topic}."


def topic_scores(answers: Sequence[str], topics: Sequence[str], parse: Callable[[str], str | None]) -> dict:
    """Score the topic task: the share of answers whose ``parse``d topic equals the reference (case-insensitive).

    ``parse(answer)`` returns the topic an answer names, or None when it names none; such answers count as
    wrong and are also counted in ``no_topic`` - an unusable answer is a measurement, never a crash.
    """
    if isinstance(answers, str) or isinstance(topics, str):
        raise TypeError("Pass lists: topic_scores([answer, ...], [topic, ...], parse).")
    if len(answers) != len(topics) or not answers:
        raise ValueError(f"{len(answers)} answers and {len(topics)} topics: they must pair up and not be empty.")
    named = [parse(a) for a in answers]
    correct = [n is not None and n == " ".join(str(t).lower().split()) for n, t in zip(named, topics, strict=True)]
    return {"topic_accuracy": sum(correct) / len(correct), "no_topic": sum(n is None for n in named)}


def multitask_examples(split, topic_share: float = 0.25, seed: int = 0):
    """FLAN's idea on DialogSum: every dialogue's summary example plus topic questions for ``topic_share`` of them.

    Returns a ``datasets.Dataset`` with columns ``source``, ``target`` and ``task``; topic questions use the
    instruction templates in :data:`TOPIC_INSTRUCTIONS` in turn (several ways of asking the same thing, as the
    lecture recommends). Deterministic for a given ``seed``.
    """
    import datasets

    if not 0 <= topic_share <= 1:
        raise ValueError(f"topic_share is a fraction of the dialogues (0..1), not {topic_share}.")
    rng = random.Random(seed)
    rows = [{"source": prompts.zero_shot(d), "target": s, "task": "summary"}
            for d, s in zip(split["dialogue"], split["summary"], strict=True)]
    chosen = sorted(rng.sample(range(len(split)), round(topic_share * len(split))))
    for k, i in enumerate(chosen):
        rows.append({"source": topic_prompt(split[i]["dialogue"], k % len(TOPIC_INSTRUCTIONS)),
                     "target": topic_answer(split[i]["topic"]), "task": "topic"})
    rng.shuffle(rows)
    return datasets.Dataset.from_list(rows)


def tokenize_pairs(dataset, tokenizer, max_source_tokens: int | None = None, max_target_tokens: int = 128):
    """Tokenize a data set of ``source`` -> ``target`` pairs (any task) like :func:`tokenize_dialogues` does."""
    limit = max_source_tokens or int(tokenizer.model_max_length)

    def encode(batch):
        enc = tokenizer(batch["source"], max_length=limit, truncation=True)
        targets = tokenizer(text_target=batch["target"], max_length=max_target_tokens, truncation=True)
        enc["labels"] = targets["input_ids"]
        return enc

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc="tokenizing")


def tokenize_dialogues(split, tokenizer, prompt: Callable[[str], str] = prompts.zero_shot,
                       max_source_tokens: int | None = None, max_target_tokens: int = 128):
    """Turn a split into ``input_ids`` / ``attention_mask`` / ``labels``: the prompt in, the summary out.

    Nothing is padded here; :func:`collator` pads each batch to its own longest example.
    """
    limit = max_source_tokens or int(tokenizer.model_max_length)

    def encode(batch):
        enc = tokenizer([prompt(d) for d in batch["dialogue"]], max_length=limit, truncation=True)
        targets = tokenizer(text_target=batch["summary"], max_length=max_target_tokens, truncation=True)
        enc["labels"] = targets["input_ids"]
        return enc

    return split.map(encode, batched=True, remove_columns=split.column_names, desc="tokenizing")


def collator(tokenizer, model=None):
    """Dynamic padding for seq2seq batches; padded label positions become -100 so the loss ignores them."""
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100, padding=True)


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest *complete* ``checkpoint-N`` folder in ``output_dir`` (None when there is none).

    A run killed while writing a checkpoint leaves a folder without ``trainer_state.json`` (the
    trainer writes it last); such a folder is skipped so resuming never loads half a checkpoint.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    candidates = [p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    for path in sorted(candidates, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        if (path / "trainer_state.json").is_file():
            return str(path)
    return None


@dataclass
class TrainResult:
    """What a training run did: the trainer, where it resumed from, and its losses."""

    trainer: object
    resumed_from: str | None
    losses: pd.DataFrame = field(repr=False)

    @property
    def steps(self) -> int:
        return int(self.trainer.state.global_step)


def train(model, tokenizer, train_dataset, output_dir: str | Path, learning_rate: float, max_steps: int,
          batch_size: int = 8, save_steps: int | None = None, logging_steps: int = 5, seed: int = 42,
          resume: bool = True, warmup_steps: int = 0, callbacks=None, **arguments) -> TrainResult:
    """Train ``model`` in place with Seq2SeqTrainer, checkpointing to ``output_dir``.

    If ``output_dir`` already holds a checkpoint (an interrupted run), training resumes from the last
    one - same step count, optimizer and scheduler state - instead of starting over. A run that already
    reached ``max_steps`` is loaded from its last checkpoint and not trained further.

    Two processes training into the same folder (two notebooks, or a notebook and the test suite, both
    wanting the instruct summarizer) take turns under a file lock: the second waits, then resumes from the
    first one's final checkpoint instead of training the same steps again over its files. Under a
    distributed launcher (``WORLD_SIZE`` > 1) the ranks train together and only rank 0 writes, so no lock.
    """
    from filelock import FileLock
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerState

    args = Seq2SeqTrainingArguments(
        output_dir=str(output_dir), learning_rate=learning_rate, max_steps=max_steps,
        per_device_train_batch_size=batch_size, logging_steps=logging_steps,
        save_strategy="steps", save_steps=save_steps or max(1, max_steps // 4), save_total_limit=2,
        warmup_steps=warmup_steps, seed=seed, data_seed=seed, report_to="none",
        dataloader_num_workers=0, **config.trainer_device_args(),
        **arguments,
    )
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=train_dataset,
                             data_collator=collator(tokenizer, model), processing_class=tokenizer,
                             callbacks=callbacks)
    output_dir = Path(output_dir)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.nullcontext() if distributed else FileLock(str(run_lock(output_dir))):
        checkpoint = last_checkpoint(output_dir) if resume else None
        state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json")) if checkpoint else None
        if state is not None and state.global_step >= max_steps:
            # transformers 5 resumed at max_steps still takes one more step (and saves checkpoint-N+1, so every
            # re-run drifts by a step): a finished run is loaded - its weights and its log - not trained.
            trainer._load_from_checkpoint(checkpoint)
            trainer.state = state
        else:
            trainer.train(resume_from_checkpoint=checkpoint)
    model.eval()
    return TrainResult(trainer=trainer, resumed_from=checkpoint, losses=loss_history(trainer))


def run_lock(output_dir: str | Path) -> Path:
    """The lock file :func:`train` holds while it trains into ``output_dir`` (next to the folder)."""
    output_dir = Path(output_dir)
    return output_dir.parent / f"{output_dir.name}.lock"


def loss_history(trainer) -> pd.DataFrame:
    """Training loss per logged step, from the trainer's log history."""
    rows = [{"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e]
    return pd.DataFrame(rows, columns=["step", "loss"])


def save_adapter(peft_model, path: str | Path) -> Path:
    """Save only the adapter weights (a few MB for FLAN-T5, not the whole model)."""
    peft_model.save_pretrained(str(path))
    return Path(path)


def load_adapter(base_model, path: str | Path, trainable: bool = False):
    """Attach a saved adapter to a *copy* of ``base_model``."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(copy.deepcopy(base_model), str(path), is_trainable=trainable)
    return model.eval()


def merge_lora(peft_model):
    """Fold LoRA's low-rank updates into the base weights: a plain model, no adapter at inference time.

    Works on a copy, so the adapter model can still be used and compared.
    """
    return copy.deepcopy(peft_model).merge_and_unload().eval()


def adapter_size_mb(path: str | Path) -> float:
    """Size on disk of a saved adapter folder, in MB."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


def run_dir(name: str, **settings) -> Path:
    """The checkpoint folder for a training run, keyed by its settings and the base model.

    Re-running the same cell finds the same folder, so an interrupted run resumes and a finished one
    is not trained again; changing a setting gives a fresh folder.
    """
    from labkit import cache
    from labkit.models import summarizer_source

    key = cache.content_hash(name, settings, summarizer_source(), config.get_profile().name)
    path = config.cache_dir() / "runs" / f"{name}-{key}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def instruct_summarizer() -> Path:
    """The instruction fine-tuned summarizer later notebooks start from (RLHF in 03), built once and cached.

    Full fine-tuning with the profile's ``full`` settings, exactly as notebook 03 trains it.
    """
    from labkit import cache
    from labkit.data import load_dialogsum
    from labkit.models import load_summarizer, summarizer_source

    settings = config.setting("full")

    def build(folder: Path) -> dict:
        config.set_seed(42)
        model, tokenizer = load_summarizer()
        train_split = tokenize_dialogues(load_dialogsum()["train"], tokenizer)
        result = train(model, tokenizer, train_split, run_dir("full", **settings), **settings)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return {"steps": result.steps, "losses": result.losses["loss"].tolist()}

    key = cache.content_hash(summarizer_source(), settings, config.get_profile().name)
    return cache.artifact("instruct-summarizer", key, build)
