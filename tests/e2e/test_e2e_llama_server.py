"""The engine against llama.cpp's own ``llama-server`` at a small window (issue 11).

``llama-server`` runs its slot at the ``n_ctx`` it was started with (here 2,048 tokens) and
refuses a longer prompt with a 400 (``exceed_context_size_error``); a reply that reaches the
end of the window is cut short. The engine reads that window from ``/props``, counts every
prompt before sending it, keeps room for the reply, and folds an agent's oldest turns into
the sandbox variable ``history`` when the chat would not fit. Ten steps at 2,048 tokens must
fold at least once and must never be refused. The model is a 270M base model: nothing here
looks at what it answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import LlamaServer

MAX_STEPS = 10
REPLY_TOKENS = 128
# A base model now and then answers at the first or second step, before its chat can fill
# the window: such a run shows nothing about folding, so another one is started (a short
# run costs seconds; a ten-step one about a minute).
ATTEMPTS = 4
ENDED = ("answered", "limit")
TASK = ("Read the journal in `context` part by part: print a slice, read it, then print the "
        "next slice. On which lines is a sandstorm mentioned?")
SENTENCES = (
    "The caravan left the oasis at dawn and the camels walked slowly over the dunes.",
    "A merchant sold dates and figs to the travellers and talked about the weather.",
    "In the evening the guards lit fires and told old stories about the desert.",
    "The water skins were checked twice, because the next well was far away.",
)
STORM = "A sandstorm came from the south and the caravan waited behind the rocks."
pytestmark = pytest.mark.timeout(600)  # ~1-2 minutes on 2 cores; a loaded machine is slower


def _journal() -> str:
    """~2,000 lines of prose (~150 KB, ~32,000 tokens): far past a 2,048-token window, so
    whatever the model prints of it fills an observation to its limit. Prose, because the
    engine's count of prose is close to the model's own (digits are not: see below)."""
    return "\n".join(STORM if i % 89 == 41 else SENTENCES[i * 7 % 4] for i in range(2000))


@dataclass
class Run:
    result: Any
    events: list[Any] = field(default_factory=list)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def summary(self) -> str:
        from rlm import events as ev

        prompts = [r.prompt_tokens for r in self.of(ev.ModelReplied)]
        return (f"{self.result.status} after {len(prompts)} calls, "
                f"{len(self.of(ev.HistoryFolded))} folds, server-counted prompts {prompts}")


def _run(server: LlamaServer, trace: Path, client: Any = None, context: Any = None) -> Run:
    from rlm import RLM

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    run = Run(result=None)
    engine = RLM(model=f"openai/{server.model_name}", api_base=server.api_base, max_depth=0,
                 max_steps=MAX_STEPS, reply_max_tokens=REPLY_TOKENS, timeout=540,
                 on_event=run.events.append, client=client)
    run.result = engine.completion(TASK, context=_journal() if context is None else context,
                                   trace=trace)
    return run


def _prompt_room(n_ctx: int) -> int:
    """The most prompt tokens the engine lets a call send at this window."""
    from rlm.config import Settings
    from rlm.core.budget import prompt_limit
    from rlm.llm.windows import Window

    room = prompt_limit(Window("any", n_ctx), Settings.resolve({}, reply_max_tokens=REPLY_TOKENS))
    assert room is not None
    return room


def _assert_never_refused(run: Run) -> None:
    result = run.result
    errors = [agent.error or "" for agent in result.agents] + [result.error or ""]
    assert not [e for e in errors if "context size" in e or "exceed" in e], errors
    assert result.status in ENDED, f"status {result.status}: {result.error}"


def _assert_fitted(run: Run, server: LlamaServer) -> None:
    """What must hold for every run against the real server, whatever the model wrote."""
    from rlm import events as ev

    _assert_never_refused(run)
    (root,) = run.result.agents
    assert root.status in ENDED and root.steps <= MAX_STEPS, root.to_dict()
    replies = run.of(ev.ModelReplied)
    # The server's own counts: each prompt left the reply the room the engine kept for it,
    # and no reply ran into the end of the window (llama.cpp cuts it there, with no error).
    assert max(r.prompt_tokens for r in replies) <= _prompt_room(server.n_ctx), run.summary()
    assert all(r.prompt_tokens + r.completion_tokens < server.n_ctx for r in replies)
    assert all(f.window == server.n_ctx and f.tokens_after < f.tokens_before
               for f in run.of(ev.HistoryFolded))


def _assert_replays(run: Run, trace: Path) -> None:
    from rlm.trace import load_tree

    _header, builder = load_tree(trace)
    replayed = {n.agent_id: (n.status, n.steps, n.answer) for n in builder.nodes.values()}
    assert replayed == {a.agent_id: (a.status, a.steps, a.answer) for a in run.result.agents}
    assert builder.run_finished.answer == run.result.answer


def test_the_window_is_the_servers_n_ctx(llama_server: LlamaServer) -> None:
    """The engine's running window for the model is what ``/props`` says, with one slot."""
    from rlm.llm.windows import decide_window

    window = asyncio.run(decide_window(f"openai/{llama_server.model_name}",
                                       api_base=llama_server.api_base))
    assert window.running == llama_server.n_ctx  # 2,048 unless E2E_LLAMA_SERVER_N_CTX
    assert window.source == "the server's /props (n_ctx)"
    assert window.parallel == 1
    assert window.trained == 32_768  # gemma 3 270M, from /v1/models' meta.n_ctx_train


def test_ten_steps_at_2048_tokens_fold_and_are_never_refused(llama_server: LlamaServer,
                                                             tmp_path: Path) -> None:
    from rlm import events as ev

    runs: list[Run] = []
    for attempt in range(ATTEMPTS):
        trace = tmp_path / f"run{attempt}.jsonl"
        run = _run(llama_server, trace)
        _assert_fitted(run, llama_server)
        _assert_replays(run, trace)
        runs.append(run)
        if run.of(ev.HistoryFolded):
            break
    folded = runs[-1]
    print(f"\nllama-server at {llama_server.n_ctx}: " + "; ".join(r.summary() for r in runs))
    assert folded.of(ev.HistoryFolded), "no run folded: " + "; ".join(r.summary() for r in runs)
    assert len(folded.of(ev.ModelReplied)) >= MAX_STEPS or folded.result.status == "answered"


class RealPromptScriptedReply:
    """``rlm.llm.Model``: every prompt goes to the real server, which counts it and refuses
    it when it does not fit; the reply's text is then replaced by the next scripted one, so
    the run is the same every time."""

    def __init__(self, api_base: str, replies: list[str]):
        from rlm.llm.http import DirectModel

        self.real = DirectModel(api_base)
        self.replies = iter(replies)

    async def complete(self, messages: list[dict], **call: Any) -> Any:
        done = await self.real.complete(messages, **call)
        return dataclasses.replace(done, text=next(self.replies, "Final Answer: done"))

    async def aclose(self) -> None:
        await self.real.aclose()


def test_a_prompt_full_of_digits_is_counted_as_the_server_counts_it(
        llama_server: LlamaServer, tmp_path: Path) -> None:
    rng = random.Random(7)
    numbers = " ".join(str(rng.randint(100_000, 999_999)) for _ in range(2000))
    script = ["Thought: look at the numbers.\n```repl\nprint(context[:1500])\n```",
              "Thought: the next ones.\n```repl\nprint(context[1500:3000])\n```"]
    client = RealPromptScriptedReply(llama_server.api_base, script)
    _assert_never_refused(_run(llama_server, tmp_path / "digits.jsonl", client, numbers))
