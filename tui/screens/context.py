"""Picking the run's context: type a path or browse; it is checked before it is taken."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Static

from tui.context_check import ContextCheck, check_context
from tui.screens import DIALOGS


class ContextScreen(ModalScreen[ContextCheck | None]):
    """Returns the accepted ``ContextCheck`` (path ``None`` = no context), or ``None``."""

    CSS_PATH = DIALOGS

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str | None, browse_root: str | Path = ".") -> None:
        super().__init__()
        self.current = current or ""
        self.browse_root = Path(browse_root)

    def compose(self) -> ComposeResult:
        with Vertical(id="context-box", classes="dialog") as box:
            box.border_title = "Context: a text file or a folder"
            box.border_subtitle = "enter takes it · empty = no context · escape cancels"
            yield Input(self.current, placeholder="path/to/file.txt or path/to/folder",
                        id="context-path")
            yield Static("", id="context-message")
            yield DirectoryTree(self.browse_root, id="context-browser")

    def on_mount(self) -> None:
        self.query_one("#context-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        check = check_context(event.value)
        if check.ok:
            self.dismiss(check)
        else:
            self._say(check)

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self._pick(event.path)

    def on_directory_tree_directory_selected(
            self, event: DirectoryTree.DirectorySelected) -> None:
        self._pick(event.path)

    def _pick(self, path: Path) -> None:
        field = self.query_one("#context-path", Input)
        field.value = str(path)
        self._say(check_context(field.value))
        field.focus()

    def _say(self, check: ContextCheck) -> None:
        message = self.query_one("#context-message", Static)
        message.update(check.message if check.ok else f"✗ {check.message}")
        message.set_class(not check.ok, "-error")

    def action_cancel(self) -> None:
        self.dismiss(None)
