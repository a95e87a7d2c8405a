"""No image is decoded past the pixel cap, and decodes share one process-wide pixel budget."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image, ImageFile

from app.carriers.local.edit import UndecodableInput, prepare
from app.domain import InputImage
from app.inputs.decoding import Decoder, decode_near
from app.inputs.images import BadImage
from app.inputs.spool import MemoryBlob
from tests.support.images import png_bytes
from tests.support.memory import bomb_png


@pytest.fixture
def no_pillow_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test if Pillow opens or decodes anything."""
    calls: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        calls.append("pillow")
        raise AssertionError("Pillow was asked to read an image past the cap")

    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    return calls


def claimed(data: bytes, size: tuple[int, int]) -> InputImage:
    """An input whose metadata claims ``size``, whatever its bytes say."""
    return InputImage(MemoryBlob(data), "png", size[0], size[1], True, "x.png", "image")


def test_a_header_past_the_cap_is_refused_before_pillow_sees_it(
    no_pillow_decoding: list[str],
) -> None:
    decoder = Decoder(max_pixels=1000, budget_pixels=1000)
    with pytest.raises(BadImage) as refused:
        decoder.open(io.BytesIO(png_bytes((40, 40))), 10_000)
    assert refused.value.problem == "too_many_pixels"
    assert no_pillow_decoding == []


def test_the_local_carrier_checks_the_bytes_not_what_the_input_claims(
    no_pillow_decoding: list[str],
) -> None:
    """Metadata saying 10 x 10 does not let a 4000 x 4000 canvas through to Pillow."""
    bomb = claimed(bomb_png(4000, 4000), (10, 10))
    decoder = Decoder(max_pixels=1_000_000, budget_pixels=1_000_000)
    with pytest.raises(UndecodableInput) as refused:
        prepare([bomb], None, 64, 64, decoder)
    assert "16,000,000 pixels" in str(refused.value)
    assert no_pillow_decoding == []


def test_large_inputs_are_decoded_straight_to_about_the_target_size() -> None:
    data = png_bytes((4000, 3000))
    decoder = Decoder(max_pixels=20_000_000, budget_pixels=20_000_000)
    decoded = decode_near(decoder.open(io.BytesIO(data), len(data)), (1000, 700))
    assert decoded.size == (1000, 750)
    palette = Image.new("P", (900, 900))
    out = io.BytesIO()
    palette.save(out, "PNG")
    out.seek(0)
    small = decode_near(decoder.open(out, len(out.getvalue())), (100, 100))
    assert small.size == (100, 100) and small.mode == "P"


async def test_the_budget_admits_decodes_in_order_while_they_fit() -> None:
    decoder = Decoder(max_pixels=100, budget_pixels=100)
    order: list[str] = []
    gate = asyncio.Event()

    async def decode(name: str, pixels: int) -> None:
        async with decoder.hold(pixels):
            order.append(f"{name}+")
            await gate.wait()
            order.append(f"{name}-")

    first = asyncio.ensure_future(decode("a", 60))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(decode("b", 60))  # does not fit beside a: waits
    third = asyncio.ensure_future(decode("c", 30))  # would fit, but does not overtake b
    await asyncio.sleep(0.01)
    assert order == ["a+"] and decoder.in_use == 60
    gate.set()
    await asyncio.gather(first, second, third)
    assert order.index("b+") > order.index("a-") and order.index("c+") > order.index("b+")
    assert decoder.in_use == 0


async def test_a_decode_larger_than_the_budget_runs_alone_and_a_cancelled_wait_leaves() -> None:
    decoder = Decoder(max_pixels=1000, budget_pixels=100)
    async with decoder.hold(900):
        assert decoder.in_use == 100
        waiting = asyncio.ensure_future(decoder.hold(1).__aenter__())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    assert decoder.in_use == 0
    async with decoder.hold(50):
        assert decoder.in_use == 50


async def test_large_blocks_come_from_mmap_only_while_a_decode_holds_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between decodes a request's multi-MB buffers are reused from the heap (no page faults);
    from the first hold to the end of the last one, large blocks leave RSS when freed."""
    from app.inputs import allocator

    modes: list[str] = []
    monkeypatch.setattr(allocator, "decoding", lambda: modes.append("decoding"))
    monkeypatch.setattr(allocator, "serving", lambda: modes.append("serving"))
    decoder = Decoder(max_pixels=100, budget_pixels=100)
    async with decoder.hold(60):
        assert modes == ["decoding"]
        async with decoder.hold(0):
            assert modes == ["decoding"]
        assert modes == ["decoding"]
    assert modes == ["decoding", "serving"]
