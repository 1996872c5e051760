"""Checking a context path before a run, with a message a user can act on.

The engine checks again (and reads the whole file); this is the quick look the screen takes
when the user picks a path: does it exist, is it text, how big is it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tui.render import human_tokens

_HEAD = 64 * 1024
_MAX_FILES = 5000  # a folder is sampled this far; the engine reads it all


@dataclass(frozen=True)
class ContextCheck:
    ok: bool
    path: str | None
    message: str


def check_context(raw: str | None) -> ContextCheck:
    """Say whether ``raw`` can be a run's context and what it is."""
    text = (raw or "").strip()
    if not text:
        return ContextCheck(True, None, "No context: the question itself is the context.")
    path = Path(text).expanduser()
    if not path.exists():
        return ContextCheck(False, None, f"There is no file or folder at {text!r}. Check the "
                                         f"path (relative paths start at {os.getcwd()}).")
    if path.is_dir():
        return _check_folder(path)
    return _check_file(path)


def _check_file(path: Path) -> ContextCheck:
    try:
        kind = _text_or_binary(path)
    except OSError as exc:
        return ContextCheck(False, None, f"Cannot read {path}: {exc.strerror or exc}.")
    if kind == "binary":
        return ContextCheck(False, None, f"{path.name} looks binary, not UTF-8 text. rlm "
                                         f"reads text: convert it first (for a PDF, pdftotext), "
                                         f"or pick a folder of text files.")
    size = path.stat().st_size
    return ContextCheck(True, str(path), f"Text file {path.name}, {_size(size)}.")


def _check_folder(path: Path) -> ContextCheck:
    text = binary = 0
    size = 0
    for file in _files(path):
        try:
            kind = _text_or_binary(file)
        except OSError:
            kind = "binary"
        if kind == "text":
            text += 1
            size += file.stat().st_size
        else:
            binary += 1
    if text == 0:
        return ContextCheck(False, None, f"The folder {path} has no text files to read "
                                         f"({binary} binary file(s) would be skipped).")
    skipped = f"; {binary} binary file(s) will be skipped" if binary else ""
    return ContextCheck(True, str(path), f"Folder {path.name}: {text} text file(s), "
                                         f"{_size(size)}{skipped}.")


def _files(folder: Path):
    for count, file in enumerate(p for p in sorted(folder.rglob("*")) if p.is_file()):
        if count >= _MAX_FILES:
            return
        yield file


def _text_or_binary(path: Path) -> str:
    with path.open("rb") as src:
        head = src.read(_HEAD)
    if b"\0" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still text.
        if len(head) < _HEAD or exc.start < len(head) - 4:
            return "binary"
    return "text"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB ({human_tokens(size // 4)} tokens or so)"
