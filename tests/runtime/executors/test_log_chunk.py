"""``log_chunk``: byte-offset chunks that never split a UTF-8 character and always progress."""

from __future__ import annotations

import pytest

from runtime.executors.base import log_chunk


def pages(data: bytes, size: int, final: bool = True) -> list[tuple[str, int | None, int]]:
    out = []
    after = 0
    for _ in range(len(data) + 5):
        chunk = log_chunk(data[after : after + size], start=after, total=len(data), final=final)
        out.append((chunk.content, chunk.after, chunk.total))
        if chunk.after is None or chunk.after == after:
            return out
        after = chunk.after
    raise AssertionError("no progress")


@pytest.mark.parametrize("size", [4, 5, 6, 7, 64])
def test_multi_byte_characters_are_never_split(size: int) -> None:
    text = "aé€𝄞b" * 20
    result = pages(text.encode(), size)
    assert "".join(c for c, _, _ in result) == text
    assert "\ufffd" not in "".join(c for c, _, _ in result)
    assert result[-1][1] is None


def test_invalid_bytes_are_replaced_and_do_not_stall() -> None:
    data = b"ok\xff\xfe\x80\x80\x80\x80end" + b"\xe2\x82"  # ends inside a character
    result = pages(data, 3)
    assert "".join(c for c, _, _ in result).startswith("ok")
    assert result[-1][1] is None


def test_a_live_log_keeps_its_cursor_at_the_end() -> None:
    chunk = log_chunk(b"", start=10, total=10, final=False)
    assert (chunk.content, chunk.after, chunk.total) == ("", 10, 10)
    done = log_chunk(b"", start=10, total=10, final=True)
    assert done.after is None
    beyond = log_chunk(b"", start=99, total=10, final=True)
    assert (beyond.content, beyond.after, beyond.total) == ("", None, 10)
