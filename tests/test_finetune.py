import copy
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from transformers import TrainerCallback

from labkit import config, finetune


@pytest.fixture(scope="module")
def small_train(summarizer, dialogsum):
    _, tokenizer = summarizer
    return finetune.tokenize_dialogues(dialogsum["train"].select(range(64)), tokenizer)


def _logits(model, tokenizer, text="#Person1#: Hello there.\n#Person2#: Hi!"):
    enc = tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        return model(**enc, decoder_input_ids=torch.zeros((1, 3), dtype=torch.long)).logits


def test_lora_config_has_the_course_defaults():
    cfg = finetune.lora_config()
    assert (cfg.r, cfg.lora_alpha, cfg.lora_dropout, cfg.bias) == (32, 32, 0.05, "none")
    assert set(cfg.target_modules) == {"q", "v"}
    assert str(cfg.task_type.value if hasattr(cfg.task_type, "value") else cfg.task_type) == "SEQ_2_SEQ_LM"
    assert finetune.lora_config(r=8).r == 8


def test_add_lora_never_mutates_the_original(summarizer):
    model, tokenizer = summarizer
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modules_before = [type(m).__name__ for m in model.modules()]
    logits_before = _logits(model, tokenizer)
    lora = finetune.add_lora(model, finetune.lora_config(r=4, target_modules=["q", "v"]))
    with torch.no_grad():  # make the adapter do something
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.add_(0.1)
    assert [type(m).__name__ for m in model.modules()] == modules_before
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(_logits(model, tokenizer), logits_before)
    assert not torch.allclose(_logits(lora, tokenizer), logits_before)
    trainable, total, percent = finetune.count_parameters(lora)
    assert trainable < total and percent < 5


def test_count_parameters_and_print(summarizer, capsys):
    model, _ = summarizer
    trainable, total, percent = finetune.count_parameters(model)
    assert trainable == total == sum(p.numel() for p in model.parameters()) and percent == 100
    finetune.print_parameters(model)
    assert f"all model parameters: {total}" in capsys.readouterr().out


def test_tokenize_does_not_pad_and_collator_masks_label_padding(summarizer, small_train):
    model, tokenizer = summarizer
    lengths = {len(x) for x in small_train["input_ids"]}
    assert len(lengths) > 1  # no padding to a fixed length
    batch = finetune.collator(tokenizer, model)([small_train[i] for i in range(8)])
    longest = max(len(small_train[i]["input_ids"]) for i in range(8))
    assert batch["input_ids"].shape[1] == longest  # padded to the batch's own longest
    shortest = min(range(8), key=lambda i: len(small_train[i]["labels"]))
    assert (batch["labels"][shortest] == -100).any()
    assert tokenizer.pad_token_id not in batch["labels"].tolist()[shortest]


def test_training_loss_falls_and_adapter_round_trip_and_merge(summarizer, small_train, tmp_path):
    model, tokenizer = summarizer
    lora = finetune.add_lora(model, finetune.lora_config(r=8, lora_alpha=16, target_modules=["q", "k", "v", "o"]))
    run = finetune.train(lora, tokenizer, small_train, tmp_path / "run", learning_rate=1e-2, max_steps=30,
                         batch_size=8, logging_steps=5, disable_tqdm=True)
    losses = run.losses["loss"].tolist()
    assert run.steps == 30 and losses[-1] < losses[0]
    path = finetune.save_adapter(lora, tmp_path / "adapter")
    assert finetune.adapter_size_mb(path) < 1
    reloaded = finetune.load_adapter(model, path)
    merged = finetune.merge_lora(lora)
    reference = _logits(lora, tokenizer)
    assert torch.allclose(_logits(reloaded, tokenizer), reference, atol=1e-5)
    assert torch.allclose(_logits(merged, tokenizer), reference, atol=1e-4)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    assert not torch.allclose(_logits(model, tokenizer), reference)  # the base is still the base


def test_prompt_tuning_trains_only_the_soft_prompt(summarizer):
    model, tokenizer = summarizer
    soft = finetune.add_prompt_tuning(model, tokenizer, num_virtual_tokens=10)
    trainable, _, _ = finetune.count_parameters(soft)
    submodules = soft.peft_config["default"].num_transformer_submodules  # peft gives seq2seq models two
    assert trainable == 10 * model.config.d_model * submodules
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), soft.base_model.parameters(), strict=True))


def test_last_checkpoint_skips_incomplete_ones(tmp_path):
    assert finetune.last_checkpoint(tmp_path / "nothing") is None
    for step, complete in [(10, True), (20, True), (30, False)]:
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert finetune.last_checkpoint(tmp_path).endswith("checkpoint-20")


TRAIN_SCRIPT = textwrap.dedent("""
    import sys
    from labkit import finetune
    from labkit.data import load_dialogsum
    from labkit.models import load_summarizer
    model, tokenizer = load_summarizer()
    data = finetune.tokenize_dialogues(load_dialogsum()["train"].select(range(64)), tokenizer)
    finetune.train(model, tokenizer, data, sys.argv[1], learning_rate=1e-3, max_steps=120, batch_size=4,
                   save_steps=10, disable_tqdm=True)
""")


class _CountSteps(TrainerCallback):
    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


def test_training_resumes_after_being_killed(summarizer, small_train, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and not (out / "checkpoint-20" / "trainer_state.json").exists():
            assert proc.poll() is None, "training subprocess ended before it could be interrupted"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # like a dead kernel: no clean-up
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    checkpoint = finetune.last_checkpoint(out)
    assert checkpoint is not None
    done_before = int(checkpoint.rsplit("-", 1)[1])
    assert 20 <= done_before < 120

    model, tokenizer = summarizer
    counter = _CountSteps()
    run = finetune.train(copy.deepcopy(model), tokenizer, small_train, out, learning_rate=1e-3, max_steps=120,
                         batch_size=4, save_steps=10, disable_tqdm=True, callbacks=[counter])
    assert run.resumed_from == checkpoint
    assert run.steps == 120
    assert counter.steps == 120 - done_before  # continued, did not start over


def test_freeze_except_trains_only_the_selected_parameters_of_a_copy(summarizer):
    model, _ = summarizer
    selected = finetune.freeze_except(model, [r"decoder\.block\.1\."])
    trainable = [n for n, p in selected.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("decoder.block.1.") for n in trainable)
    assert all(p.requires_grad for p in model.parameters())  # the original is untouched
    assert finetune.count_parameters(selected)[0] == sum(
        p.numel() for n, p in model.named_parameters() if n.startswith("decoder.block.1."))
    with pytest.raises(ValueError, match="No parameter name matches"):
        finetune.freeze_except(model, ["no_such_layer"])


def test_topic_answer_is_the_form_the_tiny_model_was_pretrained_on():
    import random

    from labkit import tiny

    record = {"dialogue": "#Person1#: Hi.\n#Person2#: Hello.\n#Person1#: Bye.", "topic": "weather"}
    rng = random.Random(0)
    pairs = []
    while not any(s.startswith("What is the topic") for s, _ in pairs):
        pairs += tiny.pretraining_examples([record] * 20, rng)
    source, target = next((s, t) for s, t in pairs if s.startswith("What is the topic"))
    assert source == finetune.topic_prompt(record["dialogue"])
    assert target == finetune.topic_answer("weather")


def test_topic_scores_count_wrong_and_unanswered_answers():
    def parse(answer):
        return answer.rsplit("about ", 1)[-1].rstrip(".").lower() or None if "about" in answer else None

    answers = [finetune.topic_answer("weather"), finetune.topic_answer("Moving House"), "A summary.", ""]
    scores = finetune.topic_scores(answers, ["weather", "moving house", "library", "shopping"], parse)
    assert scores == {"topic_accuracy": 0.5, "no_topic": 2}
    with pytest.raises(ValueError, match="pair up"):
        finetune.topic_scores(answers, ["weather"], parse)
    with pytest.raises(TypeError):
        finetune.topic_scores("weather", "weather", parse)


def test_multitask_examples_mix_summaries_and_topic_questions(dialogsum):
    split = dialogsum["train"].select(range(40))
    mixed = finetune.multitask_examples(split, topic_share=0.25, seed=0)
    assert mixed.column_names == ["source", "target", "task"]
    rows = mixed.to_list()
    summaries = {(r["source"], r["target"]) for r in rows if r["task"] == "summary"}
    topics = [r for r in rows if r["task"] == "topic"]
    assert len(summaries) == 40 and len(topics) == 10
    assert summaries == {(finetune.prompts.zero_shot(r["dialogue"]), r["summary"]) for r in split}
    templates = set()
    for row in topics:
        record = next(r for r in split if r["dialogue"] in row["source"])
        assert row["target"] == finetune.topic_answer(record["topic"])
        templates.add(row["source"].replace(record["dialogue"], "{dialogue}"))
    assert templates == set(finetune.TOPIC_INSTRUCTIONS)  # several ways of asking the same question
    assert mixed["source"] == finetune.multitask_examples(split, topic_share=0.25, seed=0)["source"]  # deterministic
    assert finetune.multitask_examples(split, topic_share=0.0)["task"].count("topic") == 0
    with pytest.raises(ValueError, match="fraction"):
        finetune.multitask_examples(split, topic_share=25)


def test_tokenize_pairs_matches_tokenize_dialogues_on_summaries(summarizer, dialogsum):
    _, tokenizer = summarizer
    split = dialogsum["train"].select(range(8))
    pairs = finetune.multitask_examples(split, topic_share=0.0, seed=0)
    order = [pairs["source"].index(finetune.prompts.zero_shot(d)) for d in split["dialogue"]]
    a = finetune.tokenize_pairs(pairs, tokenizer)
    b = finetune.tokenize_dialogues(split, tokenizer)
    assert [a[i]["input_ids"] for i in order] == b["input_ids"]
    assert [a[i]["labels"] for i in order] == b["labels"]


def test_two_trainings_into_one_folder_take_turns(summarizer, small_train, tmp_path):
    """While another process holds the run's lock (say, a notebook training the same run), train waits; then it
    resumes from that run's final checkpoint instead of training the same steps over its files."""
    import threading

    from filelock import FileLock

    model, tokenizer = summarizer
    out = tmp_path / "run"
    trained = copy.deepcopy(model)
    first = finetune.train(trained, tokenizer, small_train, out, learning_rate=1e-3, max_steps=6,
                           batch_size=4, save_steps=6, disable_tqdm=True)
    assert first.steps == 6
    counter = _CountSteps()
    results = []
    held = FileLock(str(finetune.run_lock(out)))
    held.acquire()
    try:
        second = copy.deepcopy(model)
        waiting = threading.Thread(target=lambda: results.append(finetune.train(
            second, tokenizer, small_train, out, learning_rate=1e-3, max_steps=6, batch_size=4,
            save_steps=6, disable_tqdm=True, callbacks=[counter])))
        waiting.start()
        waiting.join(timeout=3)
        assert waiting.is_alive() and not results  # blocked on the lock, nothing trained
    finally:
        held.release()
    waiting.join(timeout=120)
    assert results and results[0].resumed_from == finetune.last_checkpoint(out)
    assert counter.steps == 0  # the finished run was reused, not trained again (no checkpoint-7 either)
    assert results[0].steps == 6 and sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-6"]
    assert results[0].losses["loss"].tolist() == first.losses["loss"].tolist()
    assert all(torch.equal(a, b) for a, b in zip(trained.parameters(), second.parameters(), strict=True))


# --- the topic parser, LoRA's count, adapters, the model card ----------------------------------------------------

@pytest.mark.parametrize("answer, topic", [
    ("#Person1# and #Person2# are talking about hotel check-in.", "hotel check-in"),
    ("#Person1# and #Person2# are talking about moving house.", "moving house"),
    ("They are talking about Job Interview.", "job interview"),
    ("#Person1# and #Person2# are talking about weather. #Person1# says it will rain tomorrow.", "weather"),
    ("renting an apartment", "renting an apartment"),
    ("  The weather  \n#Person2#: Nice day!", "the weather"),
    ("", None),
    ("#Person1# and #Person2# are talking about .", None),
])
def test_named_topic_reads_every_answer_form_and_never_crashes(answer, topic):
    assert finetune.named_topic(answer) == topic


def test_topic_correct_is_the_per_example_form_of_topic_scores():
    answers = [finetune.topic_answer("Hotel check-in"), "#Person1# asks for a room.", "", "shopping"]
    topics = ["hotel check-in", "hotel check-in", "weather", "Shopping"]
    assert finetune.topic_correct(answers, topics) == [1.0, 0.0, 0.0, 1.0]
    assert finetune.topic_scores(answers, topics, finetune.named_topic)["topic_accuracy"] == 0.5
    with pytest.raises(ValueError, match="pair up"):
        finetune.topic_correct(answers, topics[:2])


@pytest.mark.parametrize("targets, r", [(["q", "v"], 4), (["q", "k", "v", "o"], 8), (["o"], 2), (["wo", "wi_0"], 3)])
def test_lora_parameter_count_equals_peft(summarizer, targets, r):
    model, _ = summarizer
    peft_model = finetune.add_lora(model, finetune.lora_config(r=r, lora_alpha=r, target_modules=targets))
    assert finetune.lora_parameter_count(model, targets, r) == finetune.count_parameters(peft_model)[0]


def test_adapters_start_as_identity_and_freeze_the_base(summarizer):
    model, tokenizer = summarizer
    adapted = finetune.add_adapters(model, bottleneck=8)
    # the up-projection starts at zero (the copy's memory layout may move a matrix product by float rounding)
    assert torch.allclose(_logits(adapted, tokenizer), _logits(model, tokenizer), atol=1e-5)
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable == set(finetune.adapter_parameters(adapted))
    n_blocks = model.config.num_layers + model.config.num_decoder_layers
    d = model.config.d_model
    assert finetune.count_parameters(adapted)[0] == n_blocks * (2 * d * 8 + 8 + d)
    assert not any(".adapter." in n for n, _ in model.named_parameters())  # the original is untouched
    layer = finetune.bottleneck_adapter(6, 3)
    h = torch.randn(2, 6)
    assert torch.equal(layer(h), h)


def test_adapter_training_lowers_the_loss_and_moves_only_the_adapters(summarizer, small_train, tmp_path):
    model, tokenizer = summarizer
    adapted = finetune.add_adapters(model, bottleneck=16)
    frozen = {n: p.detach().clone() for n, p in adapted.named_parameters() if not p.requires_grad}
    run = finetune.train(adapted, tokenizer, small_train, tmp_path / "run", learning_rate=1e-2, max_steps=30,
                         batch_size=8, logging_steps=5, disable_tqdm=True)
    losses = run.losses["loss"].tolist()
    assert run.steps == 30 and losses[-1] < losses[0]
    assert all(torch.equal(p, frozen[n]) for n, p in adapted.named_parameters() if n in frozen)
    assert any(p.abs().sum() > 0 for n, p in finetune.adapter_parameters(adapted).items() if n.endswith("up.weight"))
    assert not torch.equal(_logits(adapted, tokenizer), _logits(model, tokenizer))


def test_adapter_settings_follow_the_profile(profile, monkeypatch):
    profile("course")
    assert finetune.adapter_settings() == finetune.ADAPTER_SETTINGS["course"]
    monkeypatch.setenv("LABKIT_SIZES", "smoke")
    profile("tiny")
    assert finetune.adapter_settings() == {**finetune.ADAPTER_SETTINGS["tiny"], **finetune.ADAPTER_SMOKE}
    assert finetune.notebook_setting("prompt_tuning") == config.setting("prompt_tuning")  # smoke: no adjustment
    monkeypatch.setenv("LABKIT_SIZES", "full")
    profile("tiny")
    assert finetune.notebook_setting("prompt_tuning") == {**config.setting("prompt_tuning"), "max_steps": 25}
    assert finetune.notebook_setting("lora") == config.setting("lora")
    profile("course")
    assert finetune.notebook_setting("prompt_tuning") == config.setting("prompt_tuning")


def test_generation_seconds_times_a_fixed_number_of_tokens(summarizer):
    model, tokenizer = summarizer
    seconds = finetune.generation_seconds(model, tokenizer, ["#Person1#: Hi.\n#Person2#: Hello."], new_tokens=4,
                                          repeats=2)
    assert 0 < seconds < 30


def test_model_card_carries_the_run_and_round_trips(tmp_path):
    from huggingface_hub import ModelCard

    scores = {"rouge1": 0.31234, "rouge2": 0.1, "rougeL": 0.25, "rougeLsum": 0.25}
    card = finetune.model_card("tiny-t5-dialogsum-lora", base_model="labkit/tiny-t5", dataset="labkit/dialogsum",
                               method="LoRA", scores=scores, n_test=100, training={"max_steps": 150},
                               licence="apache-2.0", licence_note="written by the project",
                               limitations="Trained briefly on synthetic dialogues.")
    assert card.data.base_model == "labkit/tiny-t5" and card.data.license == "apache-2.0"
    assert card.data.eval_results[0].metric_value == 0.3123
    assert "| rouge1 | 0.3123 |" in card.text and "Trained briefly on synthetic dialogues." in card.text
    assert "max_steps = 150" in card.text and "100 dialogues" in card.text
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    assert loaded.data.eval_results[0].metric_name == "rouge1" and loaded.data.datasets == ["labkit/dialogsum"]
    with pytest.raises(ValueError, match="scores"):
        finetune.model_card("m", "b", "d", "LoRA", {}, 1, {}, "apache-2.0", "", "")
