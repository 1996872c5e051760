"""Reading a large UTF-8 file into one ``str`` without holding a second copy of it.

Worker side, stdlib only. ``open(path).read()`` holds the file's bytes and the decoded
``str`` at once: twice the context at the peak of every load. Here the ``str`` is made
first, at its final size (``PyUnicode_New``, CPython's own constructor, through ctypes), and
filled in place before anything else can see it, as C code builds a string:
- ASCII (the common case, and what the host says when it knows): the file is read straight
  into the string's characters, a chunk at a time, each chunk checked to be ASCII;
- anything else: one pass decodes the file in chunks to learn its length and widest
  character, a second decodes it again and copies each chunk in
  (``PyUnicode_CopyCharacters``).
The peak is then the string and one chunk. Decoding is exactly ``open(path,
encoding="utf-8", errors="surrogatepass", newline="").read()``'s, which small files, other
Pythons and any surprise fall back to.
"""

from __future__ import annotations

import codecs
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes

MIN_SIZE = 1 << 22  # below 4 MB a second copy costs little: read it the plain way
CHUNK = 1 << 20
MAX_CHAR = {0: 0x7F, 1: 0xFF, 2: 0xFFFF, 4: 0x10FFFF}  # by kind; 0 is ASCII
_api: ctypes.PyDLL | None = None


def read_text(path: str, ascii_hint: bool | None = None) -> str:
    """The text of the UTF-8 file ``path`` (lone surrogates pass, newlines kept as they are).

    Args:
        ascii_hint: True when the file is known to be ASCII, False when known not to be.
    """
    size = os.path.getsize(path)
    if size >= MIN_SIZE and _capi() is not None:
        if ascii_hint is not False:
            text = _read_ascii(path, size)
            if text is not None:
                return text
        text = _read_wide(path)
        if text is not None:
            return text
    with open(path, encoding="utf-8", errors="surrogatepass", newline="") as src:
        return src.read()


def _read_ascii(path: str, size: int) -> str | None:
    """The file read straight into an ASCII ``str``; None at the first non-ASCII chunk."""
    import ctypes

    text = _new(size, 0)
    view = memoryview((ctypes.c_char * size).from_address(_data(text))).cast("B")
    with open(path, "rb", buffering=0) as src:
        done = 0
        while done < size:
            got = src.readinto(view[done:done + CHUNK])
            if not got or not view[done:done + got].tobytes().isascii():
                return None  # changed under us, or not ASCII: the string is dropped
            done += got
        if src.read(1):
            return None
    return text


def _read_wide(path: str) -> str | None:
    """Two passes: the length and widest kind, then the characters, chunk by chunk."""
    length, kind = 0, 0
    for chunk in _decoded(path):
        length += len(chunk)
        kind = max(kind, _kind(chunk))
    text = _new(length, kind)
    copy, target = _c().PyUnicode_CopyCharacters, _address(text)
    at = 0
    for chunk in _decoded(path):
        if at + len(chunk) > length or copy(target, at, chunk, 0, len(chunk)) < 0:
            return None  # the file changed between the passes
        at += len(chunk)
    return text if at == length else None


def _decoded(path: str):
    decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    with open(path, "rb") as src:
        while data := src.read(CHUNK):
            yield decoder.decode(data)
        yield decoder.decode(b"", final=True)


def _new(length: int, kind: int) -> str:
    """A new string of ``length`` characters of ``kind``, not filled yet: only this module
    may hold it until it is (CPython lets a string be written while one reference holds it)."""
    return _c().PyUnicode_New(length, MAX_CHAR[kind])


def _address(text: str) -> int:
    return id(text)  # CPython: the object's address (passed as a pointer, no new reference)


def _data(text: str) -> int:
    """Where a compact ASCII string's characters start: right after its header."""
    return id(text) + _ASCII_HEADER


def _kind(chunk: str) -> int:
    """0 for ASCII, else the bytes per character of this (fresh, compact) string."""
    if chunk.isascii():
        return 0
    return (sys.getsizeof(chunk) - _COMPACT_HEADER) // (len(chunk) + 1)


_ASCII_HEADER = sys.getsizeof("") - 1  # header of a compact ASCII str, then the characters
_COMPACT_HEADER = sys.getsizeof("\xe9") - 2  # header of a compact non-ASCII str


def ready() -> bool:
    """Set up the C API now (the fork server's template does, for all its forks)."""
    return _capi() is not None


def _c() -> ctypes.PyDLL:
    api = _capi()
    assert api is not None, "read_text checks _capi() first"
    return api


def _capi() -> ctypes.PyDLL | None:
    """CPython's C API through ctypes, once it has built one string right; else None."""
    global _api
    if _api is None:
        _api = _load() or False  # type: ignore[assignment]
    return _api or None


def _load() -> ctypes.PyDLL | None:
    if sys.implementation.name != "cpython":
        return None
    try:
        import ctypes

        api = ctypes.pythonapi
        api.PyUnicode_New.restype = ctypes.py_object
        api.PyUnicode_New.argtypes = (ctypes.c_ssize_t, ctypes.c_uint32)
        api.PyUnicode_CopyCharacters.restype = ctypes.c_ssize_t
        api.PyUnicode_CopyCharacters.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t,
                                                 ctypes.py_object, ctypes.c_ssize_t,
                                                 ctypes.c_ssize_t)
        probe = api.PyUnicode_New(3, 0x7F)
        ctypes.memmove(id(probe) + _ASCII_HEADER, b"abc", 3)
        wide = api.PyUnicode_New(2, 0xFFFF)
        if api.PyUnicode_CopyCharacters(id(wide), 0, "\u0101b", 0, 2) != 2:
            return None
        if probe != "abc" or wide != "\u0101b" or _kind(wide) != 2 or _kind("\xe9x") != 1:
            return None
        return api
    except Exception:  # noqa: BLE001 - any surprise: read the plain way
        return None
