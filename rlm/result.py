"""What a run returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rlm.tree import AgentNode
from rlm.usage import Usage


@dataclass
class RLMResult:
    """The answer, how the run ended, the tree of agents and what it all cost.

    Attributes:
        answer: the root agent's answer ("" when there is none).
        status: ``answered``, ``limit`` (a best answer after a limit), ``failed`` or
            ``cancelled``.
        limit_hit: which limit stopped the root (``steps``, ``agents``, ``time``,
            ``tokens``, ``cost``), or ``None``.
        tree: the root ``AgentNode``; ``node.children`` are its child agents.
        usage: tokens, calls and cost of every model call of the run, split by model.
        seconds: wall time of the run.
    """

    answer: str
    status: str
    limit_hit: str | None
    tree: AgentNode | None
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    run_id: str = ""
    model: str = ""
    error: str | None = None
    trace_path: str | None = None

    @property
    def agents(self) -> list[AgentNode]:
        """Every agent of the run, depth first."""
        return list(self.tree.walk()) if self.tree else []

    @property
    def ok(self) -> bool:
        """An answer was given (also a best answer after a limit)."""
        return bool(self.answer) and self.status in ("answered", "limit")

    def to_dict(self) -> dict[str, Any]:
        """The object ``rlm run --json`` prints."""
        return {
            "answer": self.answer,
            "status": self.status,
            "limit_hit": self.limit_hit,
            "error": self.error,
            "model": self.model,
            "run_id": self.run_id,
            "seconds": round(self.seconds, 3),
            "usage": self.usage.to_dict(),
            "trace": self.trace_path,
            "agents": [node.to_dict() for node in self.agents],
        }
