"""What a carrier can serve, as data, and the pure check of a job against it.

A model's rule set says what the *model* accepts (``rules.yaml`` ``edit:``). A carrier may
serve less: a reseller that takes four reference images, or no masks. Each carrier kind has a
default :class:`EditSupport` (``app.carriers.KINDS``) and a carrier config may narrow it
(``carriers[].edit`` in ``gateway.yaml``). Routing asks :func:`can_serve` for each route and
skips those that cannot serve the job; when none can, routing's 400 lists each reason.
"""

from __future__ import annotations

from app.config.rules import EditSupport
from app.domain import ImageJob

FULL_EDIT_SUPPORT = EditSupport()


def can_serve(job: ImageJob, support: EditSupport) -> str | None:
    """Why a carrier with ``support`` cannot serve ``job``, or None when it can."""
    if job.operation != "edit":
        return None
    if not support.edits:
        return "it does not support image edits"
    if len(job.images) > support.max_images:
        return (
            f"it takes at most {support.max_images} input image"
            f"{'s' if support.max_images != 1 else ''}; the request has {len(job.images)}"
        )
    if job.mask is not None and not support.mask:
        return "it does not support masks"
    inputs = (*job.images, *([job.mask] if job.mask is not None else []))
    if not support.json_inputs and any(image.origin != "upload" for image in inputs):
        return "it only takes uploaded files (multipart), not image URLs or data URIs"
    for image in inputs:
        if image.format not in support.image_formats:
            return f"it does not accept {image.format.upper()} images ({image.param})"
        if support.max_image_bytes is not None and image.byte_size > support.max_image_bytes:
            return (
                f"it takes images of at most {support.max_image_bytes:,} bytes "
                f"({image.param} has {image.byte_size:,})"
            )
    return None
