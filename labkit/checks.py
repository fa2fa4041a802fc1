"""One check per exercise: each passes quietly with a short confirmation, or fails with a hint.

A check cell follows every exercise in the notebooks. The checks compare the learner's answer with
what labkit computes, so they cannot be satisfied by a hard-coded number that happens to be right
for another input, and each one names what to look at when the answer is wrong.
"""

from __future__ import annotations

import math


class CheckFailed(AssertionError):
    """The answer to an exercise is not right yet; the message says what to look at."""


def _ok(message: str) -> None:
    print(f"\u2705 {message}")


def _require(condition: bool, hint: str) -> None:
    if not condition:
        raise CheckFailed(hint)


def _close(value, expected: float, rel: float = 1e-6) -> bool:
    try:
        return math.isclose(float(value), expected, rel_tol=rel, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


# --- notebook 00 -----------------------------------------------------------------------------------

def check_training_memory(gb, n_params: float, dtype: str = "fp32") -> None:
    """Exercise 00.1: GPU memory (GB) to train a model of ``n_params`` parameters at ``dtype``."""
    from labkit import lifecycle

    expected = float(lifecycle.memory_table(n_params, dtypes=(dtype,)).loc["training_total", dtype])
    inference = float(lifecycle.memory_table(n_params, dtypes=(dtype,)).loc["inference_total", dtype])
    _require(gb is not None, "Set `training_gb` to a number of gigabytes.")
    _require(not _close(gb, inference, 1e-3),
             f"{gb} GB is what *inference* needs: training also holds gradients, Adam's two states and "
             "activations - add them per parameter.")
    _require(not _close(gb, expected * 4 / lifecycle.DTYPE_BYTES[dtype], 1e-3) or dtype == "fp32",
             f"{gb} GB is the fp32 figure: at {dtype} every component takes "
             f"{lifecycle.DTYPE_BYTES[dtype]} bytes instead of 4 (the course's simplification).")
    _require(_close(gb, expected, 1e-3),
             f"{gb} GB is not right. Add up the bytes per parameter for training at {dtype} "
             "(weights + Adam states + gradients + activations), multiply by the parameter count, divide by 1e9.")
    _ok(f"Training {n_params:.3g} parameters at {dtype} needs about {expected:.1f} GB of GPU memory.")


def check_compute_optimal_tokens(tokens, n_params: float) -> None:
    """Exercise 00.2: the compute-optimal number of training tokens for ``n_params`` (Chinchilla)."""
    from labkit import lifecycle

    expected = lifecycle.compute_optimal_tokens(n_params)
    _require(tokens is not None, "Set `optimal_tokens` to a number of tokens.")
    _require(not _close(tokens, n_params, 1e-3),
             "That is the parameter count itself: Chinchilla's rule of thumb is about 20 tokens per parameter.")
    _require(_close(tokens, expected, 1e-3),
             f"{tokens:.3g} tokens is not the compute-optimal size. Use about 20 training tokens per parameter.")
    _ok(f"A compute-optimal {n_params:.3g}-parameter model trains on about {expected:.3g} tokens.")


# --- notebook 01 -----------------------------------------------------------------------------------

def check_few_shot_prompt(prompt: str, examples, dialogue: str) -> None:
    """Exercise 01.1: a few-shot prompt with the worked ``examples`` first and ``dialogue`` last."""
    from labkit import prompts

    _require(isinstance(prompt, str) and prompt, "Build the prompt as one string.")
    examples = list(examples)
    pairs = [prompts._pair(e) for e in examples]
    missing = [i for i, (d, s) in enumerate(pairs) if d not in prompt or s not in prompt]
    _require(not missing, f"Worked example(s) {missing} are missing: include each example's dialogue AND its "
                          "human summary, in the FLAN template.")
    _require(prompt.rstrip().endswith(prompts.FLAN_QUESTION),
             f"The prompt must end with the dialogue to summarize and the question {prompts.FLAN_QUESTION!r}, "
             "leaving the answer for the model.")
    _require(dialogue in prompt and prompt.rfind(dialogue) > max((prompt.rfind(s) for _, s in pairs), default=-1),
             "The dialogue to summarize must come last, after the worked examples.")
    positions = [prompt.find(d) for d, _ in pairs]
    _require(positions == sorted(positions), "Keep the worked examples in the order given.")
    _require(prompt.count(prompts.FLAN_QUESTION) == len(pairs) + 1,
             f"Use the FLAN template for every example: expected {len(pairs) + 1} times "
             f"{prompts.FLAN_QUESTION!r}, found {prompt.count(prompts.FLAN_QUESTION)}.")
    _ok(f"Few-shot prompt with {len(pairs)} worked example(s) and the dialogue to summarize last.")


def check_deterministic_config(generation_config, model, tokenizer, prompt: str) -> None:
    """Exercise 01.2: generation settings that give the same output on every run."""
    from labkit.generation import generate

    _require(generation_config is not None, "Create a transformers GenerationConfig.")
    _require(getattr(generation_config, "max_new_tokens", None), "Set max_new_tokens so generation stops.")
    outputs = {generate(model, tokenizer, prompt, generation_config, seed=seed) for seed in (0, 1, 2)}
    _require(len(outputs) == 1,
             f"Three runs with different random seeds gave {len(outputs)} different outputs: with do_sample=True "
             "every token is drawn at random. Which setting switches sampling off (greedy decoding)?")
    _ok("Same output with every seed: greedy decoding is deterministic.")


# --- notebook 02 -----------------------------------------------------------------------------------

def check_tokenize_function(tokenize_function, split, tokenizer) -> None:
    """Exercise 02.1: the preprocessing function - instruction prompt in, summary as labels, no padding."""
    from labkit import prompts

    _require(callable(tokenize_function), "Define `tokenize_function(batch)` that returns a dict.")
    batch = split[:4]
    out = tokenize_function(batch)
    _require(isinstance(out, dict) or hasattr(out, "keys"), "Return a dict (a tokenizer's BatchEncoding is fine).")
    for key in ("input_ids", "labels"):
        _require(key in out, f"The result needs {key!r}: the model learns to map input_ids to labels.")
    expected_inputs = tokenizer([prompts.zero_shot(d) for d in batch["dialogue"]], truncation=True).input_ids
    expected_labels = tokenizer(text_target=batch["summary"], truncation=True).input_ids
    inputs, labels = [list(x) for x in out["input_ids"]], [list(x) for x in out["labels"]]
    padded = any(tokenizer.pad_token_id in ids for ids in inputs) and len({len(x) for x in inputs}) == 1
    _require(not padded, "The inputs are padded: don't pad in the tokenize function - the data collator pads each "
                         "batch to its own longest example (dynamic padding), which wastes far less compute.")
    _require(inputs == expected_inputs,
             "input_ids should be the tokenized zero-shot prompt (prompts.zero_shot(dialogue)), truncated to the "
             "context window: the same instruction the model will see at evaluation time.")
    _require(labels != inputs, "labels must be the tokenized human *summary*, not the prompt.")
    _require(labels == expected_labels,
             "labels should be the tokenized human summaries: tokenizer(text_target=batch['summary'], truncation=True).")
    _ok("Prompt in, summary out, padded later per batch.")


def check_lora_parameter_count(count, peft_model) -> None:
    """Exercise 02.2: LoRA's trainable parameters computed from the adapted layers' shapes."""
    from labkit.finetune import count_parameters

    trainable = count_parameters(peft_model)[0]
    _require(count is not None, "Set `lora_parameters` to a number.")
    _require(count != count_parameters(peft_model)[1],
             "That is every parameter of the model; LoRA trains only its small A and B matrices.")
    r = next(iter(peft_model.peft_config.values())).r
    _require(int(count) == trainable,
             f"{count} is not right: the model has {trainable} trainable parameters. Each adapted Linear layer "
             f"gets A (r x in_features) and B (out_features x r), r = {r}: add r * (in + out) over the adapted layers.")
    _ok(f"{trainable} LoRA parameters: r x (in + out) for each adapted layer.")


def check_recovered_share(share, comparison, peft: str = "LoRA", full: str = "full fine-tuning",
                          original: str = "original", metric: str = "rouge1") -> None:
    """Exercise 02.3: which share of full fine-tuning's gain a PEFT method recovers, read off the table."""
    gain_full = comparison.loc[full, metric] - comparison.loc[original, metric]
    gain_peft = comparison.loc[peft, metric] - comparison.loc[original, metric]
    expected = gain_peft / gain_full
    _require(share is not None, "Set `recovered` to a fraction (e.g. 0.8 for 80%).")
    _require(not _close(share, expected * 100, 1e-3), "Give a fraction, not a percentage (0.8, not 80).")
    _require(not _close(share, comparison.loc[peft, metric] / comparison.loc[full, metric], 1e-3),
             "That is the ratio of the scores; the question is about the *gains* over the original model.")
    _require(_close(share, expected, 1e-3),
             f"Not quite: divide {peft}'s {metric} gain over the original model by full fine-tuning's gain.")
    _ok(f"{peft} recovers {expected:.0%} of full fine-tuning's {metric} gain.")


# --- notebook 05 -----------------------------------------------------------------------------------

def check_chunks(chunks, documents, tokenizer, max_tokens: int = 128) -> None:
    """Exercise 05.1: overlapping chunks within the token budget, covering every document, with ids."""
    _require(isinstance(chunks, (list, tuple)) and chunks, "`chunks` should be a non-empty list of rag.Chunk.")
    _require(all(hasattr(c, "id") and hasattr(c, "doc_id") and hasattr(c, "text") for c in chunks),
             "Each chunk needs an id, a doc_id and a text: use rag.chunk_corpus.")
    covered = {c.doc_id for c in chunks}
    missing = [d.id for d in documents if d.id not in covered]
    _require(not missing, f"No chunks for {len(missing)} document(s), e.g. {missing[:2]}: chunk every document.")
    too_long = [c.id for c in chunks if len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) > max_tokens + 2]
    _require(not too_long, f"{len(too_long)} chunk(s) are longer than {max_tokens} tokens, e.g. {too_long[:1]}: "
                           "count tokens with the embedder's tokenizer, not words or characters.")
    _require(len({c.id for c in chunks}) == len(chunks), "Chunk ids must be unique: answers cite them.")
    by_doc = {d.id: d.text for d in documents}
    pieces = [c for c in chunks if c.doc_id == documents[0].id]
    _require(len(pieces) > 1 and pieces[0].text[-20:] in pieces[1].text,
             "Consecutive chunks should overlap, so that a sentence cut at one chunk's end is whole in the next.")
    _require(all(c.text in by_doc[c.doc_id] for c in chunks), "Chunk texts should be exact slices of their document.")
    _ok(f"{len(chunks)} overlapping chunks of at most {max_tokens} tokens, every document covered.")


def check_only_embeddings(only_embeddings, questions, index, keyword_index, k: int = 5) -> None:
    """Exercise 05.2: the questions the embedding index answers in its top k and BM25 does not."""
    from labkit import rag

    def found(retriever, q):
        return any(rag.is_relevant(h, q) for h in retriever.search(q["question"], k))

    expected = {q["id"] for q in questions if found(index, q) and not found(keyword_index, q)}
    given = set(only_embeddings or [])
    _require(given and all(isinstance(x, str) for x in given), "Give a list of question ids (strings such as 'q07').")
    both = {q["id"] for q in questions if found(index, q) and found(keyword_index, q)}
    _require(not (given & both), "Some of these questions are found by BM25 too: keep only those BM25 misses.")
    _require(given == expected, f"Not quite: expected {len(expected)} question(s), you have {len(given)}. Look at the top "
                                f"{k} hits of each retriever and keep questions only the embedding index answers.")
    _ok(f"{len(expected)} question(s) are found only by meaning, not by keywords.")


# --- notebook 06 -----------------------------------------------------------------------------------

def check_pal_program(code: str, expected: float = 9) -> None:
    """Exercise 06.1: a PAL program for the cafeteria question, run in the sandbox."""
    from labkit.agents import run_python

    _require(isinstance(code, str) and code.strip(), "Write the program as a string of Python code.")
    result = run_python(code, answer_var="answer")
    _require(result.ok, f"The program did not run cleanly in the sandbox: {result.error}")
    _require(result.answer == expected, f"The program's `answer` is {result.answer!r}; recompute the steps "
                                        "(apples at the start, minus used for lunch, plus bought).")
    _require(any(op in code for op in "+-*"), "Let the program do the arithmetic, as PAL does: don't type the result.")
    _ok(f"The sandbox ran your program: answer = {result.answer}.")


def check_react_step(step: str, expected_tool: str = "Search", expected_argument: str = "Edda Vell") -> None:
    """Exercise 06.2: the next ReAct step, in the format the loop parses."""
    from labkit.agents import MalformedAction, parse_step

    _require(isinstance(step, str), "Write the step as a string: 'Thought 2: ...\\nAction 2: Tool[argument]'.")
    try:
        thought, tool, argument = parse_step(step)
    except MalformedAction as err:
        raise CheckFailed(f"The loop could not parse that step: {err}.") from None
    _require(thought, "Start with a Thought: say what you learned and what you need next.")
    _require(tool.lower() == expected_tool.lower(), f"{tool!r} is not the right action here: you need another page.")
    _require(argument.lower() == expected_argument.lower(),
             f"Search[{argument}] is not the page you need: who invented the lamp, according to the observation?")
    _ok(f"Parsed: {tool}[{argument}].")


def check_orders_by_email_query(sql: str, conn) -> None:
    """Exercise 06.3: a parameterized query for a customer's order numbers by email."""
    _require(isinstance(sql, str) and "select" in sql.lower(), "Write a SELECT statement as a string.")
    _require("?" in sql or ":" in sql, "Use a placeholder (?) for the email and pass it as a parameter: "
                                       "never paste user input into SQL.")
    _require("@" not in sql and "'" not in sql, "The query holds a literal value: the email must come in as a parameter.")
    try:
        rows = conn.execute(sql, ("ana.costa@example.com",)).fetchall()
        injected = conn.execute(sql, ("x' OR '1'='1",)).fetchall()
    except Exception as err:
        raise CheckFailed(f"The query fails: {type(err).__name__}: {err}") from None
    ids = sorted(r[0] for r in rows)
    _require(ids == [1042, 1045], f"For ana.costa@example.com the query returned {ids}, expected her orders [1042, 1045] "
                                  "(first column: the order id).")
    _require(injected == [], "An injected email returned rows!")
    _ok("Parameterized: the right orders, and the injection attempt finds nothing.")


def check_recall_at_k(recall_at_k, retrievers: dict, questions, ks=(1, 5)) -> None:
    """Exercise 05.3: recall@k computed by hand agrees with labkit's evaluation for every retriever."""
    from labkit import rag

    _require(callable(recall_at_k), "Define `recall_at_k(retriever, questions, k)`.")
    table = rag.evaluate_retrieval(retrievers, questions, ks=ks)
    for name, retriever in retrievers.items():
        for k in ks:
            got = recall_at_k(retriever, questions, k)
            expected = table.loc[name, f"recall@{k}"]
            _require(got is not None and _close(got, expected, 1e-9),
                     f"recall@{k} for {name!r}: got {got}, expected {expected:.3f}. Count a question once if ANY of "
                     "its top-k chunks is relevant, then divide by the number of questions.")
    _ok("Your recall@k matches for every retriever and k.")


# --- notebook 04 -----------------------------------------------------------------------------------

def check_int8_quantizer(quantize_int8) -> None:
    """Exercise 04.1: symmetric int8 quantization of a tensor: (int8 values, scale)."""
    import torch

    torch.manual_seed(0)
    w = torch.randn(64, 32) * 0.05
    w[3, 4] = 0.4  # an outlier sets the range
    out = quantize_int8(w)
    _require(isinstance(out, tuple) and len(out) == 2, "Return a pair: (q, scale).")
    q, scale = out
    _require(isinstance(q, torch.Tensor) and q.dtype == torch.int8, "q should be a torch.int8 tensor (use .to(torch.int8)).")
    scale = float(scale)
    _require(math.isclose(scale, 0.4 / 127, rel_tol=1e-4),
             f"scale is {scale:.6f}; symmetric int8 maps the largest |value| to 127: scale = max|w| / 127.")
    _require(int(q.abs().max()) == 127, "The largest |value| should map to ±127.")
    error = (q.float() * scale - w).abs().max().item()
    _require(error <= scale / 2 + 1e-7, f"Reconstruction error {error:.5f} is larger than half a step: round, don't truncate.")
    _ok(f"int8 with scale {scale:.5f}: worst error {error:.5f} (half a step is {scale / 2:.5f}).")


def check_distillation_loss(distill_loss) -> None:
    """Exercise 04.2: the distillation loss (KL on softened outputs, x T²) plus the student loss."""
    import torch

    from labkit.optimize import distillation_loss

    torch.manual_seed(0)
    student, teacher = torch.randn(8, 5), torch.randn(8, 5) * 3
    labels = torch.randint(0, 5, (8,))
    for temperature, alpha in [(4.0, 0.5), (1.0, 0.5), (2.0, 0.0), (3.0, 1.0)]:
        expected = float(distillation_loss(student, teacher, labels, temperature, alpha))
        got = float(distill_loss(student, teacher, labels, temperature, alpha))
        if math.isclose(got, expected, rel_tol=1e-4):
            continue
        if alpha > 0:
            no_t2 = float(distillation_loss(student, teacher, labels, temperature, alpha)) - alpha * float(
                distillation_loss(student, teacher, labels, temperature, 1.0)) * (1 - 1 / temperature ** 2)
            _require(not math.isclose(got, no_t2, rel_tol=1e-4),
                     "Multiply the KL term by T²: softening by T shrinks its gradients by 1/T².")
        _require(False, f"At T={temperature}, alpha={alpha} the loss is {got:.4f}, expected {expected:.4f}. Soft labels: "
                        "softmax(teacher / T); soft predictions: log_softmax(student / T); KL with reduction "
                        "'batchmean', times T²; then alpha * that + (1 - alpha) * cross-entropy with the hard labels.")
    _ok("Distillation loss matches at every temperature and weight.")


def check_shrink_factor(shrink, table, baseline: str = "fp32", variant: str = "int8 dynamic") -> None:
    """Exercise 04.3: how much smaller dynamic int8 makes the Linear weights, read from the table."""
    expected = table.loc[baseline, "Linear weights MB"] / table.loc[variant, "Linear weights MB"]
    _require(shrink is not None, "Set `shrink` to a number (fp32 size / int8 size).")
    _require(not _close(shrink, 1 / expected, 1e-3), "Invert it: fp32 size divided by int8 size (a number above 1).")
    _require(not _close(shrink, table.loc[baseline, "disk MB"] / table.loc[variant, "disk MB"], 1e-3),
             "That is the whole file; the question is about the Linear layers' weights (embeddings are not quantized).")
    _require(_close(shrink, expected, 1e-3), f"Not quite: divide the two 'Linear weights MB' values.")
    _ok(f"Dynamic int8 stores the Linear weights {expected:.2f}x smaller.")


# --- notebook 03 -----------------------------------------------------------------------------------

def check_not_hate_index(index, model) -> None:
    """Exercise 03.1: the index of the reward model's "nothate" label, read from its config."""
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    from labkit.rlhf import find_label

    expected = find_label(model.config)
    _require(index is not None, "Set `not_hate_index` to an integer label index.")
    _require(int(index) == expected,
             f"Label {index} is {id2label.get(int(index))!r}. Rewarding it would train the policy to be *more* "
             f"toxic. Look the labels up in model.config.id2label: {id2label}.")
    _ok(f"Label {expected} is {id2label[expected]!r}: its logit is the reward.")


def check_kl_penalized_reward(fn) -> None:
    """Exercise 03.2: per-token rewards with a KL penalty, the score added on the last token."""
    import torch

    from labkit.rlhf import kl_penalized_rewards

    logprobs = torch.tensor([-1.0, -0.5, -2.0, -0.1])
    ref_logprobs = torch.tensor([-1.2, -0.5, -1.0, -0.4])
    for score, coef in [(3.0, 0.2), (-1.0, 0.0), (0.5, 1.0)]:
        expected, _ = kl_penalized_rewards(torch.tensor([score]), logprobs[None], ref_logprobs[None],
                                           torch.ones(1, 4), coef)
        got = fn(score, logprobs, ref_logprobs, coef)
        got = torch.as_tensor(got, dtype=torch.float32).flatten()
        _require(got.shape == (4,), "Return one reward per response token (a tensor of the same length as logprobs).")
        if not torch.allclose(got, expected[0], atol=1e-6):
            _require(not torch.allclose(got, -expected[0] + 2 * torch.tensor([0, 0, 0, score]), atol=1e-6),
                     "The penalty has the wrong sign: tokens the policy likes MORE than the reference cost reward.")
            _require(False, f"With score={score}, kl_coef={coef} expected {expected[0].tolist()}, got {got.tolist()}. "
                            "Reward per token = -kl_coef * (logprob - ref_logprob); add the score to the LAST token only.")
    _ok("KL-penalised rewards match: the score on the last token, a penalty on every token.")


def check_pairs(pairs, completions, ranking) -> None:
    """Exercise 03.3: every (preferred, less preferred) pair from one ranking."""
    from labkit.rlhf import rankings_to_pairs

    expected = rankings_to_pairs(completions, ranking)
    got = [tuple(p) for p in (pairs or [])]
    _require(len(got) == len(expected), f"{len(completions)} ranked completions give {len(expected)} pairs; you have "
                                        f"{len(got)}. Pair every two completions with different ranks.")
    flipped = [p for p in got if (p[1], p[0]) in expected]
    _require(not flipped, f"{len(flipped)} pair(s) have the worse completion first: put the preferred one (lower rank) first.")
    _require(sorted(got) == sorted(expected), "Some pairs are not pairs of these completions with different ranks.")
    _ok(f"{len(expected)} pairs, preferred completion first.")


# --- notebook 07 -----------------------------------------------------------------------------------

def check_weekend_cost(weekend_cost, instance_type: str = "ml.g4dn.xlarge", instance_count: int = 1,
                       hours: float = 64) -> None:
    """Exercise 07.1: what an endpoint left running from Friday 17:00 to Monday 09:00 costs (estimate)."""
    from labkit import sagemaker

    per_hour = sagemaker.price(instance_type) * instance_count
    expected = sagemaker.estimate_cost(instance_type, hours, instance_count)

    def near(value, target):  # cents are enough
        return abs(float(value) - target) <= max(0.01, 1e-3 * abs(target))

    _require(weekend_cost is not None, "Set `weekend_cost` to a number of dollars.")
    _require(isinstance(weekend_cost, (int, float)) and not isinstance(weekend_cost, bool),
             "Give the cost as a number (dollars), not a string.")
    _require(not near(weekend_cost, per_hour),
             f"${per_hour:.2f} is the price of one hour. An endpoint bills for every hour it exists, "
             "busy or idle: multiply by the hours it stays up.")
    _require(not near(weekend_cost, per_hour * 48),
             "48 hours is Saturday and Sunday only. The endpoint is already up on Friday evening and still "
             "up on Monday morning: count from Friday 17:00 to Monday 09:00.")
    _require(not near(weekend_cost, per_hour * 72),
             "72 hours counts from Friday 00:00. Count from Friday 17:00 to Monday 09:00.")
    _require(instance_count == 1 or not near(weekend_cost, expected / instance_count),
             f"The endpoint runs {instance_count} instances: each one bills.")
    _require(near(weekend_cost, expected),
             f"${float(weekend_cost):.2f} is not it. Hours from Friday 17:00 to Monday 09:00, times the "
             f"estimated ${per_hour:.2f}/hour of {instance_count} x {instance_type} (labkit.sagemaker.price).")
    _ok(f"About ${expected:.2f} for {hours:g} idle hours - delete endpoints when you stop working.")


def check_invoke_payload(payload, fmt, prompt: str, max_length: int) -> None:
    """Exercise 07.2: a request body in the endpoint's format (from the model's JumpStart spec)."""
    import json

    _require(payload is not None, "Set `payload` to a dict: the JSON body the endpoint receives.")
    if isinstance(payload, (str, bytes)):
        try:
            payload = json.loads(payload)
        except ValueError:
            raise CheckFailed("`payload` must be a dict (labkit turns it into JSON for you), not text.") from None
        raise CheckFailed("Give `payload` as a dict, not a JSON string: labkit encodes it when it sends the request.")
    _require(isinstance(payload, dict), "`payload` must be a dict, e.g. {key: value, ...}.")
    elsewhere = [k for k, v in payload.items() if v == prompt and k != fmt.prompt_key]
    _require(not elsewhere, f"The spec puts the prompt under {fmt.prompt_key!r}, not {elsewhere[0]!r}."
                            if elsewhere else "")
    _require(fmt.prompt_key in payload,
             f"The prompt goes under the key {fmt.prompt_key!r} (the spec's prompt_key). Your keys: {sorted(payload)}.")
    sent = payload[fmt.prompt_key]
    fragment = isinstance(sent, str) and sent != prompt and sent.strip() and sent.strip() in prompt
    _require(not fragment, "That is only part of the prompt (the dialogue?). Send the whole prompt - the "
                           "instruction and the dialogue - which is `prompt` above (prompts.zero_shot).")
    _require(sent == prompt, f"The value under {fmt.prompt_key!r} must be exactly `prompt`.")
    length_keys = [k for k in ("max_new_tokens", "max_tokens", "max_len") if k in payload]
    _require(not length_keys, f"This format calls the length limit 'max_length', not {length_keys[0]!r}."
                              if length_keys else "")
    _require("max_length" in payload, "Add the generation limit: 'max_length'.")
    value = payload["max_length"]
    _require(isinstance(value, int) and not isinstance(value, bool),
             f"max_length must be an integer (JSON number), not {type(value).__name__} {value!r}.")
    _require(value == max_length, f"max_length should be {max_length}, not {value}.")
    _ok(f"Request body ({fmt.content_type}) with the prompt under {fmt.prompt_key!r} and max_length={max_length}.")


def check_training_hyperparameters(hyperparameters, spec: list, lora: bool, expected: dict) -> None:
    """Exercise 07.3: JumpStart fine-tuning hyperparameters - names from the spec, values as strings.

    ``spec`` is the model's hyperparameter list (``labkit.sagemaker.training_hyperparameters``), ``lora``
    whether the spec offers LoRA, ``expected`` the numbers the notebook asks for (e.g. ``{"epochs": 1}``).
    """
    import difflib

    from labkit import sagemaker

    _require(isinstance(hyperparameters, dict) and hyperparameters,
             "Set `hyperparameters` to a dict of name -> value.")
    known = [h["name"] for h in spec]
    for name in hyperparameters:
        if name.startswith("sagemaker_"):
            raise CheckFailed(f"{name!r}: the SDK drops every hyperparameter starting with 'sagemaker_'. Leave it out.")
        if name not in known:
            close = difflib.get_close_matches(name, [k for k in known if not k.startswith("sagemaker_")], n=1)
            raise CheckFailed(f"{name!r} is not in this model's spec." + (f" The spec calls it {close[0]!r}."
                                                                          if close else "")
                              + " Use the names in the table above.")
    not_text = {k: v for k, v in hyperparameters.items() if not isinstance(v, str)}
    _require(not not_text, f"JumpStart passes every hyperparameter to the training script as a string: write "
                           f"{next(iter(not_text))}={str(next(iter(not_text.values())))!r}, not "
                           f"{next(iter(not_text.values()))!r}." if not_text else "")
    peft = hyperparameters.get("peft_type")
    if lora:
        _require(peft == "lora", "The spec offers LoRA: switch it on with peft_type='lora' "
                                 "(the default trains every weight).")
    else:
        _require(peft in (None, "none"),
                 "This model's spec offers no LoRA option: leave peft_type out (full fine-tuning).")
    expected = {k: v for k, v in expected.items() if k in known and (lora or not k.startswith("lora_"))}
    for name, value in expected.items():
        _require(name in hyperparameters, f"Set {name!r} (to {str(value)!r}).")
        try:
            same = _close(float(hyperparameters[name]), float(value), 1e-9)
        except ValueError:
            same = False
        _require(same, f"{name} should be {str(value)!r}, not {hyperparameters[name]!r}.")
    try:
        sagemaker.check_hyperparameters(hyperparameters, spec)
    except ValueError as err:
        raise CheckFailed(str(err)) from None
    _ok(f"{len(hyperparameters)} hyperparameters, all named in the spec and sent as strings"
        + (" - LoRA on." if lora else " - full fine-tuning (no LoRA in this spec)."))
