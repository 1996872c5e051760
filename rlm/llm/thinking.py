"""Keeping a thinking model's thinking apart from its reply.

Thinking models (qwen3, deepseek-r1, gpt-oss, magistral, ...) write their reasoning before
the answer. Servers hand it over in one of two ways: a field of its own (Ollama's
``message.thinking`` when a request sets ``think``; ``reasoning_content`` or ``reasoning``
in the OpenAI-compatible replies of llama.cpp and vLLM), or inline at the start of the
content as ``<think>...</think>`` (Ollama without ``think``, older servers, plain
templates). Either way it is kept and shown, and never parsed as the reply: a code block
or a ``Final Answer:`` drafted while thinking must not run or count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlm.llm import TokenCallback

OPEN, CLOSE = "<think>", "</think>"


def split_thinking(text: str) -> tuple[str, str]:
    """(thinking, reply) of a whole reply whose thinking may be inline in ``<think>`` tags.

    Only a block at the start counts (leading whitespace allowed); an unclosed block means
    the model ran out of room while thinking, so all of it is thinking and the reply is empty.
    """
    stripped = text.lstrip()
    if not stripped.startswith(OPEN):
        return "", text
    inner = stripped[len(OPEN):]
    thinking, closed, rest = inner.partition(CLOSE)
    if not closed:
        return inner.strip(), ""
    return thinking.strip(), rest.lstrip("\n")


@dataclass
class ThinkingFilter:
    """Routes streamed pieces: inline thinking to ``on_thinking``, the rest to ``on_token``.

    A tag may arrive split across pieces, so undecided text is held back until it is clear
    whether it starts (or ends) a thinking block.
    """

    on_token: TokenCallback | None
    on_thinking: TokenCallback | None = None
    state: str = "start"  # start (nothing decided yet) | thinking | reply
    held: str = ""
    thinking: list[str] = field(default_factory=list)
    reply: list[str] = field(default_factory=list)

    def feed(self, piece: str) -> None:
        """Take the next streamed piece of the content."""
        self.held += piece
        if self.state == "start":
            self._decide_start()
        if self.state == "thinking":
            self._pass_thinking()
        elif self.state == "reply" and self.held:
            self._emit_reply(self.held)
            self.held = ""

    def add_thinking(self, piece: str) -> None:
        """Thinking that came in a field of its own (``message.thinking``)."""
        self.thinking.append(piece)
        if self.on_thinking is not None:
            self.on_thinking(piece)

    def finish(self) -> tuple[str, str]:
        """(thinking, reply) once the stream has ended."""
        if self.held:
            if self.state == "thinking":
                self.add_thinking(self.held)
            else:
                self._emit_reply(self.held)
            self.held = ""
        return "".join(self.thinking).strip(), "".join(self.reply).lstrip("\n")

    def _decide_start(self) -> None:
        head = self.held.lstrip()
        if head.startswith(OPEN):
            self.held = head[len(OPEN):]
            self.state = "thinking"
        elif not (OPEN.startswith(head) and head):  # cannot become <think> any more
            self.state = "reply"

    def _pass_thinking(self) -> None:
        before, closed, after = self.held.partition(CLOSE)
        if closed:
            if before:
                self.add_thinking(before)
            self.held, self.state = after.lstrip("\n"), "reply"
            if self.held:
                self._emit_reply(self.held)
                self.held = ""
            return
        keep = _partial_tail(self.held, CLOSE)  # a tag that may be cut in two
        ready = self.held[:len(self.held) - keep]
        if ready:
            self.add_thinking(ready)
        self.held = self.held[len(ready):]

    def _emit_reply(self, text: str) -> None:
        if not self.reply:
            text = text.lstrip("\n") if self.thinking else text
            if not text:
                return
        self.reply.append(text)
        if self.on_token is not None:
            self.on_token(text)


def _partial_tail(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
