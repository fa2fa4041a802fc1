"""The tiny profile's summarizer: built offline, cached by content, text-like before fine-tuning."""

import re
import shutil
import threading

import pytest

from labkit import cache, config, generation, prompts, tiny


def test_cached_by_content_hash_and_not_rebuilt(summarizer, monkeypatch):
    path = tiny.summarizer_path()
    assert path.name == f"tiny-t5-{tiny.summarizer_key()}"
    assert (path / cache.DONE).is_file()
    real_artifact = cache.artifact
    monkeypatch.setattr(cache, "artifact", lambda name, key, build: real_artifact(
        name, key, lambda folder: pytest.fail("rebuilt a cached model")))
    assert tiny.summarizer_path() == path
    info = cache.artifact_info(path)
    assert info["pretrain_losses"][-1] < info["pretrain_losses"][0] / 2  # pre-training really trained


def test_key_changes_with_the_data(tmp_path, monkeypatch):
    before = tiny.summarizer_key()
    shutil.copytree(config.data_dir() / "dialogsum", tmp_path / "dialogsum")
    with (tmp_path / "dialogsum" / "dialogsum.train.jsonl").open("a") as handle:
        handle.write('{"fname": "train_x", "summary": "s", "dialogue": "#Person1#: Hi.", "topic": "t"}\n')
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    assert tiny.summarizer_key() != before


def test_tokenizer_round_trip_keeps_speaker_tags(summarizer):
    _, tokenizer = summarizer
    text = "#Person1#: Can I pay $12.50 by card?\n#Person2#: Sure, #Person1#."
    ids = tokenizer(text).input_ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert "#Person1#" in tokenizer.convert_ids_to_tokens(ids)
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.model_max_length == tiny.CONTEXT_WINDOW


def test_zero_shot_output_is_text_not_token_soup(summarizer, dialogsum):
    model, tokenizer = summarizer
    vocabulary = {w.lower() for d in dialogsum["train"]["dialogue"] for w in re.findall(r"[A-Za-z']+", d)}
    vocabulary |= {w.lower() for t in dialogsum["train"]["topic"] for w in t.split()}
    vocabulary |= {"talking", "about", "are", "and"}
    dialogues = dialogsum["test"]["dialogue"][:12]
    outputs = generation.generate(model, tokenizer, [prompts.flan_template(d) for d in dialogues])
    for out in outputs:
        words = re.findall(r"[A-Za-z']+", out)
        assert words, out
        assert sum(w.lower() in vocabulary for w in words) / len(words) > 0.9, out
        assert len(set(words)) / len(words) > 0.4, f"degenerate repetition: {out}"


def test_artifact_is_atomic_and_built_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    calls = []

    def failing(folder):
        (folder / "half.bin").write_text("partial", encoding="utf-8")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cache.artifact("thing", "k1", failing)
    assert not (tmp_path / "thing-k1").exists()
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # the temporary folder is gone too

    def build(folder):
        calls.append(1)
        (folder / "model.bin").write_text("ok")
        return {"size": 2}

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.artifact("thing", "k1", build))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1
    assert (results[0] / "model.bin").read_text() == "ok"
    assert cache.artifact_info(results[0])["size"] == 2
