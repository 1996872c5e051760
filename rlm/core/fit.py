"""Does a sub-call's prompt fit its model? Checked before the call is sent.

Small local models run at small windows (Ollama at 4,096 tokens unless told otherwise), and
a prompt that does not fit is silently truncated by Ollama (llama.cpp and vLLM refuse it):
the answer then reads fine and is wrong. A prompt too long for its model's running window
(``rlm.core.budget``) is refused with advice instead, and never sent.
"""

from __future__ import annotations

from rlm.config import Settings
from rlm.core.budget import Windows, prompt_limit, prompt_tokens


class FitChecker:
    """``check`` returns ``None`` or the refusal the sandbox code reads instead of an answer."""

    def __init__(self, windows: Windows, settings: Settings):
        self.windows = windows
        self.settings = settings

    async def check(self, model: str, prompt: str) -> str | None:
        window = await self.windows.get(model)
        limit = prompt_limit(window, self.settings)
        if limit is None:
            return None
        tokens = prompt_tokens([{"role": "user", "content": prompt}], model,
                               self.windows.factor(model))
        if tokens <= limit:
            return None
        # Characters per chunk at this text's own rate, with a quarter of the room to spare.
        chunk = max(1, int(len(prompt) * limit / tokens * 3 / 4))
        return (f"[llm_query refused: the prompt is about {tokens:,} tokens but {model} runs "
                f"at {window.running:,} (room for a {limit:,}-token prompt and the reply). "
                f"Split the text into smaller chunks (for example {chunk:,} characters each) "
                f"and use llm_query_batched.]")
