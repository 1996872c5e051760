"""The end of a run: the answer, shown big, with the run's totals and its trace path.

Also where an error that stopped a run before it began (no Ollama, model not pulled, a bad
context) is shown in full, as the user must read it to fix it.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from tui.render import STATUS_MARKS, Totals, summary_line

TITLES = {
    "answered": "Answer",
    "limit": "Best answer (a limit was hit)",
    "failed": "No answer: the run failed",
    "cancelled": "Cancelled",
}

KINDS = ("answered", "limit", "failed", "cancelled", "error", "note")


class ResultPanel(Vertical):
    """Hidden until a run ends; ``show_result`` / ``show_error`` fill it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.answer = ""
        self.display = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="result-body"):
            yield Static(id="result-answer")
        yield Static(id="result-meta")

    def _set_kind(self, kind: str) -> None:
        for name in KINDS:
            self.set_class(name == kind, f"-{name}")
        self.display = True

    def show_result(self, status: str, answer: str, totals: Totals, trace: str | None,
                    detail: str | None = None, limit_hit: str | None = None) -> None:
        """A finished (or replayed) run: its answer, totals and trace."""
        self.answer = answer
        mark = STATUS_MARKS.get(status, ("", ""))[0]
        title = TITLES.get(status, status)
        if status == "limit" and limit_hit:
            title = f"Best answer (the {limit_hit} limit was hit)"
        self.border_title = f"{mark} {title}"
        body = Text(answer or "(no answer)", style="bold" if answer else "dim")
        if detail and status != "answered":
            body.append(f"\n{detail}", style="red" if status == "failed" else "dim")
        self.query_one("#result-answer", Static).update(body)
        meta = Text(summary_line(totals), style="dim")
        meta.append(f"\ntrace  {trace}" if trace else "\nno trace written", style="dim")
        if answer:
            meta.append("   ·   ctrl+y copies the answer", style="dim italic")
        self.query_one("#result-meta", Static).update(meta)
        self._set_kind(status if status in TITLES else "note")

    def show_error(self, title: str, message: str, hint: str = "") -> None:
        """A run that could not start or a trace that could not be read."""
        self.answer = ""
        self.border_title = f"✗ {title}"
        self.query_one("#result-answer", Static).update(Text(message))
        self.query_one("#result-meta", Static).update(Text(hint, style="dim"))
        self._set_kind("error")

    def hide(self) -> None:
        self.answer = ""
        self.display = False
