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
import functools
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


# --- reading the second task's answers ---------------------------------------------------------------------

def named_topic(answer: str) -> str | None:
    """The topic an answer names, or None when it names none (notebook 03 scores the topic task with it).

    The tiny T5 answers "#Person1# and #Person2# are talking about <topic>."; FLAN-T5 tends to answer with the bare
    topic. So: the words after "talking about" when the phrase is there, else the whole answer; only the first
    sentence or line; lowercase, single spaces, no surrounding spaces or final punctuation. An answer that leaves
    nothing (empty, or "talking about ." ) names no topic: None, counted by :func:`topic_scores` as unanswered.
    """
    text = str(answer)
    at = text.lower().find("talking about")
    if at >= 0:
        text = text[at + len("talking about"):]
    first = re.split(r"[.!?](?:\s|$)|\n", text.strip(), maxsplit=1)[0]
    topic = " ".join(first.lower().split()).strip(" .!?,;:")
    return topic or None


def topic_correct(answers: Sequence[str], topics: Sequence[str]) -> list[float]:
    """Per answer: 1.0 when :func:`named_topic` equals the reference topic (case-insensitive), else 0.0.

    The per-example form of :func:`topic_scores`' accuracy, for paired confidence intervals between two models.
    """
    if len(answers) != len(topics):
        raise ValueError(f"{len(answers)} answers and {len(topics)} topics: they must pair up.")
    return [float(named_topic(a) == " ".join(str(t).lower().split())) for a, t in zip(answers, topics, strict=True)]


# --- LoRA's arithmetic -------------------------------------------------------------------------------------

def lora_parameter_count(model, target_modules: Sequence[str], r: int) -> int:
    """The parameters LoRA trains at rank ``r``: r * (in + out) for every Linear layer peft would adapt.

    peft adapts a layer whose name *ends* with a target (``"o"`` adapts ``...SelfAttention.o``, not
    ``...DenseReluDense.wo``); each gets A (r x in_features) and B (out_features x r). Notebook 03 sizes LoRA with it.
    """
    import torch

    if isinstance(target_modules, str):
        target_modules = [target_modules]
    return sum(r * (m.in_features + m.out_features) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and any(name == t or name.endswith("." + t) for t in target_modules))


# --- adapters: the other additive method --------------------------------------------------------------------

# The bottleneck width per profile, chosen so the adapters train about as many parameters as the profile's LoRA
# (tiny: r=8 on q, k, v, o of a d_model=128 T5 -> 49,152; bottleneck 48 -> 49,856. course: r=32 on q, v of
# FLAN-T5-base -> 3,538,944; bottleneck 96 -> 3,541,248). A candidate for config.SETTINGS["adapter"].
ADAPTER_SETTINGS = {"tiny": {"bottleneck": 48}, "course": {"bottleneck": 96}}
ADAPTER_SMOKE = {"bottleneck": 4}


# Notebook 03's own adjustment of config.SETTINGS, paying for the adapter run: on the tiny T5, prompt tuning's training
# loss is flat after a few dozen steps (measured: 5.51 at step 20, 5.45 at 35, 5.27 at 80), so 25 steps teach the same
# lesson ("barely moves a small model") as 100. A candidate for config.SETTINGS["tiny"]["prompt_tuning"].
NOTEBOOK_SETTINGS = {"tiny": {"prompt_tuning": {"max_steps": 25}}, "course": {}}


def notebook_setting(name: str) -> dict:
    """``config.setting(name)`` with notebook 03's adjustments for the active profile (none under smoke sizes)."""
    profile = config.get_profile()
    settings = config.setting(name)
    if profile.scale != "smoke":
        settings.update(NOTEBOOK_SETTINGS.get(profile.name, {}).get(name, {}))
    return settings


def adapter_settings() -> dict:
    """The bottleneck adapter's settings for the active profile (a smaller width under ``LABKIT_SIZES=smoke``)."""
    profile = config.get_profile()
    settings = dict(ADAPTER_SETTINGS[profile.name])
    if profile.scale == "smoke":
        settings.update(ADAPTER_SMOKE)
    return settings


@functools.cache
def _adapter_classes():
    """The adapter's torch modules, defined on first use (labkit imports torch late) and then always the same."""
    import torch

    class BottleneckAdapter(torch.nn.Module):
        """Houlsby et al. (2019)'s adapter: h + up(act(down(h))), ``up`` initialised to zero (starts as identity)."""

        def __init__(self, d_model: int, bottleneck: int):
            super().__init__()
            self.down = torch.nn.Linear(d_model, bottleneck)
            self.act = torch.nn.ReLU()
            self.up = torch.nn.Linear(bottleneck, d_model)
            torch.nn.init.zeros_(self.up.weight)
            torch.nn.init.zeros_(self.up.bias)

        def forward(self, hidden):
            return hidden + self.up(self.act(self.down(hidden)))

    class FeedForwardWithAdapter(torch.nn.Module):
        """A T5 feed-forward (``DenseReluDense``) followed by an adapter, inside the block's residual connection."""

        def __init__(self, feed_forward, adapter):
            super().__init__()
            self.feed_forward = feed_forward
            self.adapter = adapter

        def forward(self, hidden):
            return self.adapter(self.feed_forward(hidden))

    return BottleneckAdapter, FeedForwardWithAdapter


def bottleneck_adapter(d_model: int, bottleneck: int):
    """One adapter layer: down-projection to ``bottleneck``, ReLU, up-projection (zero-initialised), residual."""
    adapter_class, _ = _adapter_classes()
    return adapter_class(d_model, bottleneck)


def add_adapters(model, bottleneck: int):
    """Additive PEFT by hand: a *copy* of a T5 model with an adapter after the feed-forward of every block.

    Every original weight is frozen; only the adapters train. Because each adapter's up-projection starts at
    zero, the adapted model computes exactly what the original does until training moves it. Unlike LoRA, the
    adapters cannot be folded into existing weights: they are extra layers every token passes through.
    """
    _, wrapper_class = _adapter_classes()
    adapted = copy.deepcopy(model)
    for parameter in adapted.parameters():
        parameter.requires_grad = False
    d_model = adapted.config.d_model
    blocks = list(adapted.encoder.block) + list(adapted.decoder.block)
    for block in blocks:
        feed_forward_layer = block.layer[-1]  # T5LayerFF: x + dropout(DenseReluDense(layer_norm(x)))
        feed_forward_layer.DenseReluDense = wrapper_class(feed_forward_layer.DenseReluDense,
                                                          bottleneck_adapter(d_model, bottleneck))
    return adapted.eval()


def adapter_parameters(model) -> dict:
    """The adapters' weights only (what an adapter checkpoint would hold), by parameter name."""
    return {name: p for name, p in model.named_parameters() if ".adapter." in name}


def generation_seconds(model, tokenizer, texts: Sequence[str], new_tokens: int = 32, repeats: int = 3) -> float:
    """Inference cost: the fastest of ``repeats`` timed generations of exactly ``new_tokens`` tokens per text.

    Every model generates the same number of tokens for the same batch (``min_new_tokens = max_new_tokens``,
    greedy), so a difference in time is the model's own cost, not a difference in output length. The minimum
    over repeats is the least disturbed by other work on the machine.
    """
    import time

    import torch

    encoded = tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True)
    settings = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False}
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            model.generate(**encoded, **settings)
            best = min(best, time.perf_counter() - start)
    return best


# --- a model card for the fine-tuned model -----------------------------------------------------------------------

# Licence of the adapter per profile, and why. The course profile's adapter learnt from DialogSum, whose authors
# license it CC BY-NC-SA 4.0 (non-commercial, share-alike): the card carries the data's terms, the stricter of the two.
CARD_LICENCES = {
    "tiny": ("apache-2.0", "the base model and the dialogues were written by the labkit project, under Apache-2.0"),
    "course": ("cc-by-nc-sa-4.0", "FLAN-T5-base is Apache-2.0, but DialogSum, the training data, is CC BY-NC-SA 4.0: "
                                  "the adapter is shared under the data's non-commercial, share-alike terms"),
}


def model_card(model_name: str, base_model: str, dataset: str, method: str, scores: dict[str, float],
               n_test: int, training: dict, licence: str, licence_note: str, limitations: str,
               intended_use: str = "Summarizing short two-person dialogues in English, for learning how fine-tuning "
                                   "works.",
               out_of_scope: str = "Anything that relies on the summary being right: the model is small and was "
                                   "trained briefly, and ROUGE measures overlap, not faithfulness."):
    """A ``huggingface_hub.ModelCard`` for a fine-tuned summarizer, from the run's own numbers (notebook 03).

    ``ModelCard.from_template(ModelCardData(...))``: the metadata (base model, data set, licence, and the measured
    ROUGE as ``eval_results``, which the hub shows as a model index) plus the template's prose sections. ``scores``
    are this run's ROUGE (rouge1, rouge2, rougeL, rougeLsum) on ``n_test`` held-out dialogues.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    if not scores:
        raise ValueError("A model card's evaluation needs this run's scores.")
    results = [EvalResult(task_type="summarization", dataset_type=dataset, dataset_name=dataset, dataset_split="test",
                          metric_type="rouge", metric_name=name, metric_value=round(float(value), 4))
               for name, value in scores.items()]
    data = ModelCardData(language="en", license=licence, library_name="peft", base_model=base_model,
                         datasets=[dataset], metrics=["rouge"], tags=["summarization", method],
                         model_name=model_name, eval_results=results)
    table = "| metric | value |\n| --- | --- |\n" + "\n".join(f"| {k} | {v:.4f} |" for k, v in scores.items())
    steps = ", ".join(f"{k} = {v}" for k, v in training.items())
    return ModelCard.from_template(
        data,
        model_id=model_name,
        model_summary=f"{base_model} fine-tuned with {method} to summarize dialogues ({dataset}).",
        model_description=f"An adapter for {base_model}, trained with {method}; load it with peft on top of the base "
                          "model, or merge it into the base weights.",
        model_type=f"sequence-to-sequence summarizer ({method} adapter)",
        language="English",
        license=f"{licence}: {licence_note}.",
        base_model=base_model,
        finetuned_from=base_model,
        direct_use=intended_use,
        out_of_scope_use=out_of_scope,
        bias_risks_limitations=limitations,
        training_data=f"The train split of {dataset}: each dialogue behind the zero-shot instruction as input, the "
                      "human summary as target.",
        training_regime=steps,
        testing_data=f"{n_test} dialogues of the test split of {dataset}, never seen in training.",
        testing_metrics="ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum (F-measure, stemmed, bootstrap-aggregated), "
                        "greedy decoding.",
        results=table,
    )
