"""Turning what an action did into the observation text the model reads."""

from __future__ import annotations

from typing import Any

from rlm import events as ev
from rlm.core import prompts

NO_OUTPUT = "(no output: use print() to see values)"


def cut_text(text: str, limit: int) -> tuple[str, int]:
    """Keep the head and tail of ``text`` within ``limit`` characters; say how much was cut."""
    if len(text) <= limit:
        return text, 0
    cut = len(text) - limit
    head = limit * 2 // 3
    tail = limit - head
    note = f"\n[... {cut:,} characters cut from the middle of this output ...]\n"
    return text[:head] + note + text[len(text) - tail:], cut


def render_action(result, block: int, blocks: int) -> str:
    """One code block's result: output, errors, timeouts, restarts, sandbox-side cuts."""
    parts: list[str] = []
    if blocks > 1:
        parts.append(f"[block {block + 1} of {blocks}]")
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr and not result.error:
        parts.append("stderr:\n" + result.stderr.rstrip("\n"))
    if result.error:
        parts.append(result.error.rstrip("\n"))
    if result.final_error:
        parts.append(result.final_error)
    if result.timed_out:
        parts.append(f"[The code was stopped: it ran longer than the action time limit "
                     f"({result.seconds:.0f} s of running time).]")
    elif result.restarted and result.crash:
        parts.append(f"[The sandbox process died: {result.crash}.]")
    if result.restarted:
        parts.append(prompts.RESTARTED.format(why="after a timeout" if result.timed_out
                                              else "after a crash"))
    has_output = any(p for p in parts if not p.startswith("[block"))
    if not has_output:
        parts.append(NO_OUTPUT)
    return "\n".join(parts)


def block_output(result, wall_seconds: float) -> dict[str, Any]:
    """The fields of a ``CodeFinished`` event: one block's own output and times.

    ``stderr`` is what the code wrote there, then its traceback, a ``FINAL_VAR`` problem or
    what happened to a worker that died (the official RLM's REPL puts errors there too).
    """
    problems = [result.stderr.rstrip("\n"), result.error, result.final_error,
                f"[The sandbox process died: {result.crash}.]" if result.crash else None]
    return {"stdout": ev.bounded(result.stdout),
            "stderr": ev.bounded("\n".join(p.rstrip("\n") for p in problems if p)),
            "error": bool(result.error), "timed_out": result.timed_out,
            "restarted": result.restarted, "seconds": result.seconds,
            "wall_seconds": round(wall_seconds, 6)}
