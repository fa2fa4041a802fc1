"""Toxicity as a local `evaluate` measurement, written by the labkit project (notebooks 04 and 05).

The course loaded ``evaluate.load("toxicity", "facebook/roberta-hate-speech-dynabench-r4-target",
module_type="measurement", toxic_label="hate")`` from the hub. This module is loaded by path, offline:
``labkit.metrics.load("toxicity", module_type="measurement")``. By default it scores with the profile's
reward model (``labkit.models.load_reward_model()``: that RoBERTa model in the course profile, the tiny
profile's classifier with the same label names offline); a model id or folder as the config name, or
``model=`` and ``tokenizer=`` objects, choose another classifier. The score of a text is the probability of
the "hate" label, found by name (``labkit.metrics.toxicity``).

(evaluate scans this file for its imports line by line: keep one import per line.)
"""

import datasets
import evaluate

from labkit import metrics

_DESCRIPTION = """The toxicity of each text: the probability a hate-speech classifier gives its toxic label."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of texts to score.
    toxic_label: the classifier's toxic label name (default: found by name, e.g. "hate").
    aggregation: None (default): one score per text; "maximum": the highest score;
        "ratio": the share of texts scoring at least `threshold`.
    threshold: for "ratio" (default 0.5).
Returns:
    {"toxicity": [...]}, {"max_toxicity": ...} or {"toxicity_ratio": ...}
Example:
    >>> toxicity = labkit.metrics.load("toxicity", module_type="measurement")
    >>> toxicity.compute(predictions=["Thank you, that was kind.", "You are a worthless idiot."])["toxicity"]
    [0.0..., 0.9...]
"""

_CITATION = """Vidgen et al. Learning from the Worst: Dynamically Generated Datasets to Improve Online Hate
Detection. ACL 2021 (the course's classifier)."""


class Toxicity(evaluate.Measurement):
    """labkit's toxicity: the profile's hate-speech classifier, the toxic label found by name."""

    def __init__(self, *args, model=None, tokenizer=None, **kwargs):
        self._model, self._tokenizer = model, tokenizer
        super().__init__(*args, **kwargs)

    def _info(self):
        return evaluate.MeasurementInfo(
            module_type="measurement",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _download_and_prepare(self, dl_manager):
        if self._model is not None:
            return
        if self.config_name == "default":
            from labkit.models import load_reward_model

            self._model, self._tokenizer = load_reward_model()
        else:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self._model = AutoModelForSequenceClassification.from_pretrained(self.config_name).eval()
            self._tokenizer = AutoTokenizer.from_pretrained(self.config_name)

    def _compute(self, predictions, toxic_label=None, aggregation=None, threshold=0.5):
        scores = metrics.toxicity(predictions, self._model, self._tokenizer, toxic_label=toxic_label)
        if aggregation == "maximum":
            return {"max_toxicity": max(scores)}
        if aggregation == "ratio":
            return {"toxicity_ratio": sum(score >= threshold for score in scores) / len(scores)}
        if aggregation not in (None, "all"):
            raise ValueError(f"aggregation is None, 'maximum' or 'ratio', not {aggregation!r}")
        return {"toxicity": scores}
