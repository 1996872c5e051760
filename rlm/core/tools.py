"""Tools: host functions that sandbox code calls by name.

``RLM(tools={"lookup": lookup})`` (or ``tools = ["module:function"]`` in a profile) makes
``lookup(...)`` callable from the model's code. The call crosses to the host on the
sandbox's channel with JSON arguments; the function runs on the host (a plain function in
a thread, a coroutine function on the loop), so its secrets and connections stay there; its
JSON result goes back, and an exception comes back as an error the code sees as a
``RuntimeError``. The system prompt lists each tool with its signature and the first line
of its docstring.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rlm.errors import ConfigError

RESERVED = {"context", "llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched",
            "FINAL", "FINAL_VAR", "SHOW_VARS", "history", "turns", "print"}


class Tools:
    """The tools of a run, by name."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]]):
        for name, function in functions.items():
            if not name.isidentifier() or name in RESERVED or name.startswith("_"):
                taken = ", ".join(sorted(RESERVED))
                raise ConfigError(f"A tool cannot be called {name!r}: use a Python name that "
                                  f"is not one of the sandbox's own ({taken}).")
            if not callable(function):
                raise ConfigError(f"Tool {name!r} is not a function: {function!r}.")
        self.functions = dict(functions)

    @classmethod
    def load(cls, tools: Mapping[str, Callable[..., Any]] | Sequence[str] | None) -> Tools:
        """From a mapping of functions, or ``"module:function"`` strings (a profile's)."""
        if tools is None:
            return cls({})
        if isinstance(tools, Mapping):
            return cls(tools)
        return cls({_name_of(spec): _import(spec) for spec in tools})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.functions)

    def listing(self) -> str:
        """Lines for the system prompt: ``- `name(a, b=1)`: what it does``."""
        lines = []
        for name, function in self.functions.items():
            signature = _signature(function)
            doc = (inspect.getdoc(function) or "").strip().splitlines()
            lines.append(f"- `{name}{signature}`" + (f": {doc[0]}" if doc else ""))
        return "\n".join(lines)

    async def call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run tool ``name``; its result, checked to cross as JSON.

        Raises:
            ValueError: no such tool, or a result that is not JSON.
            Exception: whatever the tool raised (the sandbox code gets its message).
        """
        function = self.functions.get(name)
        if function is None:
            raise ValueError(f"no tool named {name!r}; tools: {', '.join(self.names) or 'none'}")
        if inspect.iscoroutinefunction(function):
            result = await function(*args, **kwargs)
        else:
            result = await asyncio.to_thread(function, *args, **kwargs)
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            raise ValueError(f"tool {name!r} returned a {type(result).__name__}, which cannot "
                             f"cross to the sandbox: return JSON data (str, numbers, lists, "
                             f"dicts)") from None
        return result


def _signature(function: Callable[..., Any]) -> str:
    """``(key: str, default: str = '?')``, with string annotations read as the types they name."""
    for evaluate in (True, False):
        try:
            return str(inspect.signature(function, eval_str=evaluate))
        except (NameError, TypeError, ValueError):
            continue
    return "(...)"


def _name_of(spec: str) -> str:
    return spec.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def _import(spec: str) -> Callable[..., Any]:
    module, _, attribute = spec.partition(":")
    if not module or not attribute:
        raise ConfigError(f"Tool {spec!r}: write it as module:function (e.g. mytools:lookup).")
    try:
        found: Any = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"Tool {spec!r} cannot be imported: {exc}. Is the module on "
                          f"PYTHONPATH?") from None
    return found
