"""BLEU as a local `evaluate` metric, written by the labkit project (notebooks 03 and 04).

Loaded by path, offline: ``evaluate.load(labkit.metrics.module_path("bleu"))`` or ``labkit.metrics.load("bleu")``.
The computation is ``labkit.metrics.bleu`` (sacrebleu): clipped n-gram precisions for n = 1..4, their
geometric mean, times the brevity penalty. Corpus BLEU by default (counts pooled over all pairs: what
papers report); ``sentence=True`` scores each pair. ``tokenize="13a"`` is sacrebleu's standard;
``tokenize="none"`` splits on whitespace only, as the lecture's example does.

Result keys follow the hub's ``bleu`` metric (scores in [0, 1]).

(evaluate scans this file for its imports line by line: keep one import per line.)
"""

import evaluate

from labkit import metrics

_DESCRIPTION = """BLEU: the geometric mean of clipped 1- to 4-gram precisions times a brevity penalty, via
sacrebleu through labkit.metrics.bleu."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of candidate texts (e.g. translations).
    references: one reference string per prediction, or a list of references each.
    tokenize: sacrebleu tokenizer name: "13a" (default, the standard), "none" (whitespace only), "intl", ...
    sentence: False (default): corpus BLEU; True: one BLEU per pair.
Returns:
    corpus: {"bleu", "precisions" (1- to 4-gram), "brevity_penalty", "length_ratio", "translation_length",
             "reference_length"};
    sentence=True: the same keys, each holding one value per pair.
Example:
    >>> bleu = labkit.metrics.load("bleu")
    >>> ref = "I am very happy to say that I am drinking a warm cup of tea."
    >>> bleu.compute(predictions=["I am very happy that I am drinking a cup of tea."], references=[ref],
    ...              tokenize="none")["bleu"]
    0.4953...
"""

_CITATION = """Papineni et al. BLEU: a Method for Automatic Evaluation of Machine Translation. ACL 2002.
Post. A Call for Clarity in Reporting BLEU Scores. WMT 2018 (sacrebleu)."""


class Bleu(evaluate.Metric):
    """labkit's BLEU: sacrebleu with the tokenizer named, corpus or sentence level."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=metrics.text_pair_features(),
            codebase_urls=["https://github.com/mjpost/sacrebleu"],
        )

    def _compute(self, predictions, references, tokenize="13a", sentence=False):
        result = metrics.bleu(predictions, references, sentence=sentence, tokenize=tokenize, details=True)
        if sentence:
            return {key: [row[key] for row in result] for key in result[0]}
        return result
