"""A scripted llama.cpp server (``llama-server``, ``ggml-org/llama.cpp`` ``tools/server``).

OpenAI-compatible ``/v1/chat/completions`` plus the endpoints llama.cpp adds, answered as
``tools/server/server-context.cpp`` answers them (read at fb4026604 and a later stored
version of the same file):

* ``GET /props``: ``default_generation_settings.n_ctx`` is the **per-slot** window
  (``get_slot_n_ctx``), ``total_slots`` is ``n_parallel``, with ``model_alias``,
  ``chat_template``, ``modalities``, ``build_info`` ... (``get_props``).
* ``GET /slots``: one entry per slot, ``{"id", "n_ctx", "speculative", "is_processing"}``
  (``server_slot::to_json``). ``GET /health``: ``{"status": "ok"}``.
* ``GET /v1/models``: an Ollama-style ``models`` list and an OpenAI ``data`` list whose
  ``meta`` gives ``n_ctx_train`` (the *trained* window), never the running one
  (``get_models``, ``model_meta``).
* **The window.** The server starts with ``-c n_ctx`` for all slots. With ``-np`` given,
  each slot gets ``n_ctx / n_parallel`` (``llama_n_ctx_seq``); with ``-np`` omitted the
  server runs 4 slots over one unified KV cache and each slot may use all of ``n_ctx``
  (llama.cpp PR #16736, "By default, start the server using 4 slots and unified KV
  cache"; PR #17997 help text). A slot's window is capped at the trained one ("the slot
  context exceeds the training context of the model - capping"). ``-c`` defaulted to
  4096 (README ``--ctx-size``); newer builds read it from the model when 0.
* **A prompt that does not fit is refused, never truncated**: ``n_tokens >= slot.n_ctx``
  sends ``ERROR_TYPE_EXCEED_CONTEXT_SIZE`` (HTTP 400, type ``exceed_context_size_error``,
  message "request (N tokens) exceeds the available context size (C tokens), try
  increasing it", with ``n_prompt_tokens`` and ``n_ctx`` in the error object:
  ``server-task.cpp`` ``server_task_result_error::to_json``). A streaming request gets it
  as a plain JSON 400 too ("in streaming mode, the first error must be treated as
  non-stream response"). Older builds (2024) cut the prompt silently instead.
* **Generation stops when the slot is full** (context shift is off by default:
  ``STOP_TYPE_LIMIT``, ``truncated``), ``finish_reason: "length"``.
* **Slots**: ``n_parallel`` requests run at once, the rest are deferred until a slot frees
  (``queue_tasks.defer`` / ``pop_deferred_task``).
* Thinking goes to ``reasoning_content`` (``--reasoning-format`` default).
"""

from __future__ import annotations

import time

from .base import ChatRequest, Replies, Reply
from .openai import OpenAIServer

AUTO_SLOTS = 4
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 501: "not_supported_error",
               503: "unavailable_error"}  # server-common.cpp format_error_response


class LlamaCppServer(OpenAIServer):
    """llama-server, scripted.

    Args:
        n_ctx: ``-c``, the context of all slots together (0: the trained length).
        n_parallel: ``-np``; None is the default: 4 slots sharing a unified KV cache.
        kv_unified: ``-kvu`` (default: on when ``n_parallel`` is None).
        n_ctx_train: the model's trained window.
        model_alias: the model name the server reports.
        (other options: see ``OpenAIServer``; every model name is accepted, as
        llama-server serves the one model it loaded)
    """

    owned_by = "llamacpp"

    def __init__(self, replies: Replies = None, *, n_ctx: int = 4096,
                 n_parallel: int | None = None, kv_unified: bool | None = None,
                 n_ctx_train: int = 131072, model_alias: str = "model.gguf", **options):
        slots = n_parallel or AUTO_SLOTS
        options.setdefault("reasoning_field", "reasoning_content")
        super().__init__(replies, num_parallel=slots, **options)
        self.n_ctx = n_ctx or n_ctx_train
        self.n_parallel = slots
        self.kv_unified = (n_parallel is None) if kv_unified is None else kv_unified
        self.n_ctx_train = n_ctx_train
        self.model_alias = model_alias

    @property
    def slot_n_ctx(self) -> int:
        """The window of one slot: what ``/props`` reports and prompts must fit."""
        per_slot = self.n_ctx if self.kv_unified else self.n_ctx // self.n_parallel
        return min(per_slot, self.n_ctx_train)

    def error_reply(self, status: int, message: str) -> Reply:
        kind = ERROR_TYPES.get(status, "server_error")
        return Reply(status, {"error": {"code": status, "message": message, "type": kind}})

    def route(self, method: str, path: str, body: dict | None, headers: dict) -> Reply:
        if self.api_key and path not in ("/health", "/v1/health") and \
                headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error_reply(401, "Invalid API Key")
        if path in ("/health", "/v1/health"):
            return Reply(200, {"status": "ok"})
        if path == "/props" and method == "GET":
            return Reply(200, self.props())
        if path == "/slots" and method == "GET":
            return Reply(200, self.slots())
        return super().route(method, path, body, headers)

    def props(self) -> dict:
        return {
            "default_generation_settings": {
                "params": {"n_predict": -1, "temperature": 0.8, "top_k": 40, "top_p": 0.95,
                           "min_p": 0.05, "n_keep": 0, "stream": False},
                "n_ctx": self.slot_n_ctx},
            "total_slots": self.n_parallel, "model_alias": self.model_alias,
            "model_path": f"/models/{self.model_alias}",
            "modalities": {"vision": False, "audio": False}, "endpoint_slots": True,
            "endpoint_props": False, "endpoint_metrics": False, "webui": True,
            "chat_template": self.template.text, "bos_token": "<|begin_of_text|>",
            "eos_token": "<|eot_id|>", "build_info": "b0000-loopback"}

    def slots(self) -> list[dict]:
        busy = self.served
        return [{"id": i, "n_ctx": self.slot_n_ctx, "speculative": False,
                 "is_processing": i < busy} for i in range(self.n_parallel)]

    def models_list(self) -> dict:
        name = self.model_alias
        meta = {"vocab_type": 2, "n_vocab": 128256, "n_ctx_train": self.n_ctx_train,
                "n_embd": 4096, "n_params": 8_030_261_248, "size": 4_920_734_720}
        return {"models": [{"name": name, "model": name, "modified_at": "", "size": "",
                            "digest": "", "type": "model", "description": "", "tags": [""],
                            "capabilities": ["completion"], "parameters": "",
                            "details": {"parent_model": "", "format": "gguf", "family": "",
                                        "families": [""], "parameter_size": "",
                                        "quantization_level": ""}}],
                "object": "list",
                "data": [{"id": name, "object": "model", "created": int(time.time()),
                          "owned_by": self.owned_by, "meta": meta}]}

    def check_window(self, request: ChatRequest) -> Reply | None:
        n_tokens, n_ctx = request.prompt_tokens, self.slot_n_ctx
        if n_tokens < n_ctx:
            return None
        return Reply(400, {"error": {
            "code": 400, "type": "exceed_context_size_error",
            "message": f"request ({n_tokens} tokens) exceeds the available context size "
                       f"({n_ctx} tokens), try increasing it",
            "n_prompt_tokens": n_tokens, "n_ctx": n_ctx}})

    def reply_budget(self, request: ChatRequest) -> int | None:
        room = self.slot_n_ctx - request.prompt_tokens - 1  # the slot is full: STOP_TYPE_LIMIT
        asked = request.max_tokens if request.max_tokens is not None else \
            request.body.get("n_predict")
        return room if asked is None or asked < 0 else min(int(asked), room)

    def _answer(self, path: str, body: dict) -> Reply:
        # Any name is accepted; answers name the loaded model (``oaicompat_model``).
        return super()._answer(path, {**body, "model": self.model_alias})
