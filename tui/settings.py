"""``rlm-tui``'s settings, resolved from its command line as ``rlm run`` resolves its own.

Flags > ``--profile`` > environment > defaults: ``Settings.resolve`` is the one place that
decides precedence, and a local-only profile refuses a hosted model here, before any network.
Entry points do not import each other (an import-linter contract), so ``resolve`` mirrors
``rlm.cli.plan.settings_of``; a test holds the two to the same result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rlm.config import DECLARED, Settings

if TYPE_CHECKING:
    from rlm.profiles import Profile

# The settings a command takes as flags (their declarations say so), as in `rlm run`.
FLAG_SETTINGS = tuple(d.name for d in DECLARED if d.flag)
# The settings the app shows and changes itself (the model picker, the limits dialog).
OWN = ("model", "max_depth", "max_steps")


def given(flags: Mapping[str, Any], model: str | None, max_depth: int | None,
          max_steps: int | None) -> dict[str, Any]:
    """Every setting given, by name (``None``: not given): the flags and the app's own."""
    return {**flags, "model": model, "max_depth": max_depth, "max_steps": max_steps}


def resolve(profile: str | None, flags: Mapping[str, Any],
            env: Mapping[str, str] | None = None) -> tuple[Settings, Profile | None]:
    """The settings of a run: ``flags`` (``None`` = not given) over the profile over ``env``.

    Raises:
        ConfigError: an unknown profile, a bad value, or a model a local-only profile forbids.
    """
    loaded = None
    if profile:
        from rlm.profiles import load_profile

        loaded = load_profile(profile)
    settings = Settings.resolve(env, profile=loaded.settings if loaded else None, **flags)
    if loaded is not None:
        loaded.check_models(settings.models())
    return settings, loaded


def shown(profile: str | None, flags: Mapping[str, Any],
          env: Mapping[str, str] | None = None) -> Settings | None:
    """What the settings bar shows: the settings the next run will use (flags over the
    profile over ``env``, default the environment, ``RLM_MODEL`` included); ``None`` if
    they are invalid (the run will say why)."""
    from rlm.errors import ConfigError

    try:
        return resolve(profile, flags, env)[0]
    except ConfigError:
        return None
