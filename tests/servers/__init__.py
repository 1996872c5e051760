"""Loopback model servers for tests: real HTTP on 127.0.0.1, scripted per test.

``OllamaServer`` speaks Ollama's API, ``OpenAIServer`` the OpenAI chat API; both record every
request, count requests in flight, honour ``stop`` and can fail on demand (see ``base.py``).
Pytest fixtures live in ``fixtures.py``.
"""

from .base import ChatRequest, LoopbackServer, Recorded, cut_at_stop
from .ollama import FakeModel, OllamaServer
from .openai import OpenAIServer

__all__ = ["ChatRequest", "FakeModel", "LoopbackServer", "OllamaServer", "OpenAIServer",
           "Recorded", "cut_at_stop"]
