"""``sub_calls=False``: the REPL without llm_query/rlm_query (the paper's ablation)."""

from __future__ import annotations

from tests.engine_helpers import code, observations, scripted_rlm


def test_the_prompt_does_not_offer_sub_calls_and_a_call_raises_with_the_reason():
    rlm, model, events = scripted_rlm(
        [code("print(llm_query('hi'))"), code("print(rlm_query_batched(['a']))"),
         "Final Answer: done"], sub_calls=False)
    result = rlm.completion("Find it", "x" * 20_000)
    assert result.answer == "done"
    first = model.calls[0].messages
    assert "llm_query" not in first[0]["content"] and "rlm_query" not in first[0]["content"]
    assert "llm_query" not in first[1]["content"]  # the strategy hint offers code only
    seen = observations(events)
    assert "RuntimeError: llm_query is turned off in this run (sub_calls=False)" in seen[0]
    assert "rlm_query_batched is turned off" in seen[1]
    assert len(model.calls) == 3  # no sub-model call was made
    assert not [e for e in events if e.type == "AgentStarted" and e.agent_id != "0"]


def test_sub_calls_are_on_by_default():
    rlm, model, _ = scripted_rlm([code("FINAL(llm_query('hi'))"), "sub answer"])
    assert rlm.completion("Find it", "ctx").answer == "sub answer"
    assert "llm_query(prompt)" in model.calls[0].messages[0]["content"]


def test_host_tools_still_work_without_sub_calls():
    rlm, model, _ = scripted_rlm([code("print(lookup('fig'))"), "Final Answer: done"],
                                 sub_calls=False, tools={"lookup": lambda key: f"<{key}>"})
    assert rlm.completion("q", "ctx").answer == "done"
    assert "lookup(" in model.calls[0].messages[0]["content"]  # tools are still offered
    assert model.calls[1].messages[-1]["content"] == "Observation: <fig>"
