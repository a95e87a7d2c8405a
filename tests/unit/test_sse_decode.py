from __future__ import annotations

import pytest

from app.carriers.openai.sse import EventTooLarge, SSEDecoder, SSEEvent

STREAM = (
    b": keep-alive\n\n"
    b"event: image_generation.partial_image\n"
    b'data: {"a":1}\n\n'
    b"event: image_generation.completed\r\n"
    b'data: {"b":\r\n'
    b"data: 2}\r\n\r\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent("image_generation.partial_image", b'{"a":1}'),
    SSEEvent("image_generation.completed", b'{"b":\n2}'),
    SSEEvent(None, b"[DONE]"),
]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, len(STREAM)])
def test_any_chunking_gives_the_same_events(chunk_size: int) -> None:
    decoder = SSEDecoder()
    events = []
    for i in range(0, len(STREAM), chunk_size):
        events += decoder.feed(STREAM[i : i + chunk_size])
    assert events == EXPECTED


def test_large_events_in_small_chunks_stay_linear() -> None:
    payload = b"A" * (8 * 1024 * 1024)
    body = b"event: big\ndata: " + payload + b"\n\n"
    decoder = SSEDecoder()
    events = []
    for i in range(0, len(body), 16 * 1024):  # 512 chunks; a quadratic decoder rescans ~2 GB
        events += decoder.feed(body[i : i + 16 * 1024])
    assert [(e.event, len(e.data)) for e in events] == [("big", len(payload))]


def test_oversized_events_are_refused() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(EventTooLarge):
        decoder.feed(b"data: " + b"x" * 2000)
