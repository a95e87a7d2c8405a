"""Pure checks of edit inputs against a model's edit limits (``rules.yaml``, ``edit:``).

The inputs arrive already checked by their bytes (``app.inputs.images.inspect``): these
checks are about what the *model* accepts: how many images, which formats, how large, square
or not, and the mask (a PNG with an alpha channel, the size of the first image). Messages follow
OpenAI's wording where clients are known to match on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.config.rules import EditLimits, RuleSet
from app.domain import MEDIA_TYPES, InputImage
from app.errors import InvalidRequest, MissingParameter, UnsupportedParameter


def edit_limits(rules: RuleSet, model: str) -> EditLimits:
    if rules.edit is None:
        raise UnsupportedParameter(f"Model '{model}' does not support image edits.", param="model")
    return rules.edit


def check_count(count: int, limits: EditLimits, model: str, param: str = "image") -> None:
    if count == 0:
        raise MissingParameter(
            f"Missing required parameter: '{param}'. Send the image(s) to edit.", param=param
        )
    if count > limits.max_images:
        most = "exactly 1 image" if limits.max_images == 1 else f"at most {limits.max_images}"
        raise InvalidRequest(
            f"Too many images: {count}. Model '{model}' takes {most} per edit.",
            param=param,
            code="array_above_max_length",
        )


def check_mask_allowed(limits: EditLimits, model: str, param: str = "mask") -> None:
    if not limits.mask:
        raise UnsupportedParameter(f"Model '{model}' does not support masks.", param=param)


def check_inputs(
    images: Sequence[InputImage], mask: InputImage | None, rules: RuleSet, model: str
) -> None:
    """Raise an :class:`InvalidRequest` naming the part when the model cannot take the inputs."""
    limits = edit_limits(rules, model)
    check_count(len(images), limits, model)
    for image in images:
        _check_image(image, limits, model)
    if mask is not None:
        _check_mask(mask, images[0], limits, model)


def _check_image(image: InputImage, limits: EditLimits, model: str) -> None:
    if image.format not in limits.image_formats:
        raise unsupported_file(image.param, f"unsupported mimetype ('{image.media_type}')",
                               limits.image_formats)  # fmt: skip
    check_bytes(image.param, image.byte_size, limits.max_image_bytes, model)
    if limits.square_only and image.width != image.height:
        raise InvalidRequest(
            f"Invalid file '{image.param}': it is {image.width}x{image.height}; model '{model}' "
            "only edits square images.",
            param=image.param,
        )


def _check_mask(mask: InputImage, first: InputImage, limits: EditLimits, model: str) -> None:
    check_mask_allowed(limits, model, mask.param)
    if mask.format != "png":
        raise unsupported_file(
            mask.param, f"a mask must be a PNG image, not {mask.format.upper()}", ("png",)
        )
    check_bytes(mask.param, mask.byte_size, limits.mask_max_bytes, model)
    if not mask.has_alpha:
        raise InvalidRequest(
            f"Invalid file '{mask.param}': a mask must have an alpha channel (an RGBA or LA "
            "PNG); its fully transparent pixels mark the area to edit.",
            param=mask.param,
        )
    if (mask.width, mask.height) != (first.width, first.height):
        raise InvalidRequest(
            f"Invalid file '{mask.param}': it is {mask.width}x{mask.height} but "
            f"'{first.param}' is {first.width}x{first.height}; a mask must have the same "
            "dimensions as the first image.",
            param=mask.param,
        )


def check_bytes(param: str, size: int, limit: int, model: str | None = None) -> None:
    if size > limit:
        raise file_too_large(param, limit, model, size)


def file_too_large(
    param: str, limit: int, model: str | None = None, size: int | None = None
) -> InvalidRequest:
    actual = f" ({size:,} bytes)" if size is not None else ""
    whose = f"model '{model}' accepts" if model else "this gateway accepts"
    return InvalidRequest(
        f"Invalid file '{param}': the file is too large{actual}; {whose} at most "
        f"{limit:,} bytes ({limit / 1024 / 1024:g} MB) per file.",
        param=param,
        code="file_too_large",
    )


def unsupported_file(param: str, problem: str, formats: Sequence[str]) -> InvalidRequest:
    """OpenAI's ``unsupported_file_mimetype`` error, for a part judged by its bytes."""
    return InvalidRequest(
        f"Invalid file '{param}': {problem}. Supported file formats are {supported(formats)}.",
        param=param,
        code="unsupported_file_mimetype",
    )


def supported(formats: Sequence[str]) -> str:
    types = sorted(f"'{MEDIA_TYPES[f]}'" for f in formats if f in MEDIA_TYPES)
    if len(types) <= 1:
        return "".join(types)
    return ", ".join(types[:-1]) + (", and " if len(types) > 2 else " and ") + types[-1]
