import http.server
import os
import socket
import threading
import time

import pytest

from labkit import config, netguard


def test_unknown_profile_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("LABKIT_PROFILE", "huge")
    with pytest.raises(ValueError) as err:
        config.get_profile(refresh=True)
    assert "'huge'" in str(err.value)
    for name in config.PROFILES:
        assert name in str(err.value)
    monkeypatch.setenv("LABKIT_PROFILE", "tiny")
    config.get_profile(refresh=True)


def test_explicit_profiles_and_roles(profile):
    assert profile("tiny").name == "tiny"
    assert config.role("summarizer").is_local
    assert profile("course").reason == "LABKIT_PROFILE=course"
    assert config.role("summarizer").id == "google/flan-t5-base"
    assert config.role("dialogues").id == "knkarthick/dialogsum"
    assert config.role("reward_model").id == "facebook/roberta-hate-speech-dynabench-r4-target"
    assert config.size("n_eval") == config.SIZES["course"]["n_eval"]


def test_profile_names_are_case_and_space_tolerant(profile):
    assert profile(" TINY ").name == "tiny"


def test_every_role_has_both_profiles():
    for name, ids in config.ROLES.items():
        assert set(ids) == {"course", "tiny"}, name
    assert set(config.SIZES["course"]) == set(config.SIZES["tiny"])


def test_unknown_role_and_size(profile):
    profile("tiny")
    with pytest.raises(ValueError, match="Roles: summarizer"):
        config.role("summariser")
    with pytest.raises(ValueError, match="Sizes:"):
        config.size("n_epochs_typo")


def test_auto_offline_chooses_tiny_and_says_why(profile, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # nothing cached
    monkeypatch.setattr(config, "course_model_cached", lambda: False)
    chosen = profile("auto")
    assert chosen.name == "tiny"
    assert "HF_HUB_OFFLINE" in chosen.reason


class _Hub(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_auto_chooses_course_when_the_hub_endpoint_answers(profile, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("LABKIT_NO_NETWORK", raising=False)  # the guard itself still allows loopback
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        chosen = profile("auto")
        assert chosen.name == "course"
        assert "reachable" in chosen.reason
    finally:
        server.shutdown()


def test_auto_probe_is_bounded_when_the_hub_hangs(monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections, never answers
    try:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("LABKIT_NO_NETWORK", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.perf_counter()
        reachable, why = config.hub_reachable(timeout_s=1.0)
        assert not reachable and why
        # the probe gives up after timeout_s + 0.5 s; the margin covers a loaded 2-core machine
        assert time.perf_counter() - start < 6
    finally:
        silent.close()


def test_course_profile_without_hub_says_how_to_switch(profile, monkeypatch, tmp_path):
    from labkit.models import ModelUnavailableError, load_summarizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    profile("course")
    with pytest.raises(ModelUnavailableError) as err:
        load_summarizer()
    assert "google/flan-t5-base" in str(err.value)
    assert "LABKIT_PROFILE=tiny" in str(err.value)
    assert "hf download" in str(err.value)


def test_banner_shows_profile_device_and_ids_once(profile, capsys):
    config.set_profile("tiny")
    out = capsys.readouterr().out
    assert "labkit profile: tiny" in out and f"device: {config.device()}" in out
    assert config.ROLES["summarizer"]["tiny"].id in out
    config.get_profile()
    assert capsys.readouterr().out == ""


def test_device_is_the_best_available_and_bf16_only_on_cuda():
    import torch

    dev = config.device()
    if torch.cuda.is_available():
        assert dev.type == "cuda"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        assert dev.type == "mps"
    else:
        assert dev.type == "cpu"
    if dev.type != "cuda":
        assert not config.supports_bf16()


def test_set_seed_makes_torch_and_numpy_repeat():
    import numpy as np
    import torch

    config.set_seed(7)
    a = (torch.rand(3), np.random.rand(3))
    config.set_seed(7)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_network_guard_blocks_non_loopback_and_allows_loopback():
    assert netguard.active() and netguard.install()
    sock = socket.socket()
    try:
        with pytest.raises(netguard.NetworkBlockedError, match="LABKIT_NO_NETWORK"):
            sock.connect(("192.0.2.1", 443))  # TEST-NET-1: blocked before any packet leaves
    finally:
        sock.close()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket()
    try:
        client.connect(server.getsockname())
    finally:
        client.close()
        server.close()


def test_suite_runs_in_the_tiny_profile_offline():
    """Guard: the whole suite (and the notebook kernels, which inherit this environment) is tiny and offline."""
    assert os.environ["LABKIT_PROFILE"] == "tiny"
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert netguard.active()
    assert config.get_profile(refresh=True).name == "tiny"


def test_settings_exist_for_both_profiles(profile):
    assert set(config.SETTINGS["course"]) == set(config.SETTINGS["tiny"])
    profile("course")
    assert config.setting("full")["learning_rate"] == 1e-5  # the course's values
    assert config.setting("lora")["learning_rate"] == 1e-3
    assert config.setting("lora_config") == {"r": 32, "lora_alpha": 32, "target_modules": ["q", "v"],
                                             "lora_dropout": 0.05, "bias": "none"}
    profile("tiny")
    changed = config.setting("full")
    changed["learning_rate"] = 99
    assert config.setting("full")["learning_rate"] != 99  # callers get a copy
    with pytest.raises(ValueError, match="Settings:"):
        config.setting("ful")


def test_smoke_sizes_keep_the_profile_and_its_ids_and_shrink_every_count(profile, monkeypatch):
    assert set(config.SMOKE_SIZES) == set(config.SIZES["course"])
    assert all(set(values) <= set(config.SETTINGS["course"][name]) for name, values in config.SMOKE_SETTINGS.items())
    monkeypatch.setenv("LABKIT_SIZES", "smoke")
    chosen = profile("course")
    assert (chosen.name, chosen.scale) == ("course", "smoke")
    assert config.role("llm").id == "Qwen/Qwen2.5-1.5B-Instruct"
    assert config.size("n_eval") == config.SMOKE_SIZES["n_eval"] < config.SIZES["course"]["n_eval"]
    full = config.setting("full")
    assert full["max_steps"] == config.SMOKE_SETTINGS["full"]["max_steps"] and full["learning_rate"] == 1e-5
    monkeypatch.setenv("LABKIT_SIZES", "huge")
    with pytest.raises(ValueError, match="full, smoke"):
        config.get_profile(refresh=True)
    monkeypatch.delenv("LABKIT_SIZES")
    assert profile("course").scale == "full" and config.size("n_eval") == config.SIZES["course"]["n_eval"]


def test_the_auto_probe_reaches_a_hub_on_loopback_with_the_network_guard_on(profile, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        assert netguard.active()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        assert config.hub_is_loopback() and profile("auto").name == "course"
        monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")
        assert config.hub_reachable() == (False, "LABKIT_NO_NETWORK is set")  # nothing leaves the machine
    finally:
        server.shutdown()
