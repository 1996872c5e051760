"""Token and cost accounting: one ``Usage`` per agent and per run, split by model."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Usage:
    """Tokens, calls and cost, with the same figures per model in ``by_model``."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    by_model: dict[str, Usage] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def record(self, model: str, prompt_tokens: int, completion_tokens: int,
               cost_usd: float) -> None:
        """Add one model call to the totals and to its model's line."""
        for usage in (self, self.by_model.setdefault(model, Usage())):
            usage.prompt_tokens += prompt_tokens
            usage.completion_tokens += completion_tokens
            usage.calls += 1
            usage.cost_usd += cost_usd

    def merge(self, other: Usage) -> None:
        """Add every call counted in ``other``."""
        for model, line in other.by_model.items():
            mine = self.by_model.setdefault(model, Usage())
            mine._add_totals(line)
        self._add_totals(other)

    def _add_totals(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls
        self.cost_usd += other.cost_usd

    def to_dict(self) -> dict:
        """The JSON shape DESIGN gives: totals plus ``by_model`` with the same keys."""
        data = self._totals_dict()
        data["by_model"] = {m: u._totals_dict() for m, u in self.by_model.items()}
        return data

    def _totals_dict(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "calls": self.calls,
            "cost_usd": round(self.cost_usd, 8),
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> Usage:
        data = data or {}
        usage = cls._from_totals(data)
        usage.by_model = {m: cls._from_totals(d) for m, d in (data.get("by_model") or {}).items()}
        return usage

    @classmethod
    def _from_totals(cls, data: dict) -> Usage:
        return cls(
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            completion_tokens=int(data.get("completion_tokens", 0)),
            calls=int(data.get("calls", 0)),
            cost_usd=float(data.get("cost_usd", 0.0)),
        )


def human_tokens(count: int) -> str:
    """``1234567`` -> ``1.2M``, ``3456`` -> ``3.5k`` (the CLI's and the eval's figures)."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"
