"""Prompt tokens a local server must evaluate per turn, with and without folding.

    uv run python bench/bench_window.py [--steps 20] [--window 4096]

A local server keeps the previous prompt's KV cache and evaluates only what follows the
longest prefix the new prompt shares with it (Ollama and llama.cpp do, per slot). This runs
the same 20-step agent (large outputs, the answer in step 1's output) against the strict
loopback Ollama (``tests/servers``: Ollama's real default window and silent truncation,
prompts counted in the model's chat template) and, from the requests the server received,
counts per turn: the prompt the model saw, the part shared with the previous prompt, and
the tokens left to evaluate. Variants:

- ``fold``: the engine as shipped (the window sent as num_ctx, history folded in one step
  when a prompt would pass 80% of its room, down to 50%);
- ``slide``: the same, but folding one turn per call (down to 80%), the way a sliding
  window would: the prefix changes on every call;
- ``none``: no window known, no folding (the engine before issue 11): every prompt goes out
  whole and Ollama cuts it silently, dropping the oldest messages, the task among them.

Prints a table and ``RESULT {json}`` last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlm import RLM  # noqa: E402
from rlm.core import history  # noqa: E402
from tests.core.test_window import CONTEXT, step_of  # noqa: E402
from tests.engine_helpers import code  # noqa: E402
from tests.servers import FakeModel, OllamaServer  # noqa: E402


def agent(steps: int):
    """Reads step 1, wanders with large outputs, reads step 1 back from ``history``."""
    def reply(request) -> str:
        messages = request.messages
        if not any("What is the code word?" in str(m["content"]) for m in messages):
            return "Thought: the task is gone.\nFinal Answer: lost"
        step = step_of(messages)
        if step == 1:
            return code("print(context[:1500])")
        if step < steps:
            return code(f"print('step {step}: ' + 'filler words ' * 200)")
        if step == steps:
            return code("print(history[0]['output'][:200] if 'history' in dir() "
                        "else 'no history')")
        return ("Thought: done.\nFinal Answer: "
                + ("PELICAN" if "PELICAN" in messages[-1]["content"] else "unknown"))
    return reply


def run(variant: str, steps: int, window: int) -> dict:
    fold_at, keep = history.FOLD_AT, history.KEEP_SHARE
    if variant == "slide":
        history.KEEP_SHARE = history.FOLD_AT
    settings: dict = {}
    if variant == "none":
        history.FOLD_AT = float("inf")

        async def unknown(model: str) -> None:
            return None

        settings["window_lookup"] = unknown
    try:
        model = FakeModel("tiny:latest", context_length=window)
        with OllamaServer(agent(steps), models=[model]) as server:
            os.environ["OLLAMA_HOST"] = server.url
            result = RLM(model="ollama_chat/tiny", max_steps=steps + 5, **settings).completion(
                "What is the code word?", CONTEXT)
            turns = evaluated(server)
            cuts = len(server.truncations)
    finally:
        history.FOLD_AT, history.KEEP_SHARE = fold_at, keep
    return {"variant": variant, "answer": result.answer, "status": result.status,
            "calls": len(turns), "truncated": cuts,
            "prompt_median": statistics.median(t["prompt"] for t in turns),
            "eval_median": statistics.median(t["eval"] for t in turns),
            "eval_total": sum(t["eval"] for t in turns),
            "prompt_total": sum(t["prompt"] for t in turns)}


def evaluated(server: OllamaServer) -> list[dict]:
    """Per call: the prompt the model saw (after any cut) and the tokens past the prefix it
    shares, message by message, with the call before (the server's cache)."""
    turns, previous = [], []
    for request in server.chat_requests():
        seen = kept(server, request)
        shared = 0
        for old, new in zip(previous, seen, strict=False):
            if old != new:
                break
            shared += server.count_prompt([new]) - server.count_prompt([])
        total = server.count_prompt(seen)
        turns.append({"prompt": total, "eval": total - shared})
        previous = seen
    return turns


def kept(server: OllamaServer, request) -> list[dict]:
    """The messages the model saw: what the server kept after a silent cut."""
    messages = request.body["messages"]
    index = server.chat_requests().index(request)
    for cut in server.truncations:
        if cut.request == index:
            return [m for m in messages if m not in cut.dropped]
    return messages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--window", type=int, default=4096)
    args = parser.parse_args()
    rows = [run(v, args.steps, args.window) for v in ("fold", "slide", "none")]
    print(f"{'variant':<8} {'answer':<10} {'calls':>5} {'cut':>4} {'prompt med':>10} "
          f"{'eval med':>9} {'eval total':>10} {'prompt total':>12}")
    for r in rows:
        print(f"{r['variant']:<8} {r['answer'][:10]:<10} {r['calls']:>5} {r['truncated']:>4} "
              f"{r['prompt_median']:>10,.0f} {r['eval_median']:>9,.0f} {r['eval_total']:>10,} "
              f"{r['prompt_total']:>12,}")
    print("RESULT " + json.dumps(rows))


if __name__ == "__main__":
    main()
