"""labkit: the toolbox behind the notebooks of "Generative AI with Large Language Models".

The notebooks in ``solutions/`` (and the learner copies in ``labs/``) are the chapters; each module here
backs one topic, so that cells read like the lesson while the mechanics live here. Module map
(docs/architecture.md has the whole picture):

Every notebook
    config        profiles (course / tiny / auto), the role table, sizes and settings, device, seeds
    models        one loader per role: summarizer, instruct LLM, embedder, reward model
    tiny          builders of the tiny profile's local models (T5, SmolLM2 from its wheel, detox classifier)
    cache         build-once, locked, content-addressed artifacts in ~/.cache/labkit
    data          DialogSum loaders and read_records, the one JSON Lines reader
    generation    batched generation, chat prompts, decoding presets, the settings widget, a preallocated KV cache
    checks        one module per notebook, one check per exercise (registered by exercise id)
By notebook
    lifecycle     00  memory, precision and compute arithmetic (bytes per parameter, ZeRO, FLOPs, Chinchilla)
    architectures 01  tokenizers, attention by hand, the three architectures and their objectives
    prompts       02  prompt builders (zero-, one-, few-shot, FLAN template)
    finetune      03  full / LoRA / prompt tuning with resumable checkpoints
    train         03  the same fine-tuning as a script, under torchrun or accelerate (DDP, FSDP)
    metrics       03-05  ROUGE, BLEU, toxicity (also as local `evaluate` modules), bootstrap CIs
    benchmarks    04  multiple-choice scoring by log-likelihood, calibration
    rlhf          05  rankings to pairs, PPO's parts and a compact PPO trainer, dpo_loss
    preference    06  DPO with trl, Constitutional AI
    optimize      07  quantization, distillation, pruning
    rag           08  chunking, vector and keyword indexes, retrieval metrics, grounded answers
    agents        09  chain-of-thought, PAL, ReAct (with sandbox, sandbox_child and shop)
    sagemaker     10  JumpStart and training jobs behind a cost guard (with emulator, a local AWS)
Tools
    notebooks     solutions -> labs, headless runs;  grade: `labkit grade`;  cli: the `labkit` command
    netguard      LABKIT_NO_NETWORK=1 blocks every non-loopback connection
"""

from labkit import netguard as _netguard

_netguard.install()

__version__ = "0.1.0"
