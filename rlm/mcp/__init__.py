"""``rlm mcp``: rlm as a Model Context Protocol server over stdio.

Coding assistants (Claude Code, Cursor, Zed, ...) call its tools: run a task over a context
on a local model (``run_task``), list the models there are (``list_models``), and read a past
run's summary (``replay_trace``). ``server`` builds the server on the official SDK
(``mcp``, the ``rlm[mcp]`` extra); ``runs`` runs one task on a thread of its own, turns the
engine's events into progress messages and cancels the run when the client does.
"""
