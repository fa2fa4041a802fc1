"""Reasoning and acting: chain-of-thought, PAL and ReAct (notebook 09).

* **Chain-of-thought** asks the model to write its intermediate steps before the answer.
* **PAL** (program-aided language models) asks it to write *Python* instead; :func:`run_python`
  runs that program in a sandbox (see :mod:`labkit.sandbox`) and the program's result is the answer.
* **ReAct** interleaves Thought / Action / Observation: the model picks an action from a fixed set,
  labkit runs it and appends the observation, until the model calls ``Finish[...]`` or runs out of
  steps. :func:`react` never crashes on what the model writes: malformed actions and unknown tools
  become observations that tell the model what went wrong.

A model here is any callable ``llm(prompt) -> completion``: :func:`hf_llm` wraps a transformers
model, :class:`ScriptedLLM` replays canned completions (the tiny profile's stand-in: a 2-layer model
cannot reason, so its notebooks say plainly which parts are scripted).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from labkit import config
from labkit.sandbox import SandboxResult, run_python  # noqa: F401  (public: labkit.agents.run_python)

LLM = Callable[[str], str]


# --- models ----------------------------------------------------------------------------------------

class ScriptedLLM:
    """A stand-in model that returns prepared completions in order (like LangChain's fake LLM).

    Used where the tiny profile's model cannot do the task; everything around it stays real.
    """

    scripted = True

    def __init__(self, completions: Sequence[str]):
        self.completions = list(completions)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if len(self.prompts) > len(self.completions):
            return ""  # a model that has nothing more to say
        return self.completions[len(self.prompts) - 1]


def hf_llm(model, tokenizer, max_new_tokens: int = 256, stop: Sequence[str] = ()) -> LLM:
    """Wrap a transformers causal LM as ``llm(prompt) -> completion`` (greedy), cut at the first stop string."""
    from transformers import GenerationConfig

    from labkit.generation import generate

    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False)

    def llm(prompt: str) -> str:
        text = generate(model, tokenizer, prompt, cfg, max_input_tokens=4096)
        for s in stop:
            text = text.split(s)[0]
        return text

    llm.scripted = False
    return llm


def profile_llm(script: Sequence[str], stop: Sequence[str] = (), max_new_tokens: int = 256) -> LLM:
    """The model a notebook cell uses: the course's instruct LLM, or in ``tiny`` a :class:`ScriptedLLM`."""
    if config.get_profile().name == "tiny":
        print("tiny profile: this cell's model is SCRIPTED (canned completions); parsing, tools and sandbox are real")
        return ScriptedLLM(script)
    from labkit.models import load_llm

    model, tokenizer = load_llm()
    return hf_llm(model, tokenizer, max_new_tokens=max_new_tokens, stop=stop)


# --- chain-of-thought ------------------------------------------------------------------------------

COT_EXAMPLE = (
    "Q: Roger has 5 tennis balls. He buys 2 more cans of tennis balls. Each can has 3 tennis balls. "
    "How many tennis balls does he have now?\n"
    "A: Roger started with 5 balls. 2 cans of 3 tennis balls each is 6 tennis balls. 5 + 6 = 11. "
    "The answer is 11.\n\n"
)
DIRECT_EXAMPLE = (
    "Q: Roger has 5 tennis balls. He buys 2 more cans of tennis balls. Each can has 3 tennis balls. "
    "How many tennis balls does he have now?\nA: The answer is 11.\n\n"
)


def direct_prompt(question: str) -> str:
    """One-shot prompt whose example jumps straight to the answer (the lecture's 'before' case)."""
    return DIRECT_EXAMPLE + f"Q: {question}\nA:"


def cot_prompt(question: str, zero_shot: bool = False) -> str:
    """Chain-of-thought: a worked example that reasons step by step, or zero-shot "Let's think step by step"."""
    if zero_shot:
        return f"Q: {question}\nA: Let's think step by step."
    return COT_EXAMPLE + f"Q: {question}\nA:"


def extract_answer(completion: str) -> float | None:
    """The number after "The answer is" (else the last number in the text); None when there is none."""
    match = re.search(r"answer is\s*\$?(-?[\d,]*\.?\d+)", completion, re.IGNORECASE)
    numbers = [match.group(1)] if match else re.findall(r"-?\d[\d,]*\.?\d*", completion)
    if not numbers:
        return None
    value = float(numbers[-1].replace(",", "").rstrip("."))
    return int(value) if value.is_integer() else value


# --- PAL -------------------------------------------------------------------------------------------

PAL_EXAMPLE = '''Q: Roger has 5 tennis balls. He buys 2 more cans of tennis balls. Each can has 3 tennis balls. How many tennis balls does he have now?

# solution in Python:
tennis_balls = 5
bought_balls = 2 * 3
answer = tennis_balls + bought_balls

'''


def pal_prompt(question: str) -> str:
    """PAL: a worked example whose reasoning is Python code that stores the result in ``answer``."""
    return PAL_EXAMPLE + f"Q: {question}\n\n# solution in Python:\n"


def extract_code(completion: str) -> str:
    """The Python in a completion: a fenced ```python block if there is one, else the text up to the next 'Q:'."""
    fenced = re.search(r"```(?:python)?\n(.*?)```", completion, re.DOTALL)
    code = fenced.group(1) if fenced else completion.split("\nQ:")[0]
    return code.strip() + "\n"


def solve_with_pal(llm: LLM, question: str, timeout_s: float = 5.0) -> tuple[str, SandboxResult]:
    """Ask the model for a program, run it in the sandbox, return (code, result); ``result.answer`` is the answer."""
    code = extract_code(llm(pal_prompt(question)))
    return code, run_python(code, timeout_s=timeout_s, answer_var="answer")


# --- ReAct -----------------------------------------------------------------------------------------

class MalformedAction(ValueError):
    """The model's step has no parseable ``Action: Tool[argument]``."""


_ACTION = re.compile(r"Action(?:\s*\d+)?\s*:\s*([A-Za-z_][\w ]*?)\s*\[(.*)\]\s*$", re.MULTILINE)
_THOUGHT = re.compile(r"Thought(?:\s*\d+)?\s*:\s*(.*)")


def parse_step(completion: str) -> tuple[str, str, str]:
    """Split one ReAct step into (thought, tool, argument); raise MalformedAction with a hint otherwise."""
    thought = _THOUGHT.search(completion)
    action = _ACTION.search(completion)
    if not action:
        raise MalformedAction("no action found: write one line 'Action: Tool[argument]', e.g. Search[Vell lamp]")
    return (thought.group(1).strip() if thought else ""), action.group(1).strip(), action.group(2).strip()


@dataclass
class ReActResult:
    """How a ReAct run ended: the answer (if any), whether Finish was called, and the full transcript."""

    answer: str | None
    finished: bool
    steps: int
    outcome: str
    transcript: str
    events: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        return self.transcript + f"\n=> {self.outcome}"


def react(llm: LLM, question: str, tools: dict[str, Callable[[str], str]], instructions: str,
          max_steps: int = 6, verbose: bool = True) -> ReActResult:
    """Run the Thought / Action / Observation loop until Finish[...] or ``max_steps``.

    ``tools`` maps action names to functions ``argument -> observation``; ``Finish`` is built in.
    Malformed steps, unknown tools and tools that raise become observations, so the loop never
    crashes; it always ends with a clear outcome.
    """
    transcript = f"{instructions}\nQuestion: {question}\n"
    events: list[dict] = []

    def note(line: str) -> None:
        nonlocal transcript
        transcript += line + "\n"
        if verbose:
            print(line)

    for step in range(1, max_steps + 1):
        completion = llm(transcript + f"Thought {step}:")
        completion = completion.split("\nObservation")[0].strip()
        if not completion:
            return ReActResult(None, False, step - 1, "stopped: the model returned nothing", transcript, events)
        text = completion if completion.startswith("Thought") else f"Thought {step}: {completion}"
        try:
            thought, tool, argument = parse_step(text)
        except MalformedAction as err:
            note(text)
            observation = f"Invalid action ({err})."
            events.append({"step": step, "error": "malformed", "text": completion})
            note(f"Observation {step}: {observation}")
            continue
        note(f"Thought {step}: {thought}")
        note(f"Action {step}: {tool}[{argument}]")
        if tool.lower() == "finish":
            events.append({"step": step, "tool": "Finish", "argument": argument})
            return ReActResult(argument, True, step, f"finished in {step} step(s): {argument}", transcript, events)
        handler = next((fn for name, fn in tools.items() if name.lower() == tool.lower()), None)
        if handler is None:
            observation = f"Unknown action {tool!r}. Available actions: {', '.join(list(tools) + ['Finish'])}."
            events.append({"step": step, "error": "unknown tool", "tool": tool})
        else:
            try:
                observation = str(handler(argument))
            except Exception as err:  # a tool failing is news for the model, not a crash
                observation = f"The action failed: {type(err).__name__}: {err}"
            events.append({"step": step, "tool": tool, "argument": argument})
        note(f"Observation {step}: {observation}")
    return ReActResult(None, False, max_steps, f"gave up: no Finish[...] within {max_steps} steps", transcript, events)


# --- the encyclopedia for Search / Lookup ------------------------------------------------------------

class Encyclopedia:
    """A small local encyclopedia with the ReAct paper's two actions: Search[entity] and Lookup[keyword]."""

    def __init__(self, path: str | Path | None = None):
        path = Path(path or config.data_dir() / "encyclopedia" / "entries.jsonl")
        if not path.is_file():
            raise FileNotFoundError(f"Encyclopedia not found: {path}.")
        self.pages = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                self.pages[entry["title"]] = entry["text"]
        self.current: str | None = None
        self._lookups: dict[str, int] = {}

    def search(self, entity: str) -> str:
        """The page's first sentences, or the closest titles when there is no exact match."""
        titles = {t.lower(): t for t in self.pages}
        title = titles.get(entity.strip().lower())
        if title is None:
            similar = difflib.get_close_matches(entity, list(self.pages), n=5, cutoff=0.3)
            return f"Could not find [{entity}]. Similar: {similar}."
        self.current, self._lookups = title, {}
        sentences = _sentences(self.pages[title])
        return " ".join(sentences[:3])

    def lookup(self, keyword: str) -> str:
        """The next sentence of the current page that mentions ``keyword``."""
        if self.current is None:
            return "Search for a page first: Lookup works on the page found by the last Search."
        hits = [s for s in _sentences(self.pages[self.current]) if keyword.lower() in s.lower()]
        if not hits:
            return f"No more results for [{keyword}] on page [{self.current}]."
        i = self._lookups.get(keyword.lower(), 0)
        self._lookups[keyword.lower()] = i + 1
        if i >= len(hits):
            return f"No more results for [{keyword}] on page [{self.current}]."
        return f"(Result {i + 1}/{len(hits)}) {hits[i]}"

    def tools(self) -> dict[str, Callable[[str], str]]:
        return {"Search": self.search, "Lookup": self.lookup}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


REACT_INSTRUCTIONS = (
    "Solve a question answering task with interleaving Thought, Action, Observation steps. "
    "Thought can reason about the current situation, and Action can be three types:\n"
    "(1) Search[entity], which searches the exact entity in the encyclopedia and returns the first sentences "
    "if it exists. If not, it will return some similar entities to search.\n"
    "(2) Lookup[keyword], which returns the next sentence containing keyword in the current page.\n"
    "(3) Finish[answer], which returns the answer and finishes the task.\n"
)
