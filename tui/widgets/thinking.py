"""A step's thinking in the transcript: dimmed, labelled, apart from the reply.

A thinking model can think for pages before it writes two lines of reply. Shown whole, that
would push the reply (what the agent acts on) off the screen, so a long thinking shows its
first lines until the user asks for all of it: a click on it, or ``t`` in the transcript
for every step at once. A short one is always shown whole. The boxes take no focus, so tab
still moves between the panes.
"""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from tui.entries import thinking_entry, thinking_preview


class ThinkingBox(Static):
    """One step's thinking; ``expanded`` says whether all of it is shown."""

    expanded: reactive[bool] = reactive(False)

    def __init__(self, text: str, *, expanded: bool = False, **kwargs) -> None:
        long = bool(thinking_preview(text)[1])
        classes = "entry thinking" + (" -long" if long else "")
        super().__init__(thinking_entry(text, expanded), classes=classes, **kwargs)
        self.text = text
        self.long = long
        self.set_reactive(ThinkingBox.expanded, expanded)

    def watch_expanded(self, expanded: bool) -> None:
        self.update(thinking_entry(self.text, expanded))

    def on_click(self) -> None:
        if self.long:
            self.expanded = not self.expanded
