"""Checks for notebook 10_agents: one function per exercise, registered under its id."""

from __future__ import annotations

import json
import time

from labkit.checks.base import CheckFailed, exercise, ok, require


def _replies(split: str) -> list[dict]:
    from labkit import config

    path = config.data_dir() / "word_problems" / "replies.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["split"] == split]


def _same(value, stated) -> bool:
    if stated is None or value is None:
        return stated is None and value is None
    if isinstance(value, bool):
        return False
    try:
        return abs(float(value) - float(stated)) < 1e-9
    except (TypeError, ValueError):
        return False


@exercise("10.1")
def check_answer_extractor(final_answer, min_agreement: float = 0.9) -> None:
    """an answer extractor that reads the number a reply commits to, on held-out labelled replies."""
    require(callable(final_answer), "Define a function final_answer(reply) that returns a number or None.")
    for probe in ("", "I am not sure."):
        try:
            value = final_answer(probe)
        except Exception as err:
            raise CheckFailed(f"final_answer({probe!r}) raised {type(err).__name__}: {err}. A reply without an "
                              "answer must give None (it is counted as wrong), never an error.") from None
        require(value is None, f"final_answer({probe!r}) returned {value!r}: with no number in the reply, return None.")
    cases = {
        "The answer is 60 - 4 = 48 eggs.": 48,
        "She pays 3 * 5 = 15 dollars. The answer is $1,015.": 1015,
        "So 7 + 2 = 9.\nThe answer is: 9": 9,
        "First 12 * 3 = 36, then 36 - 6 = 30 apples are left. The answer is 30 apples.": 30,
    }
    for reply, expected in cases.items():
        try:
            value = final_answer(reply)
        except Exception as err:
            raise CheckFailed(f"final_answer({reply!r}) raised {type(err).__name__}: {err}") from None
        require(_same(value, expected),
                f"final_answer({reply!r}) returned {value!r}, expected {expected}. Look at what follows "
                "'The answer is': an expression ends with '= result', and commas, '$' and units are decoration.")
    held_out = _replies("heldout")
    wrong = []
    for row in held_out:
        try:
            value = final_answer(row["completion"])
        except Exception as err:
            raise CheckFailed(f"final_answer raised {type(err).__name__} on a held-out reply: {row['completion']!r}. "
                              "Malformed replies must give None, not an error.") from None
        if not _same(value, row["stated"]):
            wrong.append((row, value))
    agreement = 1 - len(wrong) / len(held_out)
    if agreement < min_agreement:
        row, value = wrong[0]
        missing = [(r, v) for r, v in wrong if r["stated"] is None]
        hint = ("It reads a number from replies that never commit to an answer (cut off, or no 'answer' at all): "
                "those should give None." if len(missing) * 2 >= len(wrong) else
                "Read the number the reply commits to after 'The answer is' (the result of any expression there).")
        raise CheckFailed(f"Your extractor agrees with the labels on {agreement:.0%} of {len(held_out)} held-out "
                          f"replies (at least {min_agreement:.0%} needed). For example {row['completion'][-160:]!r} is "
                          f"labelled {row['stated']!r} but you read {value!r}. {hint}")
    ok(f"Your extractor agrees with the labels on {agreement:.0%} of {len(held_out)} held-out model replies.")


@exercise("10.2")
def check_calculator_tool(calculate) -> None:
    """a calculator tool for the agent: arithmetic only, results as text, errors as messages."""
    require(callable(calculate), "Define a function calculate(expression) -> str.")
    doc = (calculate.__doc__ or "").strip()
    require(doc, "Give calculate a docstring: its first line is the description the agent reads in its instructions.")
    cases = {"1883 - 1821": "62", "(3 + 4) * 2": "14", "7 / 2": "3.5", "2 ** 10": "1024", " 100 // 7 ": "14",
             "-5 + 12": "7", "10 / 4 * 2": "5"}
    for expression, expected in cases.items():
        try:
            value = calculate(expression)
        except Exception as err:
            raise CheckFailed(f"calculate({expression!r}) raised {type(err).__name__}: {err}") from None
        require(isinstance(value, str), f"calculate({expression!r}) returned {type(value).__name__}: an Observation is "
                                        "text, so return a string.")
        require(value.strip() == expected,
                f"calculate({expression!r}) returned {value!r}, expected {expected!r}"
                + (" (write whole numbers without '.0')." if value.strip() == expected + ".0" else "."))
    refused = ["__import__('os').getcwd()", "open('/etc/passwd').read()", "x + 1", "print(2)", "[1, 2] * 3",
               "(lambda: 1)()", "'a' * 3"]
    for expression in refused:
        start = time.monotonic()
        try:
            value = calculate(expression)
        except Exception as err:
            raise CheckFailed(f"calculate({expression!r}) raised {type(err).__name__}: the agent's tools must answer "
                              "bad input with a message (an Observation), not an exception.") from None
        require(isinstance(value, str) and value.lower().startswith("error"),
                f"calculate({expression!r}) returned {value!r}: it must refuse anything but numbers and arithmetic "
                "operators, with a message starting 'Error'. eval() runs any Python the model writes; walk the "
                "expression's syntax tree (ast.parse(..., mode='eval')) and allow only numbers and operators.")
        require(time.monotonic() - start < 5, f"calculate({expression!r}) took too long.")
    for expression in ("1 / 0", "2 +", ""):
        try:
            value = calculate(expression)
        except Exception as err:
            raise CheckFailed(f"calculate({expression!r}) raised {type(err).__name__}: return a message starting "
                              "'Error' instead, so the model reads what went wrong.") from None
        require(isinstance(value, str) and value.lower().startswith("error"),
                f"calculate({expression!r}) returned {value!r}: expected a message starting 'Error'.")
    ok("calculate does arithmetic only, answers in text, and explains what it refuses.")


@exercise("10.3")
def check_orders_by_email_query(sql: str, conn) -> None:
    """a parameterized query for a customer's order numbers by email."""
    require(isinstance(sql, str) and "select" in sql.lower(), "Write a SELECT statement as a string.")
    require("?" in sql or ":" in sql, "Use a placeholder (?) for the email and pass it as a parameter: "
                                       "never paste user input into SQL.")
    require("@" not in sql and "'" not in sql,
            "The query holds a literal value: the email must come in as a parameter.")
    try:
        rows = conn.execute(sql, ("ana.costa@example.com",)).fetchall()
        upper = conn.execute(sql, ("Ana.Costa@Example.com",)).fetchall()
        injected = conn.execute(sql, ("x' OR '1'='1",)).fetchall()
    except Exception as err:
        raise CheckFailed(f"The query fails: {type(err).__name__}: {err}") from None
    ids = [r[0] for r in rows]
    require(sorted(ids) == [1042, 1045], f"For ana.costa@example.com the query returned {ids}, expected her orders "
                                         "[1042, 1045] (first column: the order id).")
    require(ids == [1042, 1045], "Return the orders in order of their number (ORDER BY).")
    require(sorted(r[0] for r in upper) == [1042, 1045],
            "Customers type their email with any capitals: compare lower(email) with lower(?).")
    require(injected == [], "An injected email returned rows!")
    ok("Parameterized: the right orders, any capitalisation, and the injection attempt finds nothing.")
