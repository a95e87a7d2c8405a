"""What the openai carrier sends upstream: OpenAI's parameter names, from the job and route."""

from __future__ import annotations

from app.carriers.openai.wire import upstream_params
from app.config.rules import apply_overrides
from app.core.catalog import Route
from tests.support.rules import RULES, job


def route(rules: str, **overrides: object) -> Route:
    return Route("up", "up-model", apply_overrides(RULES[rules], overrides))


def test_response_format_never_goes_to_gpt_image_models() -> None:
    generation = job("gpt-image-2", response_format="b64_json", quality="hd")
    params = upstream_params(generation, route("gpt-image-2"), stream=False)
    assert params == {"model": "up-model", "prompt": "a red fox", "n": 1, "quality": "high"}


def test_dall_e_upstreams_are_asked_for_base64_whatever_the_client_wants() -> None:
    for response_format in ("url", "b64_json"):
        generation = job("dall-e-3", response_format=response_format)
        params = upstream_params(generation, route("dall-e-3"), stream=False)
        assert params["response_format"] == "b64_json"


def test_the_upstream_response_format_is_the_routes() -> None:
    plain = route("dall-e-3", upstream_response_format=None)
    assert "response_format" not in upstream_params(job("dall-e-3"), plain, stream=False)


def test_stream_parameters_go_upstream_only_when_streaming() -> None:
    streamed = job("gpt-image-2", stream=True, partial_images=2)
    params = upstream_params(streamed, route("gpt-image-2"), stream=True)
    assert params["stream"] is True and params["partial_images"] == 2
    whole = upstream_params(streamed, route("gpt-image-2"), stream=False)
    assert "stream" not in whole and "partial_images" not in whole
