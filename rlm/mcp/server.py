"""The MCP server: three tools over stdio, on the official SDK's ``MCPServer``.

Following the SDK (github.com/modelcontextprotocol/python-sdk, ``mcp`` 2.3.0):
``MCPServer.tool()`` registers a function and derives the tool's input schema from its
annotations (``Annotated[..., Field(description=...)]``) and its output schema from a
``TypedDict`` return type (``server/mcpserver/utilities/func_metadata.py``); a parameter
typed ``Context`` gets the request's context, whose ``report_progress`` sends
``notifications/progress`` when the client asked for them and is a no-op otherwise
(``server/session.py``); ``ToolError`` returns ``isError`` with our message and no
traceback (``server/mcpserver/exceptions.py``); a client's ``notifications/cancelled``
cancels the tool's scope ("interrupt", ``shared/jsonrpc_dispatcher.py``), which
``runs.run_engine`` turns into ``RLM.cancel()``. The stdio transport claims the real
stdout for the protocol and points file descriptor 1 at stderr while it runs
(``server/stdio.py``), so a stray ``print`` (ours, litellm's, a sandbox's) cannot corrupt
the channel.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from rlm.errors import RLMError
from rlm.mcp.runs import RunReport, Task, run_task

INSTRUCTIONS = """\
rlm runs a Recursive Language Model on this machine: the context (a file, a folder or text, \
of any size) never enters a chat; a model, local by default, writes Python that reads it in \
a sandbox and can start helper agents on pieces of it. Use run_task to hand a long input \
(a big log, a code base, a long document) and a question to it; it returns the answer and \
the path of a trace of the run. list_models says which models are available; replay_trace \
summarises a past run."""

Text = Annotated[str | None, Field(default=None)]


def build_server() -> MCPServer:
    """The server with its tools (``rlm mcp`` runs it over stdio)."""
    from rlm import __version__

    # WARNING: the SDK logs every HTTP request of the engine at INFO; a client shows stderr.
    server = MCPServer("rlm", version=__version__, instructions=INSTRUCTIONS,
                       log_level="WARNING")
    server.tool(name="run_task", title="Run an RLM task")(run_task_tool)
    server.tool(title="List the models rlm can use")(list_models)
    server.tool(title="Summarise a past rlm run")(replay_trace)
    return server


async def run_task_tool(
    question: Annotated[str, Field(description="The question or task.")],
    ctx: Context,
    context_path: Annotated[str | None, Field(
        description="A text file, or a folder of text files, to give as the context "
                    "(an absolute path, or relative to the server's working folder).")] = None,
    context_text: Annotated[str | None, Field(
        description="The context itself, as text (instead of context_path). With neither, "
                    "the question is the context.")] = None,
    model: Annotated[str | None, Field(
        description="A litellm model string: ollama_chat/qwen2.5-coder:7b, "
                    "groq/llama-3.3-70b-versatile, ... (default: RLM_MODEL, else a model "
                    "pulled in Ollama). See list_models.")] = None,
    sub_model: Annotated[str | None, Field(
        description="The model for llm_query and child agents (default: the model).")] = None,
    profile: Annotated[str | None, Field(
        description="A settings profile: local-only, hybrid, hosted, or a .toml file.")] = None,
    max_depth: Annotated[int | None, Field(
        description="Deepest level of child agents (0: none). Default 2.", ge=0)] = None,
    max_steps: Annotated[int | None, Field(
        description="Model calls per agent before its best answer. Default 20.", ge=1)] = None,
    max_agents: Annotated[int | None, Field(
        description="Agents in the run. Default 50.", ge=1)] = None,
    timeout: Annotated[float | None, Field(
        description="Seconds for the whole run (default: no limit).", gt=0)] = None,
    max_tokens: Annotated[int | None, Field(
        description="Tokens for the whole run (default: no limit).", gt=0)] = None,
    max_cost: Annotated[float | None, Field(
        description="USD for the whole run (default: no limit).", gt=0)] = None,
) -> RunReport:
    """Answer a question about a context of any size with a Recursive Language Model.

    The context stays out of the chat: the model reads it with code in a sandbox and may
    start helper agents on pieces of it. Returns the answer, the status (answered, limit:
    a best answer after a limit, failed, cancelled), token usage and the path of the run's
    trace. Progress (agents started and finished, steps) is reported while it runs.
    """
    task = Task(question=question, context_path=context_path, context_text=context_text,
                model=model, sub_model=sub_model, profile=profile,
                limits={"max_depth": max_depth, "max_steps": max_steps,
                        "max_agents": max_agents, "timeout": timeout, "max_tokens": max_tokens,
                        "max_cost": max_cost})
    count = 0

    async def report(line: str) -> None:
        nonlocal count
        count += 1
        await ctx.report_progress(count, None, line)

    try:
        return await run_task(task, report)
    except RLMError as exc:
        raise ToolError(str(exc)) from None


async def list_models() -> dict[str, Any]:
    """The models rlm can use here: whether Ollama is up (and where), each pulled model
    with its size and the window a run gives it, hosted providers whose key is set (never
    the key), the default model (RLM_MODEL) and what confines sandbox code."""
    import anyio

    from rlm.cli.models import gather

    return await anyio.to_thread.run_sync(gather)


async def replay_trace(
    trace: Annotated[str | None, Field(
        description="A trace file (the `trace` of run_task); default: the latest run's.")]
        = None,
    steps: Annotated[bool, Field(
        description="Also each agent's steps: thought, code, output, sub-calls.")] = False,
    full: Annotated[bool, Field(
        description="Whole texts instead of their first lines (with steps).")] = False,
) -> str:
    """A past run from its trace: task, status, answer, totals and the tree of agents (and,
    with steps, what each agent did). Works on a trace cut off by a crash too."""
    from rlm.cli.replay import ReplayOptions, render_replay
    from rlm.paths import latest_trace, traces_dir
    from rlm.trace.load import open_trace

    trace = trace or str(latest_trace() or "")
    if not trace:
        raise ToolError(f"No trace given and none found in {traces_dir()}.")
    try:
        header, builder = open_trace(trace)
    except RLMError as exc:
        raise ToolError(str(exc)) from None
    return render_replay(header, builder, ReplayOptions(full=full, steps=steps))


def serve() -> None:
    """Serve over stdio until the client closes stdin."""
    build_server().run("stdio")


if __name__ == "__main__":  # python -m rlm.mcp.server
    serve()
