"""Multiple-choice benchmarks scored by log-likelihood, MMLU-style, and how to read the scores (notebook 04).

MMLU, ARC, HellaSwag and most leaderboard benchmarks ask a question with a few options and count how
often the model's choice is right. A model that can only *score* text (no instruction following needed)
chooses by likelihood: put each option after the question and ask the model how probable its tokens are.
labkit does this in one forward pass per batch of question x option sequences:

* :func:`load_benchmark` - the project's questions (``data/benchmark/questions.jsonl``) as a
  ``datasets.Dataset`` with MMLU's columns (``question``, ``subject``, ``choices``, ``answer`` = index);
* :func:`cloze_prompts` / :func:`letter_prompts` - the two classic formats: score each option's *text*
  after "Answer:", or list the options as A-D and score the *letter* (the original MMLU format);
* :func:`option_logprobs` and :func:`score_options` - summed log-probabilities of each option;
* :func:`choose` - the prediction, with the length normalisation made explicit;
* :func:`accuracy_table` - accuracy per subject with Wilson intervals and a test against chance;
* :func:`option_probabilities`, :func:`expected_calibration_error`, :func:`reliability_table`,
  :func:`brier_score` - calibration: does the model's confidence match how often it is right (HELM's
  second metric next to accuracy)?
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

LETTERS = "ABCD"
NORMALIZATIONS = ("sum", "token", "char")


def benchmark_path() -> Path:
    """Where the project's multiple-choice questions live (``data/benchmark/questions.jsonl``)."""
    from labkit import config

    return config.data_dir() / "benchmark" / "questions.jsonl"


def load_benchmark(path: str | Path | None = None):
    """The project's multiple-choice benchmark as a ``datasets.Dataset`` (columns as in ``cais/mmlu``).

    Each row: ``id``, ``subject``, ``question``, ``choices`` (4 strings) and ``answer`` (the index of the
    right choice). Every line is validated; a malformed one raises an error naming the line.
    """
    import datasets

    from labkit.data import read_records

    path = Path(path) if path is not None else benchmark_path()

    def valid(row: dict) -> None:
        choices = row["choices"]
        if not isinstance(choices, list) or len(choices) != len(LETTERS) or len(set(choices)) != len(LETTERS):
            raise ValueError(f"'choices' must be {len(LETTERS)} different strings.")
        if not isinstance(row["answer"], int) or not 0 <= row["answer"] < len(LETTERS):
            raise ValueError("'answer' must be the index (0-3) of the right choice.")

    columns = ("id", "subject", "question", "choices", "answer")
    rows = read_records(path, required=columns, what="benchmark", check=valid)
    return datasets.Dataset.from_list([{key: row[key] for key in columns} for row in rows])


def cloze_prompts(questions) -> tuple[list[str], list[list[str]]]:
    """Cloze format: the question, then "Answer:"; each option's text is the continuation scored.

    Returns (one context per question, the 4 continuations per question - each with a leading space).
    """
    contexts = [f"The following is a question about {row['subject']}.\nQuestion: {row['question']}\nAnswer:"
                for row in questions]
    return contexts, [[" " + choice for choice in row["choices"]] for row in questions]


def letter_prompts(questions) -> tuple[list[str], list[list[str]]]:
    """MMLU's original format: the options listed as A-D, then "Answer:"; the continuation is a letter."""
    contexts = []
    for row in questions:
        options = "\n".join(f"{letter}. {choice}" for letter, choice in zip(LETTERS, row["choices"], strict=True))
        contexts.append(f"The following is a multiple choice question about {row['subject']}.\n\n"
                        f"{row['question']}\n{options}\nAnswer:")
    return contexts, [[" " + letter for letter in LETTERS] for _ in questions]


@torch.inference_mode()
def option_logprobs(model, tokenizer, contexts: Sequence[str], continuations: Sequence[str],
                    batch_size: int = 32, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sum of log P(continuation tokens | context) for each (context, continuation) pair, and the token counts.

    Context and continuation are tokenized separately and concatenated, so the continuation's tokens are
    exactly the ones scored. The model reads context + continuation minus its last token (the last token is
    only predicted), so pairs that share a context and differ in a one-token continuation - the letters
    A-D - share one sequence. Sequences are sorted by length and run in batches: one forward pass per
    batch, left-padded so every sequence ends at the last position (with matching position ids), and only
    the last positions' logits are computed where the model supports it (``logits_to_keep``). The results
    come back in input order.
    """
    import inspect

    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations: they must pair up.")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ctx_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in contexts]
    cont_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
    if any(not ids for ids in cont_ids) or any(not ids for ids in ctx_ids):
        raise ValueError("Every context and every continuation needs at least one token.")
    limit = getattr(model.config, "max_position_embeddings", None) or 4096
    jobs: dict[tuple, list[tuple[int, list[int]]]] = {}  # sequence the model reads -> (pair, tokens to score)
    for i, (ctx, cont) in enumerate(zip(ctx_ids, cont_ids, strict=True)):
        if len(ctx) + len(cont) > limit:
            ctx = ctx[len(ctx) + len(cont) - limit:]  # keep the end of the context
        jobs.setdefault(tuple(ctx + cont[:-1]), []).append((i, cont))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    keep_last = "logits_to_keep" in inspect.signature(model.forward).parameters
    sums, counts = np.zeros(len(cont_ids)), np.array([len(c) for c in cont_ids])
    order = sorted(jobs, key=len)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="scoring options")
    for batch in batches:
        width = max(len(sequence) for sequence in batch)
        keep = max(len(cont) for sequence in batch for _, cont in jobs[sequence])  # positions that predict
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, sequence in enumerate(batch):
            ids[row, width - len(sequence):] = torch.tensor(sequence)
            mask[row, width - len(sequence):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        extra = {"logits_to_keep": keep} if keep_last else {}
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                       **extra).logits[:, -keep:].float()
        logprobs = logits.log_softmax(-1)
        for row, sequence in enumerate(batch):
            for i, cont in jobs[sequence]:
                # the last len(cont) positions predict the continuation's tokens, one position ahead
                target = torch.tensor(cont, device=logprobs.device)[:, None]
                sums[i] = logprobs[row, keep - len(cont):].gather(-1, target).sum().item()
    return sums, counts


def score_options(model, tokenizer, questions, format: str = "cloze", batch_size: int = 32,
                  progress: bool = True) -> dict[str, np.ndarray]:
    """Score every option of every question: arrays of shape (questions, 4).

    ``format="cloze"`` scores each option's text, ``"letter"`` the letters A-D after the listed options.
    Returns ``logprob`` (summed over the option's tokens), ``tokens`` and ``chars`` (of the continuation).
    """
    builders = {"cloze": cloze_prompts, "letter": letter_prompts}
    if format not in builders:
        raise ValueError(f"format is one of {', '.join(builders)}, not {format!r}")
    contexts, options = builders[format](questions)
    n = len(LETTERS)
    flat_contexts = [c for c in contexts for _ in range(n)]
    flat_options = [o for row in options for o in row]
    sums, counts = option_logprobs(model, tokenizer, flat_contexts, flat_options, batch_size=batch_size,
                                   progress=progress)
    chars = np.array([len(o) for o in flat_options])
    return {"logprob": sums.reshape(-1, n), "tokens": counts.reshape(-1, n), "chars": chars.reshape(-1, n)}


def choose(logprob, tokens=None, chars=None, normalization: str = "token") -> np.ndarray:
    """The chosen option per question: the argmax of the (normalised) log-likelihood.

    ``"sum"``: the total log-probability, i.e. the option the model is most likely to write - it favours
    short options, since every extra token multiplies in another probability below 1. ``"token"``: the
    mean per token; ``"char"``: per character (lm-evaluation-harness's ``acc_norm`` divides by length in
    bytes), which does not depend on how the tokenizer happens to split the option.
    """
    logprob = np.asarray(logprob, dtype=float)
    if normalization == "sum":
        return logprob.argmax(-1)
    if normalization == "token":
        if tokens is None:
            raise ValueError("normalization='token' needs the token counts")
        return (logprob / np.asarray(tokens)).argmax(-1)
    if normalization == "char":
        if chars is None:
            raise ValueError("normalization='char' needs the character counts")
        return (logprob / np.asarray(chars)).argmax(-1)
    raise ValueError(f"normalization is one of {', '.join(NORMALIZATIONS)}, not {normalization!r}")


def wilson_interval(correct: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion: sensible also for small n and for accuracies near 0 or 1."""
    if n <= 0:
        raise ValueError("n must be positive")
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_p_value(correct: int, n: int, chance: float) -> float:
    """One-sided exact binomial test: P(at least ``correct`` right out of ``n`` by guessing with ``chance``)."""
    return float(sum(math.comb(n, k) * chance ** k * (1 - chance) ** (n - k) for k in range(correct, n + 1)))


def accuracy_table(subjects: Sequence[str], predictions, answers, chance: float = 1 / len(LETTERS),
                   level: float = 0.95) -> pd.DataFrame:
    """Accuracy per subject and overall, with a Wilson interval and a one-sided test against chance."""
    frame = pd.DataFrame({"subject": list(subjects), "correct": np.asarray(predictions) == np.asarray(answers)})
    groups = [(name, group["correct"]) for name, group in frame.groupby("subject", sort=True)]
    groups.append(("all", frame["correct"]))
    rows = {}
    for name, correct in groups:
        k, n = int(correct.sum()), len(correct)
        low, high = wilson_interval(k, n, level)
        rows[name] = {"questions": n, "correct": k, "accuracy": k / n, "ci_low": low, "ci_high": high,
                      "p vs chance": binomial_p_value(k, n, chance), "above chance": low > chance}
    return pd.DataFrame(rows).T.astype({"questions": int, "correct": int, "accuracy": float, "ci_low": float,
                                        "ci_high": float, "p vs chance": float, "above chance": bool})


def option_probabilities(logprob) -> np.ndarray:
    """Softmax over each question's options: P(option | question, one of these options)."""
    logprob = np.asarray(logprob, dtype=float)
    shifted = np.exp(logprob - logprob.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def _bins(confidences: np.ndarray, n_bins: int) -> np.ndarray:
    # equal-width bins over [0, 1]; a confidence of exactly 1.0 goes into the last bin
    return np.minimum((confidences * n_bins).astype(int), n_bins - 1)


def _calibration_inputs(confidences, correct) -> tuple[np.ndarray, np.ndarray]:
    confidences, correct = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    if confidences.shape != correct.shape or confidences.ndim != 1 or confidences.size == 0:
        raise ValueError("confidences and correct must be 1-D and of the same non-zero length")
    if confidences.min() < 0 or confidences.max() > 1:
        raise ValueError("confidences are probabilities in [0, 1]")
    return confidences, correct


def reliability_table(confidences, correct, n_bins: int = 10) -> pd.DataFrame:
    """Per confidence bin: how many answers, their mean confidence and their accuracy (a reliability diagram)."""
    confidences, correct = _calibration_inputs(confidences, correct)
    bins = _bins(confidences, n_bins)
    rows = []
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            rows.append({"bin": f"{b / n_bins:.1f}-{(b + 1) / n_bins:.1f}", "answers": int(inside.sum()),
                         "confidence": confidences[inside].mean(), "accuracy": correct[inside].mean()})
    return pd.DataFrame(rows).set_index("bin")


def expected_calibration_error(confidences, correct, n_bins: int = 10) -> float:
    """ECE: the gap |accuracy - mean confidence| of each confidence bin, weighted by the bin's share of answers.

    0 means perfectly calibrated: among answers given with confidence ~0.7, 70% are right.
    """
    table = reliability_table(confidences, correct, n_bins)
    weights = table["answers"] / table["answers"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())


def brier_score(probabilities, answers) -> float:
    """Mean squared error between the option probabilities and the one-hot right answer (lower is better)."""
    probabilities = np.asarray(probabilities, dtype=float)
    onehot = np.eye(probabilities.shape[-1])[np.asarray(answers)]
    return float(((probabilities - onehot) ** 2).sum(-1).mean())
