import copy

import pytest
import torch
from transformers import GenerationConfig

from labkit import generation, prompts


@pytest.fixture(scope="module")
def dialogue_prompts(dialogsum):
    return [prompts.flan_template(d) for d in dialogsum["test"]["dialogue"][:10]]


def test_batched_outputs_match_one_by_one_in_input_order(summarizer, dialogue_prompts):
    model, tokenizer = summarizer
    cfg = GenerationConfig(max_new_tokens=16, do_sample=False)
    batched = generation.generate(model, tokenizer, dialogue_prompts, cfg, batch_size=4)
    singles = [generation.generate(model, tokenizer, p, cfg) for p in dialogue_prompts]
    assert batched == singles
    assert all(isinstance(o, str) and o for o in batched)


def test_sampling_is_reproducible_with_a_seed_and_varies_without(summarizer, dialogue_prompts):
    model, tokenizer = summarizer
    cfg = generation.generation_config("high temperature (1.8)", max_new_tokens=20)
    a = generation.generate(model, tokenizer, dialogue_prompts[:3], cfg, seed=1)
    b = generation.generate(model, tokenizer, dialogue_prompts[:3], cfg, seed=1)
    c = [generation.generate(model, tokenizer, dialogue_prompts[0], cfg, seed=s) for s in range(6)]
    assert a == b
    assert len(set(c)) > 1


def test_presets_and_unknown_preset():
    assert generation.generation_config("greedy").do_sample is False
    assert generation.generation_config("top-p (p=0.5)", max_new_tokens=5).top_p == 0.5
    with pytest.raises(ValueError, match="Presets: greedy"):
        generation.generation_config("nucleus")


def test_truncates_to_the_context_window(summarizer):
    model, tokenizer = summarizer
    too_long = "#Person1#: hello there. " * 400
    assert prompts.prompt_length(tokenizer, too_long).overflow > 0
    out = generation.generate(model, tokenizer, [too_long], GenerationConfig(max_new_tokens=5))
    assert len(out) == 1


def test_settings_panel_regenerates(summarizer, dialogue_prompts):
    model, tokenizer = summarizer
    panel = generation.settings_panel(model, tokenizer, dialogue_prompts[0], seed=0)
    first = panel.result
    assert isinstance(first, str)
    slider = next(w for w in panel.children if getattr(w, "description", "") == "max_new_tokens")
    slider.value = 2
    assert panel.result != first or len(tokenizer(panel.result).input_ids) <= 3


def test_compare_settings_table(summarizer, dialogue_prompts):
    model, tokenizer = summarizer
    table = generation.compare_settings(model, tokenizer, dialogue_prompts[0],
                                        {"greedy": GenerationConfig(max_new_tokens=8)})
    assert list(table.index) == ["greedy"] and table.loc["greedy", "output"]


def test_dropping_finished_rows_and_chunked_encoding_change_no_output(summarizer, dialogue_prompts, monkeypatch):
    """Greedy outputs are the same whatever the decoder batch, encoder chunk and clean-up interval."""
    model, tokenizer = summarizer
    cfg = GenerationConfig(max_new_tokens=24, do_sample=False, no_repeat_ngram_size=3)
    singles = [generation.generate(model, tokenizer, p, cfg) for p in dialogue_prompts]
    assert generation.generate(model, tokenizer, dialogue_prompts, cfg, batch_size=10, encoder_batch_size=3) == singles
    monkeypatch.setattr(generation, "_segment_length", lambda cfg: 4)
    assert generation.generate(model, tokenizer, dialogue_prompts, cfg, batch_size=10, encoder_batch_size=4) == singles
    monkeypatch.setattr(generation, "_segment_length", lambda cfg: 10**6)
    assert generation.generate(model, tokenizer, dialogue_prompts, cfg, batch_size=7) == singles
    with pytest.raises(ValueError, match="encoder_batch_size"):
        generation.generate(model, tokenizer, dialogue_prompts, cfg, encoder_batch_size=0)
    assert generation.generate(model, tokenizer, [], cfg) == []
    assert isinstance(generation.generate(model, tokenizer, "", cfg), str)


def test_only_plain_greedy_decoding_is_paused_and_resumed():
    ids = {"eos_token_id": 1, "decoder_start_token_id": 0}
    assert generation._segmentable(GenerationConfig(max_new_tokens=20, do_sample=False, **ids))
    assert not generation._segmentable(GenerationConfig(max_new_tokens=20, do_sample=True, **ids))
    assert not generation._segmentable(GenerationConfig(max_new_tokens=20, num_beams=4, **ids))
    assert not generation._segmentable(GenerationConfig(max_new_tokens=20, min_new_tokens=5, **ids))
    assert not generation._segmentable(GenerationConfig(max_length=20, **ids))
    assert not generation._segmentable(GenerationConfig(max_new_tokens=20))  # no end-of-sequence token to look for


def test_a_soft_prompt_model_still_generates(summarizer, dialogue_prompts):
    from labkit import finetune

    model, tokenizer = summarizer
    soft = finetune.add_prompt_tuning(model, tokenizer, num_virtual_tokens=4)
    out = generation.generate(soft, tokenizer, dialogue_prompts[:3], GenerationConfig(max_new_tokens=6))
    assert len(out) == 3 and all(isinstance(o, str) for o in out)


def test_next_token_probs_is_a_distribution_that_temperature_sharpens(summarizer, dialogue_prompts):
    model, tokenizer = summarizer
    cool = generation.next_token_probs(model, tokenizer, dialogue_prompts[0], temperature=0.5)
    warm = generation.next_token_probs(model, tokenizer, dialogue_prompts[0], temperature=1.5)
    assert cool.shape == warm.shape and cool.ndim == 1
    assert torch.isclose(cool.sum(), torch.tensor(1.0)) and torch.isclose(warm.sum(), torch.tensor(1.0))
    assert cool.max() > warm.max() and cool.argmax() == warm.argmax()
    answer = generation.generate(model, tokenizer, dialogue_prompts[0], GenerationConfig(max_new_tokens=8))
    first_word = answer.split()[0]
    later = generation.next_token_probs(model, tokenizer, dialogue_prompts[0], answer_so_far=first_word)
    assert later.shape == cool.shape and not torch.allclose(later, warm)
    with pytest.raises(ValueError, match="greedy"):
        generation.next_token_probs(model, tokenizer, dialogue_prompts[0], temperature=0)


class _TemplateTokenizer:
    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        text = "|".join(f"{m['role']}:{m['content']}" for m in messages)
        return text + ("|assistant:" if add_generation_prompt else "")


def test_chat_prompt_takes_one_turn_or_a_conversation():
    tok = _TemplateTokenizer()
    assert generation.chat_prompt(tok, "hi") == "user:hi|assistant:"
    assert generation.chat_prompt(tok, "hi", system="be brief") == "system:be brief|user:hi|assistant:"
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert generation.chat_prompt(tok, turns) == "user:a|assistant:b|user:c|assistant:"
    with pytest.raises(ValueError, match="end with a user turn"):
        generation.chat_prompt(tok, turns[:2])


def test_bf16_if_supported_casts_only_where_native(summarizer):
    model = copy.deepcopy(summarizer[0])
    dtype = generation.bf16_if_supported(model)
    assert dtype in (torch.float32, torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {dtype}


def test_next_token_probs_of_a_causal_lm_follows_the_prompt():
    from labkit.models import load_llm

    llm, tok = load_llm()
    prompt = generation.chat_prompt(tok, "Name a colour.")
    first = generation.next_token_probs(llm, tok, prompt)
    later = generation.next_token_probs(llm, tok, prompt, answer_so_far="The colour")
    assert first.ndim == 1 and torch.isclose(first.sum(), torch.tensor(1.0), atol=1e-4)
    assert not torch.allclose(first, later)


def test_a_left_padding_seq2seq_tokenizer_gives_the_same_outputs(summarizer, dialogue_prompts):
    model, tokenizer = summarizer
    cfg = GenerationConfig(max_new_tokens=16, do_sample=False)
    right = generation.generate(model, tokenizer, dialogue_prompts, cfg, batch_size=10)
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"
    assert generation.generate(model, left, dialogue_prompts, cfg, batch_size=10, encoder_batch_size=4) == right


def test_a_preallocated_cache_holds_what_concatenation_would_and_grows():
    layer = generation.PreallocatedLayer(capacity=2)
    steps = [torch.randn(3, 2, n, 4) for n in (3, 1, 1, 2)]  # a prompt of 3, then single tokens: past capacity
    for step in steps:
        keys, values = layer.update(step, -step)
    expected = torch.cat(steps, dim=-2)
    assert torch.equal(keys, expected) and torch.equal(values, -expected)
    assert layer.get_seq_length() == 7 and layer.capacity >= 7
    layer.keys, layer.values = layer.keys[[2, 0, 1]], layer.values[[2, 0, 1]]  # what beam search reordering does
    keys, _ = layer.update(torch.ones(3, 2, 1, 4), torch.ones(3, 2, 1, 4))
    assert torch.equal(keys[:, :, :7], expected[[2, 0, 1]]) and torch.equal(keys[:, :, 7], torch.ones(3, 2, 4))
    layer.crop(-3)  # what assisted decoding does with rejected draft tokens: the next token goes at position 5
    keys, _ = layer.update(torch.zeros(3, 2, 1, 4), torch.zeros(3, 2, 1, 4))
    assert keys.shape[-2] == 6 and torch.equal(keys[:, :, :5], expected[[2, 0, 1], :, :5])
    assert torch.equal(keys[:, :, 5], torch.zeros(3, 2, 4))


def test_causal_lm_outputs_are_the_same_with_the_preallocated_cache(monkeypatch):
    from transformers import DynamicCache

    from labkit.models import load_llm

    llm, tok = load_llm()
    questions = ["Name a colour.", "What is 2 + 3? Answer with a number.", "Say hello in French, please, in one word."]
    chats = [generation.chat_prompt(tok, q) for q in questions]
    settings = [generation.generation_config("greedy", max_new_tokens=12),
                generation.generation_config("beam search", max_new_tokens=6),
                generation.generation_config("top-k (k=10)", max_new_tokens=8)]
    ours = [generation.generate(llm, tok, chats, cfg, batch_size=3, seed=3) for cfg in settings]
    monkeypatch.setattr(generation, "preallocated_cache", lambda config, room: DynamicCache(config=config))
    theirs = [generation.generate(llm, tok, chats, cfg, batch_size=3, seed=3) for cfg in settings]
    assert ours == theirs
    assert all(text for texts in ours for text in texts)


def test_an_empty_answer_is_reported_and_its_first_step_examined(summarizer, dialogue_prompts, capsys):
    """Degenerate output: a model that ends at once (forced here with transformers' forced_eos_token_id)."""
    model, tokenizer = summarizer
    cfg = GenerationConfig(max_new_tokens=1, forced_eos_token_id=tokenizer.eos_token_id)
    assert generation.generate(model, tokenizer, dialogue_prompts[:2], cfg) == ["", ""]
    assert "2 of 2 output(s) came back empty" in capsys.readouterr().out
    step, entropy = generation.least_certain_step(model, tokenizer, dialogue_prompts[0], "")
    assert step == "" and entropy == pytest.approx(generation.entropy(
        generation.next_token_probs(model, tokenizer, dialogue_prompts[0])))
    assert "the answer is empty" in capsys.readouterr().out


def test_least_certain_step_picks_the_highest_entropy_prefix(summarizer, dialogue_prompts):
    model, tokenizer = summarizer
    answer = "#Person1# and #Person2# are talking about a trip to the seaside"
    step, entropy = generation.least_certain_step(model, tokenizer, dialogue_prompts[0], answer, max_words=5)
    words = answer.split()[:5]
    scores = {" ".join(words[:i]): generation.entropy(generation.next_token_probs(
        model, tokenizer, dialogue_prompts[0], answer_so_far=" ".join(words[:i]))) for i in range(5)}
    assert step == max(scores, key=scores.get) and entropy == pytest.approx(max(scores.values()))
    assert generation.entropy(torch.tensor([1.0, 0.0])) == 0.0
