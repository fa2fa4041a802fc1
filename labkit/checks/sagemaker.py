"""Checks for notebook 10_sagemaker_jumpstart: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import CheckFailed, close, exercise, ok, require


@exercise("10.1")
def check_weekend_cost(weekend_cost, instance_type: str = "ml.g4dn.xlarge", instance_count: int = 1,
                       hours: float = 64) -> None:
    """what an endpoint left running from Friday 17:00 to Monday 09:00 costs (estimate)."""
    from labkit import sagemaker

    per_hour = sagemaker.price(instance_type) * instance_count
    expected = sagemaker.estimate_cost(instance_type, hours, instance_count)

    def near(value, target):  # cents are enough
        return abs(float(value) - target) <= max(0.01, 1e-3 * abs(target))

    require(weekend_cost is not None, "Set `weekend_cost` to a number of dollars.")
    require(isinstance(weekend_cost, (int, float)) and not isinstance(weekend_cost, bool),
             "Give the cost as a number (dollars), not a string.")
    require(not near(weekend_cost, per_hour),
             f"${per_hour:.2f} is the price of one hour. An endpoint bills for every hour it exists, "
             "busy or idle: multiply by the hours it stays up.")
    require(not near(weekend_cost, per_hour * 48),
             "48 hours is Saturday and Sunday only. The endpoint is already up on Friday evening and still "
             "up on Monday morning: count from Friday 17:00 to Monday 09:00.")
    require(not near(weekend_cost, per_hour * 72),
             "72 hours counts from Friday 00:00. Count from Friday 17:00 to Monday 09:00.")
    require(instance_count == 1 or not near(weekend_cost, expected / instance_count),
             f"The endpoint runs {instance_count} instances: each one bills.")
    require(near(weekend_cost, expected),
             f"${float(weekend_cost):.2f} is not it. Hours from Friday 17:00 to Monday 09:00, times the "
             f"estimated ${per_hour:.2f}/hour of {instance_count} x {instance_type} (labkit.sagemaker.price).")
    ok(f"About ${expected:.2f} for {hours:g} idle hours - delete endpoints when you stop working.")


@exercise("10.2")
def check_invoke_payload(payload, fmt, prompt: str, max_length: int) -> None:
    """a request body in the endpoint's format (from the model's JumpStart spec)."""
    import json

    require(payload is not None, "Set `payload` to a dict: the JSON body the endpoint receives.")
    if isinstance(payload, (str, bytes)):
        try:
            payload = json.loads(payload)
        except ValueError:
            raise CheckFailed("`payload` must be a dict (labkit turns it into JSON for you), not text.") from None
        raise CheckFailed("Give `payload` as a dict, not a JSON string: labkit encodes it when it sends the request.")
    require(isinstance(payload, dict), "`payload` must be a dict, e.g. {key: value, ...}.")
    elsewhere = [k for k, v in payload.items() if v == prompt and k != fmt.prompt_key]
    require(not elsewhere, f"The spec puts the prompt under {fmt.prompt_key!r}, not {elsewhere[0]!r}."
                            if elsewhere else "")
    require(fmt.prompt_key in payload,
             f"The prompt goes under the key {fmt.prompt_key!r} (the spec's prompt_key). Your keys: {sorted(payload)}.")
    sent = payload[fmt.prompt_key]
    fragment = isinstance(sent, str) and sent != prompt and sent.strip() and sent.strip() in prompt
    require(not fragment, "That is only part of the prompt (the dialogue?). Send the whole prompt - the "
                           "instruction and the dialogue - which is `prompt` above (prompts.zero_shot).")
    require(sent == prompt, f"The value under {fmt.prompt_key!r} must be exactly `prompt`.")
    length_keys = [k for k in ("max_new_tokens", "max_tokens", "max_len") if k in payload]
    require(not length_keys, f"This format calls the length limit 'max_length', not {length_keys[0]!r}."
                              if length_keys else "")
    require("max_length" in payload, "Add the generation limit: 'max_length'.")
    value = payload["max_length"]
    require(isinstance(value, int) and not isinstance(value, bool),
             f"max_length must be an integer (JSON number), not {type(value).__name__} {value!r}.")
    require(value == max_length, f"max_length should be {max_length}, not {value}.")
    ok(f"Request body ({fmt.content_type}) with the prompt under {fmt.prompt_key!r} and max_length={max_length}.")


@exercise("10.3")
def check_training_hyperparameters(hyperparameters, spec: list, lora: bool, expected: dict) -> None:
    """JumpStart fine-tuning hyperparameters - names from the spec, values as strings.

    ``spec`` is the model's hyperparameter list (``labkit.sagemaker.training_hyperparameters``), ``lora``
    whether the spec offers LoRA, ``expected`` the numbers the notebook asks for (e.g. ``{"epochs": 1}``).
    """
    import difflib

    from labkit import sagemaker

    require(isinstance(hyperparameters, dict) and hyperparameters,
             "Set `hyperparameters` to a dict of name -> value.")
    known = [h["name"] for h in spec]
    for name in hyperparameters:
        if name.startswith("sagemaker_"):
            raise CheckFailed(f"{name!r}: the SDK drops every hyperparameter starting with 'sagemaker_'. Leave it out.")
        if name not in known:
            similar = difflib.get_close_matches(name, [k for k in known if not k.startswith("sagemaker_")], n=1)
            raise CheckFailed(f"{name!r} is not in this model's spec." + (f" The spec calls it {similar[0]!r}."
                                                                          if similar else "")
                              + " Use the names in the table above.")
    not_text = {k: v for k, v in hyperparameters.items() if not isinstance(v, str)}
    require(not not_text, f"JumpStart passes every hyperparameter to the training script as a string: write "
                           f"{next(iter(not_text))}={str(next(iter(not_text.values())))!r}, not "
                           f"{next(iter(not_text.values()))!r}." if not_text else "")
    peft = hyperparameters.get("peft_type")
    if lora:
        require(peft == "lora", "The spec offers LoRA: switch it on with peft_type='lora' "
                                 "(the default trains every weight).")
    else:
        require(peft in (None, "none"),
                 "This model's spec offers no LoRA option: leave peft_type out (full fine-tuning).")
    expected = {k: v for k, v in expected.items() if k in known and (lora or not k.startswith("lora_"))}
    for name, value in expected.items():
        require(name in hyperparameters, f"Set {name!r} (to {str(value)!r}).")
        try:
            same = close(float(hyperparameters[name]), float(value), 1e-9)
        except ValueError:
            same = False
        require(same, f"{name} should be {str(value)!r}, not {hyperparameters[name]!r}.")
    try:
        sagemaker.check_hyperparameters(hyperparameters, spec)
    except ValueError as err:
        raise CheckFailed(str(err)) from None
    ok(f"{len(hyperparameters)} hyperparameters, all named in the spec and sent as strings"
        + (" - LoRA on." if lora else " - full fine-tuning (no LoRA in this spec)."))
