"""The one masking point for carrier output: every string a carrier hands back (results,
partial images, failures) passes through here before anything else sees it, so an upstream
that echoes our key (in ``revised_prompt``, ``usage``, echoed fields, error messages or codes)
never shows it to a client, a job result or a log.

Image base64 is handled by its shape: re-hosting hands clients only canonical base64 of a
verified image (or re-encodes it), which cannot contain a secret with a character outside the
base64 alphabet; only secrets made of base64 letters make the final image's text worth a scan.
Partial images are passed on as they came, so their base64 is always scanned.

A result is first only searched: when no secret occurs in any of its text (the usual case),
it is handed on as it came, without building a masked copy of every field.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import orjson

from app.core.failures import CarrierFailure
from app.domain import CarrierResult, PartialImage, UpstreamImage
from app.observability.redact import Redactor

_LEAKED = "the carrier's output contained a secret"


def mask_result(redactor: Redactor, result: CarrierResult) -> CarrierResult:
    if not redactor or not _carries_secret(redactor, result):
        return result  # masking would change nothing (and no image's base64 holds a secret)
    images = tuple(_mask_image(redactor, image) for image in result.images)
    return replace(
        result,
        images=images,
        usage=redactor.value(result.usage),
        size=_opt(redactor, result.size),
        quality=_opt(redactor, result.quality),
        background=_opt(redactor, result.background),
        output_format=_opt(redactor, result.output_format),
    )


def mask_partial(redactor: Redactor, event: PartialImage) -> PartialImage:
    if not redactor:
        return event
    if redactor.found_in(event.b64):
        raise CarrierFailure("transient", _LEAKED)
    return replace(
        event,
        size=_opt(redactor, event.size),
        quality=_opt(redactor, event.quality),
        background=_opt(redactor, event.background),
        output_format=_opt(redactor, event.output_format),
    )


def mask_failure(redactor: Redactor, failure: CarrierFailure) -> CarrierFailure:
    if not redactor:
        return failure
    failure.message = redactor.text(failure.message)
    failure.args = (failure.message,)
    failure.upstream_error = redactor.value(failure.upstream_error)
    return failure


def _mask_image(redactor: Redactor, image: UpstreamImage) -> UpstreamImage:
    if image.b64 is not None and redactor.fits_base64 and redactor.found_in(image.b64):
        raise CarrierFailure("transient", _LEAKED)
    revised = image.revised_prompt
    return image if revised is None else replace(image, revised_prompt=redactor.text(revised))


def _opt(redactor: Redactor, value: str | None) -> str | None:
    return None if value is None else redactor.text(value)


def _carries_secret(redactor: Redactor, result: CarrierResult) -> bool:
    """Whether :func:`mask_result` could change ``result`` (or refuse an image's base64).

    One search of the result's text as JSON instead of a walk through every string: JSON
    escapes character by character, so a string holding a secret holds its escaped form once
    encoded. The answer may be a false yes (a secret made of digits matching a number, or
    straddling two strings), never a false no; anything that is not plain JSON (lone
    surrogates, huge integers, non-string keys) takes the masking path too."""
    images = result.images
    for image in images:
        if image.b64 is not None and redactor.fits_base64 and redactor.found_in(image.b64):
            return True
    searched = (
        result.size,
        result.quality,
        result.background,
        result.output_format,
        [image.revised_prompt for image in images],
        result.usage,
    )
    try:
        text = orjson.dumps(searched)
        escaped = _escaped(redactor.secrets)
    except orjson.JSONEncodeError:
        return True
    return any(secret in text for secret in escaped)


@functools.lru_cache(maxsize=16)
def _escaped(secrets: tuple[str, ...]) -> tuple[bytes, ...]:
    """Each secret as it appears inside a JSON string (its quotes cut off)."""
    return tuple(orjson.dumps(secret)[1:-1] for secret in secrets)
