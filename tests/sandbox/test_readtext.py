"""A large text context is read into one string, equal to a plain read, without a second copy."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rlm.context import prepare_context
from rlm.sandbox import readtext

from .helpers import start

TEXTS = {
    "ascii": "plain text\r\nwith CRLF and LF\n" * 40_000,
    "latin-1": "caf\xe9 cr\xe8me " * 60_000,
    "two bytes a char": "\u0101\u4e2d x " * 60_000,
    "four bytes a char": "a\U0001f600b" * 150_000,
    "a lone surrogate": "x" * 700_000 + "\udcff" + "tail",
    "a byte order mark": "\ufeffstarts with a BOM " * 40_000,
}


@pytest.fixture
def small_chunks(monkeypatch):
    """Every file counts as large, and is read in chunks that split characters."""
    monkeypatch.setattr(readtext, "MIN_SIZE", 1)
    monkeypatch.setattr(readtext, "CHUNK", 4099)


def write(path: Path, text: str) -> str:
    with path.open("w", encoding="utf-8", errors="surrogatepass", newline="") as out:
        out.write(text)
    return str(path)


@pytest.mark.parametrize("name", TEXTS)
@pytest.mark.parametrize("hint", [None, True, False])
def test_the_string_is_the_plain_reads_in_every_kind(tmp_path, small_chunks, name, hint):
    text = TEXTS[name]
    got = readtext.read_text(write(tmp_path / "t.txt", text), hint)
    assert got == text and hash(got) == hash(text)
    assert sys.getsizeof(got) == sys.getsizeof(text)  # the same (narrowest) kind of str


def test_a_file_that_grows_or_shrinks_between_the_passes_is_read_the_plain_way(
        tmp_path, small_chunks, monkeypatch):
    path = write(tmp_path / "t.txt", "\xe9" * 10_000)
    decoded = readtext._decoded

    def then_grow(name):
        yield from decoded(name)
        Path(name).write_text("\xe9" * 20_000, encoding="utf-8")

    monkeypatch.setattr(readtext, "_decoded", then_grow)
    assert readtext.read_text(path) == "\xe9" * 20_000


PEAK = textwrap.dedent("""
    import resource, sys
    from rlm.sandbox.readtext import read_text
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = peak()
    text = read_text(sys.argv[1])
    print(len(text), peak() - before)
""")


@pytest.mark.parametrize("line", ["ascii line of text, nothing to see\n", "non-\xe1scii line\n"])
def test_loading_holds_one_copy_of_the_text_at_the_peak(tmp_path, line):
    size = 48 << 20
    path = write(tmp_path / "big.txt", line * (size // len(line.encode())))
    out = subprocess.run([sys.executable, "-c", PEAK, path], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    chars, grown = map(int, out.stdout.split())
    assert chars == Path(path).read_text(encoding="utf-8").__len__()
    assert grown < 1.25 * chars  # a plain read peaks at 2x: the bytes and the str at once


async def test_a_large_context_loads_whole_in_the_sandbox(tmp_path):
    text = "the magic number is 42\n" * 400_000 + "caf\xe9\n"  # 9 MB, one character wide
    async with await start(prepare_context(text, tmp_path)) as box:
        result = await box.run("print(len(context), context[-5:-1], context.count('42'))")
    assert result.stdout.split() == [str(len(text)), "caf\xe9", "400000"]
