"""Reading a model's reply: thought, code blocks, and final answers (the reply protocol).

A reply is ``Thought:`` prose, then either fenced code (```` ```repl ```` or
```` ```python ````) or ``Final Answer: ...``. ``FINAL(text)`` in prose is the same as
``Final Answer:``; ``FINAL_VAR(name)`` answers with a sandbox variable. Anything from an
invented ``Observation:`` line on is cut: models make up outputs. Which of these ends the
agent is decided by the agent loop, not here.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

# The stop sequence sent with every call, so a server cuts invented observations itself.
OBSERVATION_STOP = "\nObservation:"

_FENCE = re.compile(
    r"^[ \t]*```[ \t]*(?P<lang>repl|python|python3|py)[ \t]*\n"
    r"(?P<code>.*?)(?:^[ \t]*```[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE | re.IGNORECASE,
)
_ANY_FENCE = re.compile(r"^[ \t]*```[^\n]*\n.*?(?:^[ \t]*```[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_OBSERVATION = re.compile(r"^[ \t*#>`]*Observation`?\s*:", re.MULTILINE | re.IGNORECASE)
# "Final Answer:", and the bare "Answer:" small base models often write instead.
_FINAL_ANSWER = re.compile(r"^[ \t*#>]*\**(?:Final[ _])?Answer\**\s*:\**[ \t]*",
                           re.MULTILINE | re.IGNORECASE)
_FINAL_CALL = re.compile(r"\bFINAL\(", re.MULTILINE)
_FINAL_VAR = re.compile(r"\bFINAL_VAR\(\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?\s*\)")
_THOUGHT = re.compile(r"^[ \t*#]*Thought\s*:\**\s*", re.IGNORECASE)
# The protocol's "Action:" label, on a line of its own before the code (not a thought).
_ACTION_LABEL = re.compile(r"^[ \t*#]*Action\s*:\**[ \t]*$", re.MULTILINE | re.IGNORECASE)


@dataclass
class Reply:
    """What a reply says. ``text`` is the reply after any invented observation was cut."""

    text: str
    thought: str = ""
    code_blocks: list[str] = field(default_factory=list)
    final_answer: str | None = None  # prose ``Final Answer:`` or ``FINAL(...)``
    final_var: str | None = None     # prose ``FINAL_VAR(name)``
    observation_cut: bool = False

    @property
    def has_code(self) -> bool:
        return bool(self.code_blocks)

    @property
    def has_answer(self) -> bool:
        return self.final_answer is not None or self.final_var is not None


def parse_reply(text: str) -> Reply:
    """Split a model reply into thought, code blocks and final answers."""
    text, cut = cut_invented_observation(text)
    code_blocks = [m.group("code").rstrip() for m in _FENCE.finditer(text)]
    code_blocks = [c for c in code_blocks if c.strip()]
    prose = _ANY_FENCE.sub("\n", text)
    reply = Reply(text=text, code_blocks=code_blocks, observation_cut=cut)
    reply.thought = _thought(prose)
    reply.final_var = _final_var(prose)
    reply.final_answer = _final_answer(prose)
    return reply


def cut_invented_observation(text: str) -> tuple[str, bool]:
    """Cut the reply at an ``Observation:`` line the model wrote itself."""
    match = _OBSERVATION.search(text)
    if match is None:
        return text, False
    return text[:match.start()].rstrip(), True


def _thought(prose: str) -> str:
    head = _ACTION_LABEL.sub("", _FINAL_ANSWER.split(prose, maxsplit=1)[0])
    return _THOUGHT.sub("", head.strip(), count=1).strip()


def _final_answer(prose: str) -> str | None:
    match = _FINAL_ANSWER.search(prose)
    if match:
        answer = prose[match.end():].strip()
        return _unquote(answer) if answer else None
    call = _final_call(prose)
    return call


def _final_call(prose: str) -> str | None:
    """``FINAL(text)`` in prose: everything up to the matching closing parenthesis."""
    for match in _FINAL_CALL.finditer(prose):
        start, depth = match.end(), 1
        for i in range(start, len(prose)):
            depth += {"(": 1, ")": -1}.get(prose[i], 0)
            if depth == 0:
                inner = prose[start:i].strip()
                return _unquote(inner) if inner else None
        inner = prose[start:].strip()  # unclosed: take the rest
        return _unquote(inner) if inner else None
    return None


def _final_var(prose: str) -> str | None:
    match = _FINAL_VAR.search(prose)
    return match.group(1) if match else None


def _unquote(text: str) -> str:
    """``"42"`` -> ``42``: models often quote the value they pass to FINAL."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text[1:-1]
        return str(value)
    return text
