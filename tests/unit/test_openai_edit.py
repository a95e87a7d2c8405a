"""The openai carrier's edit body: names, filenames, content types and fields, rebuilt cleanly."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from app.carriers.openai.edit_form import edit_fields, edit_files, upload_filename
from app.core.catalog import Route
from app.domain import ImageJob, InputImage
from tests.support.images import input_image
from tests.support.rules import RULES


def named(filename: str, fmt: str = "png", param: str = "image") -> InputImage:
    image = input_image(fmt=fmt)  # type: ignore[arg-type]
    return InputImage(image.blob, image.format, 32, 32, False, filename, param)


@pytest.mark.parametrize(
    ("filename", "fmt", "sent"),
    [
        ("cat.png", "png", "cat.png"),
        ("Holiday photo (2).JPG", "jpeg", "Holiday photo (2).JPG"),
        ("cat.jpeg", "jpeg", "cat.jpeg"),
        ("cat.png", "jpeg", "image.jpeg"),  # the bytes decide
        ("upload", "png", "image.png"),  # what the SDK sends for raw bytes
        ("unknown_file", "webp", "image.webp"),  # openai-node
        ("", "png", "image.png"),
        ("../../etc/passwd.png", "png", "passwd.png"),
        ("C:\\Users\\me\\cat.png", "png", "cat.png"),
        ('evil".png', "png", "image.png"),
        ("chat\u00e9.png", "png", "image.png"),
        ("x" * 120 + ".png", "png", "image.png"),
    ],
)
def test_filenames(filename: str, fmt: str, sent: str) -> None:
    assert upload_filename(named(filename, fmt), "image") == sent


def test_fields_are_strings_and_only_what_the_job_carries() -> None:
    job = ImageJob(
        operation="edit",
        model="gpt-image-1",
        prompt="p",
        n=2,
        quality="high",
        stream=True,
        partial_images=2,
        input_fidelity="high",
        images=(input_image(),),
    )
    route = Route("up", "up-model", RULES["gpt-image-1"])
    assert edit_fields(job, route, stream=True) == {
        "model": "up-model", "prompt": "p", "n": "2", "quality": "high",
        "input_fidelity": "high", "partial_images": "2", "stream": "true",
    }  # fmt: skip


def test_one_image_is_image_several_are_image_brackets_and_readers_close() -> None:
    images = (named("upload", param="image[0]"), named("b.jpg", "jpeg", "image[1]"))
    mask = named("upload", param="mask")
    job = ImageJob(operation="edit", model="m", prompt="p", images=images, mask=mask)
    with ExitStack() as stack:
        files = edit_files(job, stack)
        assert [(name, f[0], f[2]) for name, f in files] == [
            ("image[]", "image_0.png", "image/png"),
            ("image[]", "b.jpg", "image/jpeg"),
            ("mask", "mask.png", "image/png"),
        ]
        readers = [f[1] for _, f in files]
    assert all(reader.closed for reader in readers)
    single = ImageJob(operation="edit", model="m", prompt="p", images=images[:1])
    with ExitStack() as stack:
        assert [(n, f[0]) for n, f in edit_files(single, stack)] == [("image", "image.png")]
