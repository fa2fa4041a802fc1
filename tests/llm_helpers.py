"""Test helpers shared by the LLM chapters' tests (06 preference, 07 online RL)."""

import torch


def tiny_llama(tokenizer):
    """A 2-layer Llama with SmolLM2's vocabulary: random weights, seconds to run, the instruct LLM's code paths."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      bos_token_id=tokenizer.bos_token_id)
    return LlamaForCausalLM(cfg).eval()
