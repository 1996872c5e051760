"""The reply protocol's reading half: what a reply says (the loop decides what it does)."""

from rlm.core.parse import cut_invented_observation, parse_reply


def test_repl_and_python_fences_are_both_code():
    reply = parse_reply("Thought: look\n```repl\nprint(1)\n```\nthen\n```python\nprint(2)\n```")
    assert reply.code_blocks == ["print(1)", "print(2)"]
    assert reply.thought.startswith("look")


def test_the_action_label_is_not_part_of_the_thought():
    for label in ("Action:", "**Action:**", "action :"):
        reply = parse_reply(f"Thought: look at the context.\n{label}\n```python\nprint(1)\n```")
        assert reply.thought == "look at the context."
    # "action" inside a sentence stays
    assert parse_reply("Thought: the action: count\n```python\nprint(1)\n```").thought == (
        "the action: count")


def test_other_fences_are_not_code():
    reply = parse_reply("Thought: a table\n```text\nprint(1)\n```\n")
    assert reply.code_blocks == []


def test_unclosed_fence_at_the_end_is_still_code():
    assert parse_reply("Thought: x\n```repl\nprint(len(context))").code_blocks == [
        "print(len(context))"]


def test_final_answer_in_prose():
    reply = parse_reply("Thought: found it.\nFinal Answer: 4711")
    assert reply.final_answer == "4711" and not reply.has_code


def test_final_answer_with_markdown_bold_and_multiline():
    reply = parse_reply("Thought: ok\n**Final Answer:** line one\nline two")
    assert reply.final_answer == "line one\nline two"


def test_final_call_in_prose_keeps_inner_parentheses_and_unquotes():
    assert parse_reply('Thought: x\nFINAL("the (big) one")').final_answer == "the (big) one"
    assert parse_reply("FINAL(42)").final_answer == "42"


def test_final_var_in_prose():
    reply = parse_reply('```repl\nres = 2\n```\nFINAL_VAR("res")')
    assert reply.final_var == "res" and reply.code_blocks == ["res = 2"]


def test_final_inside_code_is_not_a_prose_answer():
    reply = parse_reply('Thought: x\n```repl\nFINAL(len(context))\n```')
    assert reply.final_answer is None and reply.final_var is None
    assert reply.code_blocks == ["FINAL(len(context))"]


def test_invented_observation_is_cut_with_everything_after_it():
    text = "Thought: run\n```repl\nprint(1)\n```\nObservation: 1\nFinal Answer: 1"
    reply = parse_reply(text)
    assert reply.observation_cut
    assert "Observation" not in reply.text and reply.final_answer is None
    assert reply.code_blocks == ["print(1)"]


def test_observation_word_inside_a_sentence_is_kept():
    text, cut = cut_invented_observation("Thought: my observation: it works")
    assert not cut and text.endswith("it works")


def test_reply_with_neither_code_nor_answer():
    reply = parse_reply("I think the answer might be in the text somewhere.")
    assert not reply.has_code and not reply.has_answer


def test_empty_final_answer_is_no_answer():
    assert parse_reply("Thought: x\nFinal Answer:   ").final_answer is None


def test_bare_answer_line_is_a_final_answer_as_small_base_models_write_it():
    assert parse_reply("Thought: it says so.\nAnswer: 4711").final_answer == "4711"
    assert parse_reply("The answer is below.\nAnswer:").final_answer is None


def test_observation_in_backticks_is_cut_too():
    text, cut = cut_invented_observation("Thought: x\n`Observation:` The committee met.")
    assert cut and text == "Thought: x"


def test_real_replies_of_a_small_base_model_parse_without_error():
    """Replies a 270M base model really wrote to our prompts (tests/e2e/real_replies.json)."""
    import json
    from pathlib import Path

    records = json.loads((Path(__file__).parents[1] / "e2e" / "real_replies.json").read_text())
    records = records["replies"] if isinstance(records, dict) else records
    parsed = [parse_reply(r["reply"]) for r in records]
    assert len(parsed) >= 20
    assert not any(cut_invented_observation(p.text)[1] for p in parsed)  # nothing left to cut
    assert any(p.has_code for p in parsed) and any(p.observation_cut for p in parsed)
