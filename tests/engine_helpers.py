"""Helpers for engine tests: run an RLM on a scripted model and look at what happened."""

from __future__ import annotations

from rlm import RLM
from rlm.events import Event
from rlm.llm.scripted import ScriptedModel


def scripted_rlm(replies, *, delay: float = 0.0, honor_stop: bool = True, **settings):
    """An RLM on a ScriptedModel that also records every event."""
    model = ScriptedModel(replies, delay=delay, honor_stop=honor_stop)
    events: list[Event] = []
    settings.setdefault("model", "scripted/root")
    rlm = RLM(client=model, on_event=events.append, env={}, **settings)
    return rlm, model, events


def last_user_message(call) -> str:
    return call.messages[-1]["content"]


def observations(events, agent_id: str = "0") -> list[str]:
    return [e.text for e in events if e.type == "Observation" and e.agent_id == agent_id]


def code(text: str) -> str:
    return f"Thought: run it.\n```repl\n{text}\n```"


def task_of(messages) -> str:
    """The task line of an agent's first message ("LLM:<prompt>" for a plain llm_query)."""
    if messages[0]["role"] != "system":
        return "LLM:" + str(messages[0]["content"])
    return str(messages[1]["content"]).split("\n", 1)[0].removeprefix("Task: ")


def turn(messages) -> int:
    """How many replies the agent has given so far."""
    return sum(1 for m in messages if m["role"] == "assistant")
