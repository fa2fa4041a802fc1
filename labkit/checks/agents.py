"""Checks for notebook 09_reasoning_and_acting: one function per exercise, registered under its id."""

from __future__ import annotations

from labkit.checks.base import CheckFailed, exercise, ok, require


@exercise("09.1")
def check_pal_program(code: str, expected: float = 9) -> None:
    """a PAL program for the cafeteria question, run in the sandbox."""
    from labkit.agents import run_python

    require(isinstance(code, str) and code.strip(), "Write the program as a string of Python code.")
    result = run_python(code, answer_var="answer")
    require(result.ok, f"The program did not run cleanly in the sandbox: {result.error}")
    require(result.answer == expected, f"The program's `answer` is {result.answer!r}; recompute the steps "
                                        "(apples at the start, minus used for lunch, plus bought).")
    require(any(op in code for op in "+-*"), "Let the program do the arithmetic, as PAL does: don't type the result.")
    ok(f"The sandbox ran your program: answer = {result.answer}.")


@exercise("09.2")
def check_react_step(step: str, expected_tool: str = "Search", expected_argument: str = "Edda Vell") -> None:
    """the next ReAct step, in the format the loop parses."""
    from labkit.agents import MalformedAction, parse_step

    require(isinstance(step, str), "Write the step as a string: 'Thought 2: ...\\nAction 2: Tool[argument]'.")
    try:
        thought, tool, argument = parse_step(step)
    except MalformedAction as err:
        raise CheckFailed(f"The loop could not parse that step: {err}.") from None
    require(thought, "Start with a Thought: say what you learned and what you need next.")
    require(tool.lower() == expected_tool.lower(), f"{tool!r} is not the right action here: you need another page.")
    require(argument.lower() == expected_argument.lower(),
             f"Search[{argument}] is not the page you need: who invented the lamp, according to the observation?")
    ok(f"Parsed: {tool}[{argument}].")


@exercise("09.3")
def check_orders_by_email_query(sql: str, conn) -> None:
    """a parameterized query for a customer's order numbers by email."""
    require(isinstance(sql, str) and "select" in sql.lower(), "Write a SELECT statement as a string.")
    require("?" in sql or ":" in sql, "Use a placeholder (?) for the email and pass it as a parameter: "
                                       "never paste user input into SQL.")
    require("@" not in sql and "'" not in sql, "The query holds a literal value: the email must come in as a parameter.")
    try:
        rows = conn.execute(sql, ("ana.costa@example.com",)).fetchall()
        injected = conn.execute(sql, ("x' OR '1'='1",)).fetchall()
    except Exception as err:
        raise CheckFailed(f"The query fails: {type(err).__name__}: {err}") from None
    ids = sorted(r[0] for r in rows)
    require(ids == [1042, 1045], f"For ana.costa@example.com the query returned {ids}, expected her orders [1042, 1045] "
                                  "(first column: the order id).")
    require(injected == [], "An injected email returned rows!")
    ok("Parameterized: the right orders, and the injection attempt finds nothing.")
