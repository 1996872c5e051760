"""``rlm-tui --web``: the same app served to a browser by textual-serve.

textual-serve (github.com/Textualize/textual-serve, 1.1.3) runs an aiohttp server: its page
loads xterm.js and opens a websocket, and for each websocket it starts the app's command in
a subprocess of its own (``asyncio.create_subprocess_shell``, ``app_service.py``) with
``TEXTUAL_DRIVER`` set to Textual's web driver, relaying keys and screen updates. So every
visitor gets an app of their own, started with the flags ``rlm-tui`` was given, in this
working folder and environment. The page's links (static files, the websocket) are built
from ``public_url`` (``server.py`` ``handle_index``), hence ``--public-url`` for a proxy or
a host of 0.0.0.0, which no browser can connect to.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys

from tui.args import app_argv

INSTALL = ("rlm-tui --web needs textual-serve, an optional extra: pip install 'rlm[web]' "
           "(in a checkout: uv sync --extra web, or uv run --extra web rlm-tui --web).")


def serve(args: argparse.Namespace) -> int:
    """Serve the app until Ctrl+C; returns the exit code."""
    try:
        from textual_serve.server import Server
    except ImportError:
        print(f"rlm-tui: {INSTALL}", file=sys.stderr)
        return 2
    command = shlex.join([sys.executable, "-m", "tui", *app_argv(args)])
    public_url = args.public_url or f"http://{url_host(args.host)}:{args.port}"
    print(notice(args.host, args.port, public_url), file=sys.stderr)
    server = Server(command, host=args.host, port=args.port, title="rlm",
                    public_url=public_url)
    try:
        server.serve()
    except OSError as exc:
        print(f"rlm-tui: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}. "
              f"Another server may hold the port: pick another with --port.", file=sys.stderr)
        return 2
    return 0


def notice(host: str, port: int, public_url: str) -> str:
    """What the user must know before opening the page."""
    lines = [f"rlm-tui: open {public_url} in a browser (each visit starts its own app)."]
    if is_loopback(host):
        lines.append(f"rlm-tui: from another machine, tunnel over SSH: ssh -L "
                     f"{port}:127.0.0.1:{port} THIS-HOST, then open http://127.0.0.1:{port}")
    else:
        lines.append(f"rlm-tui: WARNING: listening on {host} with no authentication: anyone "
                     f"who reaches this port can run tasks with your models and keys, and read "
                     f"files through the app. Prefer 127.0.0.1 and an SSH tunnel.")
    return "\n".join(lines)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as it goes in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
