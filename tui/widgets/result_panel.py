"""The end of a turn: the answer, shown big, with the turn's totals and its trace path.

On a short terminal it is folded to one line (the answer's start and the key that unfolds
it), so the tree keeps its rows; ``f2`` folds or unfolds it at any size. Also where an error
that stopped a run before it began (no Ollama, model not pulled, a bad context) is shown in
full, never folded, as the user must read it to fix it.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from tui.render import STATUS_MARKS, Totals, short, summary_line

TITLES = {
    "answered": "Answer",
    "limit": "Best answer (a limit was hit)",
    "failed": "No answer: the run failed",
    "cancelled": "Cancelled",
}

KINDS = ("answered", "limit", "failed", "cancelled", "error", "note")
FOLDED_HINT = "f2 unfolds · ^y copies"


class AnswerLine(Widget):
    """The folded panel: mark, the answer's start, and the keys, fitted to one line."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mark, self.colour, self.text = "", "", ""

    def show(self, status: str, text: str) -> None:
        self.mark, self.colour = STATUS_MARKS.get(status, ("✗", "red"))
        self.text = text
        self.refresh()

    def render(self) -> Text:
        width = self.size.width
        hint = FOLDED_HINT if width >= 40 + len(FOLDED_HINT) else "f2 unfolds"
        room = max(width - len(hint) - 4 - 2, 8)
        line = Text.assemble((self.mark, f"bold {self.colour}"), " ",
                             (short(self.text, room), "bold"))
        line.append(" " * max(width - line.cell_len - len(hint), 2))
        line.append(hint, style="dim italic")
        line.truncate(width)
        return line


class ResultPanel(Vertical):
    """Hidden until a turn ends; ``show_result`` / ``show_error`` fill it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.answer = ""
        self.display = False
        self.fold: bool | None = None  # the user's choice (f2); None: by the screen's height
        self.short = False
        self.foldable = True  # an error is never folded

    def _parts(self) -> tuple[AnswerLine, Static, Static]:
        """The folded line, the answer and the totals: mounted the first time the panel
        shows something (hidden, they would still be styled for the first frame)."""
        if not self.children:
            body = VerticalScroll(id="result-body")
            self.mount_all([AnswerLine(id="result-line"), body, Static(id="result-meta")])
            body.mount(Static(id="result-answer"))
        return (self.query_one(AnswerLine), self.query_one("#result-answer", Static),
                self.query_one("#result-meta", Static))

    @property
    def folded(self) -> bool:
        return self.has_class("-folded")

    def fit(self, short: bool) -> None:
        """Fold on a short screen, unless the user said otherwise (``toggle``)."""
        self.short = short
        fold = self.short if self.fold is None else self.fold
        self.set_class(fold and self.foldable, "-folded")
        self.border_subtitle = "f2 folds" if self.foldable and not fold else ""

    def toggle(self) -> None:
        """Fold or unfold (f2); the choice holds until the next turn's answer."""
        self.fold = not self.folded
        self.fit(self.short)

    def _set_kind(self, kind: str) -> None:
        for name in KINDS:
            self.set_class(name == kind, f"-{name}")
        self.display = True

    def show_result(self, status: str, answer: str, totals: Totals, trace: str | None,
                    detail: str | None = None, limit_hit: str | None = None,
                    turn: int | None = None) -> None:
        """A finished (or replayed) turn: its answer, totals and trace."""
        self.answer = answer
        line_box, answer_box, meta_box = self._parts()
        mark = STATUS_MARKS.get(status, ("", ""))[0]
        title = TITLES.get(status, status)
        if status == "limit" and limit_hit:
            title = f"Best answer (the {limit_hit} limit was hit)"
        self.border_title = f"{mark} {title}" + (f" · turn {turn}" if turn else "")
        body = Text(answer or "(no answer)", style="bold" if answer else "dim")
        if detail and status != "answered":
            body.append(f"\n{detail}", style="red" if status == "failed" else "dim")
        answer_box.update(body)
        meta = Text(summary_line(totals), style="dim")
        meta.append(f"\ntrace  {trace}" if trace else "\nno trace written", style="dim")
        if answer:
            meta.append("   ·   ctrl+y copies the answer", style="dim italic")
        meta_box.update(meta)
        line = answer or (f"{title}: {detail}" if detail else title)
        line_box.show(status, line)
        self._set_kind(status if status in TITLES else "note")
        self.fold, self.foldable = None, True
        self.fit(self.short)

    def show_error(self, title: str, message: str, hint: str = "") -> None:
        """A run that could not start or a trace that could not be read."""
        self.answer = ""
        _, answer_box, meta_box = self._parts()
        self.border_title = f"✗ {title}"
        answer_box.update(Text(message))
        meta_box.update(Text(hint, style="dim"))
        self._set_kind("error")
        self.fold, self.foldable = None, False
        self.fit(self.short)

    def hide(self) -> None:
        self.answer = ""
        self.display = False
