"""One agent end to end with a scripted model and the real sandbox: the reply protocol."""

from __future__ import annotations

import pytest

from tests.engine_helpers import code, last_user_message, scripted_rlm

NEEDLE = "\n".join(f"line {i} nothing here" for i in range(2000)) + "\nthe magic number is 4711\n"


def test_prose_final_answer_without_code_ends_the_agent():
    rlm, model, _ = scripted_rlm(["Thought: easy.\nFinal Answer: 4"])
    result = rlm.completion("What is 2+2?")
    assert (result.answer, result.status, result.limit_hit) == ("4", "answered", None)
    assert len(model.calls) == 1 and result.tree.steps == 1


def test_code_runs_against_context_and_the_model_sees_the_output():
    rlm, model, _ = scripted_rlm([
        code("print([l for l in context.splitlines() if 'magic' in l])"),
        "Thought: seen it.\nFinal Answer: 4711",
    ])
    result = rlm.completion("What is the magic number?", context=NEEDLE)
    assert result.answer == "4711"
    observation = last_user_message(model.calls[1])
    assert observation.startswith("Observation:")
    assert "the magic number is 4711" in observation


def test_context_stays_out_of_the_history():
    rlm, model, _ = scripted_rlm(["Final Answer: x"])
    rlm.completion("Find it", context=NEEDLE * 5)
    first = model.calls[0].messages
    assert sum(len(m["content"]) for m in first) < 6000
    assert "Task: Find it" in first[1]["content"]


def test_prompt_without_context_becomes_context_and_first_message_shows_1000_chars():
    long_prompt = "Summarise this. " + "x" * 5000
    rlm, model, _ = scripted_rlm([code("print(len(context))"), "Final Answer: done"])
    rlm.completion(long_prompt)
    first = model.calls[0].messages[1]["content"]
    assert long_prompt[:1000] in first and long_prompt[:1001] not in first
    assert "5,016 characters" in first
    assert "5016" in last_user_message(model.calls[1])


def test_short_prompt_without_context_reads_naturally():
    rlm, model, _ = scripted_rlm(["Final Answer: 4"])
    rlm.completion("What is 2+2?")
    assert "Task: What is 2+2?\n" in model.calls[0].messages[1]["content"]


def test_prose_answer_with_code_runs_the_code_and_does_not_end():
    rlm, model, _ = scripted_rlm([
        "Thought: guess.\n```repl\nprint(6*7)\n```\nFinal Answer: 41",
        "Thought: the output says 42.\nFinal Answer: 42",
    ])
    result = rlm.completion("6*7?")
    assert result.answer == "42" and len(model.calls) == 2
    observation = last_user_message(model.calls[1])
    assert "42" in observation and "not accepted" in observation


def test_final_var_after_code_ends_with_the_variable():
    rlm, model, _ = scripted_rlm([
        "Thought: compute.\n```repl\nresult = sum(range(10))\n```\nFINAL_VAR(result)"])
    result = rlm.completion("sum?")
    assert result.answer == "45" and len(model.calls) == 1


def test_final_var_of_a_missing_variable_is_reported_and_the_agent_goes_on():
    rlm, model, _ = scripted_rlm([
        "```repl\nx = 1\n```\nFINAL_VAR(nope)",
        "Final Answer: 1",
    ])
    result = rlm.completion("q")
    assert result.answer == "1"
    assert "no variable named 'nope'" in last_user_message(model.calls[1])


@pytest.mark.parametrize("call", ["FINAL(len(context))", "n = len(context)\nFINAL_VAR('n')"])
def test_final_called_inside_code_ends_after_the_action(call):
    rlm, model, _ = scripted_rlm([code(call)])
    result = rlm.completion("How long?", context="abcde")
    assert result.answer == "5" and len(model.calls) == 1


def test_several_blocks_run_in_order_in_one_step():
    rlm, model, events = scripted_rlm([
        "Thought: two.\n```repl\na = 2\nprint('first')\n```\n```python\nprint(a * 21)\n```",
        "Final Answer: 42",
    ])
    rlm.completion("q")
    obs = last_user_message(model.calls[1])
    assert obs.index("first") < obs.index("42")
    assert [e.block for e in events if e.type == "CodeStarted"] == [0, 1]


def test_invented_observation_is_cut_even_when_the_server_ignores_the_stop():
    rlm, model, events = scripted_rlm([
        "Thought: run.\n```repl\nprint(3)\n```\nObservation: 99\nFinal Answer: 99",
        "Final Answer: 3",
    ], honor_stop=False)
    result = rlm.completion("q")
    assert result.answer == "3"
    assert "99" not in model.calls[1].messages[2]["content"]  # the kept assistant turn
    assert model.calls[0].stop == ("\nObservation:",)


def test_reply_without_action_or_answer_gets_a_format_reminder_that_counts_as_a_step():
    rlm, model, _ = scripted_rlm(["I am not sure.", "Final Answer: ok"])
    result = rlm.completion("q")
    assert result.answer == "ok" and result.tree.steps == 2
    assert "neither a ```repl code block nor a final answer" in last_user_message(model.calls[1])


def test_long_output_is_cut_and_says_how_much():
    rlm, model, _ = scripted_rlm([code("print('y' * 50_000)"), "Final Answer: ok"],
                                 observation_chars=2000)
    rlm.completion("q")
    obs = last_user_message(model.calls[1])
    assert len(obs) < 2300 and "characters cut" in obs


def test_code_error_is_shown_and_the_agent_goes_on():
    rlm, model, events = scripted_rlm([code("1/0"), "Final Answer: oops"])
    result = rlm.completion("q")
    assert result.answer == "oops"
    assert "ZeroDivisionError" in last_user_message(model.calls[1])
    assert [e.error for e in events if e.type == "Observation"] == [True]


def test_variables_persist_between_steps():
    rlm, model, _ = scripted_rlm([code("a = 20"), code("print(a + 1)"), "Final Answer: 21"])
    rlm.completion("q")
    assert "21" in last_user_message(model.calls[2])


def test_history_is_append_only():
    rlm, model, _ = scripted_rlm([code("print(1)"), code("print(2)"), "Final Answer: 2"])
    rlm.completion("q")
    for before, after in zip(model.calls, model.calls[1:], strict=False):
        assert after.messages[:len(before.messages)] == before.messages


def test_every_event_of_one_agent_in_order():
    rlm, _, events = scripted_rlm([code("print(1)"), "Final Answer: 1"])
    rlm.completion("q")
    kinds = [e.type for e in events if e.type != "TokenDelta"]
    assert kinds == ["RunStarted", "AgentStarted", "StepStarted", "ModelReplied", "CodeStarted",
                     "CodeFinished", "Observation", "StepStarted", "ModelReplied",
                     "AgentFinished", "RunFinished"]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert any(e.type == "TokenDelta" for e in events)


async def test_acompletion_works_and_completion_works_inside_a_running_loop():
    rlm, _, _ = scripted_rlm(["Final Answer: a", "Final Answer: b"])
    assert (await rlm.acompletion("q")).answer == "a"
    assert rlm.completion("q").answer == "b"  # called while this test's loop runs


def test_usage_is_counted_per_model():
    rlm, _, _ = scripted_rlm([code("print(1)"), "Final Answer: 1"])
    result = rlm.completion("q")
    assert result.usage.calls == 2 and result.usage.prompt_tokens > 0
    assert set(result.usage.by_model) == {"scripted/root"}
    assert result.tree.usage.calls == 2


def test_keep_warm_reuses_a_started_worker_and_close_leaves_no_process():
    from rlm import RLM, ScriptedModel
    from tests.core.test_engine_loopback import no_sandbox_left

    pids = []
    def reply(m, model):
        if len(m) == 2:
            return code("import os; print(os.getpid())")
        return "Final Answer: " + m[-1]["content"].split()[-1]
    with RLM(client=ScriptedModel(reply), env={}, model="m", keep_warm=True) as rlm:
        for _ in range(3):
            pids.append(rlm.completion("pid?").answer)
        assert not no_sandbox_left()  # the template waits for the next run
    assert no_sandbox_left()
    assert len(set(pids)) == 3  # each run still got its own (fresh) worker process


def test_without_keep_warm_no_process_is_left_after_a_run():
    from tests.core.test_engine_loopback import no_sandbox_left

    rlm, _, _ = scripted_rlm([code("print(1)"), "Final Answer: 1"])
    rlm.completion("q")
    assert no_sandbox_left()
