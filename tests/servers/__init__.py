"""Loopback model servers for tests: real HTTP on 127.0.0.1, scripted per test, as strict
as the real servers (default windows, silent truncation, thinking formats, 429s, stalls).

``OllamaServer`` speaks Ollama's API, ``OpenAIServer`` the OpenAI chat API (vLLM with
``max_model_len``), ``LlamaCppServer`` llama.cpp's server. All record every request, count
requests in flight, count tokens through a chat template and a tokenizer
(``tokenize.py``), honour ``stop`` and can fail or stall on demand (``failures.py``).
Pytest fixtures live in ``fixtures.py``.
"""

from .base import ChatRequest, LoopbackServer, Recorded
from .llamacpp import LlamaCppServer
from .ollama import FakeModel, OllamaServer
from .ollama_window import Truncation
from .openai import OpenAIServer
from .replies import ThinkingReply, cut_at_stop
from .tokenize import CHATML, DIGITS, LLAMA3, SCALED_CL100K, WORDS, TiktokenCounter

__all__ = ["CHATML", "DIGITS", "LLAMA3", "SCALED_CL100K", "WORDS", "ChatRequest", "FakeModel",
           "LlamaCppServer", "LoopbackServer", "OllamaServer", "OpenAIServer", "Recorded",
           "ThinkingReply", "TiktokenCounter", "Truncation", "cut_at_stop"]
