"""What the app tells the user when an agent stops, a run ends, or a run cannot start."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlm.tree import AgentNode

HINTS = {
    "ServerUnreachable": "Start Ollama (`ollama serve`) or set OLLAMA_HOST, then ctrl+r.",
    "ModelNotFound": "Pull the model (`ollama pull NAME`) or pick another with ctrl+t.",
    "MissingKey": "Set the provider's API key in the environment or .env, or pick a local "
                  "model with ctrl+t.",
    "ContextError": "ctrl+o picks another context.",
    "ConfigError": "ctrl+l sets the limits; ctrl+t the model.",
}


def hint_for(error_kind: str | None) -> str:
    """What to do about an error that stopped a run before it began."""
    return HINTS.get(error_kind or "", "Fix the cause above, then ctrl+r runs again.")


def agent_notice(agent: AgentNode) -> dict[str, Any] | None:
    """``notify`` arguments for an agent that failed or hit a limit (``None`` otherwise)."""
    if agent.status == "failed":
        return {"message": f"Agent {agent.agent_id} failed: {agent.error or 'unknown error'}",
                "severity": "error", "timeout": 8}
    if agent.status == "limit":
        return {"message": f"Agent {agent.agent_id} hit the {agent.limit_hit or '?'} limit "
                           f"and gave its best answer.", "severity": "warning", "timeout": 6}
    return None


def end_notice(status: str, trace: str | None) -> dict[str, Any]:
    """``notify`` arguments for the end of a run."""
    kept = " The trace is kept." if trace else ""
    if status == "answered":
        return {"message": "Answered.", "title": "Run finished", "timeout": 6}
    if status == "cancelled":
        return {"message": f"Run cancelled; every sandbox was closed.{kept}",
                "severity": "warning"}
    if status == "limit":
        return {"message": f"A limit was hit; the best answer is shown.{kept}",
                "severity": "warning"}
    return {"message": f"The run failed.{kept}", "severity": "error"}
