"""Reasoning and acting: chain-of-thought, PAL and ReAct with a real instruct LLM (notebook 10).

* **Chain-of-thought** (CoT) shows the model worked examples that reason step by step before the
  answer; :func:`cot_prompt` builds a truly few-shot prompt (several worked examples as earlier
  turns of the chat), :func:`direct_prompt` the same examples without the reasoning.
* **PAL** (program-aided language models) asks for *Python* instead of prose; :func:`run_pal` runs
  each program in the sandbox (:func:`labkit.sandbox.run_python`) and the program's ``answer``
  variable is the answer. The model never does the arithmetic.
* **ReAct** interleaves Thought / Action / Observation. :class:`ReActEpisode` holds one question's
  transcript; :func:`react` runs one episode, :func:`react_many` runs several in lockstep so each
  step is one batched generation. Nothing the model writes crashes the loop: a step without a
  parsable ``Action: Tool[argument]``, an unknown tool, an empty reply or a tool that raises
  becomes an Observation telling the model what went wrong, every such event is counted, and the
  step limit always ends the episode.
* The same agent with **LangChain**: :class:`ReActTextParser` turns the model's text into
  LangChain's standard ``AIMessage.tool_calls`` and :func:`run_langchain_agent` is the small loop
  around a runnable ``prompt | chat model | parser`` (langchain-core, no deprecated agent classes).

A model here is any callable ``llm(prompt) -> completion``; one with a ``batch(prompts)`` method is
called once per batch. :func:`hf_llm` wraps a transformers causal LM (greedy, batched, with stop
strings). :class:`ScriptedLLM` replays prepared completions: it exists to show the loop's
*mechanics* step by step and in tests, never as the source of a measured number.
"""

from __future__ import annotations

import difflib
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit import config
from labkit.sandbox import SandboxResult, run_python  # noqa: F401  (public: labkit.agents.run_python)

LLM = Callable[[str], str]


# --- models ----------------------------------------------------------------------------------------

class ScriptedLLM:
    """A stand-in model that returns prepared completions in order (like LangChain's fake models).

    For walking through the loop's mechanics and for tests only: whatever it "decides" was written
    by a person, so nothing it produces is a measurement of a model.
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

    def batch(self, prompts: Sequence[str]) -> list[str]:
        return [self(p) for p in prompts]


class HFModel:
    """A transformers causal LM as ``llm(prompt) -> completion``, greedy, with stop strings.

    ``batch(prompts)`` generates for many prompts at once (:func:`labkit.generation.generate`, left
    padding, KV cache). Each completion is cut at the first stop string (the model often goes on to
    invent the next question or the tool's Observation). A stop string that starts a line
    (``"\nObservation"``) also ends generation early: the token that begins it at a line start is
    added to the end-of-sequence tokens, so no compute is spent on text that would be cut.
    ``calls`` and ``new_tokens`` count the work.
    """

    scripted = False

    def __init__(self, model, tokenizer, max_new_tokens: int = 128, stop: Sequence[str] = (),
                 batch_size: int = 8):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.stop, self.batch_size = max_new_tokens, tuple(stop), batch_size
        self.calls = 0
        self.new_tokens = 0
        self.stop_token_ids = sorted({ids[0] for s in self.stop if s.startswith("\n") and s.strip()
                                      for ids in [tokenizer(s.lstrip("\n"), add_special_tokens=False).input_ids]
                                      if ids})

    def batch(self, prompts: Sequence[str], max_new_tokens: int | None = None) -> list[str]:
        from transformers import GenerationConfig

        from labkit.generation import generate

        prompts = list(prompts)
        if not prompts:
            return []
        eos = [self.tokenizer.eos_token_id, *self.stop_token_ids]
        cfg = GenerationConfig(max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=False, eos_token_id=eos)
        texts = generate(self.model, self.tokenizer, prompts, cfg, batch_size=self.batch_size,
                         max_input_tokens=4096)
        self.calls += len(prompts)
        self.new_tokens += sum(len(ids) for ids in self.tokenizer(texts, add_special_tokens=False).input_ids)
        return [cut_at_stop(text, self.stop) for text in texts]

    def __call__(self, prompt: str) -> str:
        return self.batch([prompt])[0]


def hf_llm(model, tokenizer, max_new_tokens: int = 128, stop: Sequence[str] = (), batch_size: int = 8) -> HFModel:
    """Wrap a transformers causal LM (e.g. from :func:`labkit.models.load_llm`) as a batched ``llm``."""
    return HFModel(model, tokenizer, max_new_tokens=max_new_tokens, stop=stop, batch_size=batch_size)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first of the stop strings (all of it when none occurs)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut].rstrip()


def complete(llm, prompts: Sequence[str], max_new_tokens: int | None = None) -> list[str]:
    """One completion per prompt: a single ``llm.batch`` call when the model has one, else one call each.

    ``max_new_tokens`` is passed on to models that accept it (a hint: short answers need few tokens).
    """
    prompts = list(prompts)
    if isinstance(llm, HFModel):
        return llm.batch(prompts, max_new_tokens=max_new_tokens)
    if hasattr(llm, "batch"):
        return list(llm.batch(prompts))
    return [llm(p) for p in prompts]


# --- the word problems -----------------------------------------------------------------------------

@dataclass(frozen=True)
class WordProblem:
    """One grade-school word problem with its integer answer and a reference program that computes it."""

    id: str
    question: str
    answer: int
    steps: int
    program: str


_PROBLEM_KEYS = ("id", "question", "answer", "steps", "program")


def load_word_problems(path: str | Path | None = None, limit: int | None = None) -> list[WordProblem]:
    """The project's word problems (``data/word_problems/problems.jsonl``), the first ``limit`` of them.

    Raises a clear error for a missing file, a line that is not JSON, missing keys, a non-integer
    answer, duplicate ids or a ``limit`` larger than the set.
    """
    from labkit.data import read_records

    path = Path(path or config.data_dir() / "word_problems" / "problems.jsonl")

    def integer_answer(row: dict) -> None:
        if not isinstance(row["answer"], int) or isinstance(row["answer"], bool):
            raise ValueError(f"answer {row['answer']!r} is not an integer.")

    rows = read_records(path, required=_PROBLEM_KEYS, what="word problems", check=integer_answer,
                        hint="They ship with labkit in data/word_problems/; run from a clone of the repository "
                             "or set LABKIT_DATA to its data/ folder.")
    problems = [WordProblem(**{k: row[k] for k in _PROBLEM_KEYS}) for row in rows]
    ids = [p.id for p in problems]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise ValueError(f"{path}: duplicate problem ids {duplicates}.")
    if limit is not None:
        if not 1 <= limit <= len(problems):
            raise ValueError(f"Asked for {limit} word problems but {path} holds {len(problems)}.")
        problems = problems[:limit]
    return problems


def load_replies(split: str | None = None, path: str | Path | None = None):
    """Model replies labelled with the answer each commits to (``data/word_problems/replies.jsonl``), a DataFrame.

    ``split`` is ``"dev"`` (shown in notebook 10) or ``"heldout"`` (kept for exercise 10.1's check).
    """
    import pandas as pd

    from labkit.data import read_records

    path = Path(path or config.data_dir() / "word_problems" / "replies.jsonl")
    rows = read_records(path, required=("split",), what="labelled replies")
    if split is not None:
        if split not in {"dev", "heldout"}:
            raise ValueError(f"split must be 'dev' or 'heldout', not {split!r}")
        rows = [r for r in rows if r["split"] == split]
    stated = [None if r["stated"] is None else int(r["stated"]) if float(r["stated"]).is_integer() else r["stated"]
              for r in rows]
    frame = pd.DataFrame(rows).set_index("id")
    frame["stated"] = pd.Series(stated, index=frame.index, dtype=object)
    return frame


# --- prompts: direct, chain-of-thought, PAL --------------------------------------------------------

@dataclass(frozen=True)
class WorkedExample:
    """A solved problem for few-shot prompts: the reasoning in words and the same reasoning as a program."""

    question: str
    reasoning: str
    answer: int
    program: str


# The first is the course's tennis-ball example; the others were written for labkit. None is in the problem set.
WORKED_EXAMPLES = (
    WorkedExample(
        "Roger has 5 tennis balls. He buys 2 more cans of tennis balls. Each can has 3 tennis balls. "
        "How many tennis balls does he have now?",
        "Roger started with 5 balls. 2 cans of 3 tennis balls each is 2 * 3 = 6 tennis balls. 5 + 6 = 11.",
        11,
        "balls_at_start = 5\nballs_bought = 2 * 3\nanswer = balls_at_start + balls_bought"),
    WorkedExample(
        "A florist has 30 roses and puts them in vases of 5 roses each. She sells 2 vases. How many vases are left?",
        "30 roses in vases of 5 is 30 / 5 = 6 vases. She sells 2 of them, so 6 - 2 = 4 vases are left.",
        4,
        "vases = 30 // 5\nanswer = vases - 2"),
    WorkedExample(
        "A bus leaves with 42 passengers. At the first stop 15 people get off and 8 get on. "
        "How many passengers are on the bus now?",
        "After 15 get off there are 42 - 15 = 27 passengers. Then 8 get on, so 27 + 8 = 35.",
        35,
        "after_first_stop = 42 - 15\nanswer = after_first_stop + 8"),
)

DIRECT_SYSTEM = "Answer the question with the number only."
COT_SYSTEM = "Solve the problem step by step. End with 'The answer is' and the number."
ZERO_SHOT_COT_SYSTEM = "Let's think step by step. End with 'The answer is' and the number."
PAL_SYSTEM = ("Write a short Python program that solves the problem. Store the final result in a variable "
              "named answer. Reply with the program only.")


def few_shot_prompt(tokenizer, system: str, examples: Sequence[tuple[str, str]], question: str) -> str:
    """The chat-template text for a few-shot prompt: each example is an earlier (user, assistant) turn.

    This is how instruct models see few-shot examples: as a conversation in which the assistant
    already answered like this. With no examples it is :func:`labkit.generation.chat_prompt`.
    """
    messages = [{"role": "system", "content": system}]
    for user, assistant in examples:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages.append({"role": "user", "content": question})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _shots(shots: int) -> Sequence[WorkedExample]:
    if not 0 <= shots <= len(WORKED_EXAMPLES):
        raise ValueError(f"shots must be between 0 and {len(WORKED_EXAMPLES)}, got {shots}")
    return WORKED_EXAMPLES[:shots]


def direct_prompt(tokenizer, question: str, shots: int = 3) -> str:
    """Few-shot prompt whose examples jump straight to "The answer is N." (the lecture's 'before' case)."""
    examples = [(e.question, f"The answer is {e.answer}.") for e in _shots(shots)]
    return few_shot_prompt(tokenizer, DIRECT_SYSTEM, examples, question)


def cot_prompt(tokenizer, question: str, shots: int = 3) -> str:
    """Chain-of-thought: ``shots`` worked examples that reason before the answer (few-shot CoT).

    ``shots=1`` is one-shot CoT; ``shots=0`` is zero-shot CoT ("Let's think step by step").
    """
    if shots == 0:
        from labkit.generation import chat_prompt

        return chat_prompt(tokenizer, question, system=ZERO_SHOT_COT_SYSTEM)
    return few_shot_prompt(tokenizer, COT_SYSTEM,
                           [(e.question, f"{e.reasoning} The answer is {e.answer}.") for e in _shots(shots)], question)


def pal_prompt(tokenizer, question: str, shots: int = 3) -> str:
    """PAL: worked examples whose reasoning is a Python program that stores its result in ``answer``."""
    return few_shot_prompt(tokenizer, PAL_SYSTEM,
                           [(e.question, f"```python\n{e.program}\n```") for e in _shots(shots)], question)


# --- reading the answer ----------------------------------------------------------------------------

_NUMBER = r"-?\d[\d,]*(?:\.\d+)?"


def naive_answer(completion: str) -> float | int | None:
    """The first number after "The answer is" - the simplest extractor, and wrong on many real replies.

    Returns None when the phrase or a number after it is missing (counted as a wrong answer).
    """
    match = re.search(r"answer is\s*\$?(" + _NUMBER + ")", completion or "", re.IGNORECASE)
    return _to_number(match.group(1)) if match else None


_COMMITS = re.compile(r"answer\s+is|answer\s*:|\\boxed\{", re.IGNORECASE)


def final_answer(reply: str | None) -> float | int | None:
    """The number a reply commits to, or None: the rule behind ``data/word_problems/replies.jsonl``'s labels.

    A reply commits to an answer with "the answer is ...", "Answer: ..." or ``\\boxed{...}``; the last such phrase
    counts, and its value is the last number of that sentence (``$``, thousands commas and units dropped), so
    "The answer is 60 - 4 = 48 eggs." reads 48. A reply with no such phrase - cut off, or never concluding -
    commits to nothing: None, which :func:`is_correct` scores as wrong. Never raises, whatever the model wrote.
    (Notebook 10 reads every reply with it; the learner wrote it in an earlier version of the notebook.)
    """
    if not isinstance(reply, str) or not reply:
        return None
    markers = list(_COMMITS.finditer(reply))
    if not markers:
        return None
    sentence = re.split(r"(?<!\d)\.(?!\d)|\n|\}", reply[markers[-1].end():])[0]
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", sentence)
    return _to_number(numbers[-1]) if numbers else None


def worked_plan(program: str) -> str:
    """A problem's reference program as a worked plan that stops short of the final result.

    Every step but the last is shown with its result ("5 * 7 = 35."), the last one as the operation only, with
    earlier results filled in ("35 - 6."): the plan says *what* to compute and leaves the last arithmetic to the
    model. Notebook 10 measures how much such a plan raises the model's probability of the right answer.
    """
    values: dict[str, int | float] = {}
    lines = [line.strip() for line in program.strip().splitlines() if line.strip()]
    if not lines or not all(re.fullmatch(r"[A-Za-z_]\w*\s*=\s*[^=].*", line) for line in lines):
        raise ValueError(f"A reference program is lines of `name = expression`, not {program!r}.")
    steps = []
    for i, line in enumerate(lines):
        name, expression = (part.strip() for part in line.split("=", 1))
        shown = re.sub(r"[A-Za-z_]\w*", lambda m: str(values[m.group(0)]) if m.group(0) in values else m.group(0),
                       expression)
        if re.search(r"[A-Za-z_]", shown):
            raise ValueError(f"Step {line!r} uses a name no earlier step defines.")
        if i == len(lines) - 1:
            steps.append(f"{shown}.")
        else:
            values[name] = run_python(f"answer = {shown}", answer_var="answer").answer
            steps.append(f"{shown} = {values[name]}.")
    return " ".join(steps)


def _to_number(text: str) -> float | int | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def is_correct(predicted, gold: float) -> bool:
    """True when ``predicted`` is a number equal to ``gold``; None, text and NaN count as wrong."""
    if predicted is None or isinstance(predicted, bool):
        return False
    try:
        return abs(float(predicted) - float(gold)) < 1e-6
    except (TypeError, ValueError):
        return False


# --- PAL -------------------------------------------------------------------------------------------

def extract_code(completion: str) -> str:
    """The Python in a completion: the first fenced block if there is one, else the whole text.

    An unclosed fence (the model ran out of tokens) keeps what follows it.
    """
    completion = completion or ""
    fenced = re.search(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)(?:```|$)", completion, re.DOTALL | re.IGNORECASE)
    code = fenced.group(1) if fenced else completion
    return code.strip() + "\n"


def pal_answer(result: SandboxResult) -> float | int | None:
    """The number a PAL program computed, or None when it crashed, set no ``answer`` or set a non-number."""
    if not result.ok or isinstance(result.answer, bool) or not isinstance(result.answer, (int, float)):
        return None
    return result.answer


def run_pal(completions: Sequence[str], timeout_s: float = 5.0, memory_mb: int = 256) -> list[SandboxResult]:
    """Run each completion's program in the sandbox (never in this process); one result per completion."""
    return [run_python(extract_code(c), timeout_s=timeout_s, memory_mb=memory_mb, answer_var="answer")
            for c in completions]


def pal_outcome(result: SandboxResult) -> str:
    """A one-word category for a PAL run: answered, no answer, not a number, syntax error, crashed, timeout."""
    if result.ok:
        return "answered" if pal_answer(result) is not None else "not a number"
    error = result.error or ""
    if error.startswith("NameError") and "answer" in error:
        return "no answer variable"
    if error.startswith(("SyntaxError", "IndentationError")):
        return "syntax error"
    if error.startswith("TimeoutError"):
        return "timeout"
    return "crashed"


# --- ReAct -----------------------------------------------------------------------------------------

class MalformedAction(ValueError):
    """The model's step has no parsable ``Action: Tool[argument]``."""


_ACTION = re.compile(r"^\s*Action(?:\s*\d+)?\s*:\s*(.*)$", re.MULTILINE | re.IGNORECASE)
_CALL = re.compile(r"^([A-Za-z_][\w ]*?)\s*\[(.*)\]\s*\.?$")
_THOUGHT = re.compile(r"Thought(?:\s*\d+)?\s*:\s*(.*)", re.IGNORECASE)


def parse_step(completion: str) -> tuple[str, str, str]:
    """Split one ReAct step into (thought, tool, argument); raise MalformedAction with a hint otherwise.

    The first ``Action:`` line counts; quotes around the argument are dropped.
    """
    text = completion or ""
    action = _ACTION.search(text)
    if not action:
        raise MalformedAction("no Action line. After the Thought, write one line 'Action: Tool[argument]'")
    call = _CALL.match(action.group(1).strip())
    if not call:
        raise MalformedAction(f"'Action: {action.group(1).strip()[:60]}' is not of the form Tool[argument]")
    head = text[:action.start()]
    thought = _THOUGHT.search(head)
    thought_text = (thought.group(1) if thought else head).strip()
    argument = call.group(2).strip().strip("'\"").strip()
    return thought_text, call.group(1).strip(), argument


# Kinds of events the loop counts; all but "action" and "finish" are the model's mistakes.
MISTAKES = ("empty", "malformed", "unknown tool", "empty argument", "tool error")


@dataclass
class ReActResult:
    """How a ReAct episode ended: the answer (if any), whether Finish was called, and what happened."""

    question: str
    answer: str | None
    finished: bool
    steps: int
    outcome: str
    transcript: str
    events: list[dict] = field(default_factory=list)

    @property
    def mistakes(self) -> Counter:
        """How many steps of each kind of mistake the model made (see :data:`MISTAKES`)."""
        return Counter(e["kind"] for e in self.events if e["kind"] in MISTAKES)

    def __str__(self) -> str:
        return self.transcript + f"\n=> {self.outcome}"


def tool_description(name: str, fn: Callable) -> str:
    """``Name[argument]: what it does`` from the first line of the tool function's docstring."""
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    return f"{name}[argument]: {doc[0].strip() if doc else '(no description: give the function a docstring)'}"


def react_instructions(tools: dict[str, Callable], intro: str | None = None) -> str:
    """The instructions prepended to every ReAct prompt, listing each tool (from its docstring) and Finish.

    Registering a tool is adding it to ``tools``: the model reads about it here, the loop dispatches it.
    """
    lines = [intro or ("Solve a question answering task with interleaving Thought, Action, Observation steps. "
                       "Thought reasons about the current situation. Action is one of:")]
    for i, (name, fn) in enumerate(tools.items(), 1):
        lines.append(f"({i}) {tool_description(name, fn)}")
    lines.append(f"({len(tools) + 1}) Finish[answer]: returns the answer and finishes the task.")
    lines.append("Write exactly one Thought line and one Action line per step, then wait for the Observation.")
    return "\n".join(lines) + "\n"


class ReActEpisode:
    """One question's Thought / Action / Observation transcript, advanced one model completion at a time.

    ``prompt()`` is what the model reads next: ``render(instructions + example + question)`` followed
    by the steps so far and ``"Thought k:"``, so the model continues the transcript (with a chat
    template, inside the assistant's turn). ``advance(completion)`` parses the step, runs the tool
    (or records the mistake) and appends the Observation.

    With ``repair=True`` a step that has a thought but no parsable action is counted as malformed and
    then the model is asked once more with ``"Thought k: <its thought>\nAction k:"`` - what the ReAct
    paper's own code does. ``wants_action`` is True while such a repair is pending (the next
    completion only has to name the action, so it can be short).
    """

    def __init__(self, question: str, tools: dict[str, Callable], instructions: str, max_steps: int = 6,
                 render: Callable[[str], str] | None = None, example: str = "", repair: bool = True,
                 verbose: bool = False):
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if not tools:
            raise ValueError("Give the agent at least one tool (a dict name -> function).")
        self.question, self.tools, self.max_steps = question, dict(tools), max_steps
        self.repair, self.verbose = repair, verbose
        header = instructions + (f"\n{example.strip()}\n\n" if example else "\n") + f"Question: {question}"
        self.prefix = (render or (lambda text: text + "\n"))(header)
        self.steps: list[str] = []
        self.events: list[dict] = []
        self.step = 0
        self.pending_thought: str | None = None
        self.result: ReActResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def wants_action(self) -> bool:
        return self.pending_thought is not None

    @property
    def scratchpad(self) -> str:
        return "".join(self.steps)

    def prompt(self) -> str:
        if self.wants_action:
            return self.prefix + self.scratchpad + f"Thought {self.step}: {self.pending_thought}\nAction {self.step}:"
        return self.prefix + self.scratchpad + f"Thought {self.step + 1}:"

    def _note(self, text: str) -> None:
        self.steps.append(text + "\n")
        if self.verbose:
            print(text)

    def _finish(self, answer: str | None, finished: bool, outcome: str) -> None:
        transcript = f"Question: {self.question}\n" + self.scratchpad
        self.result = ReActResult(self.question, answer, finished, self.step, outcome, transcript, self.events)

    def advance(self, completion: str) -> None:
        """Take the model's next text (after ``Thought k:``, or after ``Action k:`` when repairing).

        Never raises on what the model wrote; raises RuntimeError only when called after the end.
        """
        if self.done:
            raise RuntimeError("This episode has ended; start a new one.")
        if self.wants_action:
            return self._advance_repair(completion)
        self.step += 1
        k = self.step
        text = cut_at_stop(completion or "", ["\nObservation", "Observation:"]).strip()
        try:
            if not text:
                raise MalformedAction("empty reply. Write a Thought line and an Action line")
            thought, tool, argument = parse_step(text if re.match(r"action\b", text, re.IGNORECASE)
                                                 else f"Thought {k}: {text}")
        except MalformedAction as err:
            kind = "empty" if not text else "malformed"
            self.events.append({"step": k, "kind": kind, "text": text, "repaired": False})
            first_line = text.splitlines()[0].strip()[:200] if text else ""
            if self.repair and first_line:
                self.pending_thought = first_line  # ask once more, for the action only
                return None
            self._note(f"Thought {k}: {first_line}".rstrip())
            self._note(f"Observation {k}: Invalid step: {err}. Actions: {self._names()}.")
            return self._check_limit()
        self._act(k, thought, tool, argument)

    def _advance_repair(self, completion: str) -> None:
        k, thought = self.step, self.pending_thought
        self.pending_thought = None
        line = cut_at_stop(completion or "", ["\n"]).strip()
        try:
            _, tool, argument = parse_step(f"Action {k}: {line}")
        except MalformedAction as err:
            self._note(f"Thought {k}: {thought}")
            self._note(f"Observation {k}: Invalid step: {err}. Actions: {self._names()}.")
            return self._check_limit()
        self.events[-1]["repaired"] = True
        self._act(k, thought, tool, argument)

    def _act(self, k: int, thought: str, tool: str, argument: str) -> None:
        self._note(f"Thought {k}: {thought}")
        self._note(f"Action {k}: {tool}[{argument}]")
        if tool.lower() == "finish":
            if not argument:
                self.events.append({"step": k, "kind": "empty argument", "tool": "Finish"})
                self._note(f"Observation {k}: Finish needs the answer inside the brackets: Finish[answer].")
                return self._check_limit()
            self.events.append({"step": k, "kind": "finish", "argument": argument})
            return self._finish(argument, True, f"finished in {k} step(s): {argument}")
        handler = next((fn for name, fn in self.tools.items() if name.lower() == tool.lower()), None)
        if handler is None:
            names = ", ".join([*self.tools, "Finish"])
            observation = f"Unknown action {tool!r}. Available actions: {names}."
            self.events.append({"step": k, "kind": "unknown tool", "tool": tool})
        elif not argument:
            observation = f"{tool} needs an argument inside the brackets, e.g. {tool}[...]."
            self.events.append({"step": k, "kind": "empty argument", "tool": tool})
        else:
            try:
                observation = str(handler(argument))
                self.events.append({"step": k, "kind": "action", "tool": tool, "argument": argument})
            except Exception as err:  # a tool failing is news for the model, not a crash
                observation = f"The action failed: {type(err).__name__}: {err}"
                self.events.append({"step": k, "kind": "tool error", "tool": tool, "error": str(err)})
        self._note(f"Observation {k}: {observation}")
        self._check_limit()

    def _names(self) -> str:
        return ", ".join(f"{name}[...]" for name in [*self.tools, "Finish"])

    def _check_limit(self) -> None:
        if self.step >= self.max_steps:
            self._finish(None, False, f"gave up: no Finish[...] within {self.max_steps} steps")


# Tokens to allow for a repair (the model only has to write "Tool[argument]").
REPAIR_TOKENS = 24


def react(llm, question: str, tools: dict[str, Callable], instructions: str, max_steps: int = 6,
          verbose: bool = True, render: Callable[[str], str] | None = None, example: str = "",
          repair: bool = True) -> ReActResult:
    """Run the Thought / Action / Observation loop for one question until Finish[...] or ``max_steps``.

    ``tools`` maps action names to functions ``argument -> observation``; ``Finish`` is built in.
    """
    episode = ReActEpisode(question, tools, instructions, max_steps, render=render, example=example, repair=repair,
                           verbose=verbose)
    while not episode.done:
        limit = REPAIR_TOKENS if episode.wants_action else None
        episode.advance(complete(llm, [episode.prompt()], max_new_tokens=limit)[0])
    if verbose:
        print("=>", episode.result.outcome)
    return episode.result


def react_many(llm, questions: Sequence[str], tools: Callable[[], dict[str, Callable]] | dict[str, Callable],
               instructions: str, max_steps: int = 6, render: Callable[[str], str] | None = None,
               example: str = "", repair: bool = True) -> list[ReActResult]:
    """Run one episode per question in lockstep: each round is one batched call for all open episodes.

    ``tools`` is a dict shared by all episodes, or a function returning a fresh dict per episode
    (needed when tools keep state, like the encyclopedia's current page). Repairs (see
    :class:`ReActEpisode`) are batched separately, with a short token limit.
    """
    episodes = [ReActEpisode(q, tools() if callable(tools) else tools, instructions, max_steps, render=render,
                             example=example, repair=repair) for q in questions]
    while any(not e.done for e in episodes):
        for wants_action in (False, True):
            group = [e for e in episodes if not e.done and e.wants_action == wants_action]
            if not group:
                continue
            limit = REPAIR_TOKENS if wants_action else None
            completions = complete(llm, [e.prompt() for e in group], max_new_tokens=limit)
            for episode, completion in zip(group, completions, strict=True):
                episode.advance(completion)
    return [e.result for e in episodes]


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_normalize(text: str | None) -> str:
    """Lower case, no punctuation, no articles, single spaces: SQuAD's exact-match normalisation of an agent's answer.

    (Not :func:`labkit.rag.normalize_answer`, which also canonicalises numbers, currencies and times to match facts.)
    """
    text = (text or "").lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(predicted: str | None, gold: str) -> bool:
    """Whether an agent's answer equals the gold answer after :func:`squad_normalize`."""
    return predicted is not None and squad_normalize(predicted) == squad_normalize(gold)


# --- the encyclopedia for Search / Lookup ------------------------------------------------------------

class Encyclopedia:
    """A small local encyclopedia with the ReAct paper's two actions: Search[entity] and Lookup[keyword]."""

    def __init__(self, path: str | Path | None = None):
        from labkit.data import read_records

        path = Path(path or config.data_dir() / "encyclopedia" / "entries.jsonl")
        entries = read_records(path, required=("title", "text"), what="encyclopedia")
        self.pages = {entry["title"]: entry["text"] for entry in entries}
        self.current: str | None = None
        self._lookups: dict[str, int] = {}

    def search(self, entity: str) -> str:
        """Searches the exact entity and returns the first sentences of its page; if none, similar titles."""
        titles = {t.lower(): t for t in self.pages}
        title = titles.get(entity.strip().lower())
        if title is None:
            similar = difflib.get_close_matches(entity, list(self.pages), n=5, cutoff=0.3)
            return f"Could not find [{entity}]. Similar: {similar}."
        self.current, self._lookups = title, {}
        sentences = _sentences(self.pages[title])
        return " ".join(sentences[:3])

    def lookup(self, keyword: str) -> str:
        """Returns the next sentence containing the keyword on the page found by the last Search."""
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


def load_encyclopedia_questions(path: str | Path | None = None) -> list[dict]:
    """The multi-hop questions of ``data/encyclopedia/questions.jsonl`` (id, question, answer, hops)."""
    from labkit.data import read_records

    path = Path(path or config.data_dir() / "encyclopedia" / "questions.jsonl")
    return read_records(path, required=("id", "question", "answer"), what="encyclopedia questions")


REACT_INSTRUCTIONS = react_instructions({"Search": Encyclopedia.search, "Lookup": Encyclopedia.lookup})


def worked_react_example(tools: dict[str, Callable], question: str, steps: Sequence[tuple[str, str]]) -> str:
    """A worked ReAct example for the prompt, with Observations produced by really running the tools.

    ``steps`` are (thought, action) pairs written by the prompt's author (the "one example" the
    ReAct paper prepends); the observations are whatever the tools return for those actions.
    """
    lines = ["Here is an example.", f"Question: {question}"]
    for k, (thought, action) in enumerate(steps, 1):
        _, tool, argument = parse_step(f"Thought: {thought}\nAction: {action}")
        lines += [f"Thought {k}: {thought}", f"Action {k}: {tool}[{argument}]"]
        if tool.lower() != "finish":
            lines.append(f"Observation {k}: {tools[tool](argument)}")
    return "\n".join(lines) + "\n\nNow the real question."


def mistakes_table(results: Sequence[ReActResult]):
    """One row per episode: steps, how it ended, and how many steps of each kind of mistake it had."""
    import pandas as pd

    rows = []
    for r in results:
        row = {"question": r.question[:60], "steps": r.steps, "finished": r.finished, "answer": r.answer}
        row.update({kind: r.mistakes.get(kind, 0) for kind in MISTAKES})
        rows.append(row)
    return pd.DataFrame(rows)


# --- the same agent with LangChain (langchain-core) ---------------------------------------------------

def langchain_parser(tools):
    """A LangChain output parser for ReAct text: ``Action: name[argument]`` becomes ``AIMessage.tool_calls``.

    ``Finish[answer]`` becomes an AIMessage without tool calls (LangChain's sign of a final answer);
    a step with no parsable action raises ``OutputParserException`` with ``send_to_llm=True`` and an
    ``observation`` telling the model what to write, the framework's convention for parsing errors.
    Each tool's single argument is filled by name from its schema.
    """
    from langchain_core.exceptions import OutputParserException
    from langchain_core.messages import AIMessage
    from langchain_core.output_parsers import BaseOutputParser

    arg_names = {t.name.lower(): (t.name, next(iter(t.args), "input")) for t in tools}

    class ReActTextParser(BaseOutputParser[AIMessage]):
        """Parses a ReAct step into an AIMessage with at most one tool call."""

        def parse(self, text: str) -> AIMessage:
            text = cut_at_stop(text, ["\nObservation", "Observation:"]).strip()
            try:
                thought, tool, argument = parse_step(text)
            except MalformedAction as err:
                raise OutputParserException(f"Could not parse the step: {err}", observation=f"Invalid step ({err}).",
                                            llm_output=text, send_to_llm=True) from None
            if tool.lower() == "finish":
                return AIMessage(content=argument, additional_kwargs={"thought": thought})
            name, arg = arg_names.get(tool.lower(), (tool, "input"))
            call = {"name": name, "args": {arg: argument}, "id": f"call_{abs(hash((thought, tool, argument)))}",
                    "type": "tool_call"}
            return AIMessage(content=thought, tool_calls=[call])

        @property
        def _type(self) -> str:
            return "react_text"

    return ReActTextParser()


def run_langchain_agent(agent, tools, question: str, max_steps: int = 6, verbose: bool = False) -> ReActResult:
    """The agent loop around a LangChain runnable ``agent`` (input, agent_scratchpad -> AIMessage).

    Tool calls run through ``tool.invoke(tool_call)`` (LangChain returns a ToolMessage); parsing
    errors, unknown tools and tool failures become Observations, as in :func:`react`, and are counted
    in the result's events with the same kinds.
    """
    from langchain_core.exceptions import OutputParserException

    by_name = {t.name.lower(): t for t in tools}
    scratchpad, events = "", []

    def note(text: str) -> None:
        nonlocal scratchpad
        scratchpad += text + "\n"
        if verbose:
            print(text)

    for k in range(1, max_steps + 1):
        try:
            message = agent.invoke({"input": question, "agent_scratchpad": scratchpad})
        except OutputParserException as err:
            kind = "empty" if not (err.llm_output or "").strip() else "malformed"
            events.append({"step": k, "kind": kind, "text": err.llm_output})
            text = (err.llm_output or "").strip()
            note(f"Thought: {text.splitlines()[0][:200] if text else ''}".rstrip())
            note(f"Observation: {err.observation}")
            continue
        thought = message.additional_kwargs.get("thought", "") if not message.tool_calls else message.content
        if not message.tool_calls:
            events.append({"step": k, "kind": "finish", "argument": message.content})
            note(f"Thought: {thought}\nAction: Finish[{message.content}]")
            transcript = f"Question: {question}\n" + scratchpad
            return ReActResult(question, message.content, True, k, f"finished in {k} step(s): {message.content}",
                               transcript, events)
        call = message.tool_calls[0]
        argument = next(iter(call["args"].values()), "")
        note(f"Thought: {thought}\nAction: {call['name']}[{argument}]")
        tool = by_name.get(call["name"].lower())
        if tool is None:
            names = ", ".join([*(t.name for t in tools), "Finish"])
            observation = f"Unknown action {call['name']!r}. Available actions: {names}."
            events.append({"step": k, "kind": "unknown tool", "tool": call["name"]})
        elif not str(argument).strip():
            observation = f"{tool.name} needs an argument inside the brackets."
            events.append({"step": k, "kind": "empty argument", "tool": tool.name})
        else:
            try:
                observation = tool.invoke(call).content
                events.append({"step": k, "kind": "action", "tool": tool.name, "argument": argument})
            except Exception as err:  # validation errors and tool failures are news for the model
                observation = f"The action failed: {type(err).__name__}: {err}"
                events.append({"step": k, "kind": "tool error", "tool": tool.name, "error": str(err)})
        note(f"Observation: {observation}")
    transcript = f"Question: {question}\n" + scratchpad
    return ReActResult(question, None, False, max_steps, f"gave up: no Finish[...] within {max_steps} steps",
                       transcript, events)
