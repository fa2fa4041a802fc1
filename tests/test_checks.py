"""Every check accepts the right answer and rejects plausible wrong ones with a helpful message."""

import pytest
from transformers import GenerationConfig

from labkit import checks, lifecycle, prompts

N = 247_577_856


def test_training_memory():
    right = N * 24 / 2 / 1e9
    checks.check_training_memory(right, N, "fp16")
    with pytest.raises(checks.CheckFailed, match="inference"):
        checks.check_training_memory(N * 2 / 1e9, N, "fp16")
    with pytest.raises(checks.CheckFailed, match="fp32 figure"):
        checks.check_training_memory(N * 24 / 1e9, N, "fp16")
    with pytest.raises(checks.CheckFailed, match="not right"):
        checks.check_training_memory(5.0, N, "fp16")
    with pytest.raises(checks.CheckFailed):
        checks.check_training_memory(None, N, "fp16")


def test_compute_optimal_tokens():
    checks.check_compute_optimal_tokens(2e10, 1e9)
    with pytest.raises(checks.CheckFailed, match="20 tokens per parameter"):
        checks.check_compute_optimal_tokens(1e9, 1e9)
    with pytest.raises(checks.CheckFailed, match="20"):
        checks.check_compute_optimal_tokens(lifecycle.training_flops(1e9, 2e10), 1e9)


SHOTS = [{"dialogue": "#Person1#: Hi.\n#Person2#: Hello.", "summary": "They greet."},
         {"dialogue": "#Person1#: Bye.\n#Person2#: See you.", "summary": "They part."}]
TARGET = "#Person1#: Lunch?\n#Person2#: Sure."


def test_few_shot_prompt():
    checks.check_few_shot_prompt(prompts.few_shot(SHOTS, TARGET), SHOTS, TARGET)
    no_summaries = "\n\n".join(prompts.flan_template(s["dialogue"]) for s in SHOTS) + prompts.flan_template(TARGET)
    with pytest.raises(checks.CheckFailed, match="human summary"):
        checks.check_few_shot_prompt(no_summaries, SHOTS, TARGET)
    target_first = prompts.flan_template(TARGET) + "\n\n" + prompts.few_shot(SHOTS, "").rsplit("Dialogue:", 1)[0]
    with pytest.raises(checks.CheckFailed, match="end with|last"):
        checks.check_few_shot_prompt(target_first, SHOTS, TARGET)
    with pytest.raises(checks.CheckFailed, match="order"):
        checks.check_few_shot_prompt(prompts.few_shot(SHOTS[::-1], TARGET), SHOTS, TARGET)
    with pytest.raises(checks.CheckFailed, match="one string"):
        checks.check_few_shot_prompt(None, SHOTS, TARGET)


def test_deterministic_config(summarizer):
    model, tokenizer = summarizer
    prompt = prompts.flan_template(TARGET)
    checks.check_deterministic_config(GenerationConfig(max_new_tokens=20, do_sample=False), model, tokenizer, prompt)
    with pytest.raises(checks.CheckFailed, match="do_sample"):
        checks.check_deterministic_config(GenerationConfig(max_new_tokens=20, do_sample=True, temperature=1.5, top_k=0),
                                          model, tokenizer, prompt)
    with pytest.raises(checks.CheckFailed, match="max_new_tokens"):
        checks.check_deterministic_config(GenerationConfig(max_new_tokens=None, do_sample=False), model, tokenizer, prompt)


def test_tokenize_function_check(summarizer, dialogsum):
    _, tokenizer = summarizer
    train = dialogsum["train"]

    def right(batch):
        enc = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True)
        enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True)["input_ids"]
        return enc

    def padded(batch):
        enc = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True, padding="max_length")
        enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True)["input_ids"]
        return enc

    def no_prompt(batch):
        enc = tokenizer(batch["dialogue"], truncation=True)
        enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True)["input_ids"]
        return enc

    def prompt_as_labels(batch):
        enc = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True)
        enc["labels"] = enc["input_ids"]
        return enc

    checks.check_tokenize_function(right, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="dynamic padding"):
        checks.check_tokenize_function(padded, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="zero-shot prompt"):
        checks.check_tokenize_function(no_prompt, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="summary"):
        checks.check_tokenize_function(prompt_as_labels, train, tokenizer)
    with pytest.raises(checks.CheckFailed, match="labels"):
        checks.check_tokenize_function(lambda b: tokenizer(b["dialogue"]), train, tokenizer)


def test_lora_parameter_count_check(summarizer):
    from labkit import finetune

    model, _ = summarizer
    lora = finetune.add_lora(model, finetune.lora_config(r=4, target_modules=["q", "v"]))
    right = finetune.count_parameters(lora)[0]
    checks.check_lora_parameter_count(right, lora)
    with pytest.raises(checks.CheckFailed, match="every parameter"):
        checks.check_lora_parameter_count(finetune.count_parameters(lora)[1], lora)
    with pytest.raises(checks.CheckFailed, match=r"r \* \(in \+ out\)"):
        checks.check_lora_parameter_count(right // 2, lora)  # forgot B (or A)


def test_recovered_share_check():
    import pandas as pd

    table = pd.DataFrame({"rouge1": [0.2, 0.4, 0.35]}, index=["original", "full fine-tuning", "LoRA"])
    checks.check_recovered_share(0.75, table)
    with pytest.raises(checks.CheckFailed, match="percentage"):
        checks.check_recovered_share(75, table)
    with pytest.raises(checks.CheckFailed, match="ratio of the scores"):
        checks.check_recovered_share(0.875, table)
    with pytest.raises(checks.CheckFailed, match="gain"):
        checks.check_recovered_share(0.5, table)


def test_rag_checks():
    from labkit import rag
    from labkit.models import load_embedder

    embedder = load_embedder()
    docs = rag.load_documents()
    good = rag.chunk_corpus(docs, embedder.tokenizer, chunk_tokens=200, overlap=50)
    checks.check_chunks(good, docs, embedder.tokenizer, max_tokens=200)
    with pytest.raises(checks.CheckFailed, match="chunk every document"):
        checks.check_chunks(good[:5], docs, embedder.tokenizer, max_tokens=200)
    with pytest.raises(checks.CheckFailed, match="longer than 200 tokens"):
        checks.check_chunks(rag.whole_documents(docs, embedder.tokenizer), docs, embedder.tokenizer, max_tokens=200)
    no_overlap = rag.chunk_corpus(docs, embedder.tokenizer, chunk_tokens=200, overlap=0)
    with pytest.raises(checks.CheckFailed, match="overlap"):
        checks.check_chunks(no_overlap, docs, embedder.tokenizer, max_tokens=200)

    questions = rag.load_questions()[:20]
    index, bm25 = rag.VectorIndex(embedder, good), rag.KeywordIndex(good)

    def found(r, q):
        return any(rag.is_relevant(h, q) for h in r.search(q["question"], 5))

    right = [q["id"] for q in questions if found(index, q) and not found(bm25, q)]
    checks.check_only_embeddings(right, questions, index, bm25)
    with pytest.raises(checks.CheckFailed, match="BM25 too"):
        checks.check_only_embeddings(right + [q["id"] for q in questions if found(bm25, q)][:1], questions, index, bm25)
    with pytest.raises(checks.CheckFailed, match="question ids"):
        checks.check_only_embeddings([], questions, index, bm25)


def test_recall_check():
    from labkit import rag
    from labkit.models import load_embedder

    embedder = load_embedder()
    chunks = rag.chunk_corpus(rag.load_documents(), embedder.tokenizer)
    retrievers = {"bm25": rag.KeywordIndex(chunks)}
    questions = rag.load_questions()[:15]

    def right(r, qs, k):
        return sum(any(rag.is_relevant(h, q) for h in r.search(q["question"], k)) for q in qs) / len(qs)

    def counts_hits(r, qs, k):  # counts relevant chunks, not questions
        return sum(rag.is_relevant(h, q) for q in qs for h in r.search(q["question"], k)) / (len(qs) * k)

    checks.check_recall_at_k(right, retrievers, questions)
    with pytest.raises(checks.CheckFailed, match="ANY"):
        checks.check_recall_at_k(counts_hits, retrievers, questions)


# --- notebook 10 -----------------------------------------------------------------------------------

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


def test_invoke_payload_check():
    from labkit import sagemaker

    fmt = sagemaker.TEXT2TEXT_FALLBACK
    dialogue = "#Person1#: Lunch?\n#Person2#: Sure."
    prompt = prompts.zero_shot(dialogue)
    checks.check_invoke_payload({"text_inputs": prompt, "max_length": 100}, fmt, prompt, 100)
    checks.check_invoke_payload(sagemaker.build_payload(fmt, prompt, max_length=100), fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="under 'text_inputs', not 'inputs'"):
        checks.check_invoke_payload({"inputs": prompt, "max_length": 100}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="only part of the prompt"):
        checks.check_invoke_payload({"text_inputs": dialogue, "max_length": 100}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="'max_length', not 'max_new_tokens'"):
        checks.check_invoke_payload({"text_inputs": prompt, "max_new_tokens": 100}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="integer"):
        checks.check_invoke_payload({"text_inputs": prompt, "max_length": "100"}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="should be 100"):
        checks.check_invoke_payload({"text_inputs": prompt, "max_length": 50}, fmt, prompt, 100)
    with pytest.raises(checks.CheckFailed, match="not a JSON string"):
        checks.check_invoke_payload('{"text_inputs": "x", "max_length": 100}', fmt, prompt, 100)


SPEC_07 = [{"name": n, "options": []} for n in ("epochs", "learning_rate", "lora_r", "lora_alpha")] + [
    {"name": "peft_type", "options": ["none", "lora"]}, {"name": "sagemaker_program", "options": []}]
WANT_07 = {"epochs": 1, "learning_rate": 0.001, "lora_r": 32, "lora_alpha": 32}


def test_training_hyperparameters_check():
    right = {"peft_type": "lora", "epochs": "1", "learning_rate": "0.001", "lora_r": "32", "lora_alpha": "32"}
    checks.check_training_hyperparameters(right, SPEC_07, True, WANT_07)
    checks.check_training_hyperparameters({**right, "learning_rate": "1e-3"}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="as a string.*'32'"):
        checks.check_training_hyperparameters({**right, "lora_r": 32}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="calls it 'lora_r'"):
        checks.check_training_hyperparameters({**{k: v for k, v in right.items() if k != "lora_r"},
                                               "lora_rank": "32"}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="peft_type='lora'"):
        checks.check_training_hyperparameters({k: v for k, v in right.items() if k != "peft_type"},
                                              SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="lora_r should be '32'"):
        checks.check_training_hyperparameters({**right, "lora_r": "8"}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="drops"):
        checks.check_training_hyperparameters({**right, "sagemaker_program": "x.py"}, SPEC_07, True, WANT_07)
    with pytest.raises(checks.CheckFailed, match="no LoRA option"):  # a spec without LoRA
        checks.check_training_hyperparameters(right, SPEC_07, False, WANT_07)
    checks.check_training_hyperparameters({"epochs": "1", "learning_rate": "0.001"}, SPEC_07, False, WANT_07)
