"""From a door's exceptions (litellm's, or the direct door's) to rlm's typed errors, and
which failures are worth a retry.

litellm reports a refused connection and a dropped one alike ("Connection error."), so a
connection failure is settled by trying to open a TCP connection to the server ourselves:
refused means the server is not running (no retry helps), anything else is retried.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from rlm.errors import ModelError, ModelNotFound, ProviderError, RLMError, ServerUnreachable
from rlm.llm.providers import bad_model, is_ollama, key_rejected, model_name

RETRY_STATUSES = (408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529)


@dataclass(frozen=True)
class Target:
    """Where a call went: enough to say what failed and what to do."""

    model: str
    api_base: str | None
    timeout: float | None


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def kind_of(exc: BaseException) -> str:
    """litellm's exception class name (``RateLimitError``, ``APIConnectionError``...)."""
    return type(exc).__name__


# litellm's names, and the standard library's (the direct door's), for a failed or
# dropped connection.
CONNECTION_ERRORS = ("APIConnectionError", "ConnectionError", "IncompleteReadError")


def is_connection_error(exc: BaseException) -> bool:
    if any(cls.__name__ in CONNECTION_ERRORS for cls in type(exc).__mro__):
        return True
    text = str(exc)
    return "Connection error" in text or "Cannot connect to host" in text \
        or "Server disconnected" in text


def refused(api_base: str | None, timeout: float = 1.0) -> bool:
    """True when nothing listens at ``api_base`` (the TCP connection is refused)."""
    if not api_base:
        return False
    parsed = urlparse(api_base)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:  # unresolvable host, unreachable network: not running for our purposes
        return True


def is_retryable(exc: BaseException, target: Target) -> bool:
    """Rate limits, server errors, timeouts and dropped connections; not a refused one."""
    if isinstance(exc, RLMError):
        return False
    if kind_of(exc) in ("Timeout", "APITimeoutError") or isinstance(exc, TimeoutError):
        return True
    if is_connection_error(exc):
        return not refused(target.api_base)
    return status_of(exc) in RETRY_STATUSES


def detail(exc: BaseException, limit: int = 300) -> str:
    """The provider's own words from a litellm message, on one line."""
    text = " ".join(str(exc).split())
    if "Exception - " in text:
        text = text.split("Exception - ", 1)[1]
    try:
        data = json.loads(text)
        if isinstance(data, dict) and data.get("error"):
            error = data["error"]
            text = error.get("message", str(error)) if isinstance(error, dict) else str(error)
    except ValueError:
        pass
    return text if len(text) <= limit else text[:limit] + "..."


def to_typed(exc: BaseException, target: Target, tries: int) -> RLMError:
    """The typed error, with what to do, for the last failure of a call."""
    if isinstance(exc, RLMError):
        return exc
    model, status, kind = target.model, status_of(exc), kind_of(exc)
    if "LLM Provider NOT provided" in str(exc):
        return bad_model(model, "unknown provider")
    if is_connection_error(exc) and refused(target.api_base):
        return _unreachable(target)
    if status == 404 or kind == "NotFoundError":
        return _not_found(target, exc)
    if status in (401, 403) or kind in ("AuthenticationError", "PermissionDeniedError"):
        return key_rejected(model, detail(exc))
    return _provider_error(exc, target, tries)


def _unreachable(target: Target) -> ServerUnreachable:
    if is_ollama(target.model):
        return ServerUnreachable(
            f"Ollama is not running at {target.api_base}: run `ollama serve` (or set "
            f"OLLAMA_HOST to where it runs), then try again.", model=target.model)
    return ServerUnreachable(
        f"Nothing answers at {target.api_base} for {target.model}: start that server, or fix "
        f"the api base (RLM_API_BASE or --api-base).", model=target.model)


def _not_found(target: Target, exc: BaseException) -> ModelNotFound:
    name = model_name(target.model)
    if is_ollama(target.model):
        return ModelNotFound(
            f"Ollama at {target.api_base} has no model {name!r}: run `ollama pull {name}` "
            f"(or pick a pulled one: `ollama list`).", model=target.model)
    where = f" at {target.api_base}" if target.api_base else ""
    return ModelNotFound(
        f"{target.model} was not found{where}: check the model name (the provider said: "
        f"{detail(exc)}).", model=target.model)


def _provider_error(exc: BaseException, target: Target, tries: int) -> ModelError:
    model, status, kind = target.model, status_of(exc), kind_of(exc)
    after = f" after {tries} tries" if tries > 1 else ""
    if kind == "ContextWindowExceededError":
        return ProviderError(f"The prompt is longer than {model} can read: {detail(exc)} Use "
                             f"a model with a larger context window.", model=model)
    if kind in ("Timeout", "APITimeoutError") or isinstance(exc, TimeoutError):
        return ProviderError(f"{model} gave no answer within {target.timeout:g} s{after}. The "
                             f"server may be overloaded, or the model too slow for this "
                             f"machine.", model=model)
    if status == 429:
        return ProviderError(f"{model} is rate-limited (429){after}: {detail(exc)} Wait a "
                             f"minute, or lower RLM_MAX_CONCURRENCY.", model=model)
    if is_connection_error(exc):
        return ServerUnreachable(f"The connection to {target.api_base or model} kept failing"
                                 f"{after}: {detail(exc)}", model=model)
    code = f" {status}" if status else ""
    return ProviderError(f"{model} failed with {kind}{code}{after}: {detail(exc)}", model=model)
