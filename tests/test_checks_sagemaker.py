"""Notebook checks (sagemaker): each accepts the right answer and rejects plausible wrong ones with a hint."""

import pytest

from labkit import checks


def test_weekend_cost_check():
    from labkit import sagemaker

    per_hour = sagemaker.price("ml.g4dn.xlarge")
    checks.check_weekend_cost(per_hour * 64)
    checks.check_weekend_cost(round(per_hour * 64, 2))  # rounded to cents is fine
    with pytest.raises(checks.CheckFailed, match="48 hours"):
        checks.check_weekend_cost(per_hour * 48)
    with pytest.raises(checks.CheckFailed, match="Friday 00:00"):
        checks.check_weekend_cost(per_hour * 72)
    with pytest.raises(checks.CheckFailed, match="one hour"):
        checks.check_weekend_cost(per_hour)
    with pytest.raises(checks.CheckFailed, match="each one bills"):
        checks.check_weekend_cost(per_hour * 64, instance_count=2)
    with pytest.raises(checks.CheckFailed, match="not it"):
        checks.check_weekend_cost(10.0)
    with pytest.raises(checks.CheckFailed, match="number"):
        checks.check_weekend_cost("47.36")
    with pytest.raises(checks.CheckFailed):
        checks.check_weekend_cost(None)


# --- 10.2: a learner's pick_instance, right and wrong -----------------------------------------------

def _pick(bytes_per_parameter=24, per_gpu=True, cheapest=True, none_when_nothing_fits=True, as_row=False):
    def pick_instance(n_params, instances):
        need = n_params * bytes_per_parameter / 1e9
        memory = instances["GB per GPU"] if per_gpu else instances["GB per GPU"] * instances["GPUs"]
        fits = instances[(instances["GPUs"] > 0) & (memory >= need)]
        if fits.empty:
            if none_when_nothing_fits:
                return None
            return instances.sort_values("est. $/hour").iloc[0]["instance type"]
        row = fits.sort_values("est. $/hour").iloc[0] if cheapest else fits.iloc[0]
        return row if as_row else row["instance type"]

    return pick_instance


def test_pick_instance_check_accepts_the_right_function():
    checks.check_pick_instance(_pick())

    def in_gib(n_params, instances):  # GiB instead of GB changes no answer
        fits = instances[instances["GB per GPU"] >= n_params * 24 / 2**30]
        return None if fits.empty else fits.loc[fits["est. $/hour"].idxmin(), "instance type"]

    checks.check_pick_instance(in_gib)


@pytest.mark.parametrize("wrong,hint", [
    (_pick(per_gpu=False), "ONE GPU|GB per GPU"),
    (_pick(bytes_per_parameter=4), "24 bytes per parameter"),
    (_pick(bytes_per_parameter=16), "24 bytes per parameter"),
    (_pick(cheapest=False), "first instance in the table"),
    (_pick(none_when_nothing_fits=False), "return None"),
    (_pick(as_row=True), "as a string"),
])
def test_pick_instance_check_rejects_plausible_mistakes(wrong, hint):
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_pick_instance(wrong)


def test_pick_instance_check_lets_the_lab_stub_through_and_reports_crashes():
    def stub(n_params, instances):
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        checks.check_pick_instance(stub)
    with pytest.raises(checks.CheckFailed, match="KeyError"):
        checks.check_pick_instance(lambda n, instances: instances["memory"])
    with pytest.raises(checks.CheckFailed, match="function"):
        checks.check_pick_instance("ml.g4dn.xlarge")


# --- 10.3: hyperparameters for labkit.train under torchrun -----------------------------------------

ARGS = {"n_train": 12460, "global_batch": 8, "processes": 2}
RIGHT = {"method": "full", "max-steps": 1558, "per-device-batch-size": 4, "output-dir": "/opt/ml/model"}


def test_script_hyperparameters_check_accepts_the_right_dict():
    checks.check_script_hyperparameters(RIGHT, **ARGS)
    checks.check_script_hyperparameters({k: str(v) for k, v in RIGHT.items()} | {"seed": 7}, **ARGS)  # strings too


@pytest.mark.parametrize("change,hint", [
    ({"max_steps": 1558, "max-steps": None}, "'--max_steps'.*Use 'max-steps'"),
    ({"--method": "full", "method": None}, "adds the '--' itself"),
    ({"resume": True}, "on/off flag"),
    ({"epochs": 1}, "not a flag of"),
    ({"output-dir": "runs/full"}, "uploads only /opt/ml/model"),
    ({"output-dir": None}, "requires --output-dir"),
    ({"method": "lora"}, "'full' fine-tuning"),
    ({"per-device-batch-size": 8}, "global batch"),
    ({"per-device-batch-size": 2}, "instances x GPUs per instance"),
    ({"max-steps": 1557}, "Round up"),
    ({"max-steps": 3115}, "GLOBAL batch"),
    ({"max-steps": 1000}, "ceil"),
    ({"max-steps": 1558.5}, "whole number"),
])
def test_script_hyperparameters_check_rejects_plausible_mistakes(change, hint):
    wrong = {k: v for k, v in {**RIGHT, **change}.items() if v is not None}
    with pytest.raises(checks.CheckFailed, match=hint):
        checks.check_script_hyperparameters(wrong, **ARGS)


def test_who_wrote_it_check_reads_the_target_and_the_answer():
    from types import SimpleNamespace

    from labkit.sagemaker.emulator import REPLY_LABEL

    emulated = SimpleNamespace(is_emulator=True, label="local AWS emulator (moto) on 127.0.0.1")
    echo = f"{REPLY_LABEL} Endpoint e received a 300-character prompt"
    checks.check_who_wrote_it(False, REPLY_LABEL, target=emulated, summary=echo)
    with pytest.raises(checks.CheckFailed, match="no model ran"):
        checks.check_who_wrote_it(True, REPLY_LABEL, target=emulated, summary=echo)
    with pytest.raises(checks.CheckFailed, match="Copy the evidence"):
        checks.check_who_wrote_it(False, "FLAN-T5 said so", target=emulated, summary=echo)
    real = SimpleNamespace(is_emulator=False, label="AWS account 1234******** in us-east-1 (real resources, real cost)")
    checks.check_who_wrote_it(True, "real resources", target=real, summary="Amanda asks Tom about the party.")
    with pytest.raises(checks.CheckFailed, match="real endpoint"):
        checks.check_who_wrote_it(False, "real resources", target=real, summary="Amanda asks Tom about the party.")
    with pytest.raises(checks.CheckFailed, match="True or False"):
        checks.check_who_wrote_it("no", "real resources", target=real, summary="x")
