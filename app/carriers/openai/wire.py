"""A job as OpenAI Images API parameters: the one place that knows OpenAI's wire names.

Only the parameters the job carries are sent (normalization already removed what the model
does not accept), with the route's upstream model name. ``response_format`` is not the
client's: some upstreams need one of their own (``rules.upstream_response_format``), and what
the client receives is decided by re-hosting, never by the upstream.
"""

from __future__ import annotations

from typing import Any

from app.core.catalog import Route
from app.domain import ImageJob


def upstream_params(job: ImageJob, route: Route, *, stream: bool) -> dict[str, Any]:
    """The JSON body (generations) or text fields (edits) for ``job`` on ``route``."""
    params: dict[str, Any] = {"model": route.upstream_model, "prompt": job.prompt, "n": job.n}
    optional = {
        "size": job.size,
        "quality": job.quality,
        "background": job.background,
        "output_format": job.output_format,
        "output_compression": job.output_compression,
        "moderation": job.moderation,
        "style": job.style,
        "input_fidelity": job.input_fidelity,
        "user": job.user,
    }
    params.update((name, value) for name, value in optional.items() if value is not None)
    if stream:
        params["stream"] = True
        if job.partial_images is not None:
            params["partial_images"] = job.partial_images
    if route.rules.upstream_response_format is not None:
        params["response_format"] = route.rules.upstream_response_format
    return params
