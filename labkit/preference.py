"""Preference tuning without a reward model (notebook 06): DPO with trl, Constitutional AI, and mitigations.

Three parts, each small enough to read in one sitting:

* **DPO on ranked completions.** :func:`dpo_dataset` turns the project's rankings into trl's
  conversational preference format (prompt, chosen, rejected); :func:`train_dpo` runs trl's
  ``DPOTrainer`` with a LoRA adapter (the frozen reference is the same model with the adapter off);
  :func:`sequence_logps` scores whole responses the way trl does, so :func:`preference_report` can say
  how often a model prefers the chosen response on held-out pairs, and by what margin, with bootstrap
  CIs - and ``labkit.rlhf.dpo_loss`` can be checked against trl's loss on the same batch.
* **Constitutional AI.** A constitution (``data/constitution/principles.json``) and red-team prompts
  (``data/constitution/red_team.jsonl``); :func:`critique_and_revise` has the instruct LLM answer,
  critique its answer against one principle and revise it; :func:`judge_both_orders` asks the same LLM
  which of (response, revision) follows the principle better, in both orders, reading log p("A") - log p("B")
  from its next-token distribution (:func:`choice_logprobs`) and averaging the orders so that position bias
  cancels (:func:`debiased_preference`). :func:`ai_preferences` is the older judge that generates a letter and
  keeps only order-consistent labels. Malformed model output (an empty critique, a revision identical to the
  response, an answer with no parsable A/B, a label that flips with the order) is counted and
  skipped, never a crash.
* **Responsible-AI mitigations.** A green-list watermark (Kirchenbauer et al., 2023): :class:`Watermark` and
  :class:`WatermarkLogitsProcessor` bias sampling towards a keyed "green list", :func:`watermark_score` /
  :func:`watermark_scores` count green tokens into a z-score, :func:`z_threshold` and :func:`rate_ci` turn it
  into a detection rule with honest error rates, and :func:`sample_with_and_without_watermark` runs the paired
  experiment (with the model's own log-likelihood of every sampled token, the quality cost). :func:`model_card`
  renders a ``huggingface_hub.ModelCard`` for the tuned model from a run's numbers.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import LogitsProcessor

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
    defaults = dict(output_dir=str(output_dir), per_device_train_batch_size=4, per_device_eval_batch_size=8,
                    max_steps=8, learning_rate=5e-4, beta=0.1, max_length=256, logging_steps=1,
                    save_strategy="no", report_to="none", disable_tqdm=True, **config.trainer_device_args(trl=True),
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
    when other programs share the machine. ``show`` names the logged metrics the bar displays, keyed by the
    label it gives them (DPO: its loss and margin; online RL, notebook 07: the reward and the KL).
    """

    def __new__(cls, desc: str = "DPO", show: dict[str, str] | None = None):
        from tqdm.auto import tqdm
        from transformers import TrainerCallback

        shown = show or {"loss": "loss", "margin": "rewards/margins"}

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
                if logs and any(key in logs for key in shown.values()):
                    self.logs.append({"step": state.global_step, **logs})
                    self.bar.set_postfix({label: f"{logs.get(key, 0.0):.3f}" for label, key in shown.items()})

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


def _both_orders(records, constitution, request):
    """The usable records and two judge questions for each: (response, revision) in that order, then swapped."""
    todo = [rec for rec in records if rec["status"] == "ok"]
    questions = []
    for rec in todo:
        principle = constitution[rec["principle"]]
        questions.append(request(principle, rec["prompt"], rec["response"], rec["revision"]))
        questions.append(request(principle, rec["prompt"], rec["revision"], rec["response"]))
    return todo, questions


def ai_preferences(model, tokenizer, records: list[dict], constitution: dict[str, Principle], generation_config=None,
                   parse: Callable = parse_preference, batch_size: int = 16, seed: int = 0) -> Counter:
    """Ask the model which of (response, revision) follows the principle better - once in each order.

    Each usable record gets ``answers`` (the two raw answers) and ``preferred`` ("revision" or "response")
    when both answers parse and agree. Otherwise its ``status`` becomes ``"no parsable preference"`` or
    ``"position-inconsistent preference"`` (the answer followed the letter, not the content - a known
    bias of LLM judges). Returns the counts of every status.
    """
    todo, questions = _both_orders(records, constitution, preference_request)
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


def choice_tokens(tokenizer, choices: Sequence[str] = ("A", "B")) -> list[int]:
    """The token id of each choice as the first token of an answer (``"A"`` -> one id); an error if two coincide."""
    ids = []
    for choice in choices:
        tokens = tokenizer(choice, add_special_tokens=False).input_ids
        if not tokens:
            raise ValueError(f"{choice!r} tokenizes to nothing")
        ids.append(tokens[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"The choices {list(choices)} start with the same token: the judge could not tell them apart.")
    return ids


@torch.no_grad()
def choice_logprobs(model, tokenizer, messages: Sequence[str], choices: Sequence[str] = ("A", "B"),
                    batch_size: int = 8) -> torch.Tensor:
    """log p(choice | chat prompt) for every message and choice: a judge's answer read from its next-token odds.

    Each message becomes a chat prompt ending with the opened assistant turn; one forward pass gives the distribution
    of the answer's first token, and the log-probabilities of the choices' tokens are read from it - no text is
    generated, so no answer fails to parse. Batched with left padding (positions counted as if unpadded); the LM
    head runs on the last position only. Returns a float tensor of shape ``(len(messages), len(choices))``.
    """
    from labkit.generation import chat_prompt

    ids = choice_tokens(tokenizer, choices)
    result = torch.zeros((len(messages), len(ids)), dtype=torch.float32)
    if not messages:
        return result
    prompts = [chat_prompt(tokenizer, m) for m in messages]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch
    device = next(model.parameters()).device
    was_training, side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            enc = tokenizer([prompts[i] for i in rows], return_tensors="pt", padding=True, add_special_tokens=False)
            positions = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device),
                           position_ids=positions.to(device), logits_to_keep=1).logits[:, -1].float()
            result[rows] = torch.log_softmax(logits, dim=-1)[:, ids].cpu()
    finally:
        model.train(was_training)
        tokenizer.padding_side = side
    return result


def debiased_preference(a_logodds_first: float, a_logodds_second: float) -> tuple[float, float]:
    """Combine a judge's two answers into (score for the SECOND-listed text of the first order, position bias).

    Order 1 shows (x, y) as (A, B), order 2 shows (y, x). With ``a_logodds`` = log p(A) - log p(B) in each order,
    a judge that leans towards the letter A by ``bias`` and towards y by ``score`` answers
    ``order 1 = bias - score`` and ``order 2 = bias + score``. Half their difference is the score, half their sum the
    bias: averaging the two orders cancels the position bias by construction (Zheng et al., 2023, swap and average).
    """
    return (a_logodds_second - a_logodds_first) / 2, (a_logodds_first + a_logodds_second) / 2


def judge_both_orders(model, tokenizer, records: list[dict], constitution: dict[str, Principle],
                      request: Callable = preference_request, batch_size: int = 8):
    """The order-debiased AI judge of notebook 06: which of (response, revision) follows the principle better?

    Every usable record (``status == "ok"``) is asked twice, (response, revision) and (revision, response), and
    :func:`choice_logprobs` reads log p("A") - log p("B") after each question. :func:`debiased_preference` turns
    the two into the record's ``judge_score`` (log-odds for the revision; > 0 prefers it) and ``position_bias``
    (log-odds for whatever is shown first, the part averaging removes). The record gets ``preferred`` =
    ``"revision"`` or ``"response"`` by the sign of the score (an exact tie gets none and status ``"judge tie"``).
    Returns a ``pandas.DataFrame`` with one row per judged record.
    """
    import pandas as pd

    todo, questions = _both_orders(records, constitution, request)
    logps = choice_logprobs(model, tokenizer, questions, ("A", "B"), batch_size=batch_size)
    logodds = (logps[:, 0] - logps[:, 1]).tolist()
    rows = []
    for k, rec in enumerate(todo):
        first, second = logodds[2 * k], logodds[2 * k + 1]
        score, bias = debiased_preference(first, second)
        rec.update(judge_score=score, position_bias=bias, judge_logodds=(first, second))
        if score > 0:
            rec["preferred"] = "revision"
        elif score < 0:
            rec["preferred"] = "response"
        else:
            rec.pop("preferred", None)
            rec["status"] = "judge tie"
        rows.append({"id": rec["id"], "principle": rec["principle"],
                     "A log-odds, response shown first": first, "A log-odds, revision shown first": second,
                     "position bias": bias, "revision score": score, "preferred": rec.get("preferred")})
    return pd.DataFrame(rows, columns=["id", "principle", "A log-odds, response shown first",
                                       "A log-odds, revision shown first", "position bias", "revision score",
                                       "preferred"])


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
                                                       "position-inconsistent preference", "judge tie"):
            chosen, rejected = rec["revision"], rec["response"]
        else:
            continue
        out.append(conversational_pair(rec["prompt"], chosen, rejected))
    if not out:
        return datasets.Dataset.from_dict({"prompt": [], "chosen": [], "rejected": []})
    return datasets.Dataset.from_list(out)


# --- Responsible AI: a green-list watermark (Kirchenbauer et al., 2023) and a model card ------------------------

_MASK32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (two xor-shift-multiply rounds) of int64 tensors holding values in [0, 2**32)."""
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK32
    return (x >> 16) ^ x


#: How many held-out prompts notebook 06 samples with and without the watermark, and how many tokens each time
#: (``smoke``: the LABKIT_SIZES=smoke scale, which shrinks every count).
WATERMARK_SIZES = {"tiny": {"prompts": 16, "max_new_tokens": 48}, "course": {"prompts": 30, "max_new_tokens": 96},
                   "smoke": {"prompts": 4, "max_new_tokens": 12}}


def watermark_sizes() -> dict:
    """The watermark experiment's size for the active profile and size scale (:data:`WATERMARK_SIZES`)."""
    profile = config.get_profile()
    return dict(WATERMARK_SIZES["smoke" if getattr(profile, "scale", "full") == "smoke" else profile.name])


@dataclass(frozen=True)
class Watermark:
    """A green-list watermark: the secret ``key``, the green share ``gamma`` and the logit bias ``delta``.

    Kirchenbauer et al. (2023), "A Watermark for Large Language Models": before each token is sampled, a hash of
    the previous token (and the key) splits the vocabulary into a **green list** (a share ``gamma`` of the tokens)
    and a red list, and ``delta`` is added to the green tokens' logits. Text written without the key lands on green
    tokens a share ``gamma`` of the time, by chance; watermarked text does so far more often, and anyone holding the
    key can count it (:func:`watermark_score`) without the model. The paper draws the green list as a seeded random
    permutation of the vocabulary; here each (previous token, token) pair is hashed instead, which makes every
    token green with probability ``gamma`` independently - the same test statistic, and cheap to compute for a
    whole vocabulary at once.
    """

    key: int = 15485863
    gamma: float = 0.25
    delta: float = 2.0

    def __post_init__(self):
        if not 0 < self.gamma < 1:
            raise ValueError(f"gamma is the green share of the vocabulary, between 0 and 1 (not {self.gamma!r})")
        if self.delta < 0:
            raise ValueError(f"delta is a bias added to green logits, at least 0 (not {self.delta!r})")

    def is_green(self, previous, tokens) -> torch.Tensor:
        """Whether each token is on the green list seeded by the token before it (broadcasting, a bool tensor)."""
        previous = torch.as_tensor(previous, dtype=torch.int64)
        tokens = torch.as_tensor(tokens, dtype=torch.int64)
        seed = _mix32(((self.key & 0x7FFFFFFF) * 0x9E3779B1 + previous) & _MASK32)
        return _mix32(seed ^ tokens) < int(self.gamma * 2**32)

    def green_mask(self, previous: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """(batch, vocab_size) bool: the green list after each row's previous token."""
        return self.is_green(torch.as_tensor(previous).reshape(-1, 1), torch.arange(vocab_size).reshape(1, -1))


class WatermarkLogitsProcessor(LogitsProcessor):
    """A transformers ``LogitsProcessor`` that adds the watermark's ``delta`` to every green token's logit.

    Pass it to ``model.generate(..., logits_processor=LogitsProcessorList([WatermarkLogitsProcessor(w)]))``.
    transformers applies it before temperature, top-k and top-p, as the paper adds the bias to the raw logits.
    A strong preference survives: when one token is far more likely than the rest ("low entropy"), +delta
    rarely changes the choice - the watermark hides in the tokens where the model had real options.
    """

    def __init__(self, watermark: Watermark, rows: torch.Tensor | None = None):
        self.watermark = watermark
        self.rows = rows  # optional (batch,) bool: watermark only these rows of the batch

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        mask = self.watermark.green_mask(input_ids[:, -1].cpu(), scores.shape[-1])
        if self.rows is not None:
            mask &= self.rows.reshape(-1, 1).cpu()
        return scores + self.watermark.delta * mask.to(device=scores.device, dtype=scores.dtype)


class _ChosenTokenLogProbs(LogitsProcessor):
    """Records, at every step, the log-probability of the token chosen at the previous step under the scores it sees.

    Put first in the processor list it sees the model's own scores, before the watermark's bias and before
    temperature / top-p: the log-probabilities of the generated text under the model without the watermark.
    """

    def __init__(self):
        self.pending: torch.Tensor | None = None
        self.logps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.pending is not None:
            self.logps.append(self.pending.gather(1, input_ids[:, -1:].to(self.pending.device)).squeeze(1))
        self.pending = torch.log_softmax(scores.float(), dim=-1).cpu()
        return scores

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        """(batch, steps) log-probabilities, once generation returned its last tokens."""
        if self.pending is not None:
            self.logps.append(self.pending.gather(1, last_tokens.reshape(-1, 1).cpu()).squeeze(1))
        return torch.stack(self.logps, dim=1)


@torch.no_grad()
def sample_with_and_without_watermark(model, tokenizer, prompts: Sequence[str], watermark: Watermark,
                                      generation_config, batch_size: int = 16, seed: int = 0) -> dict:
    """Sample a completion of each formatted prompt twice - without and with the watermark - and score both.

    The paired experiment of notebook 06. Each batch of prompts is read once; its KV cache is then doubled so
    that one ``generate`` call continues every prompt twice side by side, one copy plain and one watermarked (a
    batch twice as wide costs far less than two batches on a CPU, where decoding is bound by reading the weights).
    While sampling, the log-probability of every chosen token under the model *without* the watermark is recorded
    (the raw scores, before the bias and before temperature / top-p), so the quality cost needs no second pass:
    ``*_nll`` is the mean negative log-likelihood per generated token, up to and including the end-of-turn token
    - the log of the text's perplexity under the unwatermarked model.

    ``labkit.generation.generate`` takes no logits processor, so this calls ``model.generate`` itself (left
    padding, prompts sorted by length into batches, seeded once). Returns ``{"plain": [...], "watermarked":
    [...], "plain_nll": tensor, "watermarked_nll": tensor}`` in the order of ``prompts``.
    """
    from transformers import DynamicCache, LogitsProcessorList

    from labkit.generation import cache_argument

    cache_name = cache_argument(model)  # "cache" since transformers 5.24, "past_key_values" before
    tokenizer.padding_side = "left"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = generation_config.eos_token_id if generation_config.eos_token_id is not None else tokenizer.eos_token_id
    eos = torch.tensor(list(eos) if isinstance(eos, list | tuple) else [eos])
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    result = {"plain": [None] * len(prompts), "watermarked": [None] * len(prompts),
              "plain_nll": torch.full((len(prompts),), math.nan),
              "watermarked_nll": torch.full((len(prompts),), math.nan)}
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        enc = tokenizer([prompts[i] for i in rows], return_tensors="pt", padding=True, add_special_tokens=False)
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        cache = DynamicCache(config=model.config)  # the prompts but their last token, read once
        positions = (mask[:, :-1].cumsum(-1) - 1).clamp(min=0)  # left padding: count positions as generate() does
        model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions, **{cache_name: cache})
        cache.batch_repeat_interleave(2)  # rows p0, p0, p1, p1, ...: even rows plain, odd rows watermarked
        marked = torch.arange(2 * len(rows)) % 2 == 1
        recorder = _ChosenTokenLogProbs()
        processors = LogitsProcessorList([recorder, WatermarkLogitsProcessor(watermark, marked)])
        out = model.generate(input_ids=ids.repeat_interleave(2, dim=0), attention_mask=mask.repeat_interleave(2, dim=0),
                             generation_config=generation_config, pad_token_id=pad, logits_processor=processors,
                             **{cache_name: cache})
        new = out[:, ids.shape[1]:].cpu()
        logps = recorder.finish(new[:, -1])
        is_eos = torch.isin(new, eos)
        keep = (is_eos.cumsum(dim=1) - is_eos.long()) == 0  # every token up to and including the first end of turn
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        for k, i in enumerate(rows):
            for name, row in (("plain", 2 * k), ("watermarked", 2 * k + 1)):
                result[name][i] = texts[row].strip()
                result[f"{name}_nll"][i] = -logps[row][keep[row]].mean()
    model.train(was_training)
    return result


def watermark_score(token_ids: Sequence[int], watermark: Watermark, ignore_repeats: bool = True) -> dict:
    """Count the green tokens of a text and turn the count into a z-score: ``z = (g - γT) / sqrt(T γ (1 - γ))``.

    Each token after the first is scored against the one before it (T of them, ``g`` green). Without the key's
    watermark, g follows a binomial distribution with mean γT and variance Tγ(1-γ), so z is about standard normal;
    a watermarked text has far more green tokens and a large z. With ``ignore_repeats`` a (previous, token) pair
    that occurred before in the text is not counted again: a repeated phrase would otherwise count the same coin
    flip many times and push an unwatermarked text's z up. Returns ``tokens`` (T), ``green`` (g),
    ``green_share`` and ``z`` (nan when no token can be scored).
    """
    ids = [int(t) for t in token_ids]
    pairs = list(zip(ids[:-1], ids[1:], strict=True))
    if ignore_repeats:
        pairs = list(dict.fromkeys(pairs))
    n = len(pairs)
    if n == 0:
        return {"tokens": 0, "green": 0, "green_share": math.nan, "z": math.nan}
    previous, tokens = zip(*pairs, strict=True)
    green = int(watermark.is_green(list(previous), list(tokens)).sum())
    gamma = watermark.gamma
    return {"tokens": n, "green": green, "green_share": green / n,
            "z": (green - gamma * n) / math.sqrt(n * gamma * (1 - gamma))}


def watermark_scores(tokenizer, texts: Sequence[str], watermark: Watermark, ignore_repeats: bool = True):
    """:func:`watermark_score` of each text, as the detector sees it: the text re-tokenized, no model needed.

    Returns a ``pandas.DataFrame`` with one row per text (``tokens``, ``green``, ``green_share``, ``z``).
    Re-tokenizing decoded text can split a few words differently from the tokens the model produced; the
    detector has only the text, so that loss is part of what it measures.
    """
    import pandas as pd

    rows = [watermark_score(tokenizer(text, add_special_tokens=False).input_ids, watermark, ignore_repeats)
            for text in texts]
    return pd.DataFrame(rows, columns=["tokens", "green", "green_share", "z"])


def z_threshold(false_positive_rate: float) -> float:
    """The z above which a text is flagged so that unwatermarked text is flagged with ``false_positive_rate``.

    One-sided: only many green tokens are evidence of the watermark. Uses the normal approximation of the
    binomial count (good for texts of more than a few dozen tokens): ``Φ⁻¹(1 - rate)``; the paper's z = 4
    corresponds to about 3 in 100,000.
    """
    from statistics import NormalDist

    if not 0 < false_positive_rate < 1:
        raise ValueError(f"false_positive_rate is a probability between 0 and 1, not {false_positive_rate!r}")
    return NormalDist().inv_cdf(1 - false_positive_rate)


def rate_ci(hits: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """A share ``hits / n`` and its Wilson score interval: meaningful at 0 of n too, where a bootstrap gives [0, 0].

    With 0 false positives among 40 texts the interval still reaches about 9 %: few texts cannot show that a
    rate is small, only that it is not large.
    """
    from statistics import NormalDist

    if n <= 0 or not 0 <= hits <= n:
        raise ValueError(f"need 0 <= hits <= n and n > 0, got hits={hits!r}, n={n!r}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    share = hits / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if hits == 0 else max(0.0, centre - half)  # exactly 0 at 0 hits (the formula leaves rounding dust)
    high = 1.0 if hits == n else min(1.0, centre + half)
    return share, low, high


#: A short model card: huggingface_hub renders the YAML metadata from ``card_data`` and the rest from the fields.
MODEL_CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ model_id }}

{{ model_summary }}

## Model details

- **Base model:** {{ base_model }}
- **Method:** {{ method }}
- **Licence:** {{ licence }}
- **Card written by:** {{ authors }}

## Intended use

{{ intended_use }}

**Out of scope:** {{ out_of_scope }}

## Training data

{{ training_data }}

## Evaluation

{{ results }}

## Watermark

{{ watermark }}

## Risks and limitations

{{ limitations }}

## How this card was made

{{ provenance }}
"""


def markdown_table(rows: Sequence[dict]) -> str:
    """A list of dicts (same keys) as a Markdown table, for a model card's results."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]).replace("|", "\\|") for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def model_card(card_data, **fields):
    """A ``huggingface_hub.ModelCard`` rendered from ``card_data`` (a ``ModelCardData``) and the card's sections.

    The documentation mitigation of responsible AI (Mitchell et al., 2019, "Model Cards for Model Reporting"):
    what the model is, what it is for and not for, what it was trained on, how it was evaluated and where it fails.
    ``fields`` fill :data:`MODEL_CARD_TEMPLATE` (``model_id``, ``model_summary``, ``base_model``, ``method``,
    ``licence``, ``authors``, ``intended_use``, ``out_of_scope``, ``training_data``, ``results``, ``watermark``,
    ``limitations``, ``provenance``); a missing one is an error rather than a silent gap.
    """
    from huggingface_hub import ModelCard

    needed = {"model_id", "model_summary", "base_model", "method", "licence", "authors", "intended_use",
              "out_of_scope", "training_data", "results", "watermark", "limitations", "provenance"}
    missing = sorted(needed - set(fields))
    if missing:
        raise ValueError(f"The model card needs {', '.join(missing)}.")
    return ModelCard.from_template(card_data, template_str=MODEL_CARD_TEMPLATE, **fields)


def base_model_licence() -> tuple[str, str]:
    """The instruct LLM's licence and where it was read, for a model card: ``(licence, source)``.

    The tiny profile's SmolLM2 comes from a wheel, whose package metadata declares the licence; in the course
    profile the base model's own card on the hub says it. When neither can be read the licence is ``"unknown"``
    and the source says why - a card must not guess a licence.
    """
    import importlib.metadata

    if config.get_profile().name == "tiny":
        from labkit.tiny import SMOLLM2

        package = SMOLLM2["package"]
        try:
            return importlib.metadata.metadata(package)["License"], f"declared by the {package} package it comes from"
        except importlib.metadata.PackageNotFoundError:
            return "unknown", f"the {package} package is not installed"
    from huggingface_hub import ModelCard

    model_id = config.role("llm").id
    try:
        return str(ModelCard.load(model_id).data.license), "read from the base model's card on the hub"
    except Exception as err:  # offline, gated, or a card without metadata
        return "unknown", f"the base model's card could not be read ({type(err).__name__})"
