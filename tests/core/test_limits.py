"""Each limit stops the right agent, which then gives its best answer."""

from __future__ import annotations

import threading
import time

from tests.engine_helpers import code, last_user_message, scripted_rlm
from tests.test_tree import task_of, tree_script, turn


def best_answer_or(reply_text):
    """Reply ``reply_text`` until asked for a best answer, then answer 'best guess'."""
    def reply(messages, model):
        if "Give your best answer now" in messages[-1]["content"]:
            return "Thought: out of time.\nFinal Answer: best guess"
        return reply_text(messages, model) if callable(reply_text) else reply_text
    return reply


def test_steps_limit_gives_a_best_answer_outside_the_step_count():
    rlm, model, events = scripted_rlm(best_answer_or(code("print(1)")), max_steps=3)
    result = rlm.completion("q")
    assert (result.status, result.limit_hit, result.answer) == ("limit", "steps", "best guess")
    assert result.tree.steps == 3 and len(model.calls) == 4
    assert "used all 3 steps" in last_user_message(model.calls[-1])
    kinds = [e.kind for e in events if e.type == "StepStarted"]
    assert kinds == ["step", "step", "step", "best_answer"]


def test_steps_limit_stops_the_child_not_the_parent():
    def reply(messages, model):
        if task_of(messages) == "root":
            return [code("print(rlm_query('child'))"), "Final Answer: root done"][turn(messages)]
        return code("print('child works')")

    rlm, _, _ = scripted_rlm(best_answer_or(reply), max_steps=2)
    result = rlm.completion("root")
    assert (result.status, result.answer) == ("answered", "root done")
    child = result.agents[1]
    assert (child.status, child.limit_hit, child.answer) == ("limit", "steps", "best guess")


def test_token_limit():
    rlm, _, _ = scripted_rlm(best_answer_or(code("print('x' * 100)")), max_tokens=300)
    result = rlm.completion("q")
    assert (result.status, result.limit_hit, result.answer) == ("limit", "tokens", "best guess")


def test_cost_limit():
    from rlm.llm import Completion
    from rlm.llm.scripted import ScriptedModel

    class Pricey(ScriptedModel):
        async def complete(self, messages, **kw):
            done = await super().complete(messages, **kw)
            return Completion(done.text, done.model, 10, 10, cost_usd=0.01)

    from rlm import RLM
    model = Pricey(best_answer_or(code("print(1)")))
    result = RLM(client=model, env={}, model="m", max_cost=0.025).completion("q")
    assert (result.status, result.limit_hit) == ("limit", "cost")
    assert result.usage.cost_usd >= 0.025


def test_time_limit():
    rlm, _, _ = scripted_rlm(best_answer_or(code("print(1)")), delay=0.05, timeout=0.5)
    result = rlm.completion("q")
    assert (result.status, result.limit_hit, result.answer) == ("limit", "time", "best guess")


def test_agents_limit_refuses_children_and_stops_the_parent_with_a_best_answer():
    plan = {"root": [code("print(rlm_query_batched(['a', 'b', 'c']))")]}
    plan.update({t: [f"Final Answer: {t}!"] for t in "abc"})
    rlm, model, events = scripted_rlm(best_answer_or(tree_script(plan)), max_agents=3)
    result = rlm.completion("root")
    assert (result.status, result.limit_hit, result.answer) == ("limit", "agents", "best guess")
    assert len(result.agents) == 3
    obs = [e.text for e in events if e.type == "Observation" and e.agent_id == "0"][0]
    assert "rlm_query refused" in obs and "a!" in obs


def test_action_timeout_is_an_observation_and_the_agent_goes_on():
    rlm, model, _ = scripted_rlm([code("x = 1\nwhile True: pass"),
                                  code("print(len(context), 'x' in dir())"),
                                  "Final Answer: ok"], action_timeout=1.0)
    result = rlm.completion("q", context="abc")
    assert result.answer == "ok"
    timeout_obs = last_user_message(model.calls[1])
    assert "action time limit" in timeout_obs and "variables are gone" in timeout_obs
    assert "3 False" in last_user_message(model.calls[2])


def test_cancel_from_another_thread_stops_the_run():
    rlm, _, events = scripted_rlm(lambda m, model: code("import time; time.sleep(0.2); print(1)"))
    threading.Timer(1.0, rlm.cancel).start()
    started = time.monotonic()
    result = rlm.completion("q")
    assert result.status == "cancelled" and result.answer == ""
    assert time.monotonic() - started < 30
    assert events[-1].type == "RunFinished" and events[-1].status == "cancelled"
    finished = [e for e in events if e.type == "AgentFinished"]
    assert [e.status for e in finished] == ["cancelled"]
