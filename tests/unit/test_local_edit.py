"""The local carrier's edits visibly derive from their inputs."""

from __future__ import annotations

import io

from PIL import Image

from app.carriers.local.art import Canvas
from app.carriers.local.edit import compose, prepare
from app.domain import InputImage
from app.inputs.decoding import Decoder
from app.inputs.spool import MemoryBlob

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)
DECODER = Decoder(max_pixels=10_000_000, budget_pixels=10_000_000)


def upload(picture: Image.Image, fmt: str = "PNG", param: str = "image") -> InputImage:
    out = io.BytesIO()
    picture.save(out, fmt)
    return InputImage(MemoryBlob(out.getvalue()), fmt.lower(), picture.width, picture.height,  # type: ignore[arg-type]
                      picture.mode == "RGBA", "x", param)  # fmt: skip


def canvas(width: int = 256, height: int = 256, **kwargs: object) -> Canvas:
    base = {"prompt": "a purple hat", "width": width, "height": height, "output_format": "png",
            "transparent": False, "compression": None, "variant": 0}  # fmt: skip
    return Canvas(**{**base, **kwargs})  # type: ignore[arg-type]


def test_the_masked_area_is_repainted_and_the_rest_is_the_first_image() -> None:
    mask = Image.new("RGBA", (128, 128), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 64, 128))  # the left half is to be edited
    inputs = prepare(
        [upload(Image.new("RGB", (128, 128), RED))], upload(mask, param="mask"), 256, 256, DECODER
    )
    picture = compose(canvas(), inputs)
    assert picture.size == (256, 256) and picture.mode == "RGB"
    assert picture.getpixel((250, 10)) == RED  # kept
    left = picture.crop((0, 0, 120, 256)).getcolors(256 * 256)
    assert left is not None and max(left)[1] != RED  # repainted from the prompt


def test_without_a_mask_the_first_image_shows_through() -> None:
    inputs = prepare([upload(Image.new("RGB", (300, 200), BLUE), "JPEG")], None, 512, 256, DECODER)
    picture = compose(canvas(512, 256), inputs)
    r, g, b = picture.getpixel((506, 250))  # type: ignore[misc]  # (the stamp is top-left)
    assert b > r and b > g


def test_references_are_composited_in() -> None:
    first = upload(Image.new("RGB", (64, 64), RED))
    refs = [upload(Image.new("RGB", (50, 30), GREEN), "WEBP", f"image[{i}]") for i in range(1, 16)]
    picture = compose(canvas(), prepare([first, *refs], None, 256, 256, DECODER))
    greenish = [
        c
        for _, c in picture.getcolors(256 * 256) or []
        if isinstance(c, tuple) and c[1] > 150 and c[0] < 80
    ]
    assert greenish  # the green thumbnails are there


def test_transparent_output_keeps_the_first_images_alpha() -> None:
    first = Image.new("RGBA", (64, 64), (*RED, 0))
    picture = compose(
        canvas(64, 64, transparent=True), prepare([upload(first)], None, 64, 64, DECODER)
    )
    assert picture.mode == "RGBA" and picture.getpixel((1, 1))[3] == 0  # type: ignore[index]


def test_variants_differ_but_share_the_base() -> None:
    inputs = prepare([upload(Image.new("RGB", (64, 64), RED))], None, 128, 128, DECODER)
    one, two = compose(canvas(128, 128), inputs), compose(canvas(128, 128, variant=1), inputs)
    assert one.tobytes() != two.tobytes()
