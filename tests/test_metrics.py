import numpy as np
import pandas as pd
import pytest

from labkit import metrics


def test_lecture_rouge_example_by_hand():
    table = metrics.rouge_details("It is cold outside.", "It is very cold outside.")
    # 4 of 4 reference unigrams found, 4 of 5 output unigrams in the reference
    assert table.loc["rouge1", "recall"] == pytest.approx(1.0)
    assert table.loc["rouge1", "precision"] == pytest.approx(0.8)
    assert table.loc["rouge1", "f1"] == pytest.approx(2 * 0.8 / 1.8)
    # bigrams: reference {it is, is cold, cold outside}; output adds "is very", "very cold": 2 shared
    assert table.loc["rouge2", "recall"] == pytest.approx(2 / 3)
    assert table.loc["rouge2", "precision"] == pytest.approx(2 / 4)
    # longest common subsequence "it is cold outside": 4 words
    assert table.loc["rougeL", "recall"] == pytest.approx(1.0)
    assert table.loc["rougeL", "precision"] == pytest.approx(0.8)


def test_negation_scores_like_the_paraphrase():
    a = metrics.rouge_details("It is cold outside.", "It is very cold outside.")
    b = metrics.rouge_details("It is cold outside.", "It is not cold outside.")
    pd.testing.assert_frame_equal(a, b)


def test_corpus_rouge_matches_evaluate_semantics():
    preds = ["the cat sat on the mat", "a dog barked", "hello there"]
    refs = ["the cat is on the mat", "the dog barked loudly", "general kenobi"]
    scores = metrics.rouge(preds, refs)
    assert set(scores) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    mean = sum(scorer.score(r, p)["rouge1"].fmeasure for p, r in zip(preds, refs, strict=True)) / 3
    assert scores["rouge1"] == pytest.approx(mean, abs=0.05)  # bootstrap median of the mean
    assert metrics.rouge(preds, refs) == scores  # seeded: deterministic


def test_stemming_is_on_like_the_course():
    assert metrics.rouge(["he runs"], ["he running"])["rouge1"] == pytest.approx(1.0)
    assert metrics.rouge(["he runs"], ["he running"], use_stemmer=False)["rouge1"] < 1


def test_multiple_references_take_the_best():
    assert metrics.rouge(["a b c"], [["x y z", "a b c"]])["rouge1"] == pytest.approx(1.0)


def test_rouge_input_errors():
    with pytest.raises(ValueError, match="pair up"):
        metrics.rouge(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="lists"):
        metrics.rouge("a", "a")
    with pytest.raises(ValueError, match="No predictions"):
        metrics.rouge([], [])


def test_bleu_lecture_example_and_levels():
    ref = "I am very happy to say that I am drinking a warm cup of tea."
    cand = "I am very happy that I am drinking a cup of tea."
    score = metrics.bleu([cand], [ref])
    assert 0.4 < score < 0.7
    assert metrics.bleu([ref], [ref]) == pytest.approx(1.0)
    sentence = metrics.bleu([cand, ref], [ref, ref], sentence=True)
    assert sentence[1] == pytest.approx(1.0) and sentence[0] < 1


def test_compare_in_percentage_points():
    table = metrics.compare({"original": {"rouge1": 0.20, "rouge2": 0.05},
                             "tuned": {"rouge1": 0.35, "rouge2": 0.04}})
    assert table.loc["tuned", "Δ rouge1 (pp)"] == pytest.approx(15.0)
    assert table.loc["tuned", "Δ rouge2 (pp)"] == pytest.approx(-1.0)
    assert table.loc["original", "Δ rouge1 (pp)"] == 0
    with pytest.raises(ValueError, match="Baseline"):
        metrics.compare({"a": {"m": 1.0}}, baseline="b")


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    mean, low, high = metrics.bootstrap_ci([0.1, 0.3, 0.2, 0.4, 0.0])
    assert low < mean < high and mean == pytest.approx(0.2)
    assert metrics.bootstrap_ci([0.1, 0.3, 0.2]) == metrics.bootstrap_ci([0.1, 0.3, 0.2])
    with pytest.raises(ValueError):
        metrics.bootstrap_ci([])


def test_rouge_per_pair_without_aggregator():
    per_pair = metrics.rouge(["It is very cold outside.", "a b"], ["It is cold outside.", "a b"], use_aggregator=False)
    assert per_pair["rouge1"] == pytest.approx([2 * 0.8 / 1.8, 1.0])
    assert set(per_pair) == set(metrics.ROUGE_TYPES)


def test_bleu_reproduces_the_lecture_with_whitespace_tokens():
    ref = "I am very happy to say that I am drinking a warm cup of tea."
    candidates = ["I am very happy that I am drinking a cup of tea.",
                  "I am very happy that I am drinking a warm cup of tea.",
                  "I am very happy to say that I am drinking a warm tea."]
    scores = metrics.bleu(candidates, [ref] * 3, sentence=True, tokenize="none")
    assert [round(s, 3) for s in scores] == [0.495, 0.730, 0.798]
    # 13a splits the final full stop off "tea.": different n-grams, different numbers
    assert [round(s, 3) for s in metrics.bleu(candidates, [ref] * 3, sentence=True)] == [0.539, 0.750, 0.772]
    details = metrics.bleu(candidates[:1], [ref], sentence=True, tokenize="none", details=True)[0]
    assert details["precisions"] == pytest.approx([1.0, 9 / 11, 6 / 10, 3 / 9])
    assert details["brevity_penalty"] == pytest.approx(np.exp(1 - 15 / 12))
    # corpus BLEU pools the counts: not the mean of the sentence scores
    corpus = metrics.bleu(candidates, [ref] * 3, tokenize="none")
    assert corpus != pytest.approx(np.mean(scores), abs=1e-3)
    with pytest.raises(ValueError, match="tokenize"):
        metrics.bleu(candidates, [ref] * 3, tokenize="spaces")
