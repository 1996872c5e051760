"""The engine never imports the screen, and ``import rlm`` stays light."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import rlm

# Every module of the engine, found by walking the package: a new module is checked too.
ENGINE_MODULES = ["rlm"] + sorted(
    m.name for m in pkgutil.walk_packages(rlm.__path__, "rlm.")
    if not m.name.endswith("__main__") and not m.name.startswith("rlm.sandbox.worker"))


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
    assert rlm.RLM.__name__ == "RLM" and rlm.ScriptedModel and rlm.RLMResult
