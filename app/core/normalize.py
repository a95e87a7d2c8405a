"""Pure normalization: raw request parameters plus a model's rule set give an :class:`ImageJob`.

Every parameter is checked against the rule set; values are coerced (form fields arrive as
strings), aliased (``hd`` -> ``high``) or dropped where dropping changes nothing. Every change is
recorded as a human-readable adjustment, reported to the client in ``x-imagegate-adjustments``.
JSON ``null`` means "not set".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from app.config.rules import FlexibleSizes, RuleSet
from app.core.edits import check_inputs
from app.domain import ImageJob, InputImage, Operation, ResponseFormat
from app.errors import InvalidRequest, InvalidType, MissingParameter, UnsupportedParameter

RESPONSE_FORMATS = ("url", "b64_json", "b64_ephemeral")
_SIZE = re.compile(r"^\s*(\d{1,6})\s*[xX×*]\s*(\d{1,6})\s*$")
_INT = re.compile(r"^\s*[-+]?\d{1,9}\s*$")
_KNOWN = frozenset(
    {
        "prompt", "model", "n", "size", "quality", "response_format", "output_format",
        "output_compression", "background", "moderation", "style", "stream", "partial_images",
        "user", "input_fidelity", "image", "images", "mask",
    }
)  # fmt: skip


def normalize(
    raw: Mapping[str, Any],
    *,
    operation: Operation,
    model: str,
    rules: RuleSet,
    default_response_format: ResponseFormat,
    images: Sequence[InputImage] = (),
    mask: InputImage | None = None,
) -> ImageJob:
    """Validate ``raw`` against ``rules``; raise an :class:`InvalidRequest` naming the parameter.

    For edits, ``images`` and ``mask`` are already checked by their bytes; here they are checked
    against the model's edit limits.
    """
    params = {key: value for key, value in raw.items() if value is not None}
    if operation == "edit":
        check_inputs(images, mask, rules, model)
    notes: list[str] = []
    stream = _bool(params, "stream")
    if stream and not rules.stream:
        raise UnsupportedParameter(f"Model '{model}' does not support streaming.", param="stream")
    n = _int(params, "n", 1, *rules.n)
    if stream and n > 1:
        raise InvalidRequest("Streaming is only supported with n=1.", param="stream")
    output_format = _choice(params, "output_format", rules.output_formats, model, notes)
    background = _choice(params, "background", rules.backgrounds, model, notes)
    fmt = output_format or "png"
    if background == "transparent" and fmt not in rules.transparent_formats:
        raise InvalidRequest(
            f"background 'transparent' needs output_format "
            f"{_or(rules.transparent_formats)}; got '{fmt}'.",
            param="background",
        )
    return ImageJob(
        operation=operation,
        model=model,
        prompt=_prompt(params, rules),
        n=n,
        size=_size(params, rules, notes),
        quality=_quality(params, rules, model, notes),
        background=background,
        output_format=output_format,
        output_compression=_compression(params, rules, model, fmt),
        moderation=_choice(params, "moderation", rules.moderations, model, notes),
        style=_choice(params, "style", rules.styles, model, notes),
        input_fidelity=_fidelity(params, operation, rules, model, notes),
        user=_text(params, "user"),
        stream=stream,
        partial_images=_partial_images(params, stream),
        response_format=_response_format(params, default_response_format),
        images=tuple(images),
        mask=mask,
        adjustments=(*notes, *_ignored(params, operation)),
    )


def _prompt(params: Mapping[str, Any], rules: RuleSet) -> str:
    if "prompt" not in params:
        raise MissingParameter("Missing required parameter: 'prompt'.", param="prompt")
    prompt = params["prompt"]
    if not isinstance(prompt, str):
        raise InvalidType(_type_message("prompt", "a string", prompt), param="prompt")
    if not prompt.strip():
        raise InvalidRequest("'prompt' must not be empty.", param="prompt")
    if len(prompt) > rules.prompt_max_chars:
        raise InvalidRequest(
            f"'prompt' is too long: {len(prompt):,} characters, the maximum for this model is "
            f"{rules.prompt_max_chars:,}.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def _int(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    if name not in params:
        return default
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidType(_type_message(name, "an integer", value), param=name)
    if isinstance(value, str):
        if not _INT.match(value):
            raise InvalidType(_type_message(name, "an integer", value), param=name)
        value = int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidType(_type_message(name, "an integer", value), param=name)
        value = int(value)
    assert isinstance(value, int)
    if not low <= value <= high:
        expected = f"exactly {low}" if low == high else f"between {low} and {high}"
        raise InvalidRequest(
            f"Invalid value for '{name}': {value}. It must be {expected} for this model.",
            param=name,
        )
    return value


def _bool(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise InvalidType(_type_message(name, "a boolean", value), param=name)


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidType(_type_message(name, "a string", value), param=name)
    return value


def _choice(
    params: Mapping[str, Any], name: str, allowed: Sequence[str], model: str, notes: list[str]
) -> str | None:
    value = _text(params, name)
    if value is None:
        return None
    value = value.strip().lower()
    if not allowed:
        if value == "auto":  # "you decide" can be dropped without changing the result
            notes.append(f"{name}: dropped (not supported by {model})")
            return None
        raise UnsupportedParameter(f"Model '{model}' does not support '{name}'.", param=name)
    if value not in allowed:
        raise InvalidRequest(
            f"Invalid value for '{name}': '{value}'. Supported values for model '{model}' are: "
            f"{_or(allowed, quote=True)}.",
            param=name,
        )
    return value


def _quality(params: Mapping[str, Any], rules: RuleSet, model: str, notes: list[str]) -> str | None:
    value = _text(params, "quality")
    if value is None:
        return None
    lowered = value.strip().lower()
    target = rules.quality_aliases.get(lowered)
    if target is not None:
        notes.append(f"quality: {lowered} -> {target}")
        lowered = target
    return _choice({"quality": lowered}, "quality", rules.qualities, model, notes)


def _size(params: Mapping[str, Any], rules: RuleSet, notes: list[str]) -> str | None:
    value = _text(params, "size")
    if value is None:
        return None
    if value.strip().lower() == "auto":
        if rules.allows_auto_size:
            return "auto"
        raise InvalidRequest(
            f"Invalid value for 'size': 'auto'. {_sizes_help(rules)}", param="size"
        )
    match = _SIZE.match(value)
    if match is None:
        raise InvalidRequest(
            f"Invalid value for 'size': '{value}'. Use WIDTHxHEIGHT. {_sizes_help(rules)}",
            param="size",
        )
    width, height = int(match.group(1)), int(match.group(2))
    size = f"{width}x{height}"
    if size != value:
        notes.append(f"size: {value} -> {size}")
    if isinstance(rules.sizes, FlexibleSizes):
        problem = rules.sizes.problem(width, height)
        if problem is not None:
            raise InvalidRequest(f"Invalid value for 'size': '{size}': {problem}.", param="size")
    elif size not in rules.sizes:
        raise InvalidRequest(
            f"Invalid value for 'size': '{size}'. {_sizes_help(rules)}", param="size"
        )
    return size


def _sizes_help(rules: RuleSet) -> str:
    if isinstance(rules.sizes, FlexibleSizes):
        s = rules.sizes
        return (
            f"Sizes are 'auto' or WxH with both sides multiples of {s.multiple_of}, longest edge "
            f"<= {s.max_edge}, {s.min_pixels:,}..{s.max_pixels:,} pixels, "
            f"aspect ratio <= {s.max_aspect:g}:1."
        )
    return f"Supported values are: {_or(rules.sizes, quote=True)}."


def _compression(params: Mapping[str, Any], rules: RuleSet, model: str, fmt: str) -> int | None:
    if "output_compression" not in params:
        return None
    if not rules.output_compression:
        raise UnsupportedParameter(
            f"Model '{model}' does not support 'output_compression'.", param="output_compression"
        )
    value = _int(params, "output_compression", 100, 0, 100)
    if fmt not in ("jpeg", "webp"):
        raise InvalidRequest(
            f"'output_compression' is only supported with output_format 'jpeg' or 'webp', "
            f"not '{fmt}'.",
            param="output_compression",
        )
    return value


def _fidelity(
    params: Mapping[str, Any], operation: Operation, rules: RuleSet, model: str, notes: list[str]
) -> str | None:
    if "input_fidelity" not in params:
        return None
    if operation != "edit":
        notes.append("input_fidelity: dropped (edits only)")
        return None
    if not rules.input_fidelities:
        notes.append(f"input_fidelity: dropped (not supported by {model})")
        return None
    return _choice(params, "input_fidelity", rules.input_fidelities, model, notes)


def _partial_images(params: Mapping[str, Any], stream: bool) -> int | None:
    if "partial_images" not in params:
        return None
    value = _int(params, "partial_images", 0, 0, 3)
    if not stream:
        if value == 0:
            return None
        raise InvalidRequest(
            "'partial_images' is only supported with stream=true.", param="partial_images"
        )
    return value


def _response_format(params: Mapping[str, Any], default: ResponseFormat) -> ResponseFormat:
    value = _text(params, "response_format")
    if value is None:
        return default
    if value not in RESPONSE_FORMATS:
        raise InvalidRequest(
            f"Invalid value for 'response_format': '{value}'. Supported values are: "
            f"{_or(RESPONSE_FORMATS, quote=True)}.",
            param="response_format",
        )
    return cast(ResponseFormat, value)


def _ignored(params: Mapping[str, Any], operation: Operation) -> list[str]:
    unknown = [k for k in params if k not in _KNOWN]
    if operation == "generate":
        unknown += [k for k in ("image", "images", "mask") if k in params]
    return [f"{name}: ignored (unknown parameter)" for name in sorted(unknown)]


def _type_message(name: str, expected: str, value: object) -> str:
    got = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
           list: "an array", dict: "an object"}.get(type(value), "another type")  # fmt: skip
    return f"Invalid type for '{name}': expected {expected}, but got {got} instead."


def _or(values: Sequence[str], *, quote: bool = False) -> str:
    items = [f"'{v}'" if quote else v for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
