"""Scripted replies: plain text, or a thinking part and an answer, as a model writes them.

A thinking model writes its reasoning between ``<think>`` and ``</think>`` before the
answer (DeepSeek-R1, Qwen3, ...). What a client then receives depends on the server:
Ollama parses it out into ``message.thinking`` when thinking is on (``thinking.Parser``
in ``server/routes.go`` ``ChatHandler``), older Ollama and servers without a reasoning
parser leave the raw tags at the start of ``content``. Scripts therefore say what the
*model* writes; the servers decide where it lands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

OPEN, CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class ThinkingReply:
    """A reply with a thinking part: the model writes ``<think>thinking</think>content``."""

    thinking: str
    content: str = ""

    @property
    def raw(self) -> str:
        return f"{OPEN}{self.thinking}{CLOSE}{self.content}"


def raw_text(reply) -> str:
    """The text the model generates for a scripted reply (str or ``ThinkingReply``)."""
    return reply.raw if isinstance(reply, ThinkingReply) else str(reply)


def split_thinking(raw: str) -> tuple[str, str]:
    """``(thinking, content)`` of generated text, as Ollama's thinking parser splits it.

    Only a ``<think>`` at the start (after whitespace) opens thinking; whitespace after
    either tag is eaten; an unclosed one (the reply was cut) leaves everything as thinking
    (ollama ``thinking/parser.go`` ``eat``).
    """
    stripped = raw.lstrip()
    if not stripped.startswith(OPEN):
        return "", raw
    rest = stripped[len(OPEN):]
    thinking, closed, content = rest.partition(CLOSE)
    return thinking.lstrip(), content.lstrip() if closed else ""


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` before the first stop sequence, as a real server does."""
    cut = len(text)
    for seq in stop:
        if seq:
            found = text.find(seq)
            if 0 <= found < cut:
                cut = found
    return text[:cut]
