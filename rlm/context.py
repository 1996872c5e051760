"""The context: what the user passes, normalised into a file a sandbox worker can load.

``prepare_context(value, folder)`` writes the payload once into ``folder`` (or points at the
user's own file) and returns a ``ContextSource``: the file, how to load it, and facts about
it (type, characters, items, a preview) for the first message. A ``str`` is always text,
never a path; a ``pathlib.Path`` is a file (UTF-8 text) or a folder (dict of relative path
-> text, binary files skipped and listed).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm.errors import ContextError

PREVIEW_CHARS = 500
# 64 K characters at a time: a copy of one chunk at most, and blocks small enough that
# malloc reuses them (1 MB blocks raise glibc's mmap threshold and then stay on the heap:
# 0.7 MB more for the rest of the process after writing a 100 MB context).
_CHUNK = 1 << 16

# How the worker loads a file: "text" (str), "bytes", "json" (list or dict).
KINDS = ("text", "bytes", "json")


@dataclass(frozen=True)
class ContextSource:
    """A context on disk: ``kind`` says how the worker loads ``path`` into ``context``;
    ``ascii`` whether a text is all ASCII, when known (the worker then reads the file
    straight into its string: one copy, no decoding)."""

    kind: str
    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    ascii: bool | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"kind": self.kind, "path": str(self.path)}
        if self.ascii is not None:
            wire["ascii"] = self.ascii
        return wire


def prepare_context(value: Any, folder: Path, name: str = "context") -> ContextSource:
    """Write ``value`` into ``folder`` once (a text file is used in place).

    Raises:
        ContextError: a missing path, a binary file, or a type that is not supported.
    """
    if isinstance(value, ContextSource):
        return value
    if isinstance(value, Path):
        return _from_path(value, folder, name)
    if isinstance(value, str):
        path = folder / f"{name}.txt"
        _write_text(path, value)
        return ContextSource("text", path, describe(value), ascii=value.isascii())
    if isinstance(value, (bytes, bytearray, memoryview)):
        path = folder / f"{name}.bin"
        path.write_bytes(value)
        return ContextSource("bytes", path, describe(bytes(value[:PREVIEW_CHARS]),
                                                        size=len(value)))
    if isinstance(value, (list, dict, tuple)):
        path = folder / f"{name}.json"
        try:
            with path.open("w", encoding="utf-8") as out:
                json.dump(value, out, ensure_ascii=False, default=str)
        except (TypeError, ValueError) as exc:
            raise ContextError(f"The context could not be stored as JSON: {exc}. Pass str, "
                               f"bytes, a list or dict of plain values, or a Path.") from None
        return ContextSource("json", path, describe(value))
    raise ContextError(
        f"A context of type {type(value).__name__} is not supported. Pass str, bytes, "
        f"list, dict, or pathlib.Path to a file or folder.")


def _write_text(path: Path, text: str) -> None:
    # In chunks, so a 100 MB string is never encoded into a second 100 MB copy at once.
    with path.open("w", encoding="utf-8", errors="surrogatepass", newline="") as out:
        for i in range(0, len(text), _CHUNK):
            out.write(text[i:i + _CHUNK])


def _from_path(path: Path, folder: Path, name: str) -> ContextSource:
    path = path.expanduser()
    if not path.exists():
        raise ContextError(f"Context path {str(path)!r} does not exist. Check the path "
                           f"(a str context is taken as text, never as a path).")
    if path.is_dir():
        files, skipped = read_folder(path)
        source = prepare_context(files, folder, name)
        info = describe(files)
        info.update(source="folder", path=str(path), skipped_binary=skipped)
        return ContextSource("json", source.path, info)
    head, ascii = _check_utf8(path)
    info = describe(head, size=os.path.getsize(path))
    info.update(source="file", path=str(path))
    return ContextSource("text", path.resolve(), info, ascii=ascii)


def _check_utf8(path: Path) -> tuple[str, bool]:
    """Read the file through once to prove it is UTF-8; return its first characters and
    whether it is all ASCII."""
    head, ascii = "", True
    try:
        with path.open("r", encoding="utf-8", newline="") as src:
            while chunk := src.read(_CHUNK):
                head = head or chunk[:PREVIEW_CHARS]
                ascii = ascii and chunk.isascii()
    except UnicodeDecodeError:
        raise ContextError(f"{path} is not UTF-8 text (it looks binary). Pass its content "
                           f"as bytes instead: context=Path({str(path)!r}).read_bytes()") from None
    except OSError as exc:
        raise ContextError(f"Cannot read {path}: {exc.strerror}.") from None
    return head, ascii


def read_folder(folder: Path) -> tuple[dict[str, str], list[str]]:
    """All text files under ``folder`` as ``{relative path: text}``, and the binary ones."""
    files: dict[str, str] = {}
    skipped: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        try:
            files[rel] = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            skipped.append(rel)
    return files, skipped


def describe(value: Any, size: int | None = None) -> dict[str, Any]:
    """Facts for the first message: type, size, items, a short preview."""
    info: dict[str, Any] = {"type": type(value).__name__}
    if isinstance(value, str):
        chars = size if size is not None else len(value)
        info.update(chars=chars, lines=value.count("\n") + 1 if size is None else None,
                    preview=value[:PREVIEW_CHARS])
    elif isinstance(value, bytes):
        info.update(type="bytes", bytes=size if size is not None else len(value),
                    preview=repr(value[:120]))
    elif isinstance(value, dict):
        keys = list(value)
        info.update(items=len(keys), keys=[str(k) for k in keys[:20]],
                    chars=sum(len(str(v)) for v in value.values()))
        info["preview"] = _preview_items(value.items())
    elif isinstance(value, (list, tuple)):
        info.update(type="list", items=len(value), chars=sum(len(str(v)) for v in value))
        info["preview"] = _preview_items(enumerate(value))
    if info.get("lines") is None:
        info.pop("lines", None)
    return info


def _preview_items(items: Any) -> str:
    parts = []
    for i, (key, item) in enumerate(items):
        if i == 3:
            parts.append("...")
            break
        text = str(item)
        parts.append(f"[{key!r}] {text[:150]}{'...' if len(text) > 150 else ''}")
    return "\n".join(parts)
