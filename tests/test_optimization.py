"""Quantization, distillation and pruning helpers, on small models (the notebook runs the real teacher)."""

import pytest
import torch
from torch import nn

from labkit import optimization


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))


def test_dynamic_int8_shrinks_linear_weights_four_times_and_stays_close():
    model = _mlp()
    q = optimization.quantize_dynamic_int8(model)
    assert optimization.linear_weight_bytes(model) / optimization.linear_weight_bytes(q) == pytest.approx(4.0)
    x = torch.randn(16, 32)
    with torch.no_grad():
        err = (q(x) - model(x)).norm() / model(x).norm()
    assert 0 < err < 0.05  # changed, but only a little
    assert isinstance(model[0], nn.Linear)  # the original is untouched


def test_casts_halve_memory():
    model = _mlp()
    assert optimization.memory_bytes(optimization.cast(model, torch.float16)) * 2 == optimization.memory_bytes(model)
    assert optimization.disk_bytes(model) > optimization.memory_bytes(model)  # the file adds a little overhead


def test_calibration_records_ranges_and_cuts_static_quantization_error():
    model = _mlp()
    x = torch.randn(64, 32) * 8  # activations far outside ±1
    ranges = optimization.record_activation_ranges(model, lambda: model(x))
    assert set(ranges) == {"0", "2"} and ranges["0"] == pytest.approx(float(x.abs().max()))
    with torch.no_grad():
        reference = model(x)
        with optimization.static_int8_activations(model, None):
            guessed = model(x)
        with optimization.static_int8_activations(model, ranges):
            calibrated = model(x)
        assert torch.equal(model(x), reference)  # hooks removed afterwards
    assert (calibrated - reference).norm() < 0.2 * (guessed - reference).norm()


def test_distillation_loss_by_hand():
    student = torch.tensor([[2.0, 0.0, -1.0]])
    teacher = torch.tensor([[1.0, 1.0, 0.0]])
    labels = torch.tensor([0])
    T, alpha = 2.0, 0.5
    p_t = torch.softmax(teacher / T, -1)
    log_p_s = torch.log_softmax(student / T, -1)
    kl = (p_t * (p_t.log() - log_p_s)).sum()
    ce = -torch.log_softmax(student, -1)[0, 0]
    expected = alpha * kl * T ** 2 + (1 - alpha) * ce
    got = optimization.distillation_loss(student, teacher, labels, T, alpha).item()
    assert got == pytest.approx(expected.item(), rel=1e-5)
    assert optimization.distillation_loss(student, teacher, labels, T, 0.0).item() == pytest.approx(ce.item(), rel=1e-5)
    unlabelled = optimization.distillation_loss(student, teacher, torch.tensor([-100]), T, alpha)
    assert unlabelled.item() == pytest.approx((alpha * kl * T ** 2).item(), rel=1e-5)


def test_student_trains_and_hard_only_never_sees_unlabelled_examples():
    ids = torch.randint(1, 50, (40, 10))
    labels = (ids[:, 0] > 25).long()
    masked = labels.clone()
    masked[10:] = -100
    student = optimization.small_student(50, 2, seed=0, dim=8)
    run = optimization.train_student(student, ids, torch.ones_like(ids), masked, None, steps=40, batch_size=8, lr=5e-2)
    assert run.losses[-1] < run.losses[0]
    assert all(loss == loss for loss in run.losses)  # no NaN from an all-unlabelled batch


def test_student_trains_with_the_loss_it_is_given():
    """Notebook 08 trains the student with the learner's own loss: train_student must call it, every step."""
    torch.manual_seed(0)
    ids = torch.randint(1, 50, (40, 10))
    labels = (ids[:, 0] > 25).long()
    labels[20:] = -100
    teacher = torch.randn(40, 2)
    calls = []

    def loss_fn(student_logits, teacher_logits, batch_labels, temperature, alpha):
        calls.append((temperature, alpha))
        return optimization.distillation_loss(student_logits, teacher_logits, batch_labels, temperature, alpha)

    def train(**kwargs):
        student = optimization.small_student(50, 2, seed=0, dim=8)
        return optimization.train_student(student, ids, torch.ones_like(ids), labels, teacher, steps=5, batch_size=8,
                                      temperature=2.0, alpha=0.7, seed=1, **kwargs).losses

    assert train(loss_fn=loss_fn) == train()  # same losses as labkit's own
    assert calls == [(2.0, 0.7)] * 5
    calls.clear()
    student = optimization.small_student(50, 2, seed=0, dim=8)
    optimization.train_student(student, ids, torch.ones_like(ids), labels, None, steps=2, batch_size=8, loss_fn=loss_fn)
    assert calls == [(4.0, 0.0)] * 2  # no teacher: plain training on hard labels


def test_pruning_zeroes_weights_but_not_dense_bytes():
    model = _mlp()
    pruned = optimization.magnitude_prune(model, 0.7)
    assert optimization.sparsity_of(pruned) == pytest.approx(0.7, abs=0.01)
    assert optimization.sparsity_of(model) == 0
    assert optimization.disk_bytes(pruned) == pytest.approx(optimization.disk_bytes(model), rel=0.01)
    assert optimization.sparse_bytes(pruned) < optimization.sparse_bytes(model)
    assert not any(hasattr(m, "weight_mask") for m in pruned.modules())  # pruning made permanent


def test_bootstrap_ci():
    mean, low, high = optimization.bootstrap_ci([0.05, 0.07, 0.06, 0.08, 0.04])
    assert low <= mean <= high and low > 0


def test_cached_embeddings_equal_fresh_ones_and_follow_the_weights(tmp_path, monkeypatch):
    from labkit.models import load_embedder

    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    texts = ["#Person1#: Where is the station?", "#Person2#: Two blocks north.", "The weather is fine."]
    teacher = optimization.TopicClassifier(load_embedder(), n_labels=2)
    fresh = teacher.embed(texts)
    assert torch.equal(teacher.embed(texts, cache=True), fresh)  # computed and stored
    assert len(list(tmp_path.glob("embeddings-*/embeddings.pt"))) == 1
    assert torch.equal(teacher.embed(texts, cache=True), fresh)  # loaded
    assert len(list(tmp_path.glob("embeddings-*/embeddings.pt"))) == 1
    with torch.no_grad():  # another encoder (here: one weight nudged) is another cache entry
        next(teacher.encoder.parameters()).view(-1)[0] += 1.0
    assert torch.equal(teacher.embed(texts, cache=True), teacher.embed(texts))
    assert len(list(tmp_path.glob("embeddings-*/embeddings.pt"))) == 2


# --- quantization-aware training ----------------------------------------------------------------------------


def test_fake_quantize_rounds_each_row_to_its_grid_and_passes_gradients_straight_through():
    torch.manual_seed(0)
    weight = torch.randn(6, 32, requires_grad=True)
    rounded = optimization.fake_quantize(weight, 2)
    for row, original in zip(rounded.detach(), weight.detach(), strict=True):
        scale = original.abs().max()
        assert set((row / scale).round().tolist()) <= {-1.0, 0.0, 1.0}  # three levels: -s, 0, +s
        assert torch.allclose(row, torch.round(original / scale) * scale)
    (rounded * torch.arange(32.0)).sum().backward()
    assert torch.equal(weight.grad, torch.arange(32.0).expand(6, 32))  # the identity's gradient
    assert len(optimization.fake_quantize(weight, 4)[0].detach().unique()) <= 15
    with pytest.raises(ValueError, match="at least 2 bits"):
        optimization.fake_quantize(weight, 1)


def test_quantization_aware_training_computes_with_rounded_weights_and_updates_the_float_ones():
    torch.manual_seed(0)
    student = optimization.small_student(50, 3, seed=0, dim=8)
    aware = optimization.quantization_aware(student, 2)
    ids = torch.randint(1, 50, (16, 6))
    with torch.no_grad():  # the forward pass is the quantized model's
        expected = optimization.quantize_weights(student, 2)(ids).logits
        assert torch.allclose(aware(ids).logits, expected, atol=1e-6)
    labels = torch.randint(0, 3, (16,))
    before = aware.classifier.parametrizations.weight.original.detach().clone()
    optimization.train_student(aware, ids, torch.ones_like(ids), labels, None, steps=3, batch_size=8, lr=0.1)
    assert not torch.equal(aware.classifier.parametrizations.weight.original, before)  # the float weights train
    assert not hasattr(student.classifier, "parametrizations")  # the model passed in is untouched
    deployed = optimization.quantize_weights(aware, 2)
    assert not hasattr(deployed.classifier, "parametrizations")
    for module in (deployed.embedding, deployed.classifier):
        for row in module.weight.detach():
            assert len(row.unique()) <= 3
    assert torch.equal(optimization.quantize_weights(deployed, 2).classifier.weight, deployed.classifier.weight)


def test_low_bit_bytes_counts_packed_levels_and_row_scales():
    model = nn.Sequential(nn.Embedding(100, 64), nn.Linear(64, 8))
    expected = (100 * 64 + 8 * 64) * 2 // 8 + (100 + 8) * 4 + 8 * 4  # 2-bit levels, fp32 scales, the fp32 bias
    assert optimization.low_bit_bytes(model, 2) == expected
    packed, scales = optimization.pack_low_bit(model[1].weight, 4)
    assert packed.dtype == torch.uint8 and packed.numel() == 8 * 64 // 2 and scales.shape == (8,)
    codes = torch.stack([(packed >> 4 * k) & 0x0F for k in range(2)], dim=1).flatten().float() - 7  # unpack
    assert torch.allclose(codes.view(8, 64) * scales[:, None] / 7 * 7,
                          optimization.fake_quantize(model[1].weight, 4).detach(), atol=1e-6)
    with pytest.raises(ValueError, match="bits in"):
        optimization.pack_low_bit(model[1].weight, 3)


# --- QLoRA: NF4 by hand against bitsandbytes -------------------------------------------------------------


def test_nf4_code_book_is_bitsandbytes_nf4():
    from bitsandbytes.functional import get_4bit_type

    code = optimization.nf4_code_book()
    assert code.shape == (16,) and code[0] == -1 and code[-1] == 1 and int((code == 0).sum()) == 1
    assert torch.allclose(code, get_4bit_type("nf4", device="cpu"), atol=1e-6)
    assert optimization.NF4_OFFSET == pytest.approx(0.9677083, abs=1e-7)


def test_blockwise_4bit_matches_bitsandbytes_indices_and_weights():
    from bitsandbytes import functional as bnbf

    torch.manual_seed(0)
    weight = torch.randn(48, 80) * 0.02  # 3840 numbers: 60 blocks of 64
    weight[5, 7] = 0.5  # an outlier coarsens its own block only
    packed, state = bnbf.quantize_4bit(weight, blocksize=64, quant_type="nf4", compress_statistics=False)
    ours = optimization.quantize_blockwise_4bit(weight, optimization.nf4_code_book(), 64)
    assert torch.equal(optimization.unpack_4bit(packed, weight.numel()), ours.indices)
    assert torch.allclose(ours.absmax, state.absmax)
    assert torch.allclose(ours.dequantize(), bnbf.dequantize_4bit(packed, state), atol=1e-6)
    errors = (ours.dequantize() - weight).abs().view(-1, 64).mean(1)
    outlier_block = (5 * 80 + 7) // 64
    assert errors[outlier_block] > 3 * errors[torch.arange(60) != outlier_block].max()


def test_nf4_beats_evenly_spaced_levels_on_normal_weights():
    torch.manual_seed(0)
    table = optimization.quantization_error(torch.randn(128, 128), {"NF4": optimization.nf4_code_book(),
                                                                   "int4": optimization.int4_code_book()})
    assert table.loc["NF4", "mean squared error"] < table.loc["int4", "mean squared error"]


def test_double_quantization_arithmetic_and_reconstruction():
    assert optimization.constant_bits_per_weight(64) == 0.5
    assert optimization.constant_bits_per_weight(64, double_quant=True) == pytest.approx(8 / 64 + 32 / (64 * 256))
    torch.manual_seed(0)
    absmax = torch.rand(1000) * 0.1 + 0.05  # positive, like block absmax values; 1000 = 3 blocks of 256 + 232
    second = optimization.double_quantize(absmax)
    assert second.indices.dtype == torch.uint8 and second.scales.shape == (4,)
    assert second.offset == pytest.approx(float(absmax.mean()))
    assert (second.dequantize() - absmax).abs().max() < 0.01 * absmax.max()


def test_compare_with_bitsandbytes_agrees_on_every_part():
    torch.manual_seed(0)
    result = optimization.compare_with_bitsandbytes(torch.randn(64, 256) * 0.02, optimization.nf4_code_book())
    assert result["code book: largest |difference| from bitsandbytes' NF4"] < 1e-6
    assert result["4-bit indices identical (share of weights)"] == 1.0
    assert result["block absmax before double quantization: largest relative difference"] < 1e-6
    assert result["8-bit codes of the absmax identical (share of blocks)"] > 0.95
    assert result["dequantized weights: largest |difference|"] < 1e-3
    assert result["mean |error| of the weights: by hand"] == pytest.approx(
        result["mean |error| of the weights: bitsandbytes"], rel=0.01)


# --- QLoRA vs LoRA on a tiny causal LM ------------------------------------------------------------------


def _tiny_llama(tmp_path):
    """A two-layer Llama with tied embeddings, saved to disk so it can be loaded in 4 bits like a real checkpoint."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(tmp_path / "llama")
    return model, tmp_path / "llama"


def _word_tokenizer():
    """A whole-word tokenizer over a few words, with an end token: enough for topic_examples."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<s>", "</s>", "Summary:", "Topic:", "job", "interview", "lost", "item", "the", "glasses",
             "a", "person", "asks", "about", "salary", "finds"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", bos_token="<s>")


def test_topic_examples_score_only_the_answer_and_pad_on_the_right():
    tokenizer = _word_tokenizer()
    examples = optimization.topic_examples(["a person asks about the salary", "the person finds glasses"],
                                           ["job interview", "lost item"], tokenizer, max_prompt_tokens=3)
    first = examples[0]
    assert tokenizer.convert_ids_to_tokens(first["input_ids"]) == [
        "Summary:", "a", "person", "asks", "Topic:", "job", "interview", "</s>"]  # the summary cut to 3 tokens
    assert first["labels"][:5] == [-100] * 5 and first["labels"][5:] == first["input_ids"][5:]
    batch = optimization.collate_causal([examples[0], {"input_ids": [5], "labels": [5]}], tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, 8) and batch["attention_mask"][1].tolist() == [1] + [0] * 7
    assert batch["labels"][1, 1:].eq(-100).all()


def test_answer_scores_exact_match_is_greedy_decoding(tmp_path):
    model, _ = _tiny_llama(tmp_path)
    tokenizer = _word_tokenizer()
    prompt = [3, 11, 12, 13, 4]
    greedy = model.generate(torch.tensor([prompt]), max_new_tokens=3, do_sample=False, pad_token_id=0,
                            eos_token_id=None)[0, len(prompt):].tolist()
    right = {"input_ids": prompt + greedy, "labels": [-100] * len(prompt) + greedy}
    changed = [(greedy[1] + 1) % 64 if k == 1 else t for k, t in enumerate(greedy)]
    wrong = {"input_ids": prompt + changed, "labels": [-100] * len(prompt) + changed}
    scores = optimization.answer_scores(model, tokenizer, [right, wrong, right])
    assert scores["exact match"] == pytest.approx(2 / 3)
    with torch.no_grad():  # the loss is the mean negative log-likelihood of the answer tokens
        logits = model(torch.tensor([prompt + greedy])).logits[0, len(prompt) - 1:-1]
    nll = torch.nn.functional.cross_entropy(logits, torch.tensor(greedy)).item()
    assert optimization.answer_scores(model, tokenizer, [right])["answer loss"] == pytest.approx(nll, rel=1e-5)


def test_peak_memory_sees_a_block_allocate():
    with optimization.peak_memory() as memory:
        block = torch.ones(16 * 1024 * 1024)  # 64 MB, touched
        del block
    assert memory.method and memory.peak_bytes >= memory.start_bytes
    if "VmHWM" in memory.method:  # Linux: the peak belongs to this block alone
        assert memory.extra_bytes >= 48 * 1024 * 1024


def test_4bit_model_sizes_and_a_qlora_step_against_lora(tmp_path):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    model, folder = _tiny_llama(tmp_path)
    n_quantized, n_other = optimization.quantized_and_other_parameters(model)
    linear = [m for name, m in model.named_modules() if isinstance(m, nn.Linear) and name != "lm_head"]
    assert n_quantized == sum(m.weight.numel() for m in linear) and len(linear) == 14
    assert n_quantized + n_other == sum(p.numel() for p in model.parameters())  # the tied lm_head counted once
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())  # the rotary embedding's frequencies
    assert optimization.resident_bytes(model) == 4 * (n_quantized + n_other) + buffers

    nf4 = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.float32)
    base_4bit = AutoModelForCausalLM.from_pretrained(folder, quantization_config=nf4, dtype=torch.float32,
                                                     device_map={"": "cpu"})
    blocks = n_quantized / 64
    weights_and_constants = n_quantized / 2 + blocks + 4 * 14  # 8-bit absmax; one fp32 scale per layer (<= 256 blocks)
    per_layer_extras = 14 * (16 * 4 + 256 * 4 + 4)  # each layer's NF4 code, 8-bit code and offset
    assert optimization.resident_bytes(base_4bit) == (weights_and_constants + per_layer_extras + 4 * n_other
                                                      + buffers)
    assert base_4bit.get_memory_footprint() < optimization.resident_bytes(base_4bit)  # it leaves out the constants

    tokenizer = _word_tokenizer()
    examples = [{"input_ids": [3, 11, 12, 4, 5, 6, 2], "labels": [-100] * 4 + [5, 6, 2]}] * 4
    adapters = LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    runs = {}
    for name, base in [("LoRA", model), ("QLoRA", prepare_model_for_kbit_training(base_4bit, False))]:
        torch.manual_seed(0)
        tuned = get_peft_model(base, adapters)
        runs[name] = optimization.train_lora(tuned, tokenizer, examples, steps=4, batch_size=2, learning_rate=1e-2,
                                             progress=False)
    for run in runs.values():
        assert len(run.losses) == len(run.seconds) == len(run.cpu_seconds) == 4 and run.losses[-1] < run.losses[0]
        assert run.state_bytes == 16 * run.trainable  # fp32 adapters, their gradients, AdamW's two moments
    assert runs["LoRA"].trainable == runs["QLoRA"].trainable
    assert runs["LoRA"].losses[0] != runs["QLoRA"].losses[0]  # the 4-bit base computes a different first loss


def test_settings_follow_the_profile_and_the_smoke_scale(profile, monkeypatch):
    from labkit import config

    monkeypatch.delenv("LABKIT_SIZES", raising=False)
    profile("tiny")
    assert optimization.settings("qlora") == optimization.OPTIMIZATION_SETTINGS["tiny"]["qlora"]
    assert optimization.settings("qat")["bits"] == 2
    settings = optimization.settings("qlora")
    settings["steps"] = 999  # a copy: changing it leaves the table alone
    assert optimization.OPTIMIZATION_SETTINGS["tiny"]["qlora"]["steps"] != 999
    monkeypatch.setenv("LABKIT_SIZES", "smoke")
    assert profile("tiny").scale == "smoke" and optimization.settings("qlora")["steps"] == 1
    monkeypatch.delenv("LABKIT_SIZES")
    profile("course")
    expected = "bfloat16" if config.supports_bf16() else "float32"  # bf16 only where the hardware does it
    assert optimization.settings("qlora")["compute_dtype"] == expected
    assert optimization.settings("qlora")["steps"] == optimization.OPTIMIZATION_SETTINGS["course"]["qlora"]["steps"]


def test_measure_takes_accuracy_and_latency_from_one_pass_and_computes_16_bit_in_float32_where_not_native():
    """One pass per variant gives accuracy and the median batch time; a 16-bit variant on a CPU (no 16-bit
    arithmetic) is timed in its dtype on one batch, and its accuracy is that of its rounded weights in float32."""
    from labkit import config

    torch.manual_seed(0)
    features = torch.randn(70, 32)
    labels = (features[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 2))
    calls = []

    def evaluate(m, batch):
        calls.append((optimization._float_dtype(m), len(batch)))
        with torch.no_grad():
            return m(torch.stack(batch).to(optimization._float_dtype(m)))

    half = optimization.cast(model, torch.float16)
    table = optimization.measure({"fp32": model, "fp16": half}, list(features), labels, evaluate=evaluate,
                                 batch_size=32)
    assert not config.computes_natively(torch.float16, torch.device("cpu"))
    assert config.computes_natively(torch.float32, torch.device("cpu"))
    # fp32: 3 batches (32, 32, 6); fp16: one batch in float16, then 3 batches in float32 from its weights
    assert calls == [(torch.float32, 32), (torch.float32, 32), (torch.float32, 6),
                     (torch.float16, 32), (torch.float32, 32), (torch.float32, 32), (torch.float32, 6)]
    with torch.no_grad():
        upcast = optimization.cast(half, torch.float32)(features)
        expected = optimization.accuracy(model(features), labels), optimization.accuracy(upcast, labels)
    assert table.loc["fp32", "accuracy"] == pytest.approx(expected[0])
    assert table.loc["fp16", "accuracy"] == pytest.approx(expected[1])
    assert table.loc["fp32", "accuracy computed in"] == "float32"
    assert "not native" in table.loc["fp16", "accuracy computed in"]
    assert torch.equal(table.attrs["logits"]["fp16"], upcast)
    assert (table["latency ms"] > 0).all()
    assert optimization.memory_bytes(half) * 2 == optimization.memory_bytes(model)
    assert list(optimization.as_ratios(table, "fp32").columns) == ["disk MB", "memory MB", "Linear weights MB",
                                                                  "latency ms", "accuracy"]
