"""``rlm eval``'s progress on stderr: count, bar, ETA and the running score per arm.

On a terminal one line is redrawn in place (what runs now, and after each result the
tally); otherwise one plain line per result, so a log file reads well too.
"""

from __future__ import annotations

import shutil
import threading
from typing import TextIO

from rlm.cli.progress import short
from rlm.eval.report import duration, human_tokens
from rlm.eval.runner import Item, Tally
from rlm.eval.tasks import length_label

BAR = 20


class EvalBar:
    """Progress of an eval on ``stream``.

    Args:
        stream: where it draws (stderr).
        live: redraw one line in place (default: when ``stream`` is a terminal).
    """

    def __init__(self, stream: TextIO, live: bool | None = None):
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.tally: Tally | None = None
        self.current = ""
        self._lock = threading.Lock()

    def start(self, tally: Tally) -> None:
        self.tally = tally
        self._draw()

    def started(self, item: Item) -> None:
        spec = item.spec
        self.current = f"{spec.suite} {length_label(spec.length)} #{spec.index} {item.arm.name}"
        self._draw()

    def finished(self, line: dict, tally: Tally) -> None:
        self.tally = tally
        if not self.live:
            score = line.get("score")
            task = line["task"]
            with self._lock:
                print(f"eval {tally.done}/{tally.total}  {task['id']}  {line['arm']}  "
                      f"score {score:.2f}  {line['status']}  "
                      f"{human_tokens(int(line.get('tokens') or 0))} tokens  "
                      f"{line.get('seconds', 0):.1f}s  {self._eta()}", file=self.stream,
                      flush=True)
        self._draw()

    def note(self, text: str) -> None:
        """A message on a line of its own (the live line is drawn again below it)."""
        with self._lock:
            if self.live:
                self.stream.write("\r\x1b[2K")
            print(text, file=self.stream, flush=True)
        self._draw()

    def close(self) -> None:
        if self.live:
            with self._lock:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()

    def line(self) -> str:
        """The live line: ``eval  7/24 [#####.....]  29%  ETA 3m12s  rlm 0.62  now: ...``."""
        tally = self.tally
        if tally is None:
            return ""
        share = tally.done / tally.total if tally.total else 1.0
        filled = int(BAR * share)
        scores = "  ".join(f"{arm} {tally.mean(arm):.2f}" for arm in tally.scores)
        parts = [f"eval {tally.done:>3}/{tally.total} [{'#' * filled}{'.' * (BAR - filled)}]",
                 f"{100 * share:3.0f}%", self._eta(), scores]
        if self.current and tally.done < tally.total:
            parts.append(f"now: {self.current}")
        return "  ".join(p for p in parts if p)

    def _eta(self) -> str:
        eta = self.tally.eta() if self.tally else None
        return "ETA ?" if eta is None else f"ETA {duration(eta)}"

    def _draw(self) -> None:
        if not self.live:
            return
        width = shutil.get_terminal_size((100, 20)).columns
        with self._lock:
            self.stream.write("\r\x1b[2K" + short(self.line(), width - 1))
            self.stream.flush()
