"""Setting the depth and step limits of the next run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.validation import Integer
from textual.widgets import Input, Label, Static

from tui.screens import DIALOGS


class LimitsScreen(ModalScreen[tuple[int | None, int | None] | None]):
    """Returns ``(max_depth, max_steps)`` (``None`` = the engine's default) or ``None``."""

    CSS_PATH = DIALOGS

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, max_depth: int | None, max_steps: int | None) -> None:
        super().__init__()
        self.max_depth, self.max_steps = max_depth, max_steps

    def compose(self) -> ComposeResult:
        with Vertical(id="limits-box", classes="dialog") as box:
            box.border_title = "Limits of the next run"
            box.border_subtitle = "enter saves · empty = default · escape cancels"
            yield Label("Max depth (0 = no child agents; default 2)")
            yield Input(_text(self.max_depth), id="max-depth", placeholder="2",
                        validators=[Integer(minimum=0, maximum=10)])
            yield Label("Max steps per agent (default 20)")
            yield Input(_text(self.max_steps), id="max-steps", placeholder="20",
                        validators=[Integer(minimum=1, maximum=1000)])
            yield Static("", id="limits-message")

    def on_mount(self) -> None:
        self.query_one("#max-depth", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        fields = [self.query_one("#max-depth", Input), self.query_one("#max-steps", Input)]
        for field in fields:
            result = field.validate(field.value)
            if field.value.strip() and result is not None and not result.is_valid:
                message = self.query_one("#limits-message", Static)
                message.update(f"✗ {_name(field.id)}: "
                               f"{'; '.join(result.failure_descriptions)}")
                message.add_class("-error")
                field.focus()
                return
        self.dismiss(tuple(_value(field.value) for field in fields))  # type: ignore[arg-type]

    def action_cancel(self) -> None:
        self.dismiss(None)


def _name(widget_id: str | None) -> str:
    return "max depth" if widget_id == "max-depth" else "max steps"


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _value(text: str) -> int | None:
    return int(text) if text.strip() else None
