"""Do the lessons the tiny run shows hold on other draws? In-context learning, RAG and a worked plan, three seeds.

Notebooks 02, 09 and 10 each measure one effect a 135M model can show, on one fixed draw of the data. Here each
is re-measured on three draws (the seed picks them), the way the notebook measures it - greedy or teacher-forced,
so the only randomness is which items and which example are drawn:

* **in-context learning (02)**: 16 test dialogues and one worked example drawn by the seed; replies that follow
  the `Topic:` format (behaviour) and the log-probability of the gold answer (mechanism), one example vs none;
* **RAG (09)**: 24 labelled questions drawn by the seed; the log-probability of the gold fact with the retrieved
  sources vs closed-book (128-token chunks, the two best chunks packed into 384 generator tokens);
* **a worked plan (10)**: 20 word problems drawn by the seed; the log-probability of the right answer after the
  reference plan vs after none.

Each row is one effect and one seed: the paired mean and its bootstrap 95% CI; the last table says in how many
seeds the interval lay wholly above 0. Not a timing benchmark and not part of the test suite:

    LABKIT_PROFILE=tiny python bench/bench_seeds_lessons.py [--seeds 0 1 2]

About 2-3 CPU minutes per seed on one core (SmolLM2-135M-Instruct).
"""

import argparse
import os
import random

os.environ.setdefault("LABKIT_PROFILE", "tiny")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from transformers import GenerationConfig  # noqa: E402

from labkit import agents, evaluation, generation, prompts, rag  # noqa: E402
from labkit.data import load_dialogsum  # noqa: E402
from labkit.metrics import bootstrap_ci  # noqa: E402
from labkit.models import load_embedder, load_llm  # noqa: E402


def row(lesson: str, measure: str, seed: int, diffs) -> dict:
    mean, low, high = bootstrap_ci(np.asarray(diffs, dtype=float), seed=seed)
    return {"lesson": lesson, "measure": measure, "seed": seed, "n": len(diffs), "mean change": mean,
            "CI low": low, "CI high": high}


def in_context(llm, tokenizer, seed: int) -> list[dict]:
    data = load_dialogsum()
    rng = random.Random(seed)
    test = data["test"].select(sorted(rng.sample(range(len(data["test"])), 16)))
    example = rng.choice(prompts.shortest_examples(data["train"], 6))
    follows, gold = {}, {}
    for k, shots in (("zero", []), ("one", [example])):
        texts = [generation.chat_prompt(tokenizer, prompts.topic_messages(shots, d)) for d in test["dialogue"]]
        replies = generation.generate(llm, tokenizer, texts, GenerationConfig(max_new_tokens=12, do_sample=False),
                                      batch_size=8, progress=False)
        follows[k] = [prompts.follows_topic_format(r) for r in replies]
        gold[k], _ = evaluation.option_logprobs(llm, tokenizer, texts, [prompts.topic_answer(t) for t in test["topic"]])
    return [row("in-context learning (02)", "replies in the format", seed,
                np.array(follows["one"], float) - np.array(follows["zero"], float)),
            row("in-context learning (02)", "log P(gold answer), nats", seed, gold["one"] - gold["zero"])]


def retrieval(llm, tokenizer, index, seed: int) -> list[dict]:
    questions = rag.load_questions()
    sample = random.Random(seed).sample(questions, 24)
    closed = [rag.answer_prompt(tokenizer, q["question"]) for q in sample]
    grounded = [rag.answer_prompt(tokenizer, q["question"],
                                  rag.pack_sources(index.search(q["question"], 2), tokenizer, 384)[0]) for q in sample]
    facts = [" " + q["gold"][0] for q in sample]
    closed_lp, _ = evaluation.option_logprobs(llm, tokenizer, closed, facts)
    grounded_lp, _ = evaluation.option_logprobs(llm, tokenizer, grounded, facts)
    return [row("RAG (09)", "log P(gold fact), nats", seed, grounded_lp - closed_lp)]


def worked_plan(llm, tokenizer, seed: int) -> list[dict]:
    problems = random.Random(seed).sample(agents.load_word_problems(), 20)
    bare = [agents.direct_prompt(tokenizer, p.question) + "The answer is" for p in problems]
    planned = [agents.direct_prompt(tokenizer, p.question) + agents.worked_plan(p.program) + " The answer is"
               for p in problems]
    targets = [f" {p.answer}" for p in problems]
    bare_lp, _ = evaluation.option_logprobs(llm, tokenizer, bare, targets)
    planned_lp, _ = evaluation.option_logprobs(llm, tokenizer, planned, targets)
    return [row("worked plan (10)", "log P(right answer), nats", seed, planned_lp - bare_lp)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    llm, tokenizer = load_llm()
    embedder = load_embedder()
    index = rag.VectorIndex(embedder, rag.chunk_corpus(rag.load_documents(), embedder.tokenizer, chunk_tokens=128,
                                                       overlap=32))
    rows = []
    for seed in args.seeds:
        for measure in (lambda s: in_context(llm, tokenizer, s), lambda s: retrieval(llm, tokenizer, index, s),
                        lambda s: worked_plan(llm, tokenizer, s)):
            for r in measure(seed):
                rows.append(r)
                print(f"seed {seed}  {r['lesson']:<26} {r['measure']:<28} {r['mean change']:+8.3f} "
                      f"(95% CI {r['CI low']:+.3f} to {r['CI high']:+.3f}, n={r['n']})", flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.round(3).to_string(index=False))
    summary = table.assign(above=table["CI low"] > 0, below=table["CI high"] < 0).groupby(["lesson", "measure"]).agg(
        seeds=("seed", "count"), interval_above_0=("above", "sum"), interval_below_0=("below", "sum"))
    print()
    print(summary.to_string())


if __name__ == "__main__":
    main()
