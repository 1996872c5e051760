"""Loading litellm: lazily, offline, and with its per-call extras switched off.

Importing litellm costs seconds, so nothing in ``rlm`` imports it at import time; the first
model call (or the TUI, from a background thread once its first frame is up) does, through
``load_litellm()``. Before the import, litellm is told to use its bundled price map (otherwise
it fetches one from the network at import) and tiktoken is pointed at litellm's bundled
encodings.
"""

from __future__ import annotations

import logging
import os
import threading
from types import ModuleType

from rlm.llm.tokens import use_shipped_tokenizers

_lock = threading.Lock()
_module: ModuleType | None = None


def load_litellm() -> ModuleType:
    """Import and configure litellm once (thread-safe); return the module."""
    global _module
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            os.environ.setdefault("LITELLM_LOG", "ERROR")
            use_shipped_tokenizers()
            import litellm

            _quieten(litellm)
            _module = litellm
    return _module


def _quieten(litellm) -> None:
    """Switch off what costs time per call and prints to the terminal.

    We count usage and cost ourselves, so litellm's logging, callbacks, telemetry and
    streaming bookkeeping are pure overhead here.
    """
    litellm.telemetry = False
    litellm.suppress_debug_info = True      # no "Provider List: ..." banners on errors
    litellm.set_verbose = False
    # Redaction deep-copies every request and response (~2 ms a call); with no callbacks
    # registered the messages are logged nowhere, so there is nothing to redact.
    litellm.turn_off_message_logging = False
    litellm.disable_streaming_logging = True
    litellm.log_raw_request_response = False
    litellm.drop_params = True              # e.g. stream_options for a provider without it
    litellm.disable_end_user_cost_tracking = True
    litellm.disable_add_user_agent_to_request_tags = True
    litellm.num_retries = None              # our retry loop is the only one
    for name in ("callbacks", "success_callback", "failure_callback", "input_callback",
                 "service_callback", "_async_success_callback", "_async_failure_callback",
                 "_async_input_callback"):
        if isinstance(getattr(litellm, name, None), list):
            setattr(litellm, name, [])
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.ERROR)

