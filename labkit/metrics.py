"""Evaluation metrics for generated text: ROUGE, BLEU and toxicity, offline (notebooks 03, 04 and 05).

The course loaded its metrics with ``evaluate.load("rouge")`` / ``evaluate.load("toxicity", ...)``,
which download metric scripts from the Hugging Face hub and fail offline. labkit computes the same
quantities with the libraries those scripts wrap, and ships them as *local* ``evaluate`` modules
(``labkit/evaluate_modules/<name>/<name>.py``), so a notebook can still write the course's code::

    rouge = metrics.load("rouge")             # = evaluate.load(metrics.module_path("rouge"))
    rouge.compute(predictions=..., references=..., use_aggregator=True, use_stemmer=True)

Each module is a thin wrapper around one function here, so there is one implementation:

* :func:`rouge` - Google's ``rouge_score`` with the Porter stemmer and, like ``use_aggregator=True``, the
  median ("mid") F-measure of its bootstrap over examples, seeded so the numbers repeat;
* :func:`bleu` - sacrebleu: corpus BLEU (what papers report) or sentence BLEU, with the tokenizer named
  (``"13a"``, sacrebleu's standard, or ``"none"``: whitespace, as the lecture's example counts words);
* :func:`toxicity` - the probability of the reward model's "hate" label (found by name), per text, scored by
  :class:`RewardModel` (a classifier as a batched scorer, also notebook 05's reward).

:func:`compare` turns scores for several models into one table; :func:`bootstrap_ci` gives a
confidence interval for a mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
BLEU_TOKENIZERS = ("13a", "none", "intl", "char", "zh", "ja-mecab", "ko-mecab", "spm", "flores101", "flores200")
TOXIC_NAMES = ("hate", "hateful", "toxic", "toxicity", "offensive")
MODULES_DIR = Path(__file__).resolve().parent / "evaluate_modules"
EVALUATE_MODULES = ("rouge", "bleu", "toxicity")


def _check_pairs(predictions: Sequence[str], references: Sequence) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError("Pass lists of strings: rouge(['a prediction'], ['a reference']).")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references: they must pair up.")
    if not predictions:
        raise ValueError("No predictions to score.")


class _Tokenizer:
    """rouge_score wants an object with a ``tokenize`` method; the hub's rouge takes a plain callable."""

    def __init__(self, function):
        self.tokenize = function


def rouge(predictions: Sequence[str], references: Sequence, use_stemmer: bool = True, seed: int = 0,
          rouge_types: Sequence[str] = ROUGE_TYPES, use_aggregator: bool = True,
          tokenizer=None) -> dict[str, float] | dict[str, list[float]]:
    """Aggregate ROUGE F-measures over a corpus, as ``evaluate``'s rouge with ``use_aggregator=True``.

    ``references`` may hold one string per prediction or a list of references each (the best match
    counts). The bootstrap is seeded, so the same inputs always give the same numbers.
    ``use_aggregator=False`` returns each pair's F-measure instead (a list per ROUGE type);
    ``tokenizer`` (a callable: text -> list of tokens) replaces rouge_score's default tokenization.
    """
    from rouge_score import rouge_scorer, scoring

    _check_pairs(predictions, references)
    rouge_types = list(rouge_types)
    scorer = rouge_scorer.RougeScorer(rouge_types, use_stemmer=use_stemmer,
                                      tokenizer=_Tokenizer(tokenizer) if tokenizer is not None else None)
    scores = [scorer.score(reference, prediction) if isinstance(reference, str)
              else scorer.score_multi(list(reference), prediction)
              for prediction, reference in zip(predictions, references, strict=True)]
    if not use_aggregator:
        return {key: [float(s[key].fmeasure) for s in scores] for key in rouge_types}
    aggregator = scoring.BootstrapAggregator()
    for score in scores:
        aggregator.add_scores(score)
    state = np.random.get_state()  # rouge_score's bootstrap draws from NumPy's global generator
    np.random.seed(seed)
    try:
        result = aggregator.aggregate()
    finally:
        np.random.set_state(state)
    return {key: float(result[key].mid.fmeasure) for key in rouge_types}


def rouge_details(reference: str, prediction: str, use_stemmer: bool = False) -> pd.DataFrame:
    """Recall, precision and F1 of ROUGE-1, ROUGE-2 and ROUGE-L for one pair: the lecture's worked examples."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=use_stemmer)
    scores = scorer.score(reference, prediction)
    return pd.DataFrame({name: {"recall": s.recall, "precision": s.precision, "f1": s.fmeasure}
                         for name, s in scores.items()}).T


def _bleu_metric(tokenize: str, sentence: bool):
    from sacrebleu.metrics import BLEU

    if tokenize not in BLEU.TOKENIZERS:
        raise ValueError(f"Unknown BLEU tokenize={tokenize!r}. sacrebleu knows: {', '.join(BLEU.TOKENIZERS)} "
                         "('13a' is the standard for reporting; 'none' splits on whitespace only).")
    return BLEU(tokenize=tokenize, effective_order=sentence)


def _bleu_result(score) -> dict:
    return {"bleu": score.score / 100, "precisions": [p / 100 for p in score.precisions],
            "brevity_penalty": float(score.bp), "length_ratio": score.sys_len / score.ref_len if score.ref_len else 0.0,
            "translation_length": int(score.sys_len), "reference_length": int(score.ref_len)}


def bleu(predictions: Sequence[str], references: Sequence, sentence: bool = False, tokenize: str = "13a",
         details: bool = False) -> float | list[float] | dict | list[dict]:
    """BLEU in [0, 1] with sacrebleu: n-grams up to 4, clipped (modified) precisions, brevity penalty.

    Corpus level by default: n-gram counts are pooled over all pairs before the precisions are taken -
    the standard way to report BLEU. ``sentence=True`` scores each pair on its own (with sacrebleu's
    exponential smoothing, which only matters when some n-gram order has no match).
    ``tokenize``: ``"13a"`` (sacrebleu's standard: punctuation split off words) or ``"none"`` (whitespace
    only - how the lecture's example counts, so ``"tea."`` is one token). ``references`` may hold one
    string per prediction or a list of references each. ``details=True`` returns a dict (a list of dicts
    with ``sentence=True``) with ``bleu``, the four ``precisions``, ``brevity_penalty``, ``length_ratio``,
    ``translation_length`` and ``reference_length``, like the hub's ``bleu`` metric.
    """
    _check_pairs(predictions, references)
    metric = _bleu_metric(tokenize, sentence)
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if sentence:
        results = [_bleu_result(metric.sentence_score(p, r)) for p, r in zip(predictions, refs, strict=True)]
        return results if details else [r["bleu"] for r in results]
    n_refs = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else r[0] for r in refs] for i in range(n_refs)]
    result = _bleu_result(metric.corpus_score(list(predictions), streams))
    return result if details else result["bleu"]


def toxicity(texts: Sequence[str], model=None, tokenizer=None, toxic_label: str | None = None,
             batch_size: int = 32) -> list[float]:
    """The probability of the "hate" (toxic) label for each text, under a hate-speech classifier (notebooks 04, 05).

    What the course's ``evaluate.load("toxicity", ...)`` measurement returns. ``model``/``tokenizer``
    default to the profile's reward model (``labkit.models.load_reward_model()``: the course's RoBERTa
    hate-speech model, or the tiny profile's classifier with the same label names). The label is found by
    name in ``model.config.id2label`` (``toxic_label``, else the first of :data:`TOXIC_NAMES`), never by index.
    """
    if isinstance(texts, str):
        raise TypeError("Pass a list of texts: toxicity(['a sentence']).")
    if (model is None) != (tokenizer is None):
        raise ValueError("Pass both model and tokenizer, or neither (then the profile's reward model is used).")
    if model is None:
        from labkit.models import load_reward_model

        model, tokenizer = load_reward_model()
    if toxic_label is not None:
        labels = {str(v): int(k) for k, v in model.config.id2label.items()}
        if toxic_label not in labels:
            raise ValueError(f"{toxic_label!r} is not one of the model's labels {sorted(labels)}: pick one of them.")
        index = labels[toxic_label]
    else:
        index = find_label(model.config, TOXIC_NAMES)
    if not texts:
        return []
    scorer = RewardModel(model, tokenizer, label_index=index, batch_size=batch_size)
    return [float(p) for p in scorer(list(texts), kind="probability")]


NOT_TOXIC_NAMES = ("nothate", "not hate", "not_hate", "non-toxic", "non_toxic", "not toxic", "not_toxic", "polite")


def find_label(model_config, names: Sequence[str] = NOT_TOXIC_NAMES) -> int:
    """The index of the 'not hate' / 'not toxic' label, found by name in the model config's id2label."""
    id2label = {int(k): str(v) for k, v in getattr(model_config, "id2label", {}).items()}
    for index, label in sorted(id2label.items()):
        if label.strip().lower() in names:
            return index
    raise ValueError(f"None of the labels {id2label} is a 'not toxic' label (looked for {', '.join(names)}). "
                     "Pass label_index= explicitly after checking the model card.")


class RewardModel:
    """A sequence-classification model as a batched reward function: higher = less toxic.

    ``kind="logit"`` returns the raw logit of the not-toxic label (the course's reward),
    ``kind="probability"`` its softmax probability.
    """

    def __init__(self, model, tokenizer, label_index: int | None = None, batch_size: int = 32, max_length: int = 128):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.label_index = find_label(model.config) if label_index is None else label_index
        self.batch_size, self.max_length = batch_size, max_length

    @torch.no_grad()
    def __call__(self, texts: Sequence[str], kind: str = "logit") -> torch.Tensor:
        if kind not in ("logit", "probability"):
            raise ValueError("kind is 'logit' or 'probability'")
        texts = list(texts)
        device = next(self.model.parameters()).device
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batched: less padding
        scores = torch.empty(len(texts))
        for i in range(0, len(texts), self.batch_size):
            batch = order[i:i + self.batch_size]
            enc = self.tokenizer([texts[j] for j in batch], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(device)
            logits = self.model(**enc).logits.float()
            chosen = logits.softmax(-1) if kind == "probability" else logits
            scores[batch] = chosen[:, self.label_index].cpu()
        return scores


def text_pair_features():
    """The inputs labkit's ROUGE and BLEU evaluate modules accept: one prediction string per example with one
    reference string or a list of them (the hub metrics' two schemas)."""
    import datasets

    return [datasets.Features({"predictions": datasets.Value("string"),
                               "references": datasets.Sequence(datasets.Value("string"))}),
            datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")})]


def module_path(name: str) -> str:
    """The folder of labkit's local ``evaluate`` module ``name`` ("rouge", "bleu" or "toxicity").

    ``evaluate.load(module_path("rouge"))`` loads it offline: evaluate imports a local folder that holds
    ``<name>.py`` without asking the hub.
    """
    if name not in EVALUATE_MODULES:
        raise ValueError(f"labkit ships no evaluate module {name!r}; it has {', '.join(EVALUATE_MODULES)}.")
    path = MODULES_DIR / name
    if not (path / f"{name}.py").is_file():
        raise FileNotFoundError(f"{path / (name + '.py')} is missing: reinstall labkit (pip install -e .).")
    return str(path)


def load(name: str, *args, keep_in_memory: bool = True, **kwargs):
    """``evaluate.load`` for labkit's local module ``name``: the course's call, offline, in both profiles.

    ``metrics.load("rouge").compute(predictions=..., references=..., use_aggregator=True, use_stemmer=True)``;
    ``metrics.load("bleu").compute(predictions=..., references=..., tokenize="none")``;
    ``metrics.load("toxicity", module_type="measurement").compute(predictions=...)["toxicity"]``.
    Extra arguments go to ``evaluate.load`` (e.g. a model id as the toxicity module's config name, or
    ``model=``/``tokenizer=`` to reuse a classifier already in memory). Results stay in memory by default.
    """
    import evaluate

    return evaluate.load(module_path(name), *args, keep_in_memory=keep_in_memory, **kwargs)


def compare(table: Mapping[str, Mapping[str, float]] | pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """Models x metrics, plus each metric's absolute change from the baseline in percentage points.

    ``table`` maps model name -> {metric: score in [0, 1]} (or is a DataFrame with models as rows).
    The baseline is the first model unless named. Positive changes are improvements.
    """
    frame = pd.DataFrame(table).T if not isinstance(table, pd.DataFrame) else table.copy()
    if frame.empty:
        raise ValueError("Nothing to compare.")
    baseline = baseline or frame.index[0]
    if baseline not in frame.index:
        raise ValueError(f"Baseline {baseline!r} is not one of the models: {', '.join(frame.index)}.")
    metrics = list(frame.columns)
    out = frame[metrics].astype(float)
    for metric in metrics:
        out[f"Δ {metric} (pp)"] = (frame[metric].astype(float) - frame.loc[baseline, metric]) * 100
    return out


def summarize_and_score(model, tokenizer, split, prompt=None, generation_config=None, batch_size: int = 16):
    """Summarize every dialogue of ``split`` (batched) and score against its human summaries.

    Returns ``(rouge scores, predictions)``; ``prompt`` defaults to the zero-shot instruction used in training.
    """
    from labkit import generation, prompts

    prompt = prompt or prompts.zero_shot
    predictions = generation.generate(model, tokenizer, [prompt(d) for d in split["dialogue"]], generation_config,
                                      batch_size=batch_size)
    return rouge(predictions, split["summary"]), predictions


def bootstrap_ci(values, n: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and bootstrap confidence interval (default 95%) of a sample, e.g. paired differences.

    Resamples the values with replacement ``n`` times (seeded) and takes the percentiles of the means.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n, values.size), replace=True).mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(values.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))
