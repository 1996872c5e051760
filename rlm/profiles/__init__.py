"""Profiles: named sets of settings in TOML (models per role and depth, limits, deployments).

Shipped profiles live in ``rlm/profiles/*.toml`` (``local-only``, ``hybrid``, ``hosted``);
any other TOML file can be given by path. A profile's values sit between the command line
and the environment: flags > profile > environment > ``.env`` > defaults.

A profile file::

    description = "what it is for"
    model = "ollama/llama3"            # the root agent (omit: RLM_MODEL or a pulled model)
    sub_model = "groq/llama-3.3-70b-versatile"   # llm_query and child agents
    api_base = "http://gpu-box:11434"  # optional, for every call without a deployment
    local_only = true                  # refuse any model that is not an Ollama one

    [depth_models]                     # optional: the model of the agents at a depth
    2 = "ollama/qwen2.5:3b"

    tools = ["mytools:lookup"]         # optional: host functions sandbox code may call

    [num_ctx]                          # optional: the window a local model runs at
    "ollama/llama3" = 8192             # (else [limits] num_ctx, RLM_NUM_CTX, or a default)

    [limits]                           # any of the RLM_* limits
    max_depth = 2
    max_steps = 20

    [[deployments]]                    # optional: one model served by several hosts
    model = "ollama/llama3"
    api_base = "http://host1:11434"
    [[deployments]]
    model = "ollama/llama3"
    api_base = "http://host2:11434"

    [router]                           # optional: litellm Router options
    routing_strategy = "simple-shuffle"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rlm.config import DECLARED
from rlm.errors import ConfigError
from rlm.llm.providers import is_ollama
from rlm.llm.router import Deployment

# The keys a profile takes come from the settings' own declarations (rlm.config).
LIMIT_KEYS = {d.name: {float: (int, float), tuple: list}.get(d.kind, d.kind)
              for d in DECLARED if d.profile == "limits"}
TOP_SETTINGS = tuple(d.name for d in DECLARED if d.profile == "top")
TOP_KEYS = {"description", "local_only", "depth_models", "num_ctx", "tools", "limits",
            "deployments",
            "router",
            *TOP_SETTINGS}
DEPLOYMENT_KEYS = {"model", "name", "api_base", "api_key_env", "weight", "rpm", "tpm",
                   "max_parallel_requests", "timeout"}
ROUTER_KEYS = {"routing_strategy", "num_retries", "allowed_fails", "cooldown_time", "timeout"}


@dataclass
class Profile:
    """A parsed profile. ``settings`` holds ``rlm.config.Settings`` fields."""

    name: str
    path: str
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    deployments: list[Deployment] = field(default_factory=list)
    router: dict[str, Any] = field(default_factory=dict)
    local_only: bool = False
    tools: list[str] = field(default_factory=list)  # "module:function" (rlm.core.tools)

    @property
    def deployment_groups(self) -> list[str]:
        """The model names served by deployments, in file order."""
        return list(dict.fromkeys(d.name for d in self.deployments))

    def check_models(self, models: Sequence[str | None]) -> None:
        """Raise ``ConfigError`` when a ``local_only`` profile would send a call off-machine."""
        if not self.local_only:
            return
        hosted = sorted({m for m in models if m and not is_ollama(m)})
        if hosted:
            raise ConfigError(
                f"Profile {self.name!r} is local-only, but the run would use "
                f"{', '.join(hosted)}. Use an ollama/ model (--model ollama/llama3) or "
                f"another profile (--profile hybrid).")


def shipped_profiles() -> list[str]:
    """Names of the profiles that come with rlm."""
    folder = resources.files("rlm") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str) -> Profile:
    """Load a shipped profile by name, or any TOML file by path.

    Raises:
        ConfigError: unknown name, unreadable file, bad TOML or an unknown key.
    """
    path = Path(name_or_path).expanduser()
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        if not path.is_file():
            raise ConfigError(f"Profile file {name_or_path!r} does not exist. Shipped "
                              f"profiles: {', '.join(shipped_profiles())}.")
        return parse_profile(path.read_text(encoding="utf-8"), name=path.stem, path=str(path))
    resource = resources.files("rlm") / "profiles" / f"{name_or_path}.toml"
    if not resource.is_file():
        raise ConfigError(f"Unknown profile {name_or_path!r}. Shipped profiles: "
                          f"{', '.join(shipped_profiles())}; or give the path of a .toml file.")
    return parse_profile(resource.read_text(encoding="utf-8"), name=name_or_path,
                         path=str(resource))


def parse_profile(text: str, *, name: str, path: str = "<string>") -> Profile:
    """Parse profile TOML text (see the module docstring for the keys)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Profile {path} is not valid TOML: {exc}.") from None
    _check_keys(data, TOP_KEYS, path, "")
    profile = Profile(name=name, path=path, description=str(data.get("description", "")),
                      local_only=_typed(data, "local_only", bool, path, False))
    for key in TOP_SETTINGS:
        if key in data:
            profile.settings[key] = _typed(data, key, str, path)
    profile.settings.update(_limits(data.get("limits", {}), path))
    depth_models = _depth_models(data.get("depth_models", {}), path)
    if depth_models:
        profile.settings["depth_models"] = depth_models
    tools = data.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise ConfigError(f'Profile {path}: tools = ["module:function", ...] (a list of names '
                          f'of host functions sandbox code may call).')
    profile.tools = tools
    model_num_ctx = _num_ctx_table(data.get("num_ctx", {}), path)
    if model_num_ctx:
        profile.settings["model_num_ctx"] = model_num_ctx
    profile.deployments = [_deployment(d, path, i) for i, d in
                           enumerate(data.get("deployments", []))]
    profile.router = dict(data.get("router", {}))
    _check_keys(profile.router, ROUTER_KEYS, path, "router.")
    if profile.deployments and "model" not in profile.settings:
        profile.settings["model"] = profile.deployments[0].name
    profile.check_models([profile.settings.get("model"), profile.settings.get("sub_model"),
                          *depth_models.values(), *(d.model for d in profile.deployments)])
    return profile


def _check_keys(data: Mapping[str, Any], allowed: set[str], path: str, prefix: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        hint = " (limits go under [limits])" if set(unknown) & set(LIMIT_KEYS) else ""
        raise ConfigError(f"Profile {path}: unknown key(s) {', '.join(prefix + k for k in unknown)}"
                          f"{hint}. Allowed: {', '.join(sorted(allowed))}.")


def _typed(data: Mapping[str, Any], key: str, kind, path: str, default: Any = None) -> Any:
    value = data.get(key, default)
    if value is not None and (not isinstance(value, kind) or
                              (kind is not bool and isinstance(value, bool))):
        raise ConfigError(f"Profile {path}: {key} = {value!r} has the wrong type.")
    return value


def _limits(limits: Any, path: str) -> dict[str, Any]:
    if not isinstance(limits, dict):
        raise ConfigError(f"Profile {path}: [limits] must be a table.")
    _check_keys(limits, set(LIMIT_KEYS), path, "limits.")
    return {k: _typed(limits, k, LIMIT_KEYS[k], path) for k in limits}


def _num_ctx_table(table: Any, path: str) -> dict[str, int]:
    if not isinstance(table, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in table.values()):
        raise ConfigError(f"Profile {path}: [num_ctx] wants lines like "
                          f'"ollama/llama3" = 8192 (a model and its window in tokens).')
    return {str(model): int(tokens) for model, tokens in table.items()}


def _depth_models(table: Any, path: str) -> dict[int, str]:
    if not isinstance(table, dict):
        raise ConfigError(f"Profile {path}: [depth_models] must be a table of depth = model.")
    models: dict[int, str] = {}
    for depth, model in table.items():
        if not str(depth).isdigit() or not isinstance(model, str):
            raise ConfigError(f"Profile {path}: [depth_models] wants lines like "
                              f'1 = "ollama/llama3"; got {depth} = {model!r}.')
        models[int(depth)] = model
    return models


def _deployment(data: Any, path: str, index: int) -> Deployment:
    where = f"{path} [[deployments]] #{index + 1}"
    if not isinstance(data, dict) or not isinstance(data.get("model"), str):
        raise ConfigError(f"Profile {where}: each deployment needs model = \"provider/name\".")
    if any(k.lower() in ("api_key", "key") for k in data):
        raise ConfigError(f"Profile {where}: put keys in the environment and name the "
                          f"variable with api_key_env.")
    _check_keys(data, DEPLOYMENT_KEYS, path, "deployments.")
    options = {k: v for k, v in data.items()
               if k not in ("model", "name", "api_base", "api_key_env")}
    return Deployment(model=data["model"], name=str(data.get("name") or data["model"]),
                      api_base=data.get("api_base"), api_key_env=data.get("api_key_env"),
                      options=options)
