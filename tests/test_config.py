"""Settings: one declaration per setting, one precedence, one resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rlm.config import BY_NAME, DECLARED, ENV_VARS, Settings, settings_table
from rlm.errors import ConfigError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_precedence_is_argument_then_profile_then_environment_then_default():
    env = {"RLM_MAX_STEPS": "7", "RLM_MAX_DEPTH": "3", "RLM_MODEL": "ollama/env"}
    profile = {"max_steps": 9, "model": "ollama/profile"}
    settings = Settings.resolve(env, profile=profile, model="ollama/flag")
    assert settings.model == "ollama/flag"       # argument
    assert settings.max_steps == 9               # profile over environment
    assert settings.max_depth == 3               # environment over default
    assert settings.max_agents == 50             # default


def test_every_variable_is_read_with_its_declared_type():
    env = {"RLM_ACTION_TIMEOUT": "2.5", "RLM_MAX_CONCURRENCY": "8", "RLM_DIRECT_HTTP": "0",
           "RLM_TIMEOUT": "off", "RLM_MAX_COST": "0.25"}
    settings = Settings.resolve(env)
    assert (settings.action_timeout, settings.max_concurrency, settings.direct_http,
            settings.timeout, settings.max_cost) == (2.5, 8, False, None, 0.25)


@pytest.mark.parametrize(("env", "message"), [
    ({"RLM_MAX_STEPS": "many"}, "RLM_MAX_STEPS='many' is not a whole number"),
    ({"RLM_MAX_STEPS": "0"}, "max_steps must be a whole number >= 1, got 0"),
    ({"RLM_ACTION_TIMEOUT": "-1"}, "action_timeout must be a positive number of seconds"),
    ({"RLM_DIRECT_HTTP": "maybe"}, "RLM_DIRECT_HTTP='maybe' is not on/off"),
])
def test_a_bad_value_says_which_variable_and_what_is_allowed(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.resolve(env)


def test_an_unknown_setting_is_named():
    with pytest.raises(ConfigError, match="Unknown setting.*max_stepz"):
        Settings.resolve({}, max_stepz=3)


def test_each_setting_is_declared_once_with_a_doc():
    assert len({d.name for d in DECLARED}) == len(DECLARED)
    assert len(set(ENV_VARS)) == len(ENV_VARS)
    assert all(d.doc and not d.doc.endswith(".") for d in DECLARED)
    assert BY_NAME["max_depth"].option == "--max-depth"


def test_the_readme_settings_table_is_made_from_the_declarations():
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- settings-table: start -->\n", 1)[1].split(
        "\n<!-- settings-table: end -->", 1)[0]
    assert table == settings_table(), "run `uv run python -m rlm.config` and paste the table"


def test_the_rlm_command_and_the_tui_take_the_declared_flags():
    from rlm.cli.main import build_parser
    from tui.args import parse_args

    args = build_parser().parse_args(["run", "q", "--max-depth", "1", "--action-timeout", "5"])
    assert (args.max_depth, args.action_timeout) == (1, 5.0)
    assert parse_args(["--max-steps", "3"]).max_steps == 3
