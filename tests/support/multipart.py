"""Reading back a multipart/form-data body, to assert exactly what reached an upstream."""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode()


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """Every part, in order; raises if the body does not end with its closing boundary."""
    mime, options = parse_options_header(content_type)
    assert mime == b"multipart/form-data", mime
    parts: list[Part] = []
    headers: dict[bytes, bytes] = {}
    name = value = b""
    data = bytearray()
    ended = False

    def header_field(buf: bytes, start: int, end: int) -> None:
        nonlocal name
        name += buf[start:end]

    def header_value(buf: bytes, start: int, end: int) -> None:
        nonlocal value
        value += buf[start:end]

    def header_end() -> None:
        nonlocal name, value
        headers[name.lower()] = value
        name = value = b""

    def part_data(buf: bytes, start: int, end: int) -> None:
        data.extend(buf[start:end])

    def part_end() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        filename = disposition.get(b"filename")
        content_type = headers.get(b"content-type")
        parts.append(
            Part(
                disposition[b"name"].decode(),
                filename.decode() if filename is not None else None,
                content_type.decode() if content_type is not None else None,
                bytes(data),
            )
        )
        headers.clear()
        data.clear()

    def end() -> None:
        nonlocal ended
        ended = True

    parser = MultipartParser(
        options[b"boundary"],
        {
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_part_data": part_data,
            "on_part_end": part_end,
            "on_end": end,
        },  # fmt: skip
    )
    parser.write(body)
    assert ended, "the multipart body has no closing boundary"
    return parts
