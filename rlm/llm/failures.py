"""From a door's exceptions (litellm's, or the direct door's) to rlm's typed errors, and
which failures are worth a retry.

litellm reports a refused connection and a dropped one alike ("Connection error."), so a
connection failure is settled by trying to open a TCP connection to the server ourselves:
refused means the server is not running (no retry helps), anything else is retried.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlparse

from rlm.errors import (
    ModelError,
    ModelNotFound,
    ModelTimeout,
    ProviderError,
    RLMError,
    ServerUnreachable,
)
from rlm.llm.providers import bad_model, is_ollama, key_rejected, model_name

RETRY_STATUSES = (408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529)


@dataclass(frozen=True)
class Target:
    """Where a call went: enough to say what failed and what to do."""

    model: str
    api_base: str | None
    timeout: float | None


class CallTimedOut(TimeoutError):
    """A door waited too long: ``what`` is ``connect``, ``first_byte``, ``chunk`` or ``call``
    (the whole call, retries included), ``seconds`` how long it waited."""

    def __init__(self, what: str, seconds: float):
        super().__init__(f"{what} timed out after {seconds:g} s")
        self.what, self.seconds = what, seconds


TIMEOUT_WORDS = {
    "connect": ("no connection within {s:g} s", "RLM_CONNECT_TIMEOUT",
                "is it up, and is the address right?"),
    "first_byte": ("nothing back within {s:g} s of the request", "RLM_FIRST_BYTE_TIMEOUT",
                   "it may be stuck, or still loading the model"),
    "chunk": ("the reply stopped midway: nothing for {s:g} s", "RLM_CHUNK_TIMEOUT",
              "it may be stuck or overloaded"),
    "call": ("the call took more than {s:g} s, retries included", "RLM_CALL_TIMEOUT",
             "the model may be too slow for this machine"),
}


def server_words(target: Target) -> str:
    """How a message names where a call went: ``Ollama at http://...``, ``the server at
    http://.../v1``, or the provider."""
    if is_ollama(target.model) and target.api_base:
        return f"Ollama at {target.api_base}"
    if target.api_base:
        return f"The server at {target.api_base}"
    return f"{target.model.split('/', 1)[0] or 'The provider'}"


def timed_out(exc: CallTimedOut, target: Target, tries: int) -> ProviderError:
    """One line: the server, what timed out, after how long, and the setting to change."""
    what, setting, why = TIMEOUT_WORDS.get(exc.what, TIMEOUT_WORDS["call"])
    after = f" (tried {tries} times)" if tries > 1 else ""
    return ModelTimeout(f"{server_words(target)}, {target.model}: {what.format(s=exc.seconds)}"
                        f"{after}; {why}. If it is only slow, raise {setting}.",
                        model=target.model)


def retry_after(exc: BaseException) -> float | None:
    """Seconds a 429 or 503 asks to wait (``Retry-After``: seconds or an HTTP date;
    ``retry-after-ms`` as the OpenAI and Groq clients read it), or ``None``."""
    if status_of(exc) not in (429, 503):
        return None
    headers = getattr(exc, "headers", None) or getattr(exc, "litellm_response_headers", None) \
        or getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        found = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    except (TypeError, ValueError):
        return None
    if found.get("retry-after-ms"):
        try:
            return max(0.0, float(found["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    raw = found.get("retry-after", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
    if isinstance(exc, CallTimedOut):
        return timed_out(exc, target, tries)
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


def _context_exceeded(words: str) -> bool:
    """llama.cpp: "... exceeds the available context size ..."; vLLM: "... the model's context
    length is only N tokens ..."."""
    lowered = words.lower()
    return "context size" in lowered or "context length" in lowered


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
    if status == 400 and _context_exceeded(detail(exc)):  # llama.cpp's and vLLM's refusal
        return ProviderError(f"The server at {target.api_base or '?'} refused the prompt for "
                             f"{model}: longer than the window it runs at ({detail(exc)}). "
                             f"Start it with a larger window (llama.cpp -c, vLLM "
                             f"--max-model-len), or set RLM_NUM_CTX to what it runs at.",
                             model=model)
    if kind == "ContextWindowExceededError":
        return ProviderError(f"The prompt is longer than {model} can read: {detail(exc)} Use "
                             f"a model with a larger context window.", model=model)
    if kind in ("Timeout", "APITimeoutError") or isinstance(exc, TimeoutError):
        return ProviderError(f"{model} gave no answer within {target.timeout:g} s{after}. The "
                             f"server may be overloaded, or the model too slow for this "
                             f"machine.", model=model)
    if status == 429:
        asked = retry_after(exc)
        wait = (f" The server asks to wait {asked:g} s, longer than the call may take "
                f"(RLM_CALL_TIMEOUT)." if asked is not None else "")
        return ProviderError(f"{model} is rate-limited (429){after}: {detail(exc)}{wait} Wait "
                             f"a minute, or lower RLM_MAX_CONCURRENCY.", model=model)
    if is_connection_error(exc):
        return ServerUnreachable(f"The connection to {target.api_base or model} kept failing"
                                 f"{after}: {detail(exc)}", model=model)
    code = f" {status}" if status else ""
    return ProviderError(f"{model} failed with {kind}{code}{after}: {detail(exc)}", model=model)
