"""The tree of agents: recursion, depth, batches, concurrency, limits."""

from __future__ import annotations

from tests.engine_helpers import code, scripted_rlm, task_of, turn


def tree_script(plan):
    """Replies by agent task: ``plan[task]`` is a list of replies for that agent's turns."""
    def reply(messages, model):
        task = task_of(messages)
        if task.startswith("LLM:"):
            return f"plain answer to {task[4:][:30]}"
        return plan[task][turn(messages)]
    return reply


def test_root_children_and_grandchildren_have_the_right_shape():
    plan = {
        "root task": [code("print(rlm_query('child A'), rlm_query('child B'))"),
                      "Final Answer: done"],
        "child A": [code("print(rlm_query('grandchild'))"), "Final Answer: A ok"],
        "child B": ["Final Answer: B ok"],
        "grandchild": ["Final Answer: G ok"],
    }
    rlm, model, events = scripted_rlm(tree_script(plan), max_depth=2)
    result = rlm.completion("root task")
    assert result.answer == "done"
    shape = [(n.agent_id, n.parent_id, n.depth, n.task, n.status) for n in result.agents]
    assert shape == [
        ("0", None, 0, "root task", "answered"),
        ("0.1", "0", 1, "child A", "answered"),
        ("0.1.1", "0.1", 2, "grandchild", "answered"),
        ("0.2", "0", 1, "child B", "answered"),
    ]
    root_obs = [e.text for e in events if e.type == "Observation" and e.agent_id == "0"]
    assert "A ok B ok" in root_obs[0]
    child_a_obs = [e.text for e in events if e.type == "Observation" and e.agent_id == "0.1"]
    assert "G ok" in child_a_obs[0]


def test_children_start_with_a_fresh_history_and_the_task_as_context():
    plan = {"root": [code("print(rlm_query('count me'))"), "Final Answer: r"],
            "count me": [code("print(len(context))"), "Final Answer: c"]}
    rlm, model, _ = scripted_rlm(tree_script(plan))
    rlm.completion("root", context="the root context, which the child never sees")
    child_calls = [c for c in model.calls if task_of(c.messages) == "count me"]
    assert len(child_calls[0].messages) == 2  # system + first message only
    assert "root context" not in str(child_calls[0].messages)
    assert "8" in child_calls[1].messages[-1]["content"]  # len("count me")


def test_child_gets_its_own_context_of_any_kind():
    plan = {"root": [code("print(rlm_query('keys?', {'a': 1, 'b': [2]}))"), "Final Answer: r"],
            "keys?": [code("print(sorted(context))"), "Final Answer: keys a b"]}
    rlm, model, events = scripted_rlm(tree_script(plan))
    rlm.completion("root")
    child_obs = [e.text for e in events if e.type == "Observation" and e.agent_id == "0.1"]
    assert "['a', 'b']" in child_obs[0]


def test_max_depth_zero_makes_rlm_query_a_plain_call():
    plan = {"root": [code("print(rlm_query('sub question'))"), "Final Answer: r"]}
    rlm, model, events = scripted_rlm(tree_script(plan), max_depth=0)
    result = rlm.completion("root")
    assert [n.agent_id for n in result.agents] == ["0"]
    plain = [c for c in model.calls if task_of(c.messages).startswith("LLM:")]
    assert plain and plain[0].messages == [{"role": "user", "content": "sub question"}]
    assert "plain answer to sub question" in [e.text for e in events if e.type == "Observation"][0]


def test_max_depth_one_stops_grandchildren():
    plan = {"root": [code("print(rlm_query('child'))"), "Final Answer: r"],
            "child": [code("print(rlm_query('grandchild'))"), "Final Answer: c"]}
    rlm, _, _ = scripted_rlm(tree_script(plan), max_depth=1)
    result = rlm.completion("root")
    assert [n.agent_id for n in result.agents] == ["0", "0.1"]


def test_llm_query_uses_sub_model_and_no_system_prompt():
    plan = {"root": [code("print(llm_query('hello there'))"), "Final Answer: r"]}
    rlm, model, events = scripted_rlm(tree_script(plan), sub_model="scripted/small")
    result = rlm.completion("root")
    plain = [c for c in model.calls if c.messages[0]["role"] == "user"]
    assert plain[0].model == "scripted/small"
    assert plain[0].messages == [{"role": "user", "content": "hello there"}]
    sub = [e for e in events if e.type == "SubCall"]
    assert sub[0].kind == "llm_query" and sub[0].answer.startswith("plain answer")
    assert set(result.usage.by_model) == {"scripted/root", "scripted/small"}


def test_children_use_sub_model_and_the_depth_map_wins():
    plan = {"root": [code("print(rlm_query('child'))"), "Final Answer: r"],
            "child": ["Final Answer: c"]}
    rlm, model, _ = scripted_rlm(tree_script(plan), sub_model="scripted/small",
                                 depth_models={1: "scripted/depth1"})
    result = rlm.completion("root")
    assert result.agents[1].model == "scripted/depth1"


def test_batched_children_run_at_once_and_answers_keep_their_order():
    plan = {"root": [code("print(rlm_query_batched([f'part {i}' for i in range(4)]))"),
                     "Final Answer: r"]}
    plan.update({f"part {i}": [f"Final Answer: answer {i}"] for i in range(4)})
    rlm, model, events = scripted_rlm(tree_script(plan), delay=0.2, max_concurrency=8)
    rlm.completion("root")
    obs = [e.text for e in events if e.type == "Observation" and e.agent_id == "0"][0]
    assert "['answer 0', 'answer 1', 'answer 2', 'answer 3']" in obs
    assert model.max_in_flight >= 2


def test_llm_query_batched_keeps_every_answer_across_several_batches():
    batches = "\n".join(
        f"b{k} = llm_query_batched([f'q{k}-{{i}}' for i in range(20)])" for k in range(3))
    plan = {"root": [code(batches + "\nprint(sum(len(b) for b in (b0, b1, b2)), b2[19])"),
                     "Final Answer: r"]}
    rlm, model, events = scripted_rlm(tree_script(plan), delay=0.02, max_concurrency=8)
    rlm.completion("root")
    obs = [e.text for e in events if e.type == "Observation"][0]
    assert "60 plain answer to q2-19" in obs
    assert 1 < model.max_in_flight <= 8


def test_nested_fan_out_finishes_with_a_small_concurrency_limit():
    plan = {"root": [code("print(rlm_query_batched(['c1', 'c2', 'c3']))"), "Final Answer: r"]}
    for c in ("c1", "c2", "c3"):
        plan[c] = [code(f"print(rlm_query_batched(['{c}-a', '{c}-b']))"), f"Final Answer: {c}"]
        plan[f"{c}-a"] = [f"Final Answer: {c}a"]
        plan[f"{c}-b"] = [f"Final Answer: {c}b"]
    rlm, model, _ = scripted_rlm(tree_script(plan), max_concurrency=1, max_depth=2)
    result = rlm.completion("root")
    assert result.answer == "r" and len(result.agents) == 10
    assert model.max_in_flight == 1


def test_a_failed_child_gives_the_parent_an_error_string():
    def reply(messages, model):
        if task_of(messages) == "bad child":
            raise_error()
        return [code("print(rlm_query('bad child'))"), "Final Answer: r"][turn(messages)]

    def raise_error():
        from rlm.errors import ProviderError
        raise ProviderError("the provider said no")

    rlm, model, events = scripted_rlm(reply)
    result = rlm.completion("root")
    child = result.agents[1]
    assert child.status == "failed" and "provider said no" in child.error
    obs = [e.text for e in events if e.type == "Observation" and e.agent_id == "0"][0]
    assert "[rlm_query failed" in obs and "provider said no" in obs


def test_parent_is_marked_waiting_while_children_work():
    plan = {"root": [code("print(rlm_query('child'))"), "Final Answer: r"],
            "child": ["Final Answer: c"]}
    rlm, _, events = scripted_rlm(tree_script(plan))
    rlm.completion("root")
    statuses = [(e.agent_id, e.status) for e in events if e.type == "AgentStatus"]
    assert statuses == [("0", "waiting"), ("0", "running")]
    waiting_at = next(e.seq for e in events if e.type == "AgentStatus")
    child_started = next(e.seq for e in events if e.type == "AgentStarted" and e.agent_id == "0.1")
    assert waiting_at < child_started


def test_llm_query_too_long_for_its_model_is_refused_with_advice():
    from rlm import RLM
    from rlm.llm.scripted import ScriptedModel

    plan = {"root": [code("print(llm_query('word ' * 20000))"), "Final Answer: r"]}
    model = ScriptedModel(tree_script(plan))
    events = []

    async def window(name):
        return 4096

    rlm = RLM(client=model, env={}, model="ollama/tiny", on_event=events.append,
              window_lookup=window)
    rlm.completion("root")
    assert not [c for c in model.calls if c.messages[0]["role"] == "user"]  # never sent
    obs = [e.text for e in events if e.type == "Observation"][0]
    assert "llm_query refused" in obs and "runs at 4,096" in obs
