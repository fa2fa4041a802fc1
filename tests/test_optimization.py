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
