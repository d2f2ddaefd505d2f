"""``log_chunk``: byte-offset chunks that never split a UTF-8 character and always progress."""

from __future__ import annotations

import pytest

from runtime.executors.base import log_chunk


def pages(data: bytes, size: int, final: bool = True) -> list[tuple[str, int | None, int]]:
    out = []
    after = 0
    for _ in range(len(data) + 5):
        window = data[after : after + size]
        chunk = log_chunk(window, start=after, total=len(data), final=final, limit=size)
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


def test_a_chunk_of_invalid_bytes_is_bounded_after_decoding() -> None:
    # 100,000 0xFF bytes: each becomes U+FFFD, three bytes of UTF-8. The first chunk used to
    # hold 196,605 bytes; every chunk now fits the documented 64 KiB, and paging reads it all.
    data = b"\xff" * 100_000
    result = pages(data, 64 * 1024)
    assert all(len(content.encode()) <= 64 * 1024 for content, _, _ in result)
    assert "".join(content for content, _, _ in result) == "\ufffd" * 100_000
    assert result[-1][1] is None


def test_mixed_valid_and_invalid_bytes_are_cut_on_a_character_boundary() -> None:
    data = ("é€𝄞".encode() + b"\xff") * 5000
    result = pages(data, 4096)
    assert all(len(content.encode()) <= 4096 for content, _, _ in result)
    assert "".join(content for content, _, _ in result) == data.decode("utf-8", "replace")
