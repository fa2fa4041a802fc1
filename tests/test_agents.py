"""CoT / PAL helpers, the ReAct loop's robustness, and ShopBot on SQLite with an HTTP label service."""

import pytest

from labkit import agents, checks, shop


def test_extract_answer():
    assert agents.extract_answer("so 3 + 6 = 9. The answer is 9.") == 9
    assert agents.extract_answer("The answer is $1,240.50") == 1240.5
    assert agents.extract_answer("we get 12 and then 15") == 15
    assert agents.extract_answer("no idea") is None


def test_pal_runs_model_code_in_the_sandbox():
    llm = agents.ScriptedLLM(["```python\nx = 23 - 20\nanswer = x + 6\n```\nQ: next"])
    code, result = agents.solve_with_pal(llm, "apples?")
    assert "answer = x + 6" in code and result.ok and result.answer == 9
    assert "Roger" in llm.prompts[0]  # the worked example is in the prompt
    bad = agents.ScriptedLLM(["import os\nanswer = open('/etc/passwd').read()"])
    _, contained = agents.solve_with_pal(bad, "?")
    assert not contained.ok and "PermissionError" in contained.error


@pytest.fixture
def encyclopedia():
    return agents.Encyclopedia()


def test_encyclopedia_search_and_lookup(encyclopedia):
    assert "Edda Vell" in encyclopedia.search("Vell lamp")
    assert "Similar:" in encyclopedia.search("Vell")
    assert encyclopedia.lookup("Quayle") == "(Result 1/1) The glass chimneys were made by Quayle Glassworks."
    assert encyclopedia.lookup("Quayle").startswith("No more results")
    fresh = agents.Encyclopedia()
    assert "Search for a page first" in fresh.lookup("born")


def test_react_finishes_despite_a_malformed_step(encyclopedia):
    llm = agents.ScriptedLLM(["Thought: find the inventor\nAction: Search[Vell lamp]",
                              "I think it is somewhere",  # malformed
                              "Thought: Edda Vell\nAction: Search[Edda Vell]",
                              "Thought: born in Corvale\nAction: Finish[Corvale]"])
    run = agents.react(llm, "Where was the inventor of the Vell lamp born?", encyclopedia.tools(),
                       agents.REACT_INSTRUCTIONS, verbose=False)
    assert run.finished and run.answer == "Corvale" and run.steps == 4
    assert any(e.get("error") == "malformed" for e in run.events)
    assert "Invalid action" in run.transcript
    assert "Observation 1:" in llm.prompts[1]  # observations are fed back to the model


def test_react_unknown_tool_missing_finish_and_silence(encyclopedia):
    unknown = agents.react(agents.ScriptedLLM(["Action: Google[x]"] * 5), "q", encyclopedia.tools(),
                           agents.REACT_INSTRUCTIONS, max_steps=2, verbose=False)
    assert not unknown.finished and "gave up" in unknown.outcome and "Unknown action 'Google'" in unknown.transcript
    silent = agents.react(agents.ScriptedLLM([]), "q", encyclopedia.tools(), agents.REACT_INSTRUCTIONS, verbose=False)
    assert not silent.finished and "returned nothing" in silent.outcome


def test_react_survives_a_tool_that_raises():
    def broken(_):
        raise RuntimeError("database down")

    run = agents.react(agents.ScriptedLLM(["Action: Query[x]", "Action: Finish[sorry]"]), "q", {"Query": broken},
                       "instructions", verbose=False)
    assert run.finished and "The action failed: RuntimeError: database down" in run.transcript


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


def test_shopbot_driven_by_react(store):
    conn, tools, _ = store
    llm = agents.ScriptedLLM(["Action: get_order[1042]", "Action: request_label[1042]",
                              "Action: verify_email[1042, ana.costa@example.com]", "Action: send_label[1042]",
                              "Action: Finish[done]"])
    run = agents.react(llm, "return my jeans", tools.tools(), shop.SHOPBOT_INSTRUCTIONS, verbose=False)
    assert run.finished and len(shop.outbox(conn)) == 1


def test_notebook_06_checks(store):
    conn, _, _ = store
    checks.check_pal_program("a = 23\nanswer = a - 20 + 6")
    with pytest.raises(checks.CheckFailed, match="arithmetic"):
        checks.check_pal_program("answer = 9")
    with pytest.raises(checks.CheckFailed, match="recompute"):
        checks.check_pal_program("answer = 23 - 20 - 6")
    with pytest.raises(checks.CheckFailed, match="did not run"):
        checks.check_pal_program("answer = 23 -")
    checks.check_react_step("Thought 2: it was Edda Vell\nAction 2: Search[Edda Vell]")
    with pytest.raises(checks.CheckFailed, match="could not parse"):
        checks.check_react_step("Thought 2: search Edda Vell")
    with pytest.raises(checks.CheckFailed, match="not the page"):
        checks.check_react_step("Thought 2: hmm\nAction 2: Search[Vell lamp]")
    checks.check_orders_by_email_query(
        "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.email = ?", conn)
    with pytest.raises(checks.CheckFailed, match="literal"):
        checks.check_orders_by_email_query("SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
                                           "WHERE c.email = 'ana.costa@example.com' OR ? IS NULL", conn)
    with pytest.raises(checks.CheckFailed, match="placeholder"):
        checks.check_orders_by_email_query("SELECT id FROM orders", conn)
