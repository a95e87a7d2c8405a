"""The ``openai`` kind's key check for ``imagegate check-carriers``: ``GET {base_url}/models``
with the key, under a short timeout. It costs nothing upstream, and a wrong key gets 401."""

from __future__ import annotations

import httpx

from app.carriers.base import ProbeResult
from app.carriers.openai.options import OpenAIConfig
from app.core.failures import classify_status


async def probe_models(
    config: OpenAIConfig, http: httpx.AsyncClient, seconds: float
) -> ProbeResult:
    secret = config.api_key.get_secret_value() if config.api_key is not None else ""
    headers = {**config.headers, "authorization": f"Bearer {secret}"}
    url = config.base_url + "/models"
    try:
        response = await http.get(url, headers=headers, timeout=seconds)
    except httpx.TimeoutException:
        return ProbeResult("failed", f"GET {url}: no answer within {seconds:g} s")
    except httpx.HTTPError as exc:
        return ProbeResult("failed", f"GET {url}: unreachable ({type(exc).__name__})")
    status = response.status_code
    if status < 400:
        return ProbeResult("ok", f"GET {url}: HTTP {status}, key accepted")
    if classify_status(status) == "key_rejected":
        return ProbeResult("key_rejected", f"GET {url}: HTTP {status}; check {config.key_hint}")
    return ProbeResult("failed", f"GET {url}: HTTP {status}")
