"""What an action shows: its bounded stdout/stderr, and a traceback of the user's own lines.

Worker side, stdlib only.
"""

from __future__ import annotations

import io
import os

TYPE_CHECKING = False  # typing costs the worker's cold start ~5 ms; annotations only
if TYPE_CHECKING:
    from typing import Any

MAX_FRAMES = 8
_HERE = os.path.dirname(os.path.abspath(__file__))


class Bounded(io.TextIOBase):
    """A text stream that keeps the first and last ``limit // 2`` characters and counts the rest.

    Printing 100 MB costs the time to produce it and never more than ``limit`` characters.
    """

    def __init__(self, limit: int):
        super().__init__()
        self._head_max = limit // 2
        self._tail_max = limit - self._head_max
        self._head: list[str] = []
        self._head_len = 0
        self._tail: list[str] = []
        self._tail_len = 0
        self.total = 0
        self.buffer = _ByteSink(self)

    encoding = "utf-8"
    errors = "replace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        written = len(text)
        self.total += written
        room = self._head_max - self._head_len
        if room > 0:
            part = text[:room]
            self._head.append(part)
            self._head_len += len(part)
            text = text[room:]
        if text:
            self._keep_tail(text)
        return written

    def _keep_tail(self, text: str) -> None:
        if len(text) >= self._tail_max:
            self._tail, self._tail_len = [text[-self._tail_max:]], self._tail_max
            return
        self._tail.append(text)
        self._tail_len += len(text)
        if self._tail_len > 2 * self._tail_max:
            joined = "".join(self._tail)[-self._tail_max:]
            self._tail, self._tail_len = [joined], len(joined)

    def result(self) -> tuple[str, int]:
        """The kept text (with a marker line where characters were cut) and the count cut."""
        head = "".join(self._head)
        tail = "".join(self._tail)[-self._tail_max:] if self._tail_max else ""
        cut = self.total - len(head) - len(tail)
        if not cut:
            return head + tail, 0
        return f"{head}\n... [{cut:,} characters cut] ...\n{tail}", cut


class Switch(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` for the worker's whole life: writes go to the running
    action's ``Bounded`` stream, or to the real one between actions. A logging handler made
    in one action (it keeps the stream object) still shows its output in later actions.
    """

    def __init__(self, real: Any):
        super().__init__()
        self.real = real
        self.target: Any = real

    encoding = "utf-8"
    errors = "replace"

    @property
    def buffer(self) -> Any:
        return self.target.buffer

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()


class _ByteSink:
    """``sys.stdout.buffer``: bytes written here are decoded into the text stream."""

    def __init__(self, text: Bounded):
        self._text = text

    def write(self, data: Any) -> int:
        self._text.write(bytes(data).decode("utf-8", "replace"))
        return len(data)

    def flush(self) -> None:
        pass


def format_error(exc: BaseException, timeout_note: str | None = None) -> str:
    """The user's frames and the exception line; the worker's own frames are left out.

    Args:
        exc: the exception the user's code raised.
        timeout_note: when set, a ``KeyboardInterrupt`` (how the host stops a running
            action) is shown as ``TimeoutError: <note>``.
    """
    import traceback  # only when there is an error: it is slow to import

    frames = [(frame, line) for frame, line in traceback.walk_tb(exc.__traceback__)
              if os.path.dirname(frame.f_code.co_filename) != _HERE]
    lines: list[str] = []
    if frames:
        hidden = len(frames) - MAX_FRAMES
        lines.append("Traceback (most recent call last):\n")
        if hidden > 0:
            lines.append(f"  ... ({hidden} earlier frames hidden)\n")
        lines.extend(traceback.StackSummary.extract(iter(frames[-MAX_FRAMES:])).format())
    if timeout_note and isinstance(exc, KeyboardInterrupt):
        lines.append(f"TimeoutError: {timeout_note}\n")
    else:
        lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines).rstrip("\n")
