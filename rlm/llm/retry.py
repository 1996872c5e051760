"""The one retry policy of the model layer, used by every door (direct HTTP and litellm).

A call is tried again after a rate limit, a server error, a timeout or a dropped
connection, waiting 0.5 s, 1 s, 2 s, ... (capped at 8 s) between tries; never after a
refused connection (nothing runs there), an error that says what to do (``RLMError``), or
once a streamed token has reached the caller (a retry would send it twice). The last
failure becomes the typed error of ``rlm.llm.failures``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from rlm.errors import Cancelled, LimitReached, RLMError
from rlm.llm import TokenCallback
from rlm.llm.failures import Target, is_retryable, to_typed

T = TypeVar("T")

# Exceptions that already say what happened: never retried, never re-wrapped.
PASS_THROUGH = (asyncio.CancelledError, RLMError, Cancelled, LimitReached)


def default_backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (0-based): 0.5 s, 1 s, 2 s, ... capped at 8 s."""
    return min(8.0, 0.5 * 2 ** attempt)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is tried.

    Args:
        retries: further tries after a retryable failure (0 = try once).
        backoff: seconds to wait before retry ``n`` (0-based).
        sleep: the coroutine that waits (tests pass a recorder).
    """

    retries: int = 3
    backoff: Callable[[int], float] = default_backoff
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


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
    for tries in range(policy.retries + 1):
        try:
            return await attempt(streamed if on_token else None)
        except PASS_THROUGH:
            raise
        except Exception as exc:  # every door raises its own types; each is mapped below
            if exc is streamed.raised:  # the caller's own callback failed: not ours
                raise
            last_try = tries == policy.retries or streamed.sent
            # Both may probe the server with a TCP connect: keep that off the loop.
            if last_try or not await asyncio.to_thread(is_retryable, exc, target):
                typed = await asyncio.to_thread(to_typed, exc, target, tries + 1)
                raise typed from exc
        await policy.sleep(policy.backoff(tries))
    raise AssertionError("unreachable")
