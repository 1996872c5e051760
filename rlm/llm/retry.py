"""The one retry policy and the timeouts of the model layer, used by every door (direct
HTTP and litellm).

A call is tried again after a rate limit, a server error, a timeout or a dropped
connection, waiting 0.5 s, 1 s, 2 s, ... (capped at 8 s) between tries, or as long as a 429
or 503 says in ``Retry-After``; never after a refused connection (nothing runs there), an
error that says what to do (``RLMError``), or once a streamed token has reached the caller
(a retry would send it twice). Everything, tries and waits, fits in the call's own time
(``call_timeout``). The last failure becomes the typed error of ``rlm.llm.failures``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from rlm.errors import Cancelled, LimitReached, RLMError
from rlm.llm import TokenCallback
from rlm.llm.failures import CallTimedOut, Target, is_retryable, retry_after, to_typed

T = TypeVar("T")

# Exceptions that already say what happened: never retried, never re-wrapped.
PASS_THROUGH = (asyncio.CancelledError, RLMError, Cancelled, LimitReached)


def default_backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (0-based): 0.5 s, 1 s, 2 s, ... capped at 8 s."""
    return min(8.0, 0.5 * 2 ** attempt)


@dataclass(frozen=True)
class Timeouts:
    """Seconds a door waits (``rlm.config``: ``RLM_CONNECT_TIMEOUT``, ...).

    Attributes:
        connect: to open a connection.
        first_byte: from the request to the first piece of the reply (a local server may
            be loading the model).
        chunk: between two pieces of a streamed reply.
        call: the whole call, retries and their waits included.
    """

    connect: float = 10.0
    first_byte: float = 180.0
    chunk: float = 60.0
    call: float = 600.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is tried.

    Args:
        retries: further tries after a retryable failure (0 = try once).
        backoff: seconds to wait before retry ``n`` (0-based), when the server does not say.
        sleep: the coroutine that waits (tests pass a recorder).
        call_timeout: seconds for the whole call, tries and waits included.
    """

    retries: int = 3
    backoff: Callable[[int], float] = default_backoff
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)
    call_timeout: float = 600.0


class StreamGuard:
    """Forwards tokens and remembers whether any went out (then a retry would repeat them)
    and what the callback raised (that goes to the caller unchanged)."""

    def __init__(self, on_token: TokenCallback | None):
        self._on_token = on_token
        self.sent = False
        self.raised: BaseException | None = None

    def __call__(self, text: str) -> None:
        self.sent = True
        if self._on_token is not None:
            try:
                self._on_token(text)
            except BaseException as exc:
                self.raised = exc
                raise


async def with_retries(attempt: Callable[[TokenCallback | None], Awaitable[T]], target: Target,
                       policy: RetryPolicy, on_token: TokenCallback | None) -> T:
    """Run ``attempt(on_token)`` under ``policy``; raise the typed error of the last failure."""
    streamed = StreamGuard(on_token)
    deadline = time.monotonic() + policy.call_timeout
    for tries in range(policy.retries + 1):
        try:
            return await _within(deadline, policy.call_timeout,
                                 attempt(streamed if on_token else None))
        except PASS_THROUGH:
            raise
        except Exception as exc:  # every door raises its own types; each is mapped below
            if exc is streamed.raised:  # the caller's own callback failed: not ours
                raise
            wait = _wait_before_retry(exc, policy, tries, deadline)
            last_try = tries == policy.retries or streamed.sent
            # Both may probe the server with a TCP connect: keep that off the loop.
            if wait is None or last_try or not await asyncio.to_thread(is_retryable, exc,
                                                                         target):
                typed = await asyncio.to_thread(to_typed, exc, target, tries + 1)
                raise typed from exc
        await policy.sleep(wait)
    raise AssertionError("unreachable")


async def _within(deadline: float, total: float, call: Awaitable[T]) -> T:
    """``call`` under what is left of the call's own time."""
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            return await call
    except TimeoutError as exc:
        if isinstance(exc, CallTimedOut):
            raise
        raise CallTimedOut("call", total) from None


def _wait_before_retry(exc: BaseException, policy: RetryPolicy, tries: int,
                       deadline: float) -> float | None:
    """Seconds to wait before the next try: what the server asked (``Retry-After``), else
    the backoff; ``None`` when that wait would not fit in the call's time left."""
    asked = retry_after(exc)
    wait = asked if asked is not None else policy.backoff(tries)
    left = deadline - time.monotonic()
    if asked is not None and asked > left:
        return None  # the server asks for more time than the call has left: give up now
    return max(0.0, min(wait, left))
