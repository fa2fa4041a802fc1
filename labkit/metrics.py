"""Evaluation metrics for generated text: ROUGE and BLEU, without the hub (notebook 03).

The course computed ROUGE with ``evaluate.load("rouge")``, which downloads a metric script from the
Hugging Face hub and fails offline. :func:`rouge` reproduces its semantics with the library that
script wraps (Google's ``rouge_score``): ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum F-measures, Porter
stemming, and - like ``use_aggregator=True`` - the median ("mid") of a bootstrap over examples.
:func:`bleu` uses sacrebleu. :func:`compare` turns scores for several models into one table.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def _check_pairs(predictions: Sequence[str], references: Sequence) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError("Pass lists of strings: rouge(['a prediction'], ['a reference']).")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references: they must pair up.")
    if not predictions:
        raise ValueError("No predictions to score.")


def rouge(predictions: Sequence[str], references: Sequence, use_stemmer: bool = True, seed: int = 0,
          rouge_types: Sequence[str] = ROUGE_TYPES) -> dict[str, float]:
    """Aggregate ROUGE F-measures over a corpus, as ``evaluate``'s rouge with ``use_aggregator=True``.

    ``references`` may hold one string per prediction or a list of references each (the best match
    counts). The bootstrap is seeded, so the same inputs always give the same numbers.
    """
    from rouge_score import rouge_scorer, scoring

    _check_pairs(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
    aggregator = scoring.BootstrapAggregator()
    for prediction, reference in zip(predictions, references):
        if isinstance(reference, str):
            aggregator.add_scores(scorer.score(reference, prediction))
        else:
            aggregator.add_scores(scorer.score_multi(list(reference), prediction))
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

    scores = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=use_stemmer).score(reference, prediction)
    return pd.DataFrame({name: {"recall": s.recall, "precision": s.precision, "f1": s.fmeasure}
                         for name, s in scores.items()}).T


def bleu(predictions: Sequence[str], references: Sequence, sentence: bool = False) -> float | list[float]:
    """BLEU in [0, 1] with sacrebleu's defaults: 13a tokenization, n-grams up to 4, brevity penalty.

    Corpus level by default (n-gram counts pooled over all pairs, the standard way to report BLEU);
    ``sentence=True`` scores each pair on its own, with sacrebleu's exponential smoothing.
    ``references`` may hold one string per prediction or a list of references each.
    """
    import sacrebleu

    _check_pairs(predictions, references)
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if sentence:
        return [sacrebleu.sentence_bleu(p, r).score / 100 for p, r in zip(predictions, refs)]
    n_refs = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else r[0] for r in refs] for i in range(n_refs)]
    return sacrebleu.corpus_bleu(list(predictions), streams).score / 100


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
