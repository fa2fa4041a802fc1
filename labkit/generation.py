"""Batched text generation and generation settings (notebook 02; used by every later notebook).

:func:`generate` hides the mechanics - tokenizing, padding, batching prompts of similar length
together, moving tensors to the device, decoding - and returns one string per prompt, in order.
:data:`PRESETS` names the decoding strategies the course compares, and :func:`settings_panel`
is a widget that regenerates a summary as you move the sliders.
"""

from __future__ import annotations

from typing import Sequence

import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig

# Decoding strategies from the lecture on generation configuration.
PRESETS: dict[str, dict] = {
    "greedy": {"do_sample": False},
    "beam search": {"do_sample": False, "num_beams": 4},
    "low temperature (0.2)": {"do_sample": True, "temperature": 0.2, "top_k": 0, "top_p": 1.0},
    "high temperature (1.8)": {"do_sample": True, "temperature": 1.8, "top_k": 0, "top_p": 1.0},
    "top-k (k=10)": {"do_sample": True, "temperature": 1.0, "top_k": 10, "top_p": 1.0},
    "top-p (p=0.5)": {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 0.5},
}


def generation_config(preset: str = "greedy", max_new_tokens: int = 50, **overrides) -> GenerationConfig:
    """A GenerationConfig for a named preset (see PRESETS), with any setting overridden."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}. Presets: {', '.join(PRESETS)}.")
    return GenerationConfig(max_new_tokens=max_new_tokens, **{**PRESETS[preset], **overrides})


def _complete(model, tokenizer, generation_config: GenerationConfig | None) -> GenerationConfig:
    base = generation_config or GenerationConfig(max_new_tokens=50, do_sample=False)
    cfg = GenerationConfig.from_dict(base.to_dict())
    cfg.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    cfg.eos_token_id = cfg.eos_token_id if cfg.eos_token_id is not None else tokenizer.eos_token_id
    if model.config.is_encoder_decoder and cfg.decoder_start_token_id is None:
        cfg.decoder_start_token_id = model.generation_config.decoder_start_token_id
    return cfg


@torch.inference_mode()
def generate(model, tokenizer, prompts: Sequence[str] | str, generation_config: GenerationConfig | None = None,
             batch_size: int = 8, max_input_tokens: int | None = None, seed: int | None = None,
             progress: bool | None = None) -> list[str]:
    """Generate one completion per prompt, in the order of ``prompts``.

    Prompts are sorted by length so each batch pads little, truncated to the model's context window
    (``tokenizer.model_max_length``, or ``max_input_tokens``), and decoded without special tokens.
    Decoder-only models are padded on the left and only the new tokens are returned.
    ``seed`` makes sampling reproducible; a progress bar appears for more than one batch.
    """
    single = isinstance(prompts, str)
    prompts = [prompts] if single else list(prompts)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cfg = _complete(model, tokenizer, generation_config)
    limit = max_input_tokens or int(tokenizer.model_max_length)
    decoder_only = not model.config.is_encoder_decoder
    if decoder_only:
        tokenizer.padding_side = "left"
    lengths = [len(ids) for ids in tokenizer(prompts).input_ids]
    for i, n in enumerate(lengths):
        if n > limit:
            side = "start" if tokenizer.truncation_side == "left" else "end"
            print(f"labkit: prompt {i} is {n} tokens but the model reads {limit}: {n - limit} tokens were cut "
                  f"from its {side}. Shorten the prompt (fewer examples or shorter context) to keep them.")
    lengths = [min(n, limit) for n in lengths]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    show = progress if progress is not None else len(batches) > 1
    if seed is not None:
        torch.manual_seed(seed)
    device = next(model.parameters()).device
    outputs: list[str | None] = [None] * len(prompts)
    for batch in tqdm(batches, desc="generating", disable=not show, leave=False):
        enc = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True, truncation=True,
                        max_length=limit).to(device)
        out = model.generate(**enc, generation_config=cfg)
        if decoder_only:
            out = out[:, enc["input_ids"].shape[1]:]
        for i, text in zip(batch, tokenizer.batch_decode(out, skip_special_tokens=True)):
            outputs[i] = text.strip()
    return outputs[0] if single else outputs


def chat_prompt(tokenizer, user: str, system: str | None = None) -> str:
    """The text a chat model actually reads for one user turn: its chat template applied to the messages.

    Instruction-tuned causal LMs (SmolLM2, Qwen2.5) were trained on conversations wrapped in special
    tokens (``<|im_start|>user ... <|im_end|>``); a bare string works worse. The string ends with the
    assistant's turn opened, so :func:`generate` continues as the assistant.
    """
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def compare_settings(model, tokenizer, prompt: str, settings: dict[str, GenerationConfig], seed: int = 42):
    """Run one prompt under several generation settings: a pandas table of setting -> output."""
    import pandas as pd

    rows = [{"setting": name, "output": generate(model, tokenizer, prompt, cfg, seed=seed)}
            for name, cfg in settings.items()]
    return pd.DataFrame(rows).set_index("setting")


def settings_panel(model, tokenizer, prompt: str, seed: int | None = None):
    """An ipywidgets panel (max_new_tokens, do_sample, temperature, top_k, top_p) that regenerates live.

    Returns the ``ipywidgets.interactive`` object; its ``.result`` holds the latest output.
    """
    import ipywidgets as widgets

    def run(max_new_tokens=40, do_sample=False, temperature=1.0, top_k=50, top_p=1.0):
        cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature,
                               top_k=top_k, top_p=top_p)
        text = generate(model, tokenizer, prompt, cfg, seed=seed)
        print(text)
        return text

    slider = dict(continuous_update=False, style={"description_width": "initial"})
    return widgets.interactive(
        run,
        max_new_tokens=widgets.IntSlider(40, 1, 200, description="max_new_tokens", **slider),
        do_sample=widgets.Checkbox(False, description="do_sample"),
        temperature=widgets.FloatSlider(1.0, min=0.05, max=2.5, step=0.05, description="temperature", **slider),
        top_k=widgets.IntSlider(50, 0, 200, description="top_k", **slider),
        top_p=widgets.FloatSlider(1.0, min=0.05, max=1.0, step=0.05, description="top_p", **slider),
    )
