"""``rlm mcp``: checks that the MCP SDK is installed, then serves over stdio."""

from __future__ import annotations

import importlib.util

from rlm.cli.main import EXIT_BAD_INPUT, EXIT_OK, fail

INSTALL = ("rlm mcp needs the MCP SDK, an optional extra: pip install 'rlm[mcp]' (in a "
           "checkout: uv sync --extra mcp, or uv run --extra mcp rlm mcp).")


def mcp_command(args) -> int:
    if importlib.util.find_spec("mcp") is None:
        return fail(INSTALL, EXIT_BAD_INPUT)
    from rlm.mcp.server import serve

    serve()
    return EXIT_OK
