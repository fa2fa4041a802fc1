"""Batched text generation and generation settings (notebook 02; used by every later notebook).

:func:`generate` hides the mechanics - tokenizing, padding, batching prompts of similar length
together, moving tensors to the device, decoding - and returns one string per prompt, in order.
:data:`PRESETS` names the decoding strategies the course compares, and :func:`settings_panel`
is a widget that regenerates a summary as you move the sliders.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig
from transformers.cache_utils import DynamicCache, DynamicLayer, EncoderDecoderCache

# Decoding strategies from the lecture on generation configuration.
PRESETS: dict[str, dict] = {
    "greedy": {"do_sample": False},
    "beam search": {"do_sample": False, "num_beams": 4},
    "low temperature (0.2)": {"do_sample": True, "temperature": 0.2, "top_k": 0, "top_p": 1.0},
    "high temperature (1.8)": {"do_sample": True, "temperature": 1.8, "top_k": 0, "top_p": 1.0},
    "top-k (k=10)": {"do_sample": True, "temperature": 1.0, "top_k": 10, "top_p": 1.0},
    "top-p (p=0.5)": {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 0.5},
}


class PreallocatedLayer(DynamicLayer):
    """One attention layer's KV cache, written into a buffer allocated once instead of grown by concatenation.

    A KV cache keeps the keys and values of every token decoded so far, so each new token attends to them without
    recomputing them. transformers' ``DynamicLayer`` appends each new token with ``torch.cat``, which copies
    everything cached so far: for 20 SmolLM2 prompts of ~350 tokens that copying was ~13% of generation time, for
    PPO's sampling in a t5-small-sized model more. This layer allocates room for ``capacity`` positions (doubling
    if a run needs more) and hands attention a view of the filled part: the same keys and values, hence the same
    outputs, without the copies. (``StaticCache`` avoids the copies too, but attends over the whole buffer, masked,
    at every step.) When generation replaces the cached tensors itself (beam search reordering, cropping), the
    next update adopts them into a fresh buffer.
    """

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity, self.length = max(1, int(capacity)), 0

    def _adopt(self, keys: torch.Tensor, values: torch.Tensor, capacity: int) -> None:
        self.length, self.capacity = keys.shape[-2], capacity
        self.key_buffer = keys.new_empty(*keys.shape[:-2], capacity, keys.shape[-1])
        self.value_buffer = values.new_empty(*values.shape[:-2], capacity, values.shape[-1])
        self.key_buffer[..., :self.length, :] = keys
        self.value_buffer[..., :self.length, :] = values
        self.keys, self.values = self.key_buffer[..., :self.length, :], self.value_buffer[..., :self.length, :]
        self._handed_out = self.keys

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        self._adopt(key_states[..., :0, :], value_states[..., :0, :], self.capacity)
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        elif self.keys is not self._handed_out:  # replaced from outside (beams reordered, cropped)
            self._adopt(self.keys, self.values, self.capacity)
        start, end = self.length, self.length + key_states.shape[-2]
        if end > self.capacity:
            self._adopt(self.keys, self.values, max(2 * self.capacity, end))
        self.key_buffer[..., start:end, :] = key_states
        self.value_buffer[..., start:end, :] = value_states
        self.length = end
        self.keys, self.values = self.key_buffer[..., :end, :], self.value_buffer[..., :end, :]
        self._handed_out = self.keys
        return self.keys, self.values


def preallocated_cache(config, capacity: int) -> DynamicCache:
    """transformers' dynamic cache for ``config``'s decoder with each full-attention layer a
    :class:`PreallocatedLayer` of ``capacity`` positions (sliding-window and other layer kinds are kept)."""
    cache = DynamicCache(config=config)
    cache.layers = [PreallocatedLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def decoder_cache(config, capacity: int) -> EncoderDecoderCache:
    """An encoder-decoder model's cache: :func:`preallocated_cache` for the decoder's self-attention, transformers'
    own for the cross-attention (filled once from the encoder output)."""
    return EncoderDecoderCache(preallocated_cache(config, capacity), DynamicCache(config=config))


def cache_argument(model) -> str:
    """The name under which ``model``'s forward (and ``generate``) takes a KV cache: ``cache`` since transformers
    5.24, ``past_key_values`` before."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


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


def _prompt_learning(model) -> bool:
    """True for a peft soft-prompt model (prompt tuning): its generate() needs input_ids, not encoder outputs."""
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


def _segmentable(cfg: GenerationConfig) -> bool:
    """Greedy decoding whose result does not depend on where it is paused and resumed (see :func:`_decode`)."""
    plain = all(getattr(cfg, name, None) in (None, 0) for name in (
        "min_new_tokens", "min_length", "forced_eos_token_id", "exponential_decay_length_penalty",
        "force_words_ids", "constraints", "max_time", "stop_strings", "begin_suppress_tokens", "forced_decoder_ids"))
    return (plain and not cfg.do_sample and (cfg.num_beams or 1) == 1 and cfg.max_new_tokens is not None
            and cfg.eos_token_id is not None and cfg.decoder_start_token_id is not None)


def _segment_length(cfg: GenerationConfig) -> int:
    """How many tokens greedy decoding runs between two clean-ups of finished rows (a third of the budget)."""
    return max(8, -(-cfg.max_new_tokens // 3))


def _encode(model, tokenizer, rows: list[list[int]], chunk: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder outputs of length-sorted rows, computed ``chunk`` rows at a time, padded into one batch."""
    states, masks = [], []
    for start in range(0, len(rows), chunk):
        enc = tokenizer.pad({"input_ids": rows[start:start + chunk]}, return_tensors="pt").to(device)
        states.append(model.get_encoder()(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
                      .last_hidden_state)
        masks.append(enc["attention_mask"])
    width = max(m.shape[1] for m in masks)
    hidden = torch.cat([torch.nn.functional.pad(h, (0, 0, 0, width - h.shape[1])) for h in states])
    mask = torch.cat([torch.nn.functional.pad(m, (0, width - m.shape[1])) for m in masks])
    return hidden, mask


def _decode(model, hidden: torch.Tensor, mask: torch.Tensor, cfg: GenerationConfig, segment: int | None) -> list:
    """Decode a batch from its encoder outputs; returns one list of token ids per row.

    With ``segment`` (greedy only), decoding pauses every ``segment`` tokens, keeps the rows that have
    finished and resumes the others from their prefix: a finished summary stops costing compute, where one
    ``generate`` call keeps every row to the length of the longest. Greedy decoding continues a prefix
    exactly as it would have without the pause.
    """
    from transformers.modeling_outputs import BaseModelOutput

    if segment is None:
        out = model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), attention_mask=mask,
                             generation_config=cfg)
        return out.tolist()
    eos = cfg.eos_token_id if isinstance(cfg.eos_token_id, list) else [cfg.eos_token_id]
    eos = torch.tensor(eos, device=hidden.device)
    alive = torch.arange(hidden.shape[0], device=hidden.device)
    prefix = torch.full((hidden.shape[0], 1), cfg.decoder_start_token_id, dtype=torch.long, device=hidden.device)
    rows: list = [None] * hidden.shape[0]
    remaining = cfg.max_new_tokens
    step_cfg = GenerationConfig.from_dict(cfg.to_dict())
    while len(alive) and remaining > 0:
        step_cfg.max_new_tokens = min(segment, remaining)
        width = int(mask[alive].any(dim=0).nonzero().max()) + 1  # drop padding only finished rows needed
        out = model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=hidden[alive, :width]),
                             attention_mask=mask[alive, :width], decoder_input_ids=prefix, generation_config=step_cfg)
        new = out[:, prefix.shape[1]:]
        done = torch.isin(new, eos).any(dim=1)
        for row, ids in zip(alive[done].tolist(), out[done].tolist(), strict=True):
            rows[row] = ids
        alive, prefix, remaining = alive[~done], out[~done], remaining - new.shape[1]
    for row, ids in zip(alive.tolist(), prefix.tolist(), strict=True):
        rows[row] = ids
    return rows


@torch.inference_mode()
def generate(model, tokenizer, prompts: Sequence[str] | str, generation_config: GenerationConfig | None = None,
             batch_size: int = 8, max_input_tokens: int | None = None, seed: int | None = None,
             progress: bool | None = None, encoder_batch_size: int = 16) -> list[str]:
    """Generate one completion per prompt, in the order of ``prompts``.

    Prompts are sorted by length so each batch pads little, and decoded without special tokens.
    Inputs longer than ``tokenizer.model_max_length`` (or ``max_input_tokens``) are cut, with a message
    saying how much: that limit is labkit's choice, made because a model is trained on inputs up to some
    length (see notebook 02); raise ``max_input_tokens`` to feed longer prompts.
    Decoder-only models are padded on the left and only the new tokens are returned.
    Encoder-decoder models run their encoder ``encoder_batch_size`` prompts at a time (similar lengths, little
    padding) and decode ``batch_size`` prompts together; greedy decoding drops finished rows as it goes.
    The outputs are the same as one ``model.generate`` call per prompt (bench/bench_generation.py checks it).
    ``seed`` makes sampling reproducible; a progress bar appears for more than one batch.
    """
    single = isinstance(prompts, str)
    prompts = [prompts] if single else list(prompts)
    if batch_size < 1 or encoder_batch_size < 1:
        raise ValueError("batch_size and encoder_batch_size must be at least 1")
    if not prompts:
        return []
    cfg = _complete(model, tokenizer, generation_config)
    limit = max_input_tokens or int(tokenizer.model_max_length)
    decoder_only = not model.config.is_encoder_decoder
    if decoder_only:
        tokenizer.padding_side = "left"
    rows = tokenizer(prompts, verbose=False).input_ids  # verbose=False: our own message below replaces the warning
    lengths = [len(ids) for ids in rows]
    too_long = [i for i, n in enumerate(lengths) if n > limit]
    for i in too_long:
        side = "start" if tokenizer.truncation_side == "left" else "end"
        print(f"labkit: prompt {i} is {lengths[i]} tokens; labkit reads {limit} (the tokenizer's model_max_length, "
              f"or max_input_tokens), so {lengths[i] - limit} tokens were cut from its {side}. Shorten the prompt "
              "(fewer examples, shorter context), or raise max_input_tokens if the model handles longer inputs.")
    if too_long:
        cut = tokenizer([prompts[i] for i in too_long], truncation=True, max_length=limit).input_ids
        for i, ids in zip(too_long, cut, strict=True):
            rows[i], lengths[i] = ids, len(ids)
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    show = progress if progress is not None else len(batches) > 1
    if seed is not None:
        torch.manual_seed(seed)
    device = next(model.parameters()).device
    fast_seq2seq = not decoder_only and not _prompt_learning(model)
    segment = _segment_length(cfg) if fast_seq2seq and _segmentable(cfg) else None
    outputs: list[str | None] = [None] * len(prompts)
    for batch in tqdm(batches, desc="generating", disable=not show, leave=False):
        if fast_seq2seq:
            hidden, mask = _encode(model, tokenizer, [rows[i] for i in batch], encoder_batch_size, device)
            out = _decode(model, hidden, mask, cfg, segment)
        else:
            enc = tokenizer.pad({"input_ids": [rows[i] for i in batch]}, return_tensors="pt").to(device)
            cache = {}
            if decoder_only and not _prompt_learning(model):  # room for the prompt and every new token
                room = enc["input_ids"].shape[1] + (cfg.max_new_tokens or 0)
                cache = {cache_argument(model): preallocated_cache(model.config, room)}
            out = model.generate(**enc, generation_config=cfg, **cache)
            if decoder_only:
                out = out[:, enc["input_ids"].shape[1]:]
        for i, text in zip(batch, tokenizer.batch_decode(out, skip_special_tokens=True), strict=True):
            outputs[i] = text.strip()
    empty = sum(not text for text in outputs)
    if empty:
        print(f"labkit: {empty} of {len(outputs)} output(s) came back empty (the model ended its answer at once, or "
              "wrote only special tokens); they stay in the results as empty strings.")
    return outputs[0] if single else outputs


def bf16_if_supported(model) -> torch.dtype:
    """Cast ``model`` (in place) to bfloat16 when the hardware computes it natively; return the dtype it now has.

    bfloat16 halves the memory a model reads per token and, on CPUs with AVX512-BF16 or AMX (and on most
    CUDA GPUs), runs matrix products faster. Elsewhere bfloat16 is emulated and slower, so the model stays
    float32. The numbers change slightly (8 bits of mantissa instead of 23): notebook 02 says which dtype
    produced its figures, bench/bench_generation.py measures the ROUGE difference.
    """
    device = next(model.parameters()).device
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
        try:
            native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        except AttributeError:  # an older torch: stay safe
            native = False
    else:
        native = False
    if native:
        model.to(torch.bfloat16)
    return next(model.parameters()).dtype


def chat_prompt(tokenizer, user: str | Sequence[Mapping[str, str]], system: str | None = None) -> str:
    """The text a chat model actually reads: its chat template applied to the messages.

    Instruction-tuned causal LMs (SmolLM2, Qwen2.5) were trained on conversations wrapped in special
    tokens (``<|im_start|>user ... <|im_end|>``); a bare string works worse. ``user`` is one user turn,
    or a whole conversation - a list of ``{"role": ..., "content": ...}`` messages ending with a user
    turn, e.g. worked examples as earlier turns (notebook 02). The string ends with the assistant's turn
    opened, so :func:`generate` continues as the assistant.
    """
    if isinstance(user, str):
        messages = [{"role": "user", "content": user}]
    else:
        messages = [dict(m) for m in user]
        if not messages or messages[-1].get("role") != "user":
            raise ValueError("A conversation for chat_prompt must end with a user turn: the model answers it.")
    if system:
        messages = [{"role": "system", "content": system}] + messages
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def next_token_probs(model, tokenizer, prompt: str, temperature: float = 1.0, answer_so_far: str = "") -> torch.Tensor:
    """The probability of every vocabulary token as the next token of the answer: what decoding picks from.

    ``softmax(logits / temperature)``: below 1 the distribution sharpens, above 1 it flattens. The answer so far
    (``answer_so_far``, empty for its first token) follows the decoder's start token in an encoder-decoder model
    and the prompt in a causal LM. Notebook 02 filters this distribution with top-k and top-p by hand.
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0 (temperature 0 is greedy decoding: take the argmax instead)")
    device = next(model.parameters()).device
    answer = tokenizer(answer_so_far, add_special_tokens=False).input_ids if answer_so_far else []
    with torch.inference_mode():
        if model.config.is_encoder_decoder:
            enc = tokenizer(prompt, return_tensors="pt", truncation=True, max_length=int(tokenizer.model_max_length))
            start = [model.generation_config.decoder_start_token_id]
            decoder_ids = torch.tensor([start + answer], device=device)
            logits = model(**enc.to(device), decoder_input_ids=decoder_ids).logits[0, -1]
        else:
            ids = tokenizer(prompt).input_ids + answer
            logits = model(input_ids=torch.tensor([ids], device=device)).logits[0, -1]
    return torch.softmax(logits.float() / temperature, dim=-1)


def entropy(probs: torch.Tensor) -> float:
    """The entropy of a next-token distribution, in nats: 0 when one token is certain, higher when it hesitates."""
    return float(-(probs * probs.clamp_min(1e-30).log()).sum())


def least_certain_step(model, tokenizer, prompt: str, answer: str, max_words: int = 20) -> tuple[str, float]:
    """Where writing ``answer`` was hardest for the model: ``(answer so far, entropy)`` at the most uncertain step.

    The steps are the answer's first ``max_words`` word boundaries: after 0 words, 1 word, ... For each, the
    entropy of the next-token distribution (:func:`next_token_probs`); the step with the highest entropy is where
    the decoding settings matter most (notebook 02). An empty answer has one step, its first token: the prefix is
    ``""`` and a one-line note says so.
    """
    words = answer.split()[:max_words]
    if not words:
        print("labkit: the answer is empty, so its only step is the first token; looking at that one.")
    prefixes = [" ".join(words[:i]) for i in range(max(len(words), 1))]
    scored = [(prefix, entropy(next_token_probs(model, tokenizer, prompt, answer_so_far=prefix)))
              for prefix in prefixes]
    return max(scored, key=lambda pair: pair[1])


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
