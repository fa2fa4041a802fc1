"""Checks for notebook 10_agents: one function per exercise, registered under its id."""

from __future__ import annotations

import time

from labkit.checks.base import CheckFailed, exercise, ok, require


@exercise("10.3")
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


@exercise("10.4")
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


@exercise("10.2")
def check_pal_failures(counts: dict, dominant: str, runs, gold) -> None:
    """Read the run: did PAL's programs fail on their form (no runnable answer) or on their plan (ran, wrong)?"""
    from labkit import agents

    answers = [agents.pal_answer(r) for r in runs]
    expected = {"right": sum(agents.is_correct(a, g) for a, g in zip(answers, gold, strict=True)),
                "plan": sum(a is not None and not agents.is_correct(a, g) for a, g in zip(answers, gold, strict=True)),
                "form": sum(a is None for a in answers)}
    require(isinstance(counts, dict) and set(counts) == set(expected),
            "Set `counts` to a dict with the keys 'right', 'plan' and 'form' (numbers of programs).")
    require(sum(counts.values()) == len(runs),
            f"Every one of the {len(runs)} programs is right, wrong on its plan, or wrong on its form: your counts "
            f"add up to {sum(counts.values())}.")
    if counts["form"] != expected["form"]:
        raise CheckFailed("A program fails on its *form* when it gives no number to compare: it did not run "
                          "(syntax error, crash, timeout), set no `answer`, or set something that is not a number. "
                          "`agents.pal_answer(run)` is None exactly then.")
    require(counts == expected,
            "A program that ran and produced a number is right or wrong on its *plan*: compare its number with the "
            "gold answer (`agents.is_correct`).")
    wrong = {"form": expected["form"], "plan": expected["plan"]}
    truth = "tie" if wrong["form"] == wrong["plan"] else max(wrong, key=wrong.get)
    require(dominant in ("form", "plan", "tie"), "`dominant` is 'form', 'plan' or 'tie'.")
    require(dominant == truth, f"Of the wrong programs, {wrong['form']} failed on form and {wrong['plan']} on plan "
                               f"in this run: `dominant` follows from your own counts.")
    ok(f"{expected['right']} right, {expected['plan']} wrong on the plan, {expected['form']} wrong on the form: "
       + ("the model's programs mostly fail before Python can help." if truth == "form" else
          "the programs mostly run: what is wrong is the plan, which PAL cannot fix." if truth == "plan" else
          "form and plan fail equally often here."))


@exercise("10.1")
def check_answer_logprob(answer_logprob, model, tokenizer) -> None:
    """Teacher-forced log-probability of a continuation, matched against labkit.evaluation.option_logprobs."""
    import math

    from labkit.evaluation import option_logprobs

    require(callable(answer_logprob), "Define `answer_logprob(model, tokenizer, context, continuation)`.")
    pairs = [("Q: What is 2 + 3? The answer is", " 5"), ("The capital of France is", " Paris"),
             ("Tom has 3 apples and eats one. He has", " 2 apples left.")]
    expected, counts = option_logprobs(model, tokenizer, [c for c, _ in pairs], [x for _, x in pairs],
                                       progress=False)
    for (context, continuation), want, n in zip(pairs, expected, counts, strict=True):
        try:
            got = float(answer_logprob(model, tokenizer, context, continuation))
        except (CheckFailed, NotImplementedError):
            raise
        except Exception as err:
            raise CheckFailed(f"answer_logprob(..., {context!r}, {continuation!r}) raised "
                              f"{type(err).__name__}: {err}") from err
        if math.isclose(got, want, rel_tol=1e-3, abs_tol=1e-3):
            continue
        require(got <= 0, f"You returned {got:.3f} for {continuation!r}: a log-probability is never above 0 - take "
                          "log_softmax over the vocabulary before picking the tokens' entries (raw logits are not "
                          "log-probabilities).")
        raise CheckFailed(
            f"For {continuation!r} after {context!r} labkit gets {want:.3f} (summed over {int(n)} tokens), you "
            f"{got:.3f}. Tokenize context and continuation separately and join the ids (tokenizing the joined "
            "string can merge tokens across the boundary); the logits at position i predict token i + 1, so the "
            "continuation's tokens are read from the positions just before each of them; sum only the "
            "continuation's tokens, not the context's.")
    ok("your teacher-forced scorer matches labkit's batched one on every pair.")
