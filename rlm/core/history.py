"""One agent's chat, kept within its model's window.

The chat is the system prompt, the task message, then turns: the model's reply and what
came back (an observation, a reminder). When the next call would pass ``FOLD_AT`` of the
room for a prompt, the oldest turns leave the chat in one step (``fold``), down to
``KEEP_SHARE`` of that room: a prefix that stays the same for several calls is what lets a
local server reuse its prompt cache, so folding one turn per call would be the worst of
both. What leaves goes to the sandbox variable ``history`` (one dict per step: step,
thought, code, output), where the model's code can still read it, and the task message
says so in a short note. The newest turn always stays; when even it does not fit, its
output is cut (``shrink_last``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rlm.core.observe import cut_text
from rlm.core.parse import parse_reply

FOLD_AT = 0.8       # fold when the next prompt would take more than this share of its room
KEEP_SHARE = 0.5    # ... down to at most this share
VARIABLE = "history"

Counter = Callable[[list[dict]], int]


@dataclass
class Turn:
    """One step in the chat: the model's reply and the user messages that followed it."""

    step: int
    reply: str
    replies_to: list[str] = field(default_factory=list)

    def messages(self) -> list[dict]:
        return [{"role": "assistant", "content": self.reply},
                *({"role": "user", "content": text} for text in self.replies_to)]

    def entry(self) -> dict:
        """What the ``history`` variable keeps of this step."""
        parsed = parse_reply(self.reply)
        output = "\n".join(text.removeprefix("Observation: ") for text in self.replies_to)
        return {"step": self.step, "thought": parsed.thought,
                "code": "\n\n".join(parsed.code_blocks), "output": output}


@dataclass
class Folded:
    """What one fold moved: the steps, and the chat's size before and after."""

    steps: list[int]
    tokens_before: int
    tokens_after: int


class History:
    """The messages of one agent's calls, and the steps folded out of them."""

    def __init__(self, system: str, first: str):
        self.system, self.first = system, first
        self.turns: list[Turn] = []
        self.folded: list[dict] = []  # entries of the ``history`` variable, oldest first
        self.pending: list[str] = []  # user messages before any reply (none, usually)

    # --- building ---------------------------------------------------------------------------
    def add_reply(self, step: int, text: str) -> None:
        self.turns.append(Turn(step, text))

    def add_user(self, text: str) -> None:
        """An observation, a reminder, or the best-answer prompt."""
        if self.turns:
            self.turns[-1].replies_to.append(text)
        else:
            self.pending.append(text)

    def messages(self) -> list[dict]:
        first = self.first + (f"\n\n{self.note()}" if self.folded else "")
        chat = [{"role": "system", "content": self.system}, {"role": "user", "content": first}]
        chat += [{"role": "user", "content": text} for text in self.pending]
        for turn in self.turns:
            chat += turn.messages()
        return chat

    def note(self) -> str:
        first, last = self.folded[0]["step"], self.folded[-1]["step"]
        steps = f"Step {first} was" if first == last else f"Steps {first}-{last} were"
        return (f"[{steps} moved out of this chat to keep it within the model's window. They "
                f"are in the variable `{VARIABLE}`: a list with one dict per step (keys: "
                f"step, thought, code, output). Read it with code if you need them, for "
                f"example print({VARIABLE}[-1]['output'][:500]).]")

    # --- keeping within the window ------------------------------------------------------
    def needs_fold(self, tokens: int, limit: int) -> bool:
        """Whether a chat of ``tokens`` (``count(messages())``) is due for a fold."""
        return len(self.turns) > 1 and tokens > FOLD_AT * limit

    def fold(self, count: Counter, limit: int, before: int | None = None) -> Folded | None:
        """Move the oldest turns out, in one step, until the chat takes at most
        ``KEEP_SHARE`` of ``limit`` (or only the newest turn is left). ``before``: the
        chat's tokens now, when the caller has counted them."""
        before = count(self.messages()) if before is None else before
        moved: list[Turn] = []
        while len(self.turns) > 1 and (not moved or count(self.messages()) > KEEP_SHARE * limit):
            turn = self.turns.pop(0)
            moved.append(turn)
            self.folded.append(turn.entry())
        if not moved:
            return None
        return Folded([t.step for t in moved], before, count(self.messages()))

    def shrink_last(self, count: Counter, limit: int) -> int:
        """Cut the newest turn's output until the chat fits ``limit``; characters cut."""
        if not self.turns or not self.turns[-1].replies_to:
            return 0
        turn, total = self.turns[-1], 0
        while count(self.messages()) > limit:
            text = turn.replies_to[-1]
            keep = len(text) * 3 // 4  # a quarter less each time: tokens per character vary
            if keep < 200:
                break
            turn.replies_to[-1], cut = cut_text(text, keep)
            total += cut
        return total
