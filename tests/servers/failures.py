"""Scripted failure modes: error statuses with ``Retry-After``, dropped connections, stalls.

What real servers and gateways do when they cannot answer:

* **429 / 503 with ``Retry-After``**: OpenAI-compatible APIs send the wait in seconds, or
  as an HTTP-date (RFC 9110 10.2.3); the ``openai`` and ``groq`` clients read
  ``retry-after-ms``, then ``retry-after`` as seconds (floats allowed), then as a date
  (``openai/_base_client.py`` ``_parse_retry_after_header``, groq's copy at
  ``groq/_base_client.py``). Groq sets ``retry-after`` (seconds) only on 429s, with a body
  ``{"error": {"message": "Rate limit reached ... Please try again in 5.289s ...",
  "type": "tokens", "code": "rate_limit_exceeded"}}`` (console.groq.com/docs/rate-limits;
  the body as quoted in Aider-AI/aider#3265).
* **a dropped connection** (status 0): the socket is shut without an answer.
* **stalls**, the ones a request timeout exists for:
  - ``"never"``: the request is read and recorded, and no byte of an answer follows;
  - ``"mid_stream"``: the status line, headers and a few chunks go out, then nothing (a
    hung runner); a whole JSON answer stops half-way through its body;
  - ``"before_headers_after_connect"``: the connection is accepted and the request is
    left unread: no status line ever comes. This one is armed per connection turn, so it
    takes the next request on any path (the server cannot know the path unread).
  A stall lasts until the client hangs up or the server stops; a stalled ``mid_stream``
  request keeps its parallel slot meanwhile, as a real hung generation does.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from email.utils import format_datetime

STALL_MODES = ("never", "mid_stream", "before_headers_after_connect")
STALL_CHUNKS = 2  # chunks a "mid_stream" stall sends before it stops


@dataclass(frozen=True)
class Scripted:
    """What the server does instead of answering one request."""

    status: int = 0                 # error status; 0 with no stall drops the connection
    message: str = "scripted failure"
    retry_after: str | None = None  # the Retry-After header's value, already formatted
    stall: str | None = None        # one of STALL_MODES

    def __post_init__(self) -> None:
        if self.stall is not None and self.stall not in STALL_MODES:
            raise ValueError(f"stall must be one of {STALL_MODES}, not {self.stall!r}")


def retry_after_header(value) -> str | None:
    """``Retry-After`` as sent: seconds for a number or numeric string, an HTTP-date for a
    ``datetime`` (naive means UTC), any other string as given."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
        return format_datetime(aware.astimezone(_dt.UTC), usegmt=True)
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return str(value)
