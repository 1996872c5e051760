"""A scripted OpenAI-compatible server (``/v1/chat/completions``, ``/v1/models``) on 127.0.0.1.

Answers as one JSON object, or as server-sent events ending in ``data: [DONE]`` with a final
usage chunk when the request asks ``stream_options.include_usage``. With ``api_key`` set it
answers 401 to a request whose ``Authorization`` is not ``Bearer <api_key>``.
``max_tokens`` / ``max_completion_tokens`` cut the reply (``finish_reason: "length"``).

With ``max_model_len`` it is **vLLM** (``vllm-project/vllm``): ``/v1/models`` reports
``max_model_len`` on each model card (``vllm/entrypoints/openai/models/serving.py``
``show_available_models``), and a prompt longer than ``max_model_len - max_tokens`` (0 when
absent) is refused with a 400 ``BadRequestError`` (``vllm/renderers/params.py``
``TokenizeParams._token_len_check``: "You passed N input tokens and requested M output
tokens. However, the model's context length is only L tokens, resulting in a maximum input
length of L-M tokens. Please reduce the length of the input prompt." + `` (parameter=
input_tokens, value=N)`` from ``VLLMValidationError.__str__``). vLLM tokenizes with
truncation at ``max_input_tokens + 1`` (``get_encode_kwargs``), so N is at most that. A
request without ``max_tokens`` may generate up to the rest of the window
(``vllm/entrypoints/utils.py`` ``get_max_tokens``).

``reasoning_field`` ("reasoning_content" for llama.cpp and vLLM with a reasoning parser)
moves a thinking part out of ``content``; without it the raw ``<think>...</think>`` stays at
the start of ``content``, as from a server that has no reasoning parser.
"""

from __future__ import annotations

import json
import time

from .base import ChatRequest, LoopbackServer, Replies, Reply
from .replies import split_thinking


class OpenAIServer(LoopbackServer):
    """OpenAI's chat API, scripted.

    Args:
        models: model ids served; ``None`` accepts any model name.
        api_key: when set, the key every request must carry.
        max_model_len: be vLLM with this window (see the module docstring).
        reasoning_field: where a thinking part goes (None: raw, in ``content``).
        (other options: see ``LoopbackServer``)
    """

    chat_paths = ("/v1/chat/completions", "/chat/completions")
    owned_by = "loopback"

    def __init__(self, replies: Replies = None, *, models: list[str] | None = None,
                 api_key: str | None = None, max_model_len: int | None = None,
                 reasoning_field: str | None = None, **options):
        super().__init__(replies, **options)
        self.models = models
        self.api_key = api_key
        self.max_model_len = max_model_len
        self.reasoning_field = reasoning_field

    def error_reply(self, status: int, message: str) -> Reply:
        kind = {429: "rate_limit_exceeded", 401: "invalid_api_key",
                404: "model_not_found"}.get(status, "server_error")
        return Reply(status, {"error": {"message": message, "type": kind, "code": kind,
                                        "param": None}})

    def route(self, method: str, path: str, body: dict | None, headers: dict) -> Reply:
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error_reply(401, "Incorrect API key provided.")
        if path in ("/v1/models", "/models", "/openai/v1/models"):  # the last: groq's client
            return Reply(200, self.models_list())
        if path in self.chat_paths and method == "POST":
            return self._answer(path, body or {})
        return self.error_reply(404, f"no route for {method} {path}")

    def models_list(self) -> dict:
        return {"object": "list", "data": [self.model_card(i)
                                           for i in self.models or ["any-model"]]}

    def model_card(self, model_id: str) -> dict:
        card = {"id": model_id, "object": "model", "created": 0, "owned_by": self.owned_by}
        if self.max_model_len is None:
            return card
        permission = {"id": "modelperm-loopback", "object": "model_permission", "created": 0,
                      "allow_create_engine": False, "allow_sampling": True,
                      "allow_logprobs": True, "allow_search_indices": False,
                      "allow_view": True, "allow_fine_tuning": False, "organization": "*",
                      "group": None, "is_blocking": False}
        return card | {"owned_by": "vllm", "root": model_id, "parent": None,
                       "max_model_len": self.max_model_len, "permission": [permission]}

    # -- the window, for subclasses and vLLM ---------------------------------------------
    def check_window(self, request: ChatRequest) -> Reply | None:
        """A refusal for a request that does not fit, or None."""
        if self.max_model_len is None:
            return None
        body, limit = request.body, self.max_model_len
        param = ("max_completion_tokens" if body.get("max_completion_tokens") is not None
                 else "max_tokens")
        wanted = request.max_tokens or 0
        if wanted > limit:
            return _vllm_error(f"{param}={wanted}cannot be greater than max_model_len="
                               f"max_total_tokens={limit}. Please request fewer output "
                               "tokens.", param, wanted)
        max_input = limit - wanted
        if request.prompt_tokens <= max_input:
            return None
        passed = min(request.prompt_tokens, max_input + 1)
        return _vllm_error(
            f"You passed {passed} input tokens and requested {wanted} output tokens. "
            f"However, the model's context length is only {limit} tokens, resulting in a "
            f"maximum input length of {max_input} tokens. Please reduce the length of the "
            "input prompt.", "input_tokens", passed)

    def reply_budget(self, request: ChatRequest) -> int | None:
        """Tokens the reply may take (None: no limit)."""
        if self.max_model_len is not None and request.max_tokens is None:
            return self.max_model_len - request.prompt_tokens
        return request.max_tokens

    # -- one request ---------------------------------------------------------------------
    def _answer(self, path: str, body: dict) -> Reply:
        request = _chat_request(path, body)
        if self.models is not None and request.model not in self.models:
            return self.error_reply(404, f"The model `{request.model}` does not exist")
        request.prompt_tokens = self.count_prompt(request.messages)
        refused = self.check_window(request)
        if refused is not None:
            return refused
        if not self.take_slot():
            return Reply(drop=True)
        try:
            return self.in_slot(self._generate(request))
        except BaseException:
            self.free_slot()
            raise

    def _generate(self, request: ChatRequest) -> Reply:
        self.wait_latency(request)
        raw, cut = self.limit_reply(self.reply_text(request), self.reply_budget(request))
        thinking, content = split_thinking(raw) if self.reasoning_field else ("", raw)
        finish = "length" if cut else "stop"
        usage = self._usage(request, raw)
        if not request.stream:
            return Reply(200, self._whole(request, content, thinking, finish, usage))
        return Reply(200, chunks=self._stream(request, content, thinking, finish, usage),
                     content_type="text/event-stream")

    def _whole(self, request: ChatRequest, content: str, thinking: str, finish: str,
               usage: dict) -> dict:
        message = {"role": "assistant", "content": content} | self._thinking(thinking)
        reply = {**_head(request, "chat.completion"), "choices": [{
            "index": 0, "message": message, "finish_reason": finish, "logprobs": None}]}
        if self.report_usage:
            reply["usage"] = usage
        return reply

    def _thinking(self, thinking: str) -> dict:
        return {self.reasoning_field: thinking} if thinking and self.reasoning_field else {}

    def _stream(self, request: ChatRequest, content: str, thinking: str, finish: str,
                usage: dict):
        head = _head(request, "chat.completion.chunk")
        yield _event({**head, "choices": [_delta({"role": "assistant", "content": ""})]})
        for piece in self.pieces(thinking):
            yield _event({**head, "choices": [_delta(self._thinking(piece))]})
        for piece in self.pieces(content):
            yield _event({**head, "choices": [_delta({"content": piece})]})
        yield _event({**head, "choices": [_delta({}, finish)]})
        wants_usage = (request.body.get("stream_options") or {}).get("include_usage")
        if wants_usage and self.report_usage:
            yield _event({**head, "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    def _usage(self, request: ChatRequest, raw: str) -> dict:
        prompt, completion = self.usage(request, raw)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}


def _vllm_error(message: str, param: str, value: int) -> Reply:
    """vLLM's ``ErrorResponse`` for a ``VLLMValidationError`` (HTTP 400)."""
    return Reply(400, {"error": {"message": f"{message} (parameter={param}, value={value})",
                                 "type": "BadRequestError", "param": param, "code": 400}})


def _chat_request(path: str, body: dict) -> ChatRequest:
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    limit = body.get("max_completion_tokens")
    limit = body.get("max_tokens") if limit is None else limit
    return ChatRequest(path, body.get("model", ""), list(body.get("messages") or []), stop,
                       bool(body.get("stream", False)), body,
                       max_tokens=int(limit) if limit is not None else None)


def _head(request: ChatRequest, kind: str) -> dict:
    return {"id": "chatcmpl-loopback", "object": kind, "created": int(time.time()),
            "model": request.model, "system_fingerprint": None}


def _delta(delta: dict, finish: str | None = None) -> dict:
    return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}


def _event(obj: dict) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()
