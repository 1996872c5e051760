"""The engine never imports the screen, and ``import rlm`` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

ENGINE_MODULES = ["rlm", "rlm.core.engine", "rlm.core.agent", "rlm.core.run", "rlm.trace", "rlm.tree",
                  "rlm.events", "rlm.core.parse", "rlm.core.prompts", "rlm.context", "rlm.config",
                  "rlm.sandbox", "rlm.llm", "rlm.core.subcalls", "rlm.cli", "rlm.cli.progress",
                  "rlm.trace.replay", "rlm.profiles", "rlm.core.fit", "rlm.core.loop"]


def modules_after_import(module: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_modules_import_neither_textual_nor_rich_nor_litellm(module):
    loaded = modules_after_import(module)
    assert not {"textual", "rich", "litellm", "tui"} & loaded


def test_the_public_names_resolve():
    import rlm

    assert rlm.RLM.__name__ == "RLM" and rlm.ScriptedModel and rlm.RLMResult
