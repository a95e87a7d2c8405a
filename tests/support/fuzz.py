"""Hostile requests for the fuzz test (hypothesis strategies): generation JSON, edit JSON and
edit multipart. Plausible values are mixed with wrong types, huge numbers, odd Unicode (lone
surrogates, controls, right-to-left marks), truncated and corrupt images, images that declare a
huge canvas, many parts and bad boundaries. No strategy names a host that needs DNS: image URLs
are IP literals or schemes the gateway refuses, so the run never leaves the machine."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from typing import Any

from hypothesis import strategies as st
from PIL import Image

MODELS = [
    "gpt-image-2",
    "gi2",
    "gpt-image-1",
    "gpt-image-2.5-flare",
    "dall-e-3",
    "dall-e-2",
    "offline",
    "no-such-model",
    "",
]
VALUES: dict[str, list[Any]] = {
    "model": MODELS,
    "n": [1, 2, 0, -1, 11, "2", 1.5, 10**20, True],
    "size": [
        "auto",
        "1024x1024",
        "256x256",
        "512x512",
        "1536x1024",
        "1792x1024",
        "1024x1536",
        "3840x2160",
        "16x16",
        "0x0",
        "-1024x1024",
        "1024X1024",
        " 1024x1024",
        "1x99999",
        "99999999999999999999x1",
        "1e3x1e3",
        "x",
        "",
    ],
    "quality": ["auto", "low", "medium", "high", "hd", "standard", "xhigh", "max", "ultra"],
    "response_format": ["url", "b64_json", "b64_ephemeral", "png", ""],
    "output_format": ["png", "jpeg", "webp", "gif", "PNG"],
    "output_compression": [0, 50, 100, -1, 101, "50", 1e300],
    "background": ["auto", "opaque", "transparent", "green"],
    "moderation": ["auto", "low", "none"],
    "style": ["vivid", "natural", "noir"],
    "input_fidelity": ["low", "high", "max"],
    "stream": [False, True, "true", "yes", 1],
    "partial_images": [0, 1, 2, 3, 4, -1, "2"],
    "user": ["user-1", ""],
}
TEXT_FIELDS = [*VALUES, "prompt"]

# Text that is awkward on purpose: lone surrogates, NUL and other controls, RTL, emoji.
odd_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"]),
        st.sampled_from(["\u202e", "\ufeff", "\U0001f98a", "\u0000", "\ufffd", "ǅ", "ﷺ"]),
    ),
    max_size=40,
)
prompts = st.one_of(
    st.sampled_from(["a red fox", "a lighthouse at dusk", "x"]),
    odd_text,
    st.integers(0, 40_000).map(lambda n: "p" * n),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=8,
)


def _field(name: str) -> st.SearchStrategy[Any]:
    plausible = prompts if name == "prompt" else st.sampled_from(VALUES[name])
    return st.one_of(plausible, plausible, json_values)


params = st.fixed_dictionaries(
    {"prompt": _field("prompt")}, optional={name: _field(name) for name in VALUES}
)
extra_params = st.dictionaries(odd_text, json_values, max_size=3)


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares a huge canvas (a decompression bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\0" * 4096)
    idat = (
        struct.pack(">I", len(data))
        + b"IDAT"
        + data
        + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    )
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + b"\0\0\0\0IEND\xaeB`\x82"


def sample_images() -> list[bytes]:
    square = Image.new("RGB", (64, 64), (200, 40, 40))
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (8, 8, 40, 40))
    return [
        _encode(square, "PNG"),
        _encode(square, "JPEG"),
        _encode(square, "WEBP"),
        _encode(mask, "PNG"),
        _encode(Image.new("RGB", (48, 80)), "PNG"),
        _encode(square, "GIF"),
        _png_declaring(100_000, 100_000),
    ]


SAMPLES = sample_images()
valid_images = st.sampled_from(SAMPLES)
images = st.one_of(
    valid_images,
    valid_images,
    st.tuples(valid_images, st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])]),
    st.tuples(valid_images, st.integers(20, 200), st.binary(min_size=1, max_size=16)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]) :]
    ),
    st.binary(max_size=300),
)

# Image references in JSON edits: data URIs, refused URLs (no DNS), junk.
refused_urls = st.sampled_from(
    [
        "http://127.0.0.1/a.png",
        "http://10.0.0.1/a.png",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/a.png",
        "http://0/a.png",
        "https://192.168.1.1:8443/x.png",
        "file:///etc/passwd",
        "ftp://127.0.0.1/a.png",
        "gopher://127.0.0.1/",
        "data:,hello",
        "data:image/png;base64,!!!",
        "data:image/png,not-base64",
        "data:image/png;base64,",
        "http://",
        "https://@/",
    ]
)
media = st.sampled_from(["image/png", "image/jpeg", "image/webp", "text/plain", "application/x"])


def _data_uri(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


data_uris = st.tuples(images, media).map(lambda t: _data_uri(*t))
urls = st.one_of(data_uris, data_uris, refused_urls, odd_text)
references = st.one_of(
    urls,
    urls.map(lambda url: {"image_url": url}),
    urls.map(lambda url: {"image_url": {"url": url}}),
    st.just({"file_id": "file-abc123"}),
    json_values,
)
image_fields = st.fixed_dictionaries(
    {},
    optional={
        "images": st.one_of(st.lists(references, max_size=20), references),
        "image": st.one_of(references, st.lists(references, max_size=20)),
        "mask": st.one_of(references, st.lists(references, max_size=2)),
    },
)


def json_body(value: Any) -> bytes:
    """JSON as a client would send it (lone surrogates escaped, NaN as ``NaN``)."""
    return json.dumps(value).encode()


# Requests a well-behaved client sends (most are served: 200), first so they are tried first.
TAME: dict[str, list[Any]] = {
    "model": ["gpt-image-2", "gpt-image-1", "offline", "dall-e-3", "gpt-image-2.5-flare", ""],
    "size": ["auto", "1024x1024", "1536x1024"],
    "quality": ["auto", "low", "medium", "high"],
    "response_format": ["url", "b64_json"],
    "output_format": ["png", "jpeg", "webp"],
    "n": [1, 2],
}
tame_prompts = st.sampled_from(["a red fox", "a lighthouse at dusk", "ein Fuchs 🦊"])
tame: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"prompt": tame_prompts}, optional={k: st.sampled_from(v) for k, v in TAME.items()}
)
tame_edits = st.builds(
    lambda params, images, mask: {**params, "images": images, **mask},
    tame.map(lambda params: {k: v for k, v in params.items() if k != "model" or v != "dall-e-3"}),
    st.lists(
        st.sampled_from(SAMPLES[:3]).map(lambda data: {"image_url": _data_uri(data)}),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from([{}, {"mask": {"image_url": _data_uri(SAMPLES[3])}}]),
)
objects = st.one_of(tame, st.builds(lambda p, e: {**e, **p}, params, extra_params))
edit_objects = st.one_of(tame_edits, st.builds(lambda o, i: {**o, **i}, objects, image_fields))


def hostile_json(good: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """Mostly well-formed objects; also garbage, other JSON values, truncation, deep nesting."""
    encoded = good.map(json_body)
    return st.one_of(
        encoded,
        encoded,
        encoded,
        st.tuples(encoded, st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])]),
        json_values.map(json_body),
        st.binary(max_size=300),
        st.integers(1, 100_000).map(lambda d: b"[" * d + b"]" * d),
        st.integers(1, 100_000).map(lambda d: b'{"a":' * d + b"1" + b"}" * d),
        st.sampled_from(
            [b"", b"null", b"{}", b'{"prompt": 1e999999}', b'{"n": 1' + b"0" * 5000 + b"}"]
        ),
    )


json_content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ]
)
