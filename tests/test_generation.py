import pytest
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
