"""Choosing the model: pulled Ollama models, hosted models whose key is set, or any name.

A pulled model's line says the window a run will give it ("runs at 16,384 of 131,072
tokens"): Ollama runs a model at that window, not at the one it was trained for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.discovery import Discovery, discover_models
from tui.screens import DIALOGS

AUTO = "(auto)"


@dataclass(eq=False)
class ModelsFound(Message):
    discovery: Discovery


class ModelScreen(ModalScreen[str | None]):
    """Returns the chosen model string, ``""`` for automatic, or ``None`` (cancelled)."""

    CSS_PATH = DIALOGS

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str | None,
                 discover: Callable[[], Discovery] = discover_models) -> None:
        super().__init__()
        self.current = current or ""
        self.discover = discover

    def compose(self) -> ComposeResult:
        with Vertical(id="model-box", classes="dialog") as box:
            box.border_title = "Model"
            box.border_subtitle = "enter picks · type any litellm name · escape cancels"
            yield OptionList(Option("auto: RLM_MODEL, else a pulled Ollama model", id=AUTO),
                             id="model-list")
            yield Static("Looking for models…", id="model-notes")
            yield Input(self.current, placeholder="or type a model: ollama/llama3, "
                                                  "groq/llama-3.3-70b-versatile, …",
                        id="model-name")

    def on_mount(self) -> None:
        self.query_one("#model-list", OptionList).focus()
        self._find_models()

    @work(thread=True, exclusive=True, exit_on_error=False, group="discover",
          description="list local and hosted models")
    def _find_models(self) -> None:
        try:
            found = self.discover()
        except Exception as exc:  # discovery must never take the screen down
            found = Discovery([], [f"Could not list models: {exc}"])
        self.post_message(ModelsFound(found))

    def on_models_found(self, message: ModelsFound) -> None:
        options = self.query_one("#model-list", OptionList)
        for choice in message.discovery.choices:
            detail = f"  {choice.source}" + (f", {choice.detail}" if choice.detail else "")
            options.add_option(Option(Text.assemble(choice.model, (detail, "dim")),
                                      id=choice.model))
        notes = message.discovery.notes
        found = len(message.discovery.choices)
        text = f"{found} model(s) found." if found else "No models found."
        if any("runs at" in choice.detail for choice in message.discovery.choices):
            text += (" “runs at N of M tokens”: the window a run gives the model (RLM_NUM_CTX "
                     "sets it), of the one it was trained for.")
        self.query_one("#model-notes", Static).update("\n".join([text, *notes]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        chosen = event.option.id or ""
        self.dismiss("" if chosen == AUTO else chosen)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
