"""Notebook 10's checks accept the solutions and reject plausible wrong answers with a targeted hint."""

import ast
import operator
import re

import pytest

from labkit import agents, checks, shop


def final_answer(reply):
    """The reference solution of exercise 10.1."""
    if not reply:
        return None
    markers = list(re.finditer(r"answer\s+is|answer\s*:|\\boxed\{", reply, re.IGNORECASE))
    if not markers:
        return None
    sentence = re.split(r"(?<!\d)\.(?!\d)|\n|\}", reply[markers[-1].end():])[0]
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", sentence)
    if not numbers:
        return None
    value = float(numbers[-1].replace(",", ""))
    return int(value) if value.is_integer() else value


def last_number(reply):
    """A plausible wrong answer: the last number anywhere in the reply."""
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", reply or "")
    return float(numbers[-1].replace(",", "")) if numbers else None


def test_check_answer_extractor():
    checks.check_answer_extractor(final_answer)
    with pytest.raises(checks.CheckFailed, match="expected 48"):
        checks.check_answer_extractor(agents.naive_answer)  # reads 60 in "The answer is 60 - 4 = 48"
    with pytest.raises(checks.CheckFailed, match="never commit"):
        checks.check_answer_extractor(last_number)
    with pytest.raises(checks.CheckFailed, match="never an error"):
        checks.check_answer_extractor(lambda reply: int(re.findall(r"\d+", reply)[-1]))
    with pytest.raises(checks.CheckFailed, match="return None"):
        checks.check_answer_extractor(lambda reply: 0)
    with pytest.raises(checks.CheckFailed, match="Define a function"):
        checks.check_answer_extractor(42)


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.USub: operator.neg,
        ast.UAdd: operator.pos}


def calculate(expression):
    """Evaluates an arithmetic expression (the reference solution of exercise 10.2)."""

    def value(node):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.operand))
        raise ValueError(f"not allowed: {type(node).__name__}")

    try:
        result = value(ast.parse(str(expression).strip(), mode="eval").body)
    except (SyntaxError, ValueError, ArithmeticError, TypeError) as err:
        return f"Error: {err}"
    return str(int(result)) if float(result).is_integer() else str(result)


def test_check_calculator_tool():
    checks.check_calculator_tool(calculate)

    def with_eval(expression):
        """Evaluates with eval (unsafe)."""
        try:
            result = eval(expression)  # the plausible wrong answer under test, on the check's fixed inputs
        except Exception as err:
            return f"Error: {err}"
        return str(int(result)) if isinstance(result, float) and result.is_integer() else str(result)

    with pytest.raises(checks.CheckFailed, match="eval"):
        checks.check_calculator_tool(with_eval)

    def floats(expression):
        """Evaluates, but always as a float."""
        answer = calculate(expression)
        return answer if answer.startswith("Error") else str(float(answer))

    with pytest.raises(checks.CheckFailed, match="without '.0'"):
        checks.check_calculator_tool(floats)

    def raising(expression):
        """Raises on bad input."""
        answer = calculate(expression)
        if answer.startswith("Error"):
            raise ValueError(answer)
        return answer

    with pytest.raises(checks.CheckFailed, match="not an exception|instead"):
        checks.check_calculator_tool(raising)

    def numbers_back(expression):
        """Returns a number instead of text."""
        return float(calculate(expression))

    with pytest.raises(checks.CheckFailed, match="return a string"):
        checks.check_calculator_tool(numbers_back)
    with pytest.raises(checks.CheckFailed, match="docstring"):
        checks.check_calculator_tool(lambda expression: calculate(expression))


@pytest.fixture
def conn(tmp_path):
    connection = shop.create_store(tmp_path / "shop.sqlite")
    yield connection
    connection.close()


def test_check_orders_by_email_query(conn):
    checks.check_orders_by_email_query("SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
                                       "WHERE lower(c.email) = lower(?) ORDER BY o.id", conn)
    with pytest.raises(checks.CheckFailed, match="literal"):
        checks.check_orders_by_email_query("SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
                                           "WHERE c.email = 'ana.costa@example.com' OR ? IS NULL", conn)
    with pytest.raises(checks.CheckFailed, match="placeholder"):
        checks.check_orders_by_email_query("SELECT id FROM orders", conn)
    with pytest.raises(checks.CheckFailed, match="capitals"):
        checks.check_orders_by_email_query("SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
                                           "WHERE c.email = ? ORDER BY o.id", conn)
    with pytest.raises(checks.CheckFailed, match="ORDER BY"):
        checks.check_orders_by_email_query("SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
                                           "WHERE lower(c.email) = lower(?) ORDER BY o.id DESC", conn)
    with pytest.raises(checks.CheckFailed, match="first column"):
        checks.check_orders_by_email_query("SELECT c.name, o.id FROM orders o JOIN customers c "
                                           "ON c.id = o.customer_id WHERE lower(c.email) = lower(?)", conn)


def test_checks_are_registered_under_notebook_09_ids():
    assert checks.EXERCISES["10.1"] is checks.check_answer_extractor
    assert checks.EXERCISES["10.2"] is checks.check_calculator_tool
    assert checks.EXERCISES["10.3"] is checks.check_orders_by_email_query
