"""Settings: argument > environment > ``.env`` > default.

``.env`` is loaded by the entry points (``load_dotenv`` never overrides the environment),
so this module only reads ``os.environ`` and never touches the disk.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from rlm.errors import ConfigError

# name -> (environment variable, parser)
_ENV = {
    "model": ("RLM_MODEL", str),
    "sub_model": ("RLM_SUB_MODEL", str),
    "api_base": ("RLM_API_BASE", str),
    "max_depth": ("RLM_MAX_DEPTH", int),
    "max_steps": ("RLM_MAX_STEPS", int),
    "max_agents": ("RLM_MAX_AGENTS", int),
    "action_timeout": ("RLM_ACTION_TIMEOUT", float),
    "max_concurrency": ("RLM_MAX_CONCURRENCY", int),
    "timeout": ("RLM_TIMEOUT", float),
    "max_tokens": ("RLM_MAX_TOKENS", int),
    "max_cost": ("RLM_MAX_COST", float),
    "direct_http": ("RLM_DIRECT_HTTP", "bool"),
}

SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH")


def is_secret_name(name: str) -> bool:
    """Whether a variable or setting name says it holds a secret (one rule everywhere:
    the trace header, the trace's value scrubbing, the sandbox's environment)."""
    return any(marker in name.upper() for marker in SECRET_MARKERS)


@dataclass
class Settings:
    """Every knob of a run. ``None`` for a limit means no limit."""

    model: str | None = None
    sub_model: str | None = None
    api_base: str | None = None
    max_depth: int = 2
    max_steps: int = 20
    max_agents: int = 50
    action_timeout: float = 60.0
    max_concurrency: int = 4
    timeout: float | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    # Not in the environment contract; set from Python or a profile.
    depth_models: dict[int, str] = field(default_factory=dict)
    observation_chars: int = 4000
    memory_mb: int | None = 4096
    allow_network: bool = False
    reply_max_tokens: int | None = 1024
    # Ollama and OpenAI-compatible servers (with an api base) are called over HTTP directly,
    # not through litellm: 10-25x less CPU per call. RLM_DIRECT_HTTP=0 sends them via litellm.
    direct_http: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name in ("max_depth", "max_steps", "max_agents", "max_concurrency"):
            value = getattr(self, name)
            minimum = 0 if name == "max_depth" else 1
            if not isinstance(value, int) or value < minimum:
                raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
        for name in ("action_timeout", "timeout", "max_cost"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be a positive number of "
                                  f"{'USD' if name == 'max_cost' else 'seconds'}, got {value!r}.")

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **arguments: Any) -> "Settings":
        """Build settings from arguments (those not ``None``), then ``env``, then defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, (variable, parse) in _ENV.items():
            raw = env.get(variable, "").strip()
            if raw:
                values[name] = _parse(variable, raw, parse)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(arguments) - known
        if unknown:
            raise ConfigError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
        values.update({k: v for k, v in arguments.items() if v is not None})
        return cls(**values)

    def model_for_depth(self, depth: int) -> str | None:
        """The model an agent at ``depth`` uses: the per-depth map, else root/sub model."""
        if depth in self.depth_models:
            return self.depth_models[depth]
        if depth == 0:
            return self.model
        return self.sub_model or self.model

    @property
    def query_model(self) -> str | None:
        """The model ``llm_query`` uses unless the call names one."""
        return self.sub_model or self.model

    def public(self) -> dict[str, Any]:
        """The settings as a dict with every secret removed (for the trace header)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if not is_secret_name(k)}


def _parse(variable: str, raw: str, parse: Any) -> Any:
    if parse == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{variable}={raw!r} is not on/off (use 1 or 0).")
    if raw.lower() in ("none", "off", "0") and parse is float and variable in (
            "RLM_TIMEOUT", "RLM_MAX_COST"):
        return None
    try:
        return parse(raw)
    except ValueError:
        kind = "a whole number" if parse is int else "a number"
        raise ConfigError(f"{variable}={raw!r} is not {kind}. Fix it in your "
                          f"environment or .env file.") from None
