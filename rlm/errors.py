"""Typed errors and non-local exits.

Every error a user can cause carries a message that says what happened and what to do.
Entry points print ``str(error)`` and exit with ``error.exit_code``, never a traceback.
"""

from __future__ import annotations


class RLMError(Exception):
    """Base class: a problem the user can fix. ``str(err)`` is the whole message."""

    exit_code = 2


class ConfigError(RLMError):
    """A setting is missing or wrong (bad number, unknown profile, no model chosen)."""


class ContextError(RLMError):
    """The context cannot be used (missing file, binary file passed as text, bad type)."""


class ModelError(RLMError):
    """A model could not be reached or used; the message says what to run. ``model`` names
    the model, when one is known."""

    exit_code = 1

    def __init__(self, message: str, *, model: str | None = None):
        super().__init__(message)
        self.model = model


class ServerUnreachable(ModelError):
    """The model server (Ollama, an OpenAI-compatible host) did not answer."""


class ModelNotFound(ModelError):
    """The server answered but does not have this model (not pulled, wrong name)."""


class MissingKey(ModelError):
    """A hosted model was asked for but its API key is not set."""


class PromptTooLong(ModelError):
    """A prompt does not fit its model's running window, even after folding the history.

    ``tokens`` (our count), ``limit`` (the most the prompt may take) and ``running`` (the
    model's window) say by how much, when the engine checked it before sending."""

    def __init__(self, message: str, *, model: str | None = None, tokens: int = 0,
                 limit: int = 0, running: int = 0):
        super().__init__(message, model=model)
        self.tokens, self.limit, self.running = tokens, limit, running


class ProviderError(ModelError):
    """The provider answered with an error that retries did not cure."""


class ModelTimeout(ProviderError):
    """A model server took longer than a timeout allows (connect, first byte, between two
    streamed pieces, or the whole call); the message names the setting to change."""


class SandboxError(RLMError):
    """The sandbox worker could not start or broke its protocol."""

    exit_code = 1


class Cancelled(Exception):
    """The run was cancelled (``RLM.cancel()`` or Ctrl-C)."""


class LimitReached(Exception):
    """A limit stops an agent. ``limit`` names it: steps, agents, depth, time, tokens, cost."""

    def __init__(self, limit: str, detail: str = ""):
        super().__init__(detail or f"limit reached: {limit}")
        self.limit = limit
        self.detail = detail
