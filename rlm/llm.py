"""The model layer: the one place that talks to litellm.

The engine only knows the ``Model`` protocol: ``await model.complete(messages, model=...)``
returns a ``Completion`` with the text and that call's own usage (never "last usage" state).
``LiteLLMModel`` is the real implementation; tests inject ``rlm.scripted.ScriptedModel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

TokenCallback = Callable[[str], None]


@dataclass(frozen=True)
class Completion:
    """One model call's reply and its own usage."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0


class Model(Protocol):
    """What the engine needs from a model client."""

    async def complete(
        self,
        messages: list[dict],
        *,
        model: str,
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        """Ask ``model`` for one reply; stream text to ``on_token`` when given."""
        ...
