"""ROUGE as a local `evaluate` metric, written by the labkit project (notebooks 03 and 04).

The course called ``evaluate.load("rouge")``, which downloads the hub's script; this folder is loaded
by path instead (``evaluate.load(labkit.metrics.module_path("rouge"))``, or ``labkit.metrics.load("rouge")``),
so it works offline. The computation is ``labkit.metrics.rouge``: Google's rouge_score, F-measures, and
with ``use_aggregator=True`` the mid value of its bootstrap over examples, seeded so results repeat.

Same arguments as the hub's rouge. One default differs: ``use_stemmer`` is True here (the course always
passed ``use_stemmer=True``; the hub's script defaults to False).

(evaluate scans this file for its imports line by line: keep one import per line.)
"""

import evaluate

from labkit import metrics

_DESCRIPTION = """ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum F-measures between predictions and references
(word overlap, case-insensitive), computed with Google's rouge_score through labkit.metrics.rouge."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of generated texts.
    references: one reference string per prediction, or a list of references each (the best match counts).
    rouge_types: which of "rouge1", "rouge2", "rougeL", "rougeLsum" to compute (default: all four).
    use_aggregator: True (default): one number per type, the bootstrap's mid F-measure over the corpus;
        False: a list with each pair's F-measure.
    use_stemmer: Porter-stem words before matching (default True, as the course computed it).
    tokenizer: optional callable text -> list of tokens.
    seed: the bootstrap's seed (default 0).
Returns:
    {"rouge1": ..., "rouge2": ..., "rougeL": ..., "rougeLsum": ...}
Example:
    >>> rouge = labkit.metrics.load("rouge")
    >>> rouge.compute(predictions=["It is very cold outside."], references=["It is cold outside."])["rouge1"]
    0.888...
"""

_CITATION = """Lin, Chin-Yew. ROUGE: A Package for Automatic Evaluation of Summaries. Text Summarization Branches
Out (ACL workshop), 2004."""


class Rouge(evaluate.Metric):
    """labkit's ROUGE: the hub rouge metric's interface, offline, seeded."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=metrics.text_pair_features(),
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(self, predictions, references, rouge_types=None, use_aggregator=True, use_stemmer=True,
                 tokenizer=None, seed=0):
        return metrics.rouge(predictions, references, use_stemmer=use_stemmer, seed=seed,
                             rouge_types=rouge_types or metrics.ROUGE_TYPES, use_aggregator=use_aggregator,
                             tokenizer=tokenizer)
