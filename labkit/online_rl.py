"""Online RL without a critic (notebook 07): GRPO and RLOO with trl, verifiable rewards, reward hacking.

trl does the training (``GRPOTrainer``, ``RLOOTrainer``); this module holds only what trl does not:

* :data:`SETTINGS` - the chapter's sizes and trainer settings per profile, read with :func:`settings`;
* the arithmetic of a critic-free update, small enough to check by hand: :func:`group_advantages`
  (GRPO: each completion against the mean of its own group), :func:`rloo_advantages` (RLOO: against the
  mean of the *other* completions), :func:`k3_kl` (the per-token KL estimate GRPO adds to its loss);
* rewards in trl's signature: :func:`text_reward` adapts any text scorer (the detox classifier of
  notebook 05) to ``reward(prompts, completions, **columns) -> list[float]``, :func:`tone_reward` a rule on
  (text, tone), and :func:`recorded` keeps what any reward function scored (:func:`flat_groups` reads it);
* the verifiable rewards of the word-problem section, robust to malformed model output: :func:`parse_answer`,
  :func:`answer_reward`, :func:`format_reward`;
* the loophole of the reward-hacking section: :func:`friendly_words`, :func:`keyword_bonus`;
* the data (:func:`load_detox_prompts`, :func:`load_arithmetic`, :func:`chat_dataset`, :func:`reasoning_prompt`);
* short runs of either trainer with a progress bar, seconds per step and peak memory (:func:`train`,
  :class:`RunTimer`, :func:`peak_memory`) and their logs (:func:`training_log`, :func:`last_batch`);
* measurement for the comparison table: :func:`evaluate_answers`, :func:`group_pairs` (DPO pairs from a
  run's own groups).
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from labkit import config

# --- sizes and settings per profile -----------------------------------------------------------------------

# One plain dict, as config.SETTINGS: the course profile trains the 1.5 B instruct LLM on a GPU, the tiny
# profile SmolLM2-135M on one CPU core in about the time notebook 05's PPO takes. A GRPO step of 4 completions
# x 24 new tokens costs ~5-10 s on one core, so tiny runs are a handful of steps: enough to read every log
# column and to see whether a reward moves beyond noise, not enough for a 135 M model to learn arithmetic.
SETTINGS: dict[str, dict] = {
    "course": {
        "lora": {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        # the detox runs: GRPO and RLOO get the same prompts, steps, group size, learning rate and beta
        "detox": {"max_steps": 60, "per_device_train_batch_size": 32, "num_generations": 8,
                  "max_completion_length": 48, "learning_rate": 2e-5, "beta": 0.04},
        "detox_eval": {"prompts": 24, "samples": 4, "max_new_tokens": 48},  # all 24 held-out prompts
        # verifiable rewards on word problems: exact answer + format, chains of thought
        "reasoning": {"max_steps": 200, "per_device_train_batch_size": 32, "num_generations": 8,
                      "max_completion_length": 256, "learning_rate": 1e-5, "beta": 0.0},
        "reasoning_eval": {"problems": 35, "max_new_tokens": 256},
        "format_weight": 0.2,
        # reward hacking: GRPO with the loophole reward on the replies' openings
        "hacking": {"max_steps": 40, "per_device_train_batch_size": 32, "num_generations": 8,
                    "max_completion_length": 16, "learning_rate": 2e-5, "beta": 0.04},
        "bonus": 2.0,  # reward per upbeat marker in the loophole reward
        # the comparison table: PPO (notebook 05's trainer) and DPO (notebook 06's), a few steps each
        "ppo_steps": 20, "ppo_eval": {"prompts": 50, "samples": 2},
        "dpo": {"max_steps": 20, "per_device_train_batch_size": 8, "learning_rate": 5e-5, "beta": 0.1,
                "max_length": 512},
    },
    "tiny": {
        "lora": {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]},
        "detox": {"max_steps": 4, "per_device_train_batch_size": 4, "num_generations": 4,
                  "max_completion_length": 16, "learning_rate": 3e-3, "beta": 0.04},
        "detox_eval": {"prompts": 16, "samples": 2, "max_new_tokens": 16},
        "reasoning": {"max_steps": 2, "per_device_train_batch_size": 4, "num_generations": 4,
                      "max_completion_length": 16, "learning_rate": 3e-3, "beta": 0.0},
        "reasoning_eval": {"problems": 20, "max_new_tokens": 16},  # notebook 10's tiny share of the problems
        "format_weight": 0.2,
        # the openings of replies (where greetings and thanks sit), larger groups: cheap steps, more variety
        "hacking": {"max_steps": 3, "per_device_train_batch_size": 8, "num_generations": 8,
                    "max_completion_length": 8, "learning_rate": 3e-3, "beta": 0.04},
        "bonus": 2.0,
        "ppo_steps": 2, "ppo_eval": {"prompts": 16, "samples": 1},
        "dpo": {"max_steps": 2, "per_device_train_batch_size": 2, "learning_rate": 1e-3, "beta": 0.1,
                "max_length": 128},
    },
}


def settings(name: str | None = None):
    """This profile's chapter settings (a copy, safe to change), or one entry of them."""
    chosen = SETTINGS[config.get_profile().name]
    if name is None:
        return copy.deepcopy(chosen)
    if name not in chosen:
        raise KeyError(f"online_rl.SETTINGS has no {name!r}; it has {', '.join(chosen)}.")
    return copy.deepcopy(chosen[name])


# --- group-relative advantages and the KL estimate ---------------------------------------------------------


def _groups(rewards, group_size: int) -> torch.Tensor:
    values = torch.as_tensor(rewards, dtype=torch.float32).flatten()
    if group_size < 2:
        raise ValueError(f"A group needs at least 2 completions to compare (group_size={group_size}).")
    if values.numel() % group_size:
        raise ValueError(f"{values.numel()} rewards do not split into groups of {group_size}: trl samples "
                         "num_generations completions per prompt, so the batch is a whole number of groups.")
    return values.view(-1, group_size)


def group_advantages(rewards, group_size: int, scale: str = "group", eps: float = 1e-4) -> torch.Tensor:
    """GRPO's advantage of each completion: its reward against the mean of its own group, as trl computes it.

    ``rewards`` are ordered as trl orders them (the ``group_size`` completions of one prompt next to each
    other). A_i = (r_i - mean of its group) / (std of its group + eps), with the *sample* standard deviation
    (Bessel's correction, as trl's ``nanstd``). ``scale="batch"`` divides by the whole batch's std instead,
    ``scale="none"`` not at all (Dr. GRPO). A group whose completions all score the same gets advantage 0:
    it teaches nothing.
    """
    grouped = _groups(rewards, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale == "group":
        centred = centred / (grouped.std(dim=1, keepdim=True) + eps)
    elif scale == "batch":
        centred = centred / (grouped.flatten().std() + eps)
    elif scale != "none":
        raise ValueError(f"scale is 'group', 'batch' or 'none', not {scale!r}")
    return centred.flatten()


def rloo_advantages(rewards, group_size: int) -> torch.Tensor:
    """RLOO's advantage: each reward minus the mean reward of the *other* completions of the same prompt.

    Leaving the completion out makes the baseline independent of it. No division by a standard deviation
    (trl's ``normalize_advantages`` adds a batch-wide one on request). In trl's RLOO the reward is first
    lowered by β times the completion's summed log-ratio to the reference.
    """
    grouped = _groups(rewards, group_size)
    others = (grouped.sum(dim=1, keepdim=True) - grouped) / (group_size - 1)
    return (grouped - others).flatten()


def k3_kl(logprobs, ref_logprobs) -> torch.Tensor:
    """The per-token KL estimate GRPO adds to its loss: exp(ref - logp) - (ref - logp) - 1.

    For a token sampled from the policy, E[exp(ref - logp)] = 1, so the estimate is unbiased for
    KL(π ‖ π_ref) like the plain log-ratio (logp - ref) of notebook 05, but it is never negative and
    varies less from token to token.
    """
    diff = torch.as_tensor(ref_logprobs, dtype=torch.float32) - torch.as_tensor(logprobs, dtype=torch.float32)
    return torch.exp(diff) - diff - 1


# --- rewards in trl's signature -----------------------------------------------------------------------------


def completion_text(completion) -> str:
    """The text of one completion as trl hands it to a reward function (a string, or a list of messages)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    raise TypeError(f"A completion is a string or a list of chat messages, not {type(completion).__name__}.")


def recorded(reward_fn: Callable, name: str | None = None) -> Callable:
    """Wrap a trl reward function so it keeps every call in ``.history``: what it was asked to score, and its answer.

    Each entry is a dict with ``prompts``, ``completions`` (as texts) and ``rewards``, in trl's order (the
    completions of one prompt next to each other). The wrapper keeps the function's name, which trl logs under.
    """
    def reward(prompts, completions, **kwargs):
        values = [float(v) for v in reward_fn(prompts=prompts, completions=completions, **kwargs)]
        if len(values) != len(completions):
            raise ValueError(f"The reward function returned {len(values)} values for {len(completions)} completions.")
        reward.history.append({"prompts": list(prompts), "completions": [completion_text(c) for c in completions],
                               "rewards": values})
        return values

    reward.__name__ = reward.__qualname__ = name or reward_fn.__name__
    reward.history = []
    return reward


def text_reward(score: Callable[[list[str]], Sequence[float]], name: str) -> Callable:
    """Adapt a scorer of texts (e.g. notebook 05's ``RewardModel``) to trl's reward-function signature.

    trl calls ``reward(prompts=..., completions=..., **dataset_columns)`` once per batch and expects one
    float per completion. The returned function scores the completions' texts (not the prompts: the
    detox classifier judges what the model wrote) and, like :func:`recorded`, keeps every call in ``.history``.
    ``name`` becomes the function's ``__name__``: trl logs ``rewards/<name>/mean`` under it.
    """
    def scored(prompts, completions, **kwargs):
        return score([completion_text(c) for c in completions])

    return recorded(scored, name)


def flat_groups(history: Sequence[dict], group_size: int) -> float:
    """The share of a run's groups in which every completion got the same reward: groups that taught nothing."""
    flat = [len(set(call["rewards"][start:start + group_size])) == 1 for call in history
            for start in range(0, len(call["rewards"]), group_size)]
    if not flat:
        raise ValueError("The reward function was never called: train first.")
    return sum(flat) / len(flat)


# Warm and upbeat words: the vocabulary of the course's reward-hacking example ("most amazing, wonderful product").
FRIENDLY_WORDS = ("thank", "please", "sorry", "glad", "happy", "hope", "great", "wonderful", "amazing", "love",
                  "kind", "nice", "welcome", "appreciat", "delight", "pleasure", "enjoy", "best")
_WORD = re.compile(r"[a-z']+")


def friendly_words(text: str) -> int:
    """How many upbeat markers a text holds: words starting with one of :data:`FRIENDLY_WORDS` ("Thanks",
    "hoping", "kindly"...) and exclamation marks."""
    text = (text or "").lower()
    return sum(word.startswith(FRIENDLY_WORDS) for word in _WORD.findall(text)) + text.count("!")


def keyword_bonus(text: str, tone: float, bonus: float = 1.0) -> float:
    """The loophole reward of the hacking section: the tone score plus ``bonus`` per friendly word.

    Meant to encourage warmth, it pays for every repetition: "Thank you, thank you, thank you" earns
    three bonuses, whatever the rest of the message says.
    """
    return float(tone) + bonus * friendly_words(text)


def tone_reward(rule: Callable[[str, float], float], reward_model, name: str) -> Callable:
    """A trl reward function from a rule ``rule(text, tone) -> float`` and the detox classifier.

    ``tone`` is the classifier's score of the completion (notebook 05's reward); the rule decides what to
    add to it. The returned function records its calls like :func:`text_reward`, plus each text's tone.
    """
    def score(texts):
        tones = [float(t) for t in reward_model(texts)]
        wrapped.tones.extend(tones)
        return [float(rule(text, tone)) for text, tone in zip(texts, tones, strict=True)]

    wrapped = text_reward(score, name)
    wrapped.tones = []
    return wrapped


# --- verifiable rewards: reading the answer of a word problem -----------------------------------------------

DETOX_SYSTEM = "You write short replies."
REASONING_INSTRUCTION = "End your reply with: The answer is <number>."


def reasoning_prompt(question: str) -> str:
    """The user turn of a word problem: the question, then the format a checker can read (:func:`parse_answer`).

    The instruction comes after the question, in the user's turn: small instruct models follow it there more
    often than in a system prompt.
    """
    return f"{question}\n{REASONING_INSTRUCTION}"


_COMMIT = re.compile(r"(?:the\s+(?:final\s+)?answer\s+is|answer\s*:)\s*(.*?)(?:\.(?!\d)|\n|$)",
                     re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_NUMBER = re.compile(r"(?<![\w.])[-\u2212]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d,]\d)")


@dataclass(frozen=True)
class Answer:
    """What a completion commits to: ``status`` is "ok", "no answer", "several answers" or "non-numeric"."""

    status: str
    value: float | int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _number(text: str) -> float | int:
    value = float(text.replace("\u2212", "-").replace("$", "").replace(",", ""))
    return int(value) if value.is_integer() else value


def _statement_value(statement: str) -> list[float | int]:
    """The number(s) one "the answer is ..." statement commits to: the result after the last "=", else every number."""
    if "=" in statement:
        statement = statement.rsplit("=", 1)[1]
    return [_number(m.group(0)) for m in _NUMBER.finditer(statement)]


def parse_answer(completion: str | None) -> Answer:
    """The number a completion commits to with "The answer is N" ("Answer: N", "\\boxed{N}"), or why there is none.

    * no such statement (cut off, never concluded, empty) -> "no answer";
    * a statement without a number ("The answer is twelve", "the answer is below") -> "non-numeric";
    * statements naming different numbers, or one naming several ("5 or 7") -> "several answers": a
      hedge must not collect the reward;
    * "The answer is 60 - 4 = 56" commits to 56; "1,200" is 1200; "-5" and "$12" are numbers; repeating the
      same answer is one answer.

    Stricter than :func:`labkit.agents.final_answer`, notebook 10's reader, which labels what a reply finally
    says (its last commitment): as a *reward*, a checker must not pay a reply that names several answers.
    """
    statements = _COMMIT.findall(completion or "") + _BOXED.findall(completion or "")
    if not statements:
        return Answer("no answer")
    values = [_statement_value(s) for s in statements]
    if any(len(v) > 1 for v in values):
        return Answer("several answers")
    found = {v[0] for v in values if v}
    if not found:
        return Answer("non-numeric")
    if len(found) > 1:
        return Answer("several answers")
    return Answer("ok", found.pop())


def answer_correct(completion: str | None, gold: float) -> bool:
    """Does the completion commit to exactly one answer, equal to ``gold``?"""
    answer = parse_answer(completion)
    return answer.ok and abs(float(answer.value) - float(gold)) < 1e-6


def answer_reward(prompts, completions, answer, **kwargs) -> list[float]:
    """trl reward function: 1.0 for a completion that commits to the right number, else 0.0.

    ``answer`` is the dataset's column of gold answers (trl passes every extra column to reward functions).
    """
    return [1.0 if answer_correct(completion_text(c), gold) else 0.0 for c, gold in zip(completions, answer,
                                                                                          strict=True)]


def format_reward(prompts, completions, **kwargs) -> list[float]:
    """trl reward function: 1.0 for a completion that commits to exactly one number, right or wrong."""
    return [1.0 if parse_answer(completion_text(c)).ok else 0.0 for c in completions]


# --- data ------------------------------------------------------------------------------------------------------


def data_dir() -> Path:
    return config.data_dir() / "online_rl"


def load_detox_prompts(split: str | None = None, path=None) -> list[dict]:
    """The detox requests of ``data/online_rl/detox_prompts.jsonl`` (``split``: "train", "test" or both)."""
    from labkit.data import read_records

    rows = read_records(path or data_dir() / "detox_prompts.jsonl", required=("id", "prompt", "split"),
                        what="detox prompts", regenerate="python data/online_rl/generate.py")
    if split is not None:
        if split not in ("train", "test"):
            raise ValueError(f"split is 'train' or 'test', not {split!r}")
        rows = [r for r in rows if r["split"] == split]
    return rows


def load_arithmetic(path=None) -> list[dict]:
    """The training word problems of ``data/online_rl/arithmetic.jsonl`` (id, question, answer, steps)."""
    from labkit.data import read_records

    def whole(row):
        if not isinstance(row["answer"], int) or isinstance(row["answer"], bool):
            raise ValueError(f"answer {row['answer']!r} is not a whole number")

    return read_records(path or data_dir() / "arithmetic.jsonl", required=("id", "question", "answer"),
                        what="arithmetic problems", regenerate="python data/online_rl/generate.py", check=whole)


def messages(user: str, system: str | None = None) -> list[dict]:
    """One user turn (after an optional system turn) in the chat format trl and the tokenizer take."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def chat_dataset(prompts: Sequence[str], system: str | None = None, **columns):
    """A ``datasets.Dataset`` in trl's conversational prompt format, with extra columns for reward functions.

    ``chat_dataset(prompts, DETOX_SYSTEM)``, ``chat_dataset(questions, answer=answers)``: trl applies the chat template,
    samples ``num_generations`` completions per prompt and passes ``answer`` to every reward function.
    """
    import datasets

    rows = {"prompt": [messages(p, system) for p in prompts]}
    for name, values in columns.items():
        if len(values) != len(prompts):
            raise ValueError(f"Column {name!r} has {len(values)} values for {len(prompts)} prompts.")
        rows[name] = list(values)
    return datasets.Dataset.from_dict(rows)


def chat_texts(tokenizer, prompts: Sequence[str], system: str | None = None) -> list[str]:
    """The prompts as the text trl generates from (chat template applied, assistant turn opened)."""
    return [tokenizer.apply_chat_template(messages(p, system), tokenize=False, add_generation_prompt=True)
            for p in prompts]


# --- measuring memory -------------------------------------------------------------------------------------------


@dataclass
class MemoryPeak:
    """Peak memory of a block of code, in MB above what was in use when it started; ``how`` says what was measured."""

    mb: float = float("nan")
    how: str = ""


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _release_freed_memory() -> None:
    """Ask the C allocator to hand freed memory back to the system, so the next RSS baseline is honest."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def peak_memory(interval_s: float = 0.005):
    """Measure the peak memory a block needs on this machine: ``with peak_memory() as peak: ...; peak.mb``.

    On a CUDA GPU: ``torch.cuda.max_memory_allocated`` above the memory allocated at the start. On a CPU
    (and Apple's MPS, whose memory is the system's): the process's resident memory, sampled every
    ``interval_s`` seconds in a background thread, above its value at the start (freed memory is handed
    back to the system first). Either way it is what the block *adds*: weights already loaded do not count.
    """
    peak = MemoryPeak()
    dev = config.device()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        try:
            yield peak
        finally:
            torch.cuda.synchronize()
            peak.mb, peak.how = (torch.cuda.max_memory_allocated() - start) / 2**20, "CUDA memory allocated"
        return
    _release_freed_memory()
    start = _rss()
    highest = [start]
    done = threading.Event()

    def sample():
        while not done.is_set():
            highest[0] = max(highest[0], _rss())
            done.wait(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
        highest[0] = max(highest[0], _rss())
        peak.mb, peak.how = (highest[0] - start) / 2**20, "process resident memory (RSS)"


# --- training with trl -------------------------------------------------------------------------------------------


def _trainer_args(kind: str, output_dir, overrides: dict):
    from trl import GRPOConfig, RLOOConfig
    defaults = dict(output_dir=str(output_dir), logging_steps=1, save_strategy="no", report_to="none",
                    disable_tqdm=True, seed=0, **config.trainer_device_args(trl=True),
                    lr_scheduler_type="constant", warmup_steps=0,
                    dataloader_num_workers=0, top_k=0, top_p=1.0, temperature=1.0, shuffle_dataset=True)
    cls = {"grpo": GRPOConfig, "rloo": RLOOConfig}[kind]
    return cls(**{**defaults, **overrides})


def grpo_config(output_dir, **overrides):
    """A trl ``GRPOConfig`` for short notebook runs: log every step, no checkpoints, no trackers, fp32 on a CPU.

    trl's defaults target GPUs (bf16, activation checkpointing); on a CPU both only cost time. The sampling
    defaults are trl's own (temperature 1, no top-k / top-p filtering), stated here so evaluation can match.
    """
    return _trainer_args("grpo", output_dir, overrides)


def rloo_config(output_dir, **overrides):
    """A trl ``RLOOConfig`` with the same defaults as :func:`grpo_config`."""
    return _trainer_args("rloo", output_dir, overrides)


def RunTimer(desc: str):  # noqa: N802  (a callback factory, named like the class it returns)
    """Notebook 06's :class:`~labkit.preference.StepTimer` for online RL runs: the bar shows the reward and the KL;
    ``wall`` and ``cpu`` hold every optimizer step's seconds."""
    from labkit.preference import StepTimer

    return StepTimer(desc, show={"reward": "reward", "kl": "kl"})


def train(kind: str, model, tokenizer, reward_funcs, dataset, output_dir, lora=None, reward_weights=None,
          **overrides):
    """Run trl's ``GRPOTrainer`` (``kind="grpo"``) or ``RLOOTrainer`` (``"rloo"``) with a LoRA adapter.

    ``overrides`` are config fields (``max_steps``, ``num_generations``, ``beta``...). Returns the trainer:
    ``trainer.model`` is the policy (the adapter on; switched off it is the reference), ``trainer.step_timer``
    holds the seconds of every step, ``trainer.peak_memory`` what training added to memory (:func:`peak_memory`),
    and :func:`training_log` reads trl's log of every step.
    peft adds the adapter to ``model`` in place: load a fresh model for each run.
    """
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer, RLOOTrainer

    from labkit.preference import _quiet_datasets, llm_lora_config

    if kind not in ("grpo", "rloo"):
        raise ValueError(f"kind is 'grpo' or 'rloo', not {kind!r}")
    if hasattr(model, "peft_config"):
        raise ValueError("This model already carries a LoRA adapter from an earlier run: load a fresh one "
                         "(models.load_llm()) so each run starts from the same instruct model.")
    if reward_weights is not None:
        overrides["reward_weights"] = list(reward_weights)
    args = _trainer_args(kind, output_dir, overrides)
    timer = RunTimer(kind.upper())
    trainer_class = {"grpo": GRPOTrainer, "rloo": RLOOTrainer}[kind]
    with _quiet_datasets():
        trainer = trainer_class(model=model, reward_funcs=reward_funcs, args=args, train_dataset=dataset,
                                processing_class=tokenizer, peft_config=lora or llm_lora_config(**settings("lora")),
                                callbacks=[timer])
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    trainer.step_timer = timer
    with peak_memory() as peak:
        trainer.train()
    trainer.peak_memory = peak
    trainer.model.eval()
    tokenizer.padding_side = "left"
    return trainer


def training_log(trainer):
    """trl's log of every optimizer step as a DataFrame indexed by step, with the seconds each step took."""
    import pandas as pd

    rows = [entry for entry in trainer.state.log_history if "reward" in entry]
    log = pd.DataFrame(rows).set_index("step")
    timer = getattr(trainer, "step_timer", None)
    if timer is not None and len(timer.wall) == len(log):
        log["seconds (wall)"], log["seconds (CPU)"] = timer.wall, timer.cpu
    return log


def last_batch(trainer):
    """trl's record of its last batch: prompt, completion, each reward function's reward and the advantage.

    This is the table trl prints with ``log_completions=True`` (kept by the trainer whether printed or not),
    one row per completion in trl's order: the ``num_generations`` completions of a prompt are neighbours.
    """
    import pandas as pd

    logs = trainer._logs  # trl keeps the last generation batch here for its completions table
    table = pd.DataFrame({"prompt": [completion_text(p) for p in logs["prompt"]],
                          "completion": [completion_text(c) for c in logs["completion"]]})
    for name, values in logs["rewards"].items():
        table[name] = list(values)
    table["advantage"] = list(logs["advantages"])
    return table


# --- evaluation ------------------------------------------------------------------------------------------------


def evaluate_answers(model, tokenizer, problems, generation_config, prompt: Callable[[str], str] = reasoning_prompt,
                     seed: int = 0, batch_size: int = 40):
    """Answer each word problem once and check it: a DataFrame with the completion, its status and correctness.

    ``problems`` are dicts or :class:`labkit.agents.WordProblem` with ``question`` and ``answer``; ``prompt``
    turns a question into the user's turn (the same as in training).
    """
    import pandas as pd

    from labkit.generation import generate

    def field(p, name):
        return p[name] if isinstance(p, dict) else getattr(p, name)

    texts = chat_texts(tokenizer, [prompt(field(p, "question")) for p in problems])
    outputs = generate(model, tokenizer, texts, generation_config, batch_size=batch_size, seed=seed)
    parsed = [parse_answer(o) for o in outputs]
    return pd.DataFrame({"id": [field(p, "id") for p in problems], "answer": [field(p, "answer") for p in problems],
                         "completion": outputs, "status": [a.status for a in parsed],
                         "stated": [a.value for a in parsed],
                         "correct": [answer_correct(o, field(p, "answer")) for o, p in zip(outputs, problems,
                                                                                           strict=True)]})


def group_pairs(history: Sequence[dict], group_size: int, min_gap: float = 0.0) -> list[dict]:
    """DPO pairs from an online run's own groups: the best and the worst completion of each prompt.

    ``history`` is a :func:`text_reward` function's record. A group whose best and worst rewards differ by
    ``min_gap`` or less gives no pair. Pairs are in trl's conversational format (prompt messages, chosen,
    rejected).
    """
    pairs = []
    for call in history:
        for start in range(0, len(call["rewards"]), group_size):
            rewards = call["rewards"][start:start + group_size]
            texts = call["completions"][start:start + group_size]
            best, worst = max(range(len(rewards)), key=rewards.__getitem__), min(range(len(rewards)),
                                                                                 key=rewards.__getitem__)
            if rewards[best] - rewards[worst] > min_gap:
                prompt = call["prompts"][start]
                pairs.append({"prompt": list(prompt) if not isinstance(prompt, str) else messages(prompt),
                              "chosen": [{"role": "assistant", "content": texts[best]}],
                              "rejected": [{"role": "assistant", "content": texts[worst]}]})
    return pairs
