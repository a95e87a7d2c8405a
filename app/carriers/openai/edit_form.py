"""The multipart body of an OpenAI ``/images/edits`` request, rebuilt cleanly from a job.

Text fields first (strings, as the SDKs send them): ``model`` (the upstream name), then only the
parameters the job carries. Then the files: one image as ``image``, several as ``image[]`` in
order, and the mask as ``mask``; each with a safe filename whose extension matches its bytes and
the sniffed Content-Type, never the client's declared one. File bodies are streamed from the
request's spool by httpx, not copied into memory.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from typing import Any, BinaryIO

from app.carriers.openai.wire import upstream_params
from app.core.catalog import Route
from app.domain import ImageJob, InputImage

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()+-]{0,99}$")
_EXTENSIONS = {"png": (".png",), "jpeg": (".jpg", ".jpeg"), "webp": (".webp",)}

FileEntry = tuple[str, tuple[str, BinaryIO, str]]


def edit_fields(job: ImageJob, route: Route, *, stream: bool) -> dict[str, str]:
    return {
        name: _text(value) for name, value in upstream_params(job, route, stream=stream).items()
    }


def edit_files(job: ImageJob, files: ExitStack) -> list[FileEntry]:
    """The file parts; every reader opened here is closed when ``files`` closes."""
    name = "image" if len(job.images) == 1 else "image[]"
    several = len(job.images) > 1
    entries = [
        (name, _file(image, f"image_{i}" if several else "image", files))
        for i, image in enumerate(job.images)
    ]
    if job.mask is not None:
        entries.append(("mask", _file(job.mask, "mask", files)))
    return entries


def upload_filename(image: InputImage, fallback: str) -> str:
    """The client's filename when it is plain and its extension matches the bytes."""
    given = image.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if _SAFE_NAME.match(given) and given.lower().endswith(_EXTENSIONS[image.format]):
        return given
    return f"{fallback}.{image.format}"


def _file(image: InputImage, fallback: str, files: ExitStack) -> tuple[str, BinaryIO, str]:
    reader = files.enter_context(image.blob.open())
    return upload_filename(image, fallback), reader, image.media_type


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
