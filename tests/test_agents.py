"""Word problems, prompts, answer reading, PAL, the ReAct loop on malformed steps, LangChain's runnable agent,
and ShopBot on SQLite with an HTTP label service.

Model replies below are real-looking: most were copied from SmolLM2-135M-Instruct's greedy output on the
project's prompts. Scripted and fake models only drive the loops' mechanics.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from labkit import agents, config, shop

# --- the word problems ------------------------------------------------------------------------------


def test_word_problems_load_and_carry_correct_reference_programs():
    problems = agents.load_word_problems()
    assert len(problems) >= 20
    assert len({p.id for p in problems}) == len(problems)
    for p in problems:
        assert isinstance(p.answer, int) and 1 <= p.steps <= 3 and p.question.endswith("?")
        scope = {"__builtins__": {}}
        exec(p.program, scope)  # the project's own reference programs
        assert scope["answer"] == p.answer, p.id
    assert [p.id for p in agents.load_word_problems(limit=3)] == ["w01", "w02", "w03"]


def test_word_problem_validator_passes():
    out = subprocess.run([sys.executable, str(config.data_dir() / "word_problems" / "validate.py")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("OK: 35 problems")


@pytest.mark.parametrize("content, message", [
    ('{"id": "w01", "question": "q?", "answer": 3, "steps": 1, "program": "answer = 1 + 2"}\nnot json\n',
     "line 2: not valid JSON"),
    ('{"id": "w01", "question": "q?", "answer": 3}\n', "line 1: missing field.*steps, program"),
    ('{"id": "w01", "question": "q?", "answer": "3", "steps": 1, "program": "answer = 3"}\n', "not an integer"),
    ('{"id": "w01", "question": "q?", "answer": 3, "steps": 1, "program": "answer = 1 + 2"}\n' * 2,
     "duplicate problem ids"),
])
def test_word_problems_reject_bad_files_clearly(tmp_path, content, message):
    path = tmp_path / "problems.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        agents.load_word_problems(path)


def test_word_problems_missing_file_and_limit(tmp_path):
    with pytest.raises(FileNotFoundError, match="LABKIT_DATA"):
        agents.load_word_problems(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="holds 35"):
        agents.load_word_problems(limit=99)


def test_labelled_replies_split_and_labels():
    dev, held_out = agents.load_replies("dev"), agents.load_replies("heldout")
    assert len(dev) > 40 and len(held_out) > 40 and not set(dev.index) & set(held_out.index)
    assert held_out["stated"].isna().sum() >= 8  # replies that commit to no answer
    with pytest.raises(ValueError, match="split"):
        agents.load_replies("test")


# --- prompts ----------------------------------------------------------------------------------------

class FakeTokenizer:
    """Records the messages a prompt builder hands to the chat template (no model needed)."""

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        self.messages = messages
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"


def test_few_shot_prompts_are_earlier_chat_turns():
    tok = FakeTokenizer()
    agents.cot_prompt(tok, "How many?")
    roles = [m["role"] for m in tok.messages]
    assert roles == ["system"] + ["user", "assistant"] * 3 + ["user"]  # three worked examples: few-shot
    assert tok.messages[2]["content"].endswith("The answer is 11.") and "2 * 3 = 6" in tok.messages[2]["content"]
    assert tok.messages[-1]["content"] == "How many?"
    agents.cot_prompt(tok, "How many?", shots=1)
    assert len(tok.messages) == 4  # one-shot
    agents.direct_prompt(tok, "How many?")
    assert tok.messages[2]["content"] == "The answer is 11."
    agents.pal_prompt(tok, "How many?")
    assert tok.messages[2]["content"].startswith("```python\n") and "answer = " in tok.messages[2]["content"]
    with pytest.raises(ValueError, match="shots"):
        agents.cot_prompt(tok, "q", shots=9)


def test_worked_examples_are_not_in_the_problem_set_and_are_right():
    questions = {p.question for p in agents.load_word_problems()}
    for example in agents.WORKED_EXAMPLES:
        assert example.question not in questions
        scope = {"__builtins__": {}}
        exec(example.program, scope)
        assert scope["answer"] == example.answer


# --- reading answers --------------------------------------------------------------------------------

@pytest.mark.parametrize("reply, value", [
    ("Each carriage seats 52 * 8 = 408 passengers. The answer is 408.", 408),
    ("18 kilometres is 18 / 2 = 12.5 kilometres. The answer is 12.5.", 12.5),
    ("The answer is $1,240.", 1240),
    ("The answer is 60 - 4 = 48 eggs.", 60),  # the naive reader's known mistake
    ("Ben runs 7 laps of the 400", None),  # cut off: no answer
    ("**Answer:** 53", None),  # a format it does not know
    ("", None),
    (None, None),
])
def test_naive_answer_on_real_replies(reply, value):
    assert agents.naive_answer(reply) == value


def test_is_correct_counts_missing_answers_as_wrong():
    assert agents.is_correct(9, 9) and agents.is_correct(9.0, 9)
    assert not agents.is_correct(None, 9) and not agents.is_correct("9", 8) and not agents.is_correct(True, 1)
    assert not agents.is_correct(float("nan"), 9)


# --- PAL --------------------------------------------------------------------------------------------

def test_extract_code_from_real_looking_replies():
    assert agents.extract_code("```python\nx = 1\nanswer = x + 1\n```") == "x = 1\nanswer = x + 1\n"
    assert agents.extract_code("Here:\n```py\nanswer = 2\n```\nDone.") == "answer = 2\n"
    assert agents.extract_code("```python\nanswer = 3\nmore = (") == "answer = 3\nmore = (\n"  # cut off
    assert agents.extract_code("The farmer has 14 * 3 = 36 animals.") == "The farmer has 14 * 3 = 36 animals.\n"
    assert agents.extract_code("") == "\n"


def test_pal_runs_model_programs_in_the_sandbox_and_classifies_failures():
    replies = [  # SmolLM2-135M-Instruct's own programs for problems w05, w07, w03, w01, w16
        "```python\ntotal_plants = 5 * 7\nanswer = total_plants - 6\n```",
        "```python\ntotal_books = 120 + 45 + 30 = 600\nlibrary_lends = 600 - 30\n```",
        "```python\ntotal_pages = 17 + 26\ntotal_pages_over_week = total_pages * 2\n```",
        "```python\nmuffins = 48 * 29\nanswer = muffs - 48\n```",
        "The farmer has 14 * 3 = 36 animals.",
        "```python\nanswer = 'forty'\n```",
    ]
    runs = agents.run_pal(replies, timeout_s=5)
    assert [agents.pal_outcome(r) for r in runs] == ["answered", "syntax error", "no answer variable", "crashed",
                                                    "syntax error", "not a number"]
    assert [agents.pal_answer(r) for r in runs] == [29, None, None, None, None, None]
    hostile = agents.run_pal(["```python\nanswer = open('/etc/passwd').read()\n```"])[0]
    assert not hostile.ok and "PermissionError" in hostile.error and agents.pal_outcome(hostile) == "crashed"


# --- ReAct ------------------------------------------------------------------------------------------

@pytest.fixture
def encyclopedia():
    return agents.Encyclopedia()


def test_encyclopedia_search_and_lookup(encyclopedia):
    assert "Edda Vell" in encyclopedia.search("Vell lamp")
    assert "Similar:" in encyclopedia.search("Vell")
    assert encyclopedia.lookup("Quayle") == "(Result 1/1) The glass chimneys were made by Quayle Glassworks."
    assert encyclopedia.lookup("Quayle").startswith("No more results")
    assert "Search for a page first" in agents.Encyclopedia().lookup("born")
    assert len(agents.load_encyclopedia_questions()) == 12


@pytest.mark.parametrize("step, parsed", [
    ("Thought 2: it was Edda Vell\nAction 2: Search[Edda Vell]", ("it was Edda Vell", "Search", "Edda Vell")),
    ("Thought: x\naction: search['Vell lamp']", ("x", "search", "Vell lamp")),
    ("I will look.\nAction 1: Lookup[born].", ("I will look.", "Lookup", "born")),
    ("Thought 1: a\nAction 1: Search[A]\nThought 2: b\nAction 2: Finish[B]", ("a", "Search", "A")),  # first action
])
def test_parse_step_accepts_the_formats_models_write(step, parsed):
    assert agents.parse_step(step) == parsed


@pytest.mark.parametrize("step, hint", [
    ("Thought 2: It was invented by Edda Vell.\nObservation 2: Edda Vell was born in 1812.", "no Action line"),
    ("Thought 1: search it\nAction 1: Search Vell lamp", "not of the form Tool"),
    ("", "no Action line"),
])
def test_parse_step_explains_malformed_steps(step, hint):
    with pytest.raises(agents.MalformedAction, match=hint):
        agents.parse_step(step)


def test_react_repairs_a_missing_action_like_the_react_paper(encyclopedia):
    llm = agents.ScriptedLLM([
        " I need to find who invented the Vell lamp.\nAction 1: Search[Vell lamp]\nObservation 1: made up",
        " It was invented by Edda Vell.\nObservation 2: Edda Vell was born in 1812.",  # SmolLM2's real step 2
        " Search[Edda Vell]",  # the repair: asked for "Action 2:" alone
        " Edda Vell was born in Corvale.\nAction 3: Finish[Corvale]"])
    run = agents.react(llm, "In which city was the inventor of the Vell lamp born?", encyclopedia.tools(),
                       agents.REACT_INSTRUCTIONS, verbose=False)
    assert run.finished and run.answer == "Corvale" and run.steps == 3
    assert run.mistakes == {"malformed": 1}
    assert [e.get("repaired") for e in run.events if e["kind"] == "malformed"] == [True]
    assert llm.prompts[2].endswith("Thought 2: It was invented by Edda Vell.\nAction 2:")
    assert "made up" not in run.transcript  # the model's invented observation is cut
    assert "Observation 1: The Vell lamp is a safety lamp" in llm.prompts[1]  # real observations are fed back


def test_react_malformed_steps_end_cleanly_at_the_step_limit(encyclopedia):
    llm = agents.ScriptedLLM([" It was invented by Edda Vell.", " I do not know.", " The answer is Corvale.",
                              " Still thinking.", " Hmm"] * 2)
    run = agents.react(llm, "q", encyclopedia.tools(), agents.REACT_INSTRUCTIONS, max_steps=3, verbose=False)
    assert not run.finished and run.steps == 3 and "gave up" in run.outcome
    assert run.mistakes == {"malformed": 3}
    assert run.transcript.count("Invalid step") == 3 and "Action:" in run.transcript
    no_repair = agents.react(agents.ScriptedLLM([" no action here"] * 3), "q", encyclopedia.tools(),
                             agents.REACT_INSTRUCTIONS, max_steps=2, repair=False, verbose=False)
    assert no_repair.mistakes == {"malformed": 2}


def test_react_unknown_tool_empty_reply_empty_argument_and_failing_tool(encyclopedia):
    def broken(_):
        raise RuntimeError("database down")

    tools = {**encyclopedia.tools(), "Query": broken}
    llm = agents.ScriptedLLM(["Let me google.\nAction: Google[x]", "", "Action: Search[]", "Action: Query[x]",
                              "Action: Finish[]", "Action: Finish[sorry]"])
    run = agents.react(llm, "q", tools, agents.react_instructions(tools), max_steps=6, verbose=False)
    assert run.finished and run.answer == "sorry"
    assert run.mistakes == {"unknown tool": 1, "empty": 1, "empty argument": 2, "tool error": 1}
    assert "Unknown action 'Google'. Available actions: Search, Lookup, Query, Finish." in run.transcript
    assert "The action failed: RuntimeError: database down" in run.transcript
    silent = agents.react(agents.ScriptedLLM([]), "q", encyclopedia.tools(), agents.REACT_INSTRUCTIONS, max_steps=2,
                          verbose=False)
    assert not silent.finished and silent.mistakes == {"empty": 2}


def test_react_instructions_come_from_the_tools_docstrings(encyclopedia):
    def calculate(expression):
        """Evaluates an arithmetic expression."""
        return str(eval(expression, {"__builtins__": {}}))  # test helper on fixed input

    text = agents.react_instructions({**encyclopedia.tools(), "Calculate": calculate})
    assert "(1) Search[argument]: Searches the exact entity" in text
    assert "(3) Calculate[argument]: Evaluates an arithmetic expression." in text and "(4) Finish[answer]" in text


def test_react_many_runs_episodes_in_lockstep_with_one_batch_per_round():
    class ByQuestion:
        """A fake batched model: each question's episode gets its own replies, one batch per round."""

        def __init__(self, replies):
            self.replies, self.batches = replies, []

        def batch(self, prompts):
            self.batches.append(len(prompts))
            out = []
            for prompt in prompts:
                question = prompt.split("Question: ")[-1].split("\n")[0]
                out.append(self.replies[question].pop(0))
            return out

    llm = ByQuestion({"A?": [" x\nAction 1: Search[Vell lamp]", " y\nAction 2: Finish[Edda Vell]"],
                      "B?": [" z\nAction 1: Finish[no]"],
                      "C?": [" thinking", " Lookup[born]", " w\nAction 2: Finish[Corvale]"]})
    runs = agents.react_many(llm, ["A?", "B?", "C?"], lambda: agents.Encyclopedia().tools(),
                             agents.REACT_INSTRUCTIONS, max_steps=3)
    assert [r.answer for r in runs] == ["Edda Vell", "no", "Corvale"]
    assert llm.batches == [3, 1, 2]  # round 1: all three; C's repair; round 2: A and C
    assert runs[2].mistakes == {"malformed": 1} and "Search for a page first" in runs[2].transcript
    table = agents.mistakes_table(runs)
    assert table["malformed"].tolist() == [0, 0, 1] and table["finished"].all()


def test_exact_match_normalises():
    assert agents.exact_match("the River Lusk.", "River Lusk")
    assert not agents.exact_match(None, "x") and not agents.exact_match("Lusk", "River Lusk")


# --- LangChain ----------------------------------------------------------------------------------------

def _langchain_agent(replies, encyclopedia):
    from langchain_core.language_models.fake import FakeListLLM
    from langchain_core.prompts import PromptTemplate
    from langchain_core.tools import tool

    @tool
    def search(entity: str) -> str:
        """Searches the exact entity."""
        return encyclopedia.search(entity)

    prompt = PromptTemplate.from_template("Question: {input}\n{agent_scratchpad}Thought:")
    fake = FakeListLLM(responses=replies)  # a FAKE model: scripted replies, for the loop's mechanics only
    return prompt | fake | agents.langchain_parser([search]), [search], fake


def test_langchain_parser_makes_standard_tool_calls(encyclopedia):
    from langchain_core.exceptions import OutputParserException

    _, tools, _ = _langchain_agent([], encyclopedia)
    parser = agents.langchain_parser(tools)
    message = parser.parse(" look it up\nAction: Search[Vell lamp]\nObservation: invented")
    assert message.tool_calls[0]["name"] == "search" and message.tool_calls[0]["args"] == {"entity": "Vell lamp"}
    assert message.content == "look it up"
    final = parser.parse(" done\nAction: Finish[Corvale]")
    assert final.tool_calls == [] and final.content == "Corvale"
    with pytest.raises(OutputParserException) as err:
        parser.parse("It was invented by Edda Vell.")
    assert err.value.send_to_llm and "no Action line" in err.value.observation


def test_langchain_agent_loop_offline_with_a_fake_model(encyclopedia):
    agent, tools, _ = _langchain_agent([
        " I need the inventor.\nAction: search[Vell lamp]",
        " It was invented by Edda Vell.",  # malformed: the parser's message goes back to the model
        " Let me google.\nAction: Google[Edda Vell]",
        " search\nAction: search[Edda Vell]",
        " Born in Corvale.\nAction: Finish[Corvale]"], encyclopedia)
    run = agents.run_langchain_agent(agent, tools, "In which city was the inventor of the Vell lamp born?")
    assert run.finished and run.answer == "Corvale" and run.steps == 5
    assert run.mistakes == {"malformed": 1, "unknown tool": 1}
    assert "Observation: The Vell lamp is a safety lamp" in run.transcript
    assert "Observation: Invalid step (no Action line" in run.transcript
    limit, _, _ = _langchain_agent(["no action"] * 3, agents.Encyclopedia())
    stuck = agents.run_langchain_agent(limit, tools, "q", max_steps=3)
    assert not stuck.finished and stuck.mistakes == {"malformed": 3} and "gave up" in stuck.outcome


@pytest.mark.slow
def test_langchain_pipeline_with_the_real_tiny_model_runs_offline():
    from langchain_core.prompts import PromptTemplate
    from langchain_core.tools import tool
    from langchain_huggingface import HuggingFacePipeline
    from transformers import pipeline

    from labkit import models

    model, tokenizer = models.load_llm()  # the suite runs in the tiny profile (conftest)
    encyclopedia = agents.Encyclopedia()

    @tool
    def search(entity: str) -> str:
        """Searches the exact entity."""
        return encyclopedia.search(entity)

    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, max_new_tokens=24, do_sample=False,
                    return_full_text=False)
    prompt = PromptTemplate.from_template("Question: {input}\nActions: search[entity], Finish[answer]\n"
                                          "{agent_scratchpad}Thought:")
    agent = (prompt | HuggingFacePipeline(pipeline=pipe).bind(pipeline_kwargs={"stop_sequence": ["\nObservation"]})
             | agents.langchain_parser([search]))
    run = agents.run_langchain_agent(agent, [search], "Who invented the Vell lamp?", max_steps=2)
    assert run.steps <= 2 and len(run.events) == run.steps  # whatever the model wrote, the loop ended cleanly


# --- ShopBot ----------------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    conn = shop.create_store(tmp_path / "shop.sqlite")
    with shop.ShippingLabelService() as service:
        yield conn, shop.ShopTools(conn, service.url), service
    conn.close()


def test_shopbot_flow_enforces_verification_and_records_the_email(store):
    conn, tools, service = store
    assert "Slim jeans" in tools.get_order("1042")
    assert "ana.costa@example.com" not in tools.get_order("1042")  # never reveals the email
    assert "request one first" in tools.send_label("1042")
    assert "RL-1042-001" in tools.request_label("1042") and service.requests == [{"order_id": 1042}]
    assert "not verified" in tools.send_label("1042")
    assert "does not match" in tools.verify_email("1042, ben.okafor@example.com")
    assert "verified" in tools.verify_email("1042, Ana.Costa@example.com")
    assert "sent" in tools.send_label("1042")
    sent = shop.outbox(conn)
    assert sent["email"].tolist() == ["ana.costa@example.com"] and sent["label_id"].tolist() == ["RL-1042-001"]


def test_shopbot_resists_sql_injection(store):
    conn, tools, _ = store
    for attempt in ("1042 OR 1=1", "1042; DROP TABLE orders; --", "0 UNION SELECT * FROM customers"):
        with pytest.raises(ValueError, match="not an order number"):
            tools.get_order(attempt)
    assert "does not match" in tools.verify_email("1043, x' OR '1'='1")
    assert "does not match" in tools.verify_email("1043, ' OR 1=1 --")
    assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 4
    assert "No order 9999" in tools.get_order("9999")


def test_shopbot_driven_by_react_with_tool_errors_as_observations(store):
    conn, tools, _ = store
    llm = agents.ScriptedLLM(["Action: get_order[1042 OR 1=1]", "Action: get_order[1042]",
                              "Action: request_label[1042]", "Action: send_label[1042]",
                              "Action: verify_email[1042, ana.costa@example.com]", "Action: send_label[1042]",
                              "Action: Finish[done]"])
    instructions = agents.react_instructions(tools.tools(), shop.SHOPBOT_INTRO)
    assert "verify_email[argument]: Check that the email" in instructions
    run = agents.react(llm, "return my jeans", tools.tools(), instructions, max_steps=8, verbose=False)
    assert run.finished and len(shop.outbox(conn)) == 1
    assert run.mistakes == {"tool error": 1} and "not an order number" in run.transcript
    assert "not verified yet" in run.transcript


def test_replies_file_is_valid_json_lines():
    path = config.data_dir() / "word_problems" / "replies.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert list(rows[0]) == ["id", "problem", "method", "source", "split", "completion", "stated"]


@pytest.mark.parametrize("reply, expected", [
    ("The answer is 60 - 4 = 48 eggs.", 48),
    ("She pays 3 * 5 = 15 dollars. The answer is $1,015.", 1015),
    ("So 7 + 2 = 9.\nAnswer: 9", 9),
    ("The answer is 12. Wait, no: the answer is 14.", 14),  # several answers: the last one counts
    ("The final result is \\boxed{-3}", -3),
    ("The answer is 2.5 hours.", 2.5),
    ("The answer is forty.", None),  # non-numeric
    ("First 12 * 3 = 36, then 36 - 6 = 30", None),  # cut off before committing: no guess from the last number
    ("", None), (None, None), (42, None),
])
def test_final_answer_reads_what_a_reply_commits_to(reply, expected):
    got = agents.final_answer(reply)
    assert (got is None) if expected is None else (got == expected and type(got) is type(expected))


def test_final_answer_agrees_with_the_labelled_replies():
    replies = agents.load_replies()
    agree = [(agents.final_answer(c) is None) if s is None else agents.is_correct(agents.final_answer(c), s)
             for c, s in zip(replies["completion"], replies["stated"], strict=True)]
    assert np.mean(agree) >= 0.95


def test_worked_plan_stops_short_of_the_final_result():
    assert agents.worked_plan("answer = 48 - 29") == "48 - 29."
    assert agents.worked_plan("plants = 5 * 7\nanswer = plants - 6") == "5 * 7 = 35. 35 - 6."
    for problem in agents.load_word_problems():
        plan = agents.worked_plan(problem.program)
        assert not plan.endswith(f"= {problem.answer}."), plan  # the answer is left to the model
    with pytest.raises(ValueError, match="name = expression"):
        agents.worked_plan("print(1)")
    with pytest.raises(ValueError, match="no earlier step"):
        agents.worked_plan("answer = apples - 1")
