"""One-line bars: the totals above the footer, the settings under the question.

Each keeps its data and renders it fitted to the width it has at paint time, so a narrow
terminal gets a shorter line, never a wrapped or cut one.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.render import Totals, totals_line


class TotalsBar(Widget):
    """Agents running / done / failed, tokens in and out, cost, elapsed time."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._totals, self._state = Totals(), ""

    def show(self, totals: Totals, state: str = "") -> None:
        self._totals, self._state = totals, state
        self.refresh()

    def render(self) -> Text:
        return totals_line(self._totals, self._state, self.size.width)


class SettingsBar(Widget):
    """What the next question will use: context, model, limits (and the profile), each
    with the key that changes it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.parts: list[tuple[str, str, str]] = []  # (label, value, key)

    def show(self, context: str | None, model: str | None, max_depth: int | None,
             max_steps: int | None, profile: str | None = None) -> None:
        self.parts = [("context", context or "", "^o"), ("model", model or "auto", "^t"),
                      ("depth", _number(max_depth), ""), ("steps", _number(max_steps), "^l")]
        if profile:
            self.parts.append(("profile", profile, ""))
        self.refresh()

    def render(self) -> Text:
        return settings_line(self.parts, self.size.width)

    @property
    def text(self) -> str:
        """The whole line, unfitted (tests, and a reader of the code)."""
        return settings_line(self.parts).plain


def settings_line(parts: list[tuple[str, str, str]], width: int | None = None) -> Text:
    """``context book.txt ^o · model ollama/llama3 ^t · depth 2 · steps 20 ^l``, fitted:
    first the keys go, then the room between, then the context path loses its folders."""
    for keys, sep, none in ((True, "  ·  ", "none (the question is the context)"),
                            (True, " · ", "none"), (False, " · ", "none")):
        line = _settings(parts, keys, sep, none, None)
        if width is None or line.cell_len <= width:
            return line
    return _settings(parts, False, " · ", "none", width)


def _settings(parts: list[tuple[str, str, str]], keys: bool, sep: str, none: str,
              width: int | None) -> Text:
    line = Text()
    for n, (label, value, key) in enumerate(parts):
        line.append(sep if n else "", style="dim")
        line.append(f"{label} ", style="dim")
        if label == "context":
            value = value or none
            if width is not None:  # keep the file's name: cut the folders in front
                rest = _settings(parts[1:], keys, sep, none, None).cell_len + len(sep)
                value = _cut_left(value, max(width - rest - len("context "), 8))
        line.append(value)
        if keys and key:
            line.append(f" {key}", style="dim italic")
    line.truncate(width or line.cell_len)
    return line


def _cut_left(path: str, room: int) -> str:
    return path if len(path) <= room else "…" + path[len(path) - room + 1:]


def _number(value: int | None) -> str:
    return "default" if value is None else str(value)
