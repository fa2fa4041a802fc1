"""Preference tuning without a reward model (notebook 06): DPO with trl, and Constitutional AI.

Two halves, each small enough to read in one sitting:

* **DPO on ranked completions.** :func:`dpo_dataset` turns the project's rankings into trl's
  conversational preference format (prompt, chosen, rejected); :func:`train_dpo` runs trl's
  ``DPOTrainer`` with a LoRA adapter (the frozen reference is the same model with the adapter off);
  :func:`sequence_logps` scores whole responses the way trl does, so :func:`preference_report` can say
  how often a model prefers the chosen response on held-out pairs, and by what margin, with bootstrap
  CIs - and ``labkit.rlhf.dpo_loss`` can be checked against trl's loss on the same batch.
* **Constitutional AI.** A constitution (``data/constitution/principles.json``) and red-team prompts
  (``data/constitution/red_team.jsonl``); :func:`critique_and_revise` has the instruct LLM answer,
  critique its answer against one principle and revise it; :func:`ai_preferences` asks the same LLM
  which of (response, revision) follows the principle better - twice, in both orders - and keeps the
  labels that survive. Malformed model output (an empty critique, a revision identical to the
  response, an answer with no parsable A/B, a label that flips with the order) is counted and
  skipped, never a crash.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from labkit import config
from labkit.rlhf import rankings_to_pairs

# --- preference pairs in trl's format -------------------------------------------------------------------


def conversational_pair(prompt: str, chosen: str, rejected: str) -> dict:
    """One preference pair in trl's conversational format: the user turn, and two candidate assistant turns."""
    return {"prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def dpo_dataset(rows: Sequence[dict], max_pairs_per_row: int | None = None, seed: int = 0):
    """Ranked completions -> a ``datasets.Dataset`` of conversational (prompt, chosen, rejected) pairs.

    Each ranking gives every (better, worse) pair (``labkit.rlhf.rankings_to_pairs``). ``max_pairs_per_row``
    keeps a seeded random subset per prompt - fewer, more varied pairs when compute is short.
    """
    import datasets

    rng = random.Random(seed)
    records = []
    for row in rows:
        pairs = rankings_to_pairs(row["completions"], row["ranking"])
        if max_pairs_per_row is not None and len(pairs) > max_pairs_per_row:
            pairs = rng.sample(pairs, max_pairs_per_row)
        records += [conversational_pair(row["prompt"], chosen, rejected) for chosen, rejected in pairs]
    if not records:
        raise ValueError("No preference pairs: every row needs at least two completions with different ranks.")
    return datasets.Dataset.from_list(records)


def pair_token_ids(tokenizer, example: dict) -> tuple[list[int], list[int], list[int]]:
    """(prompt, chosen, rejected) token ids, split the way trl's DPOTrainer splits them.

    The chat template renders the prompt alone (ending with the opened assistant turn) and the prompt
    followed by each response; the response is whatever comes after their common prefix (for these
    templates, the assistant's text and its end-of-turn token).
    """
    def ids(messages, **kwargs):
        return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"])

    prompt = ids(example["prompt"], add_generation_prompt=True)
    chosen = ids(example["prompt"] + example["chosen"])
    rejected = ids(example["prompt"] + example["rejected"])
    cut = min(_common_prefix(prompt, chosen), _common_prefix(prompt, rejected))
    return prompt[:cut], chosen[cut:], rejected[cut:]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@torch.no_grad()
def sequence_logps(model, tokenizer, pairs, batch_size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probability of each chosen and each rejected response given its prompt: log π(y | x).

    This is the quantity DPO compares: one number per response, the sum over its tokens of
    log p(token | prompt, earlier tokens). Returns (chosen_logps, rejected_logps), one value per pair.
    Sequences are padded on the left so every response ends in the last column, and the LM head runs
    only over the last columns (``logits_to_keep``): the prompt's logits are never needed.
    """
    split = [pair_token_ids(tokenizer, pairs[i]) for i in range(len(pairs))]
    sequences = [(p + c, len(c)) for p, c, _ in split] + [(p + r, len(r)) for p, _, r in split]
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i][0]))  # little padding per batch
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    result = torch.zeros(len(sequences), dtype=torch.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(sequences[i][0]) for i in rows)
        keep = max(sequences[i][1] for i in rows) + 1
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        response = torch.zeros((len(rows), width), dtype=torch.bool)
        for row, i in enumerate(rows):
            ids, n_response = sequences[i]
            input_ids[row, width - len(ids):] = torch.tensor(ids)
            attention[row, width - len(ids):] = 1
            response[row, width - n_response:] = True
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # as if unpadded: the same positions trl's batches get
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                       position_ids=positions.to(device), logits_to_keep=keep).logits.float()
        # the logit at column t predicts the token at column t + 1
        targets = input_ids[:, width - keep + 1:].to(device)
        logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, targets[..., None]).squeeze(-1)
        result[rows] = (logps * response[:, width - keep + 1:].to(device)).sum(-1).cpu()
    model.train(was_training)
    return result[:len(split)], result[len(split):]


@contextlib.contextmanager
def adapter_disabled(model):
    """Run a peft model as its frozen reference (LoRA switched off); a plain model runs as it is."""
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
    else:
        yield model


def preference_report(policy: tuple[torch.Tensor, torch.Tensor],
                      reference: tuple[torch.Tensor, torch.Tensor] | None = None, beta: float = 0.1) -> dict:
    """How strongly a model prefers the chosen responses of held-out pairs, with bootstrap 95% CIs.

    ``policy`` is (chosen_logps, rejected_logps) from :func:`sequence_logps`. Reported:

    * ``accuracy`` - share of pairs with log π(chosen) > log π(rejected): the model's own ranking agrees
      with the labels;
    * ``logp margin`` - mean of log π(chosen) − log π(rejected);
    * with ``reference`` (the frozen model's log-probs), DPO's **implicit reward** margin
      β·[(log π − log π_ref)(chosen) − (log π − log π_ref)(rejected)] and the share of pairs where it is positive
      (trl logs these as ``rewards/margins`` and ``rewards/accuracies``). It is 0 for the reference itself.
    """
    from labkit.metrics import bootstrap_ci

    chosen, rejected = (torch.as_tensor(t, dtype=torch.float64) for t in policy)
    margin = (chosen - rejected).numpy()
    report = {"pairs": len(margin)}
    report["accuracy"], report["accuracy ci_low"], report["accuracy ci_high"] = bootstrap_ci(margin > 0)
    report["logp margin"], report["logp margin ci_low"], report["logp margin ci_high"] = bootstrap_ci(margin)
    if reference is not None:
        ref_chosen, ref_rejected = (torch.as_tensor(t, dtype=torch.float64) for t in reference)
        reward_margin = (beta * ((chosen - ref_chosen) - (rejected - ref_rejected))).numpy()
        report["reward margin"], report["reward margin ci_low"], report["reward margin ci_high"] = \
            bootstrap_ci(reward_margin)
        report["reward accuracy"] = float((reward_margin > 0).mean())
    return report


# --- DPO with trl ---------------------------------------------------------------------------------------


def dpo_config(output_dir, **overrides):
    """A trl ``DPOConfig`` for short runs in a notebook: no checkpoints, no trackers, fp32 on a CPU.

    trl's own defaults target GPUs (bf16 on, gradient checkpointing on); on a CPU bf16 is slow and
    checkpointing only trades memory we have for time we do not, so both follow the device here.
    """
    from trl import DPOConfig

    dev = config.device()
    defaults = dict(output_dir=str(output_dir), per_device_train_batch_size=4, per_device_eval_batch_size=8,
                    max_steps=8, learning_rate=5e-4, beta=0.1, max_length=256, logging_steps=1,
                    save_strategy="no", report_to="none", bf16=config.supports_bf16(dev),
                    activation_checkpointing=dev.type == "cuda", use_cpu=dev.type == "cpu", disable_tqdm=True,
                    lr_scheduler_type="constant", warmup_steps=0, seed=0, dataloader_num_workers=0)
    return DPOConfig(**{**defaults, **overrides})


def llm_lora_config(**overrides):
    """A peft LoraConfig for a causal LM's attention projections (Llama / Qwen module names)."""
    from peft import LoraConfig, TaskType

    defaults = dict(r=16, lora_alpha=32, lora_dropout=0.0, bias="none",
                    target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    return LoraConfig(**{**defaults, "task_type": TaskType.CAUSAL_LM, **overrides})


class StepTimer:
    """A transformers ``TrainerCallback``: a progress bar over the optimizer steps, and the seconds each one took.

    ``wall`` and ``cpu`` hold wall-clock and CPU (process) seconds per step; ``logs`` the trainer's log
    of every step (trl's loss and reward metrics). CPU seconds are less inflated than wall-clock ones
    when other programs share the machine.
    """

    def __new__(cls, desc: str = "DPO"):
        from tqdm.auto import tqdm
        from transformers import TrainerCallback

        class _StepTimer(TrainerCallback):
            def __init__(self):
                self.wall: list[float] = []
                self.cpu: list[float] = []
                self.logs: list[dict] = []
                self.bar = None

            def on_train_begin(self, args, state, control, **kwargs):
                self.bar = tqdm(total=state.max_steps, desc=desc, unit="step")

            def on_step_begin(self, args, state, control, **kwargs):
                self._start = (time.perf_counter(), time.process_time())

            def on_step_end(self, args, state, control, **kwargs):
                self.wall.append(time.perf_counter() - self._start[0])
                self.cpu.append(time.process_time() - self._start[1])
                self.bar.update(1)

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs:
                    self.logs.append({"step": state.global_step, **logs})
                    self.bar.set_postfix(loss=f"{logs['loss']:.3f}", margin=f"{logs.get('rewards/margins', 0):.3f}")

            def on_train_end(self, args, state, control, **kwargs):
                self.bar.close()

        return _StepTimer()


@contextlib.contextmanager
def _quiet_datasets():
    """Hide datasets' per-map progress bars while trl tokenizes (a notebook needs one bar, not five)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def train_dpo(model, tokenizer, train_pairs, output_dir, lora=None, **settings):
    """Run trl's ``DPOTrainer`` on conversational pairs with a LoRA adapter; returns the trainer.

    ``trainer.model`` is the peft model (the adapter on); ``trainer.step_timer`` holds the seconds per
    step and the logged loss and reward metrics. peft wraps ``model`` in place: the frozen reference is
    the same weights with the adapter switched off. ``settings`` are :func:`dpo_config` fields.
    """
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import DPOTrainer

    if len(train_pairs) == 0:
        raise ValueError("No preference pairs to train on: build some first (dpo_dataset or cai_pairs).")
    timer = StepTimer()
    with _quiet_datasets():
        trainer = DPOTrainer(model=model, args=dpo_config(output_dir, **settings), train_dataset=train_pairs,
                             processing_class=tokenizer, peft_config=lora or llm_lora_config(), callbacks=[timer])
    for noisy in (PrinterCallback, ProgressCallback):  # the timer's bar replaces their dict-per-step printing
        trainer.remove_callback(noisy)
    trainer.step_timer = timer
    trainer.train()
    trainer.model.eval()
    tokenizer.padding_side = "left"  # generation with a decoder-only model pads on the left
    return trainer


def trl_batch_loss(trainer, pairs) -> float:
    """trl's DPO loss on ``pairs`` taken as one batch: its own tokenization, collation and loss, adapter on.

    ``DPOTrainer.evaluate`` prepares the pairs as it prepares training data; with an evaluation batch at
    least as large as ``pairs`` its ``eval_loss`` is the loss of exactly that batch.
    """
    if len(pairs) > trainer.args.per_device_eval_batch_size:
        raise ValueError(f"{len(pairs)} pairs do not fit one evaluation batch of "
                         f"{trainer.args.per_device_eval_batch_size}: pass fewer pairs.")
    with _quiet_datasets():
        loss = trainer.evaluate(pairs)["eval_loss"]
    trainer.model.eval()
    return float(loss)


# --- Constitutional AI: critique -> revision -> AI preference ----------------------------------------------


@dataclass(frozen=True)
class Principle:
    """One principle of a constitution, with the critique and revision requests that apply it."""

    name: str
    principle: str
    critique: str
    revision: str
    hhh: str  # which of helpful / honest / harmless it protects


def constitution_dir() -> Path:
    return config.data_dir() / "constitution"


def load_constitution(path=None) -> dict[str, Principle]:
    """The project's constitution (``data/constitution/principles.json``): principle name -> :class:`Principle`."""
    path = Path(path or constitution_dir() / "principles.json")
    return {p["name"]: Principle(**p) for p in json.loads(path.read_text(encoding="utf-8"))}


def load_red_team(split: str | None = None, path=None) -> list[dict]:
    """The project's red-team prompts (``data/constitution/red_team.jsonl``): id, prompt, principle, category, split."""
    from labkit.data import read_records

    path = Path(path or constitution_dir() / "red_team.jsonl")
    rows = read_records(path, required=("id", "prompt", "split"), what="red-team prompts")
    if split is not None:
        if split not in {r["split"] for r in rows}:
            raise ValueError(f"No red-team prompts in split {split!r}; the splits are 'train' and 'test'.")
        rows = [r for r in rows if r["split"] == split]
    return rows


def critique_request(principle: Principle, prompt: str, response: str) -> str:
    """The user message that asks the model to critique ``response`` against one principle (no rewrite yet)."""
    return (f"Here is a request and a response to it.\n\nRequest: {prompt}\n\nResponse: {response}\n\n"
            f"Principle: {principle.principle}\n\n{principle.critique} Write only the critique.")


def revision_request(principle: Principle, prompt: str, response: str, critique: str) -> str:
    """The user message that asks the model to rewrite ``response`` in the light of its critique."""
    return (f"Request: {prompt}\n\nResponse: {response}\n\nCritique: {critique}\n\n"
            f"{principle.revision} Write only the new response.")


def preference_request(principle: Principle, prompt: str, first: str, second: str) -> str:
    """The user message that asks which of two responses follows the principle better (RLAIF's question)."""
    return (f"Request: {prompt}\n\nResponse A: {first}\n\nResponse B: {second}\n\n"
            f"Principle: {principle.principle}\n\nWhich response follows the principle better? "
            "Answer with a single letter: A or B.")


_LETTER = re.compile(r"(?<![A-Za-z])([AB])(?![A-Za-z])")


def parse_preference(text: str | None) -> str | None:
    """'A' or 'B' when the answer names exactly one of the two (as a capital letter standing alone), else None.

    "B", "(A)", "Response B." and "A: the first one" parse; "", "Both", "A or B" and "I can't decide" do not.
    """
    letters = set(_LETTER.findall(text or ""))
    return letters.pop() if len(letters) == 1 else None


def same_text(a: str, b: str) -> bool:
    """True when two texts differ only in case, spacing, quotes or punctuation: a revision that changed nothing."""
    def norm(s):
        return re.sub(r"\s+", " ", re.sub(r"[\"'`.!?]+", "", s or "")).strip().lower()

    return norm(a) == norm(b)


def _generate(model, tokenizer, messages: list[str], generation_config, batch_size: int, seed: int) -> list[str]:
    from labkit.generation import chat_prompt, generate

    if not messages:
        return []
    return generate(model, tokenizer, [chat_prompt(tokenizer, m) for m in messages], generation_config,
                    batch_size=batch_size, seed=seed)


def critique_and_revise(model, tokenizer, rows: Sequence[dict], constitution: dict[str, Principle],
                        generation_config=None, critique_fn: Callable = critique_request,
                        revision_fn: Callable = revision_request, batch_size: int = 16,
                        seed: int = 0) -> tuple[list[dict], Counter]:
    """Response -> critique -> revision for each red-team row, with the row's principle. Returns (records, counts).

    Each record keeps every stage's text and a ``status``: ``"ok"``, or why it was skipped - ``"empty
    response"``, ``"empty critique"``, ``"empty revision"``, ``"revision identical to response"``.
    A skipped record goes no further; nothing raises on odd model output.
    """
    unknown = sorted({r["principle"] for r in rows} - set(constitution))
    if unknown:
        raise ValueError(f"Red-team rows name principles {unknown} that the constitution lacks: "
                         f"it has {sorted(constitution)}.")
    records = [{"id": r["id"], "prompt": r["prompt"], "principle": r["principle"], "category": r.get("category"),
                "response": "", "critique": "", "revision": "", "status": "ok"} for r in rows]
    stages = [("response", lambda rec: rec["prompt"]),
              ("critique", lambda rec: critique_fn(constitution[rec["principle"]], rec["prompt"], rec["response"])),
              ("revision", lambda rec: revision_fn(constitution[rec["principle"]], rec["prompt"], rec["response"],
                                                  rec["critique"]))]
    for stage, message in stages:
        todo = [rec for rec in records if rec["status"] == "ok"]
        outputs = _generate(model, tokenizer, [str(message(rec)) for rec in todo], generation_config, batch_size, seed)
        for rec, text in zip(todo, outputs, strict=True):
            rec[stage] = (text or "").strip()
            if not rec[stage]:
                rec["status"] = f"empty {stage}"
            elif stage == "revision" and same_text(rec["revision"], rec["response"]):
                rec["status"] = "revision identical to response"
    return records, Counter(rec["status"] for rec in records)


def ai_preferences(model, tokenizer, records: list[dict], constitution: dict[str, Principle], generation_config=None,
                   parse: Callable = parse_preference, batch_size: int = 16, seed: int = 0) -> Counter:
    """Ask the model which of (response, revision) follows the principle better - once in each order.

    Each usable record gets ``answers`` (the two raw answers) and ``preferred`` ("revision" or "response")
    when both answers parse and agree. Otherwise its ``status`` becomes ``"no parsable preference"`` or
    ``"position-inconsistent preference"`` (the answer followed the letter, not the content - a known
    bias of LLM judges). Returns the counts of every status.
    """
    todo = [rec for rec in records if rec["status"] == "ok"]
    questions = []
    for rec in todo:
        principle = constitution[rec["principle"]]
        questions.append(preference_request(principle, rec["prompt"], rec["response"], rec["revision"]))
        questions.append(preference_request(principle, rec["prompt"], rec["revision"], rec["response"]))
    answers = _generate(model, tokenizer, questions, generation_config, batch_size, seed)
    for k, rec in enumerate(todo):
        first, second = answers[2 * k], answers[2 * k + 1]
        rec["answers"] = (first, second)
        picks = []
        for answer, order in ((first, ("response", "revision")), (second, ("revision", "response"))):
            letter = parse(answer)
            picks.append(None if letter not in ("A", "B") else order["AB".index(letter)])
        if None in picks:
            rec["status"] = "no parsable preference"
        elif picks[0] != picks[1]:
            rec["status"] = "position-inconsistent preference"
        else:
            rec["preferred"] = picks[0]
    return Counter(rec["status"] for rec in records)


def cai_pairs(records: Sequence[dict], prefer: str = "ai"):
    """DPO pairs from Constitutional AI records, as a ``datasets.Dataset`` (empty when none qualify).

    ``prefer="ai"``: the AI label decides which of (response, revision) is chosen; only records that
    kept a label take part. ``prefer="revision"``: every record that passed the critique and revision
    checks, with the revision chosen - the assumption behind CAI's supervised stage.
    """
    import datasets

    if prefer not in ("ai", "revision"):
        raise ValueError("prefer is 'ai' (the AI labels) or 'revision' (the revision is always chosen)")
    out = []
    for rec in records:
        if prefer == "ai" and rec.get("preferred") in ("response", "revision") and rec["status"] == "ok":
            chosen = rec[rec["preferred"]]
            rejected = rec["revision" if rec["preferred"] == "response" else "response"]
        elif prefer == "revision" and rec["status"] in ("ok", "no parsable preference",
                                                       "position-inconsistent preference"):
            chosen, rejected = rec["revision"], rec["response"]
        else:
            continue
        out.append(conversational_pair(rec["prompt"], chosen, rejected))
    if not out:
        return datasets.Dataset.from_dict({"prompt": [], "chosen": [], "rejected": []})
    return datasets.Dataset.from_list(out)
