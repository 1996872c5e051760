"""rlm: local-first Recursive Language Models.

``from rlm import RLM`` is all most users need. Importing this package is light: litellm,
textual and rich are not imported here (litellm loads on the first model call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["RLM", "RLMResult", "Settings", "ScriptedModel", "RLMError", "__version__"]

if TYPE_CHECKING:
    from rlm.config import Settings
    from rlm.core.engine import RLM
    from rlm.errors import RLMError
    from rlm.llm.scripted import ScriptedModel
    from rlm.result import RLMResult

_LAZY = {
    "RLM": "rlm.core.engine",
    "RLMResult": "rlm.result",
    "Settings": "rlm.config",
    "ScriptedModel": "rlm.llm.scripted",
    "RLMError": "rlm.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rlm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
