"""upstream_json.loads must always equal orjson.loads, only faster on big base64 bodies."""

from __future__ import annotations

import base64
import json
import random

import orjson
import pytest

from app.carriers.openai import fast_json as upstream_json
from app.carriers.openai.fast_json import LARGE_BODY


def big_b64(seed: int = 1, size: int = LARGE_BODY) -> str:
    return base64.b64encode(random.Random(seed).randbytes(size)).decode()


B64 = big_b64()
OTHER = big_b64(2)


@pytest.mark.parametrize(
    "document",
    [
        # what OpenAI sends (pretty-printed) and what compact encoders send
        orjson.dumps({"created": 1, "data": [{"b64_json": B64}], "usage": {"total_tokens": 9}}),
        orjson.dumps(
            {"data": [{"b64_json": B64}, {"b64_json": OTHER}]}, option=orjson.OPT_INDENT_2
        ),
        f'{{"data" : [ {{ "revised_prompt": "a", "b64_json" :\n  "{B64}" }} ] }}'.encode(),
        # the key's name as a value, and a key elsewhere that is not cut back in
        orjson.dumps({"response_format": "b64_json", "data": [{"b64_json": B64}]}),
        orjson.dumps({"data": [{"b64_json": B64}], "extra": {"b64_json": "AAAA" * 70_000}}),
        # a quote-escaped mention inside another string
        orjson.dumps({"data": [{"b64_json": B64, "revised_prompt": 'say "b64_json": "x"'}]}),
        # escaped slashes (allowed in JSON), non-ASCII, null and non-string values
        f'{{"data": [{{"b64_json": "{B64[:1000]}\\/{B64[1000:]}"}}]}}'.encode(),
        orjson.dumps({"data": [{"b64_json": B64 + "é"}]}),
        orjson.dumps({"data": [{"b64_json": None, "url": "https://x/" + "a" * LARGE_BODY}]}),
        orjson.dumps({"data": [{"b64_json": 12}], "pad": B64}),
        orjson.dumps([{"b64_json": B64}]),
        orjson.dumps({"data": {"b64_json": B64}}),
        # small bodies take the plain path
        orjson.dumps({"data": [{"b64_json": "iVBORw0KGgo="}]}),
    ],
)
def test_same_result_as_orjson(document: bytes) -> None:
    assert upstream_json.loads(document) == orjson.loads(document)


@pytest.mark.parametrize(
    "document",
    [
        b'{"data": [{"b64_json": "' + B64.encode() + b'"}]',  # truncated
        b'{"data": [{"b64_json": "' + B64.encode() + b"}]}",  # unterminated string
        b'{"data": [{"b64_json": "' + B64.encode() + b'"}]} trailing',
    ],
)
def test_invalid_json_still_raises(document: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        upstream_json.loads(document)


def test_random_documents_agree_with_orjson() -> None:
    rng = random.Random(7)
    fragments = ['"b64_json"', ":", " ", '"', "\\", ",", "{", "}", "[", "]", "data", "é", B64[:50]]
    for _ in range(300):
        noise = "".join(rng.choice(fragments) for _ in range(rng.randint(1, 12)))
        text = f'{{"data": [{{"b64_json": "{B64}"}}], "x": {orjson.dumps(noise).decode()}}}'
        if rng.random() < 0.5:
            text = text.replace('"x": ', noise if rng.random() < 0.5 else '"x": ')
        document = text.encode()
        try:
            expected = orjson.loads(document)
        except orjson.JSONDecodeError:
            with pytest.raises(orjson.JSONDecodeError):
                upstream_json.loads(document)
            continue
        assert upstream_json.loads(document) == expected


@pytest.fixture
def orjson_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every document orjson.loads is given during the test."""
    sizes: list[int] = []
    real = orjson.loads

    def spy(data: bytes) -> object:
        sizes.append(len(data))
        return real(data)

    monkeypatch.setattr(orjson, "loads", spy)
    return sizes


def test_orjson_never_sees_the_base64(orjson_sizes: list[int]) -> None:
    sizes = orjson_sizes
    document = orjson.dumps({"data": [{"b64_json": B64}, {"b64_json": OTHER}]})
    assert upstream_json.loads(document)["data"][1]["b64_json"] == OTHER
    assert sizes and max(sizes) < 200


def test_the_name_as_a_value_does_not_stop_the_cut(orjson_sizes: list[int]) -> None:
    sizes = orjson_sizes
    document = orjson.dumps({"response_format": "b64_json", "data": [{"b64_json": B64}]})
    assert upstream_json.loads(document) == json.loads(document)  # stdlib: not spied on
    assert max(sizes) < 200


def test_raw_values_are_views_of_the_body() -> None:
    document = orjson.dumps({"data": [{"b64_json": B64, "revised_prompt": "é"}]})
    value = upstream_json.loads(document, raw_b64=True)["data"][0]["b64_json"]
    assert isinstance(value, memoryview)
    assert value.obj is document
    assert bytes(value) == B64.encode()
    # small bodies and values the cut cannot take stay str
    assert upstream_json.loads(b'{"data": [{"b64_json": "QQ=="}]}', raw_b64=True) == {
        "data": [{"b64_json": "QQ=="}]
    }


@pytest.mark.parametrize(
    "value", ["abc", r"say \"hi\"", r"ends with a backslash \\", r"\\\"", r"x\u0041y\/z"]
)
def test_raw_values_are_plain_and_escapes_go_through_orjson(value: str) -> None:
    document = b'{"data": [{"b64_json": "' + value.encode() + b'", "n": 1}], "pad": "'
    document += b"x" * LARGE_BODY + b'"}'
    parsed = upstream_json.loads(document, raw_b64=True)
    raw = parsed["data"][0]["b64_json"]
    assert isinstance(raw, memoryview) == ("\\" not in value)
    assert (bytes(raw).decode() if isinstance(raw, memoryview) else raw) == orjson.loads(document)[
        "data"
    ][0]["b64_json"]
    assert parsed["data"][0]["n"] == 1
