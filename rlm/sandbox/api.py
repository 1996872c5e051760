"""The sandbox's public data: its settings, what one action returns, and the handler type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

# (op, payload) -> a JSON-able result. ``op`` is llm_query, llm_query_batched, rlm_query or
# rlm_query_batched; payloads are {"prompt", "model"}, {"prompts", "model"},
# {"task", "context", "model"}, {"tasks", "contexts", "model"} and, for ``tool``,
# {"name", "args", "kwargs"}, where a context is
# {"kind", "path"} (a file the worker wrote) or None. Raising makes the user's call raise
# RuntimeError(str(error)).
Handler = Callable[[str, dict], Awaitable[Any]]


@dataclass
class SandboxConfig:
    """How a sandbox is confined.

    Attributes:
        action_timeout: seconds of the sandbox's own running time per action; time spent
            waiting on the handler (llm_query, a child agent) does not count.
        memory_mb: the worker's data limit (RLIMIT_DATA); None for no limit.
        allow_network: let user code open outbound connections.
        max_output_chars: per stream per action kept on the host (first and last half);
            the rest is counted in ``stdout_cut``/``stderr_cut``, not kept.
        confine_files: keep user code to its context, its own folder and the Python
            runtime (reading) and its own folder (writing); False turns that off.
        read_paths: more files or folders user code may read (and run programs from).
        write_paths: more files or folders user code may read, create, change and delete.
        tools: names of host functions the code may call (``tool`` calls to the handler).
    """

    action_timeout: float = 60.0
    memory_mb: int | None = 4096
    allow_network: bool = False
    max_output_chars: int = 200_000
    confine_files: bool = True
    read_paths: tuple[str, ...] = ()
    write_paths: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()


@dataclass
class ActionResult:
    """What one ``Sandbox.run`` observed.

    Attributes:
        stdout: what the code printed; when cut, the first and last halves with a line
            ``... [N characters cut] ...`` between them.
        stderr: the same for ``sys.stderr``.
        stdout_cut: characters dropped from stdout by the bound.
        stderr_cut: characters dropped from stderr by the bound.
        error: the user's traceback lines and the exception line, or None if the code
            ran clean. A timeout reads ``TimeoutError: ...`` and shows where it stopped.
        final: ``str(value)`` when the code called ``FINAL(value)`` or ``FINAL_VAR(name)``
            with a defined name (the last such call in the block wins).
        final_error: why a ``FINAL_VAR`` call in the code gave no answer.
        timed_out: the action ran past ``action_timeout`` and was stopped.
        restarted: the worker died or was killed; a fresh one reloaded ``context`` and
            every variable of the old one is gone.
        crash: what happened to a worker that died by itself ("exit code 1",
            "killed by signal SIGSEGV", "memory limit ..."); None otherwise.
        seconds: the sandbox's own running time of this action.
    """

    stdout: str = ""
    stderr: str = ""
    stdout_cut: int = 0
    stderr_cut: int = 0
    error: str | None = None
    final: str | None = None
    final_error: str | None = None
    timed_out: bool = False
    restarted: bool = False
    crash: str | None = None
    seconds: float = 0.0
