"""Hostile ``multipart/form-data`` edits for the fuzz test: parts with odd names, filenames and
types, text and image data (good, truncated, corrupt, junk), many parts, and boundaries that
are missing, empty, overlong, mismatched or cut off."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from tests.support.fuzz import TEXT_FIELDS, VALUES, images, odd_text, prompts


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class Form:
    content_type: str
    body: bytes


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


part_names = st.one_of(
    st.sampled_from(
        [
            "image",
            "image[]",
            "image[0]",
            "image[1]",
            "image[15]",
            "image[9999]",
            "image[-1]",
            "image[a]",
            "mask",
            "mask[]",
            *TEXT_FIELDS,
        ]
    ),
    odd_text,
)
filenames = st.one_of(
    st.none(),
    st.sampled_from(["a.png", "b.jpg", "", "../../etc/passwd", 'quote".png', "x" * 300]),
    odd_text,
)
part_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "image/png",
            "image/jpeg",
            "application/octet-stream",
            "text/plain",
            "image/gif",
            "",
            "multipart/mixed; boundary=inner",
        ]
    ),
)
texts = st.one_of(
    st.sampled_from([str(v) for values in VALUES.values() for v in values]).map(_bytes),
    prompts.map(_bytes),
    st.binary(max_size=64),
)
parts = st.builds(Part, part_names, filenames, part_types, st.one_of(images, texts))
# A request's usual shape: a prompt and an image, then whatever else.
likely_parts = st.builds(
    lambda image, prompt, rest: [
        Part("image[]", "a.png", "image/png", image),
        Part("prompt", None, None, prompt),
        *rest,
    ],
    images,
    prompts.map(_bytes),
    st.lists(parts, max_size=6),
)
many_parts = st.integers(65, 3000).map(
    lambda count: [Part(f"field{i}", None, None, b"1") for i in range(count)]
)
many_images = st.integers(17, 400).map(
    lambda count: [Part("image[]", f"{i}.png", "image/png", b"\x89PNG") for i in range(count)]
)
part_lists = st.one_of(
    likely_parts, likely_parts, st.lists(parts, max_size=24), many_parts, many_images
)

boundaries = st.one_of(
    st.just("fuzzboundary7MA4YWxkTrZu0gW"),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789'()+_,-./:=?", min_size=1, max_size=70),
    st.integers(257, 5000).map(lambda n: "b" * n),
)


def _encode(parts: list[Part], boundary: str, closed: bool) -> bytes:
    out = bytearray()
    for part in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        disposition = b'Content-Disposition: form-data; name="' + _bytes(part.name) + b'"'
        if part.filename is not None:
            disposition += b'; filename="' + _bytes(part.filename) + b'"'
        out += disposition + b"\r\n"
        if part.content_type is not None:
            out += b"Content-Type: " + _bytes(part.content_type) + b"\r\n"
        out += b"\r\n" + part.data + b"\r\n"
    if closed:
        out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out)


@st.composite
def forms(draw: st.DrawFn) -> Form:
    boundary = draw(boundaries)
    body = _encode(draw(part_lists), boundary, closed=draw(st.sampled_from([True, True, False])))
    if draw(st.integers(0, 9)) == 9:  # cut off, one time in ten
        body = body[: draw(st.integers(0, len(body)))]
    declared = draw(
        st.sampled_from(["same", "same", "same", "quoted", "other", "missing", "empty"])
    )
    parameter = {
        "same": f"; boundary={boundary}",
        "quoted": f'; boundary="{boundary}"',
        "other": "; boundary=somethingelse",
        "missing": "",
        "empty": "; boundary=",
    }[declared]
    return Form(f"multipart/form-data{parameter}", body)
