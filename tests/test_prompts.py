import pytest

from labkit import prompts

D1 = "#Person1#: Is the bus late?\n#Person2#: Yes, ten minutes."
S1 = "#Person2# tells #Person1# the bus is ten minutes late."
D2 = "#Person1#: Tea or coffee?\n#Person2#: Tea, please."
S2 = "#Person2# would like tea."
TARGET = "#Person1#: Shall we go?\n#Person2#: Not yet."


def test_templates():
    assert prompts.no_prompt(TARGET) == TARGET
    assert prompts.zero_shot(TARGET).startswith("Summarize the following conversation.")
    assert prompts.zero_shot(TARGET).endswith("Summary:")
    flan = prompts.flan_template(TARGET)
    assert flan == f"Dialogue:\n\n{TARGET}\n\nWhat was going on?\n"
    assert prompts.flan_template(D1, S1).endswith("What was going on?\n" + S1)


def test_few_shot_orders_examples_and_leaves_the_answer_open():
    prompt = prompts.few_shot([{"dialogue": D1, "summary": S1}, (D2, S2)], TARGET)
    assert prompt.index(D1) < prompt.index(S1) < prompt.index(D2) < prompt.index(S2) < prompt.index(TARGET)
    assert prompt.endswith(prompts.flan_template(TARGET))
    assert prompt.count("What was going on?") == 3
    assert prompts.one_shot((D1, S1), TARGET) == prompts.few_shot([(D1, S1)], TARGET)
    assert prompts.few_shot([], TARGET) == prompts.flan_template(TARGET)


class _CountingTokenizer:
    model_max_length = 10

    def __call__(self, text):
        class Enc:
            input_ids = text.split() + ["</s>"]
        return Enc()


def test_prompt_length_against_the_context_window():
    short = prompts.prompt_length(_CountingTokenizer(), "a b c")
    assert (short.tokens, short.context_window, short.fits, short.overflow) == (4, 10, True, 0)
    long = prompts.prompt_length(_CountingTokenizer(), " ".join("x" * 14))
    assert not long.fits and long.overflow == 5
    assert "NOT fit" in str(long)
    assert prompts.prompt_length(_CountingTokenizer(), "a", context_window=1).overflow == 1


def test_examples_at_picks_rows():
    split = [{"dialogue": D1, "summary": S1}, {"dialogue": D2, "summary": S2}]
    assert prompts.examples_at(split, [1, 0]) == [split[1], split[0]]


def test_few_shot_rejects_malformed_examples():
    with pytest.raises((KeyError, ValueError)):
        prompts.few_shot([{"dialogue": D1}], TARGET)


def test_pair_is_public_and_the_old_name_still_works():
    assert prompts.pair({"dialogue": D1, "summary": S1}) == (D1, S1) == prompts.pair((D1, S1))
    assert prompts._pair is prompts.pair


def test_summary_request_is_the_instruction_then_the_dialogue():
    assert prompts.summary_request(TARGET) == f"{prompts.CHAT_INSTRUCTION}\n\n{TARGET}"


def test_shortest_examples_are_short_and_of_distinct_topics():
    split = [{"dialogue": "x" * n, "summary": "s", "topic": t}
             for n, t in [(50, "a"), (10, "b"), (20, "b"), (30, "c"), (5, "a"), (40, "d")]]
    assert [len(r["dialogue"]) for r in prompts.shortest_examples(split, 3)] == [5, 10, 30]
    assert [len(r["dialogue"]) for r in prompts.shortest_examples(split, 3, distinct_topics=False)] == [5, 10, 20]
    assert len(prompts.shortest_examples(split, 10)) == 4  # only four topics
    assert prompts.shortest_examples(split, 0) == []
    with pytest.raises(ValueError):
        prompts.shortest_examples(split, -1)


def test_examples_past_a_smaller_split_are_left_out_with_a_note(capsys):
    split = [{"dialogue": D1, "summary": S1}, {"dialogue": D2, "summary": S2}]
    assert prompts.examples_at(split, [1, 5, 0, 9]) == [split[1], split[0]]
    assert "2 of the 4 example indices are past its end" in capsys.readouterr().out


def test_first_over_window_or_none_when_every_prompt_fits(capsys):
    assert prompts.first_over_window([10, 300, 600, 900], 512) == 2
    assert capsys.readouterr().out == ""
    assert prompts.first_over_window([10, 300], 512) is None
    assert "all 2 prompts fit the 512-token window" in capsys.readouterr().out


def test_the_topic_format_is_strict():
    assert prompts.follows_topic_format("Topic: library")
    assert prompts.follows_topic_format("  Topic: doctor appointment.\n")
    assert prompts.follows_topic_format(prompts.topic_answer("Job Interview"))
    for reply in ["topic: library", "Topic: Library", "The topic is library.", "Topic: a b c d",
                  "Topic: library\nIt is about books.", "Topic:", ""]:
        assert not prompts.follows_topic_format(reply), reply


def test_topic_messages_are_examples_then_the_request():
    shots = [{"dialogue": "A: hi", "topic": "Greeting"}, {"dialogue": "B: bye", "topic": "farewell"}]
    messages = prompts.topic_messages(shots, "C: what now?")
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == "Topic: greeting"
    assert messages[-1]["content"] == prompts.topic_request("C: what now?")
    assert messages[-1]["content"].endswith("C: what now?")
    assert prompts.topic_messages([], "D") == [{"role": "user", "content": prompts.topic_request("D")}]
