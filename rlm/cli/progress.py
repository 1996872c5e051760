"""Live progress of a run on a text stream (stderr), with plain ANSI codes only.

``Progress`` is an event subscriber. On a terminal it keeps an indented tree of agents (status,
steps, tokens, time, task) redrawn in place by a small ticker thread, with the root's reply
streaming below it when ``verbose``; finished steps then scroll above the tree. When the
stream is not a terminal it prints plain lines instead, one per event worth reading.

A thinking model's thinking is never shown as its reply: ``verbose`` prints it dimmed, under
its own label and cut to a few lines, before the reply; while it streams, the live line says
``thinking``. A history fold (the oldest turns of an agent's chat moved into its sandbox) is
one line in plain mode and in ``verbose`` mode; the live tree without ``verbose`` stays clean.
The engine calls subscribers in its own thread, so ``__call__`` only records and never draws.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from rlm import events as ev
from rlm.tree import AgentNode, TreeBuilder
from rlm.usage import human_tokens

STATUS_COLOURS = {"running": "36", "waiting": "33", "answered": "32", "limit": "35",
                  "failed": "31", "cancelled": "90"}
STATUS_MARKS = {"running": "*", "waiting": "~", "answered": "+", "limit": "!",
                "failed": "x", "cancelled": "-"}
DIM = "2"
THINKING_LINES = 4  # lines of a thinking printed with --verbose (the trace has all of it)


def colour(text: str, code: str, enabled: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if enabled and code else text


def short(text: str | None, limit: int) -> str:
    """One line of at most ``limit`` characters."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[:max(0, limit - 3)] + "..."


def plural(count: int, word: str) -> str:
    """``1 step``, ``2 steps``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def agent_line(node: AgentNode, *, now: float, width: int, use_colour: bool) -> str:
    """``  + 0.1  answered  2 steps  1.2k tok  3.4s  the task`` cut to ``width``."""
    end = node.finished if node.finished is not None else now
    seconds = max(0.0, end - node.started) if node.started else 0.0
    name = f"{'  ' * node.depth}{STATUS_MARKS.get(node.status, '?')} {node.agent_id}"
    head = (f"{name:<14} {node.status:<9} {node.steps:>2} step{'s' if node.steps != 1 else ' '} "
            f"{human_tokens(node.usage.total_tokens):>6} tok {seconds:6.1f}s  ")
    waiting = node.waiting_words(now)
    waiting = f"{waiting}  " if waiting else ""
    task = short(node.task, max(0, width - len(head) - len(waiting) - 1))
    return (colour(head, STATUS_COLOURS.get(node.status, ""), use_colour)
            + colour(waiting, "33", use_colour) + task)


def tree_lines(builder: TreeBuilder, *, now: float, width: int, use_colour: bool,
               max_lines: int | None = None) -> list[str]:
    """The tree as lines, depth first; cut to ``max_lines`` with a count of the rest."""
    nodes = builder.agents()
    lines = [agent_line(n, now=now, width=width, use_colour=use_colour) for n in nodes]
    if max_lines is not None and len(lines) > max_lines:
        hidden = len(lines) - (max_lines - 1)
        lines = lines[:max_lines - 1] + [f"  ... and {hidden} more agents"]
    return lines


class Progress:
    """Draws a run on ``stream`` as it happens.

    Args:
        stream: where to draw (stderr).
        live: redraw in place (default: when ``stream`` is a terminal).
        verbose: every agent's steps (thinking, thoughts, code, observations); live mode
            also streams the root's reply as it is written.
        use_colour: ANSI colours (default: live and ``NO_COLOR`` unset).
        interval: seconds between redraws in live mode.
    """

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None,
                 verbose: bool = False, use_colour: bool | None = None, interval: float = 0.1,
                 clock: Callable[[], float] = time.time):
        self.stream = stream or sys.stderr
        self.live = is_terminal(self.stream) if live is None else live
        self.verbose = verbose
        self.use_colour = (self.live and not os.environ.get("NO_COLOR")
                           if use_colour is None else use_colour)
        self.interval = interval
        self.clock = clock
        self.tree = TreeBuilder()
        self._lock = threading.Lock()
        self._pending: list[str] = []   # finished lines to print above the live tree
        self._streaming = ""            # the root's reply being written (verbose live)
        self._thinking = ""             # ... and its thinking, before the reply
        self._drawn = 0                 # lines of the live region on screen
        self._dirty = True
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- subscriber ---------------------------------------------------------------------
    def __call__(self, event: ev.Event) -> None:
        lines = self._lines_for(event)
        with self._lock:
            self.tree(event)
            if isinstance(event, ev.TokenDelta) and event.agent_id == "0":
                if event.kind == "thinking":
                    self._thinking += event.text
                else:
                    self._streaming += event.text
            elif isinstance(event, (ev.ModelReplied, ev.StepStarted)) and event.agent_id == "0":
                self._streaming = self._thinking = ""
            self._pending.extend(lines)
            self._dirty = True
        if not self.live:
            self.flush()
        elif self._ticker is None:
            self.start()

    def start(self) -> Progress:
        """Start the ticker that redraws the live tree (no-op when not live)."""
        if self.live and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="rlm-progress",
                                            daemon=True)
            self._ticker.start()
        return self

    def close(self) -> None:
        """Stop redrawing; leave the final tree on screen."""
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=2)
        with self._lock:
            self._streaming = self._thinking = ""
            self._dirty = True
        self.flush()

    def note(self, text: str) -> None:
        """Print a message above the live tree (or as a plain line)."""
        with self._lock:
            self._pending.append(text)
            self._dirty = True
        if not self.live or self._ticker is None:
            self.flush()

    # --- drawing ------------------------------------------------------------------------
    def _tick(self) -> None:
        last_full = 0.0
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            if self._dirty or now - last_full >= 1.0:  # times tick once a second
                self.flush()
                last_full = now

    def flush(self) -> None:
        """Write what is pending; in live mode, redraw the tree below it."""
        with self._lock:
            pending, self._pending = self._pending, []
            self._dirty = False
            out = self._clear_region() if self.live else ""
            out += "".join(line + "\n" for line in pending)
            if self.live:
                region = self._region()
                self._drawn = len(region)
                out += "".join(line + "\n" for line in region)
            if out:
                try:
                    self.stream.write(out)
                    self.stream.flush()
                except (OSError, ValueError):  # a closed terminal must not stop the run
                    pass

    def _clear_region(self) -> str:
        return f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""

    def _region(self) -> list[str]:
        width, height = shutil.get_terminal_size((100, 30))
        lines = tree_lines(self.tree, now=self.clock(), width=width - 1,
                           use_colour=self.use_colour, max_lines=max(3, height - 4))
        if self.verbose and not self._stop.is_set():
            if self._streaming:
                tail = self._streaming.rstrip().rsplit("\n", 1)[-1]
                lines.append(colour("  0 > ", "90", self.use_colour) + short(tail, width - 8))
            elif self._thinking.strip():
                tail = self._thinking.rstrip().rsplit("\n", 1)[-1]
                lines.append(colour("  0 thinking: " + short(tail, width - 16), DIM,
                                    self.use_colour))
        return lines

    # --- plain lines --------------------------------------------------------------------
    def _lines_for(self, event: ev.Event) -> list[str]:
        """Lines that describe ``event`` for the log (above the tree, or plain output)."""
        tag = f"[{event.agent_id}]"
        if isinstance(event, ev.RunStarted):
            files = event.sandbox.get("files", "")
            unconfined = [f"rlm: note: sandbox code can reach your files ({files})"
                          ] if files.startswith("none") else []
            return unconfined + ([] if self.live else
                                 [f"rlm: run {event.run_id} with {event.model}"])
        if isinstance(event, ev.AgentStarted):
            if self.live and not self.verbose:
                return []
            return [(f"{tag} started at depth {event.depth} ({event.model}): "
                     f"{short(event.task, 100)}")]
        if isinstance(event, ev.StepStarted):
            return [] if self.live else [f"{tag} step {event.step}"
                                         + (" (best answer)" if event.kind != "step" else "")]
        if isinstance(event, ev.ModelWaiting):  # live: the tree line counts the seconds
            what = "a slot of its server" if event.reason == "slot" else "the model"
            return [] if self.live else [f"{tag} waiting for {what}: {event.seconds:.0f} s "
                                         f"({event.model})"]
        if isinstance(event, ev.HistoryFolded):
            return [] if self.live and not self.verbose else [f"{tag} {fold_text(event)}"]
        if isinstance(event, ev.AgentFinished):
            if self.live and not self.verbose:
                return []
            what = f"answer: {short(event.answer, 100)}" if event.answer else (event.error or "")
            limit = f" (limit: {event.limit_hit})" if event.limit_hit else ""
            return [(f"{tag} {event.status}{limit} after {plural(event.steps, 'step')}: "
                     f"{short(what, 120)}")]
        return self._verbose_lines(event, tag) if self.verbose else []

    def _verbose_lines(self, event: ev.Event, tag: str) -> list[str]:
        if isinstance(event, ev.ModelReplied):
            thinking = [colour(line, DIM, self.use_colour) for line in [
                f"{tag} step {event.step} thinking ({len(event.thinking.strip()):,} chars, "
                f"not the reply):", *thinking_lines(event.thinking)]
            ] if event.thinking.strip() else []
            host = f", from {event.host}" if event.host else ""
            return [*thinking, f"{tag} step {event.step} reply ({event.completion_tokens} tok"
                               f"{host}):", *_indent(event.text, 12)]
        if isinstance(event, ev.Observation):
            cut = f", {event.cut_chars:,} chars cut" if event.cut_chars else ""
            return [f"{tag} observation{cut}:", *_indent(event.text, 8)]
        if isinstance(event, ev.SubCall) and event.kind in ("llm_query", "tool"):
            host = f" [{event.host}]" if event.host else ""
            name = event.kind if event.kind == "llm_query" else f"tool {event.model}"
            return [f"{tag} {name}({short(event.prompt, 60)!r}) -> "
                    f"{short(event.error or event.answer, 60)!r}{host}"]
        return []


def fold_text(event: ev.HistoryFolded) -> str:
    """``history folded: steps 1-6 moved to `history` (2,900 -> 1,100 tokens, window 4,096)``."""
    sizes = [f"{event.tokens_before:,} -> {event.tokens_after:,} tokens"] if (
        event.tokens_before or event.tokens_after) else []
    sizes += [f"window {event.window:,}"] if event.window else []
    return (f"history folded: {event.moved()} moved to `{event.variable}`"
            + (f" ({', '.join(sizes)})" if sizes else ""))


def thinking_lines(text: str, max_lines: int = THINKING_LINES) -> list[str]:
    """A thinking as ``    | `` lines, cut to ``max_lines`` unless only a line or two more."""
    lines = str(text).strip().splitlines() or [""]
    keep = lines if len(lines) <= max_lines + 2 else lines[:max_lines]
    shown = ["    | " + line[:200] for line in keep]
    if len(lines) > len(keep):
        shown.append(f"    | ... {len(lines) - len(keep)} more lines of thinking (the trace "
                     f"has them)")
    return shown


def _indent(text: str, max_lines: int) -> list[str]:
    lines = str(text).rstrip().splitlines() or [""]
    shown = ["    " + line[:200] for line in lines[:max_lines]]
    if len(lines) > max_lines:
        shown.append(f"    ... ({len(lines) - max_lines} more lines)")
    return shown


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
