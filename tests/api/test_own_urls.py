"""Edits that reference this gateway's own image URLs read them from storage, never fetching;
the same path on any other host is fetched (and refused when private) as usual."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.images import png_bytes
from tests.support.upstream import FakeUpstream, Reply

PNG = png_bytes((48, 48), (10, 120, 240))


async def generated_url(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/v1/images/generations", json={"model": "offline", "prompt": "a fox", "size": "1024x1024"}
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["data"][0]["url"]
    return url


async def edit(client: httpx.AsyncClient, url: str) -> httpx.Response:
    return await client.post(
        "/v1/images/edits",
        json={"model": "offline", "prompt": "add a hat", "size": "1024x1024", "image": url},
    )


def file_name(url: str) -> str:
    return url.rpartition("/")[2]


@pytest.mark.parametrize(
    "host",
    ["http://gateway.test", "https://GATEWAY.test:80", "http://localhost", "http://127.0.0.1:80",
     "http://[::1]", "http://127.9.9.9"],
)  # fmt: skip
async def test_an_own_url_is_read_from_storage_without_fetching(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    connections: list[tuple[str, int]],
    host: str,
) -> None:
    """The request's own Host, and loopback names on the port the gateway listens on (80 here)."""
    async with serve_in_process(make_config()) as client:
        url = await generated_url(client)
        assert url.startswith("http://gateway.test/images/")
        response = await edit(client, f"{host}/images/{file_name(url)}")
    assert response.status_code == 200, response.text
    assert response.headers["x-imagegate-carrier"] == "local"
    assert connections == []


async def test_the_configured_public_base_url_is_ours_too(
    make_config: MakeConfig, upstream: respx.MockRouter, connections: list[tuple[str, int]]
) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return {"img.example.com": ["10.9.8.7"]}[host]

    config = make_config(
        edit=lambda data: data["storage"].update(public_base_url="https://img.example.com/gw")
    )
    async with serve_in_process(config, resolver=resolver) as client:
        url = await generated_url(client)
        assert url.startswith("https://img.example.com/gw/images/")
        response = await edit(client, url)
        misplaced = await edit(client, f"https://img.example.com/other/images/{file_name(url)}")
    assert response.status_code == 200, response.text
    assert misplaced.status_code == 400  # not our path: fetched, and refused (private address)
    assert "is not a public host" in misplaced.json()["error"]["message"]
    assert connections == []


async def test_an_unknown_image_on_our_own_host_is_a_400_without_fetching(
    make_config: MakeConfig, upstream: respx.MockRouter, connections: list[tuple[str, int]]
) -> None:
    async with serve_in_process(make_config()) as client:
        response = await edit(client, "http://gateway.test/images/AAAAAAAAAAAAAAAAAAAAAA.png")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("image", "invalid_image_url")
    assert "has no image 'AAAAAAAAAAAAAAAAAAAAAA.png'" in error["message"]
    assert connections == []


async def test_the_same_path_on_a_foreign_private_host_is_refused(
    make_config: MakeConfig, upstream: respx.MockRouter, connections: list[tuple[str, int]]
) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return {"intranet.test": ["10.1.2.3"]}[host]

    async with serve_in_process(make_config(), resolver=resolver) as client:
        name = file_name(await generated_url(client))
        response = await edit(client, f"http://intranet.test/images/{name}")
        loopback = await edit(client, f"http://127.0.0.1:8080/images/{name}")  # not our port
    # A refused host name is not told how it resolves; an address literal is named as such.
    for refused, why in ((response, "is not a public host"), (loopback, "a loopback address")):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_image_url"
        assert why in refused.json()["error"]["message"]
    assert connections == []


async def test_the_same_path_on_a_foreign_allowed_host_is_fetched(
    make_config: MakeConfig, upstream: respx.MockRouter, fake: FakeUpstream
) -> None:
    upstream.route(host="127.0.0.1").pass_through()

    async def resolver(host: str, port: int) -> list[str]:
        return {"assets.test": ["127.0.0.1"]}[host]

    config = make_config(fetch={"allow": ["127.0.0.1/32"]})
    async with serve_in_process(config, resolver=resolver) as client:
        name = file_name(await generated_url(client))
        fake.route(f"/images/{name}", Reply(body=PNG, headers={"content-type": "image/png"}))
        response = await edit(client, f"http://assets.test:{fake.port}/images/{name}")
    assert response.status_code == 200, response.text
    assert [seen.path for seen in fake.requests] == [f"/images/{name}"]
