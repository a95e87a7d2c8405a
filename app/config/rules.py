"""Rule sets: what each model accepts, as typed data loaded from ``config/rules.yaml``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FlexibleSizes(_Frozen):
    """gpt-image-2 style sizes: any WxH inside these bounds (and ``auto`` when allowed)."""

    auto: bool = True
    multiple_of: int = Field(16, ge=1)
    max_edge: int = Field(3840, ge=1)
    min_pixels: int = Field(0, ge=0)
    max_pixels: int = Field(8_294_400, ge=1)
    max_aspect: float = Field(3.0, ge=1)

    def problem(self, width: int, height: int) -> str | None:
        """Why ``width`` x ``height`` is refused, or None when it is fine."""
        if width % self.multiple_of or height % self.multiple_of:
            return f"width and height must both be multiples of {self.multiple_of}"
        if max(width, height) > self.max_edge:
            return f"the longest edge must be at most {self.max_edge} pixels"
        pixels = width * height
        if not self.min_pixels <= pixels <= self.max_pixels:
            return (
                f"the total pixel count must be between {self.min_pixels:,} and "
                f"{self.max_pixels:,} (got {pixels:,})"
            )
        if max(width, height) > self.max_aspect * min(width, height):
            return f"the aspect ratio must be at most {self.max_aspect:g}:1"
        return None


class EditLimits(_Frozen):
    max_images: int = Field(16, ge=1)
    max_image_bytes: int = Field(50 * 1024 * 1024, ge=1)
    image_formats: tuple[str, ...] = ("png", "jpeg", "webp")
    square_only: bool = False
    mask: bool = True
    mask_max_bytes: int = Field(4 * 1024 * 1024, ge=1)
    json_inputs: bool = Field(True, alias="json")


class RuleSet(_Frozen):
    name: str
    prompt_max_chars: int = Field(ge=1)
    n: tuple[int, int]
    sizes: tuple[str, ...] | FlexibleSizes
    default_size: str
    qualities: tuple[str, ...]
    quality_aliases: dict[str, str] = {}
    backgrounds: tuple[str, ...] = ()
    transparent_formats: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ("png",)
    output_compression: bool = False
    moderations: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    input_fidelities: tuple[str, ...] = ()
    stream: bool = False
    upstream_response_format: str | None = None
    edit: EditLimits | None = None

    @property
    def allows_auto_size(self) -> bool:
        if isinstance(self.sizes, FlexibleSizes):
            return self.sizes.auto
        return "auto" in self.sizes


def apply_overrides(base: RuleSet, overrides: Mapping[str, Any]) -> RuleSet:
    """``base`` with a carrier's differences applied (``edit`` is merged key by key)."""
    if not overrides:
        return base
    flat = base.model_dump(by_alias=True)
    for key, value in overrides.items():
        if key == "edit" and isinstance(value, Mapping) and isinstance(flat.get("edit"), dict):
            flat["edit"] = {**flat["edit"], **value}
        else:
            flat[key] = value
    return RuleSet.model_validate(flat)


def resolve_rule_sets(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Expand ``extends`` chains into flat mappings; raises ValueError on cycles or bad parents."""
    resolved: dict[str, dict[str, Any]] = {}

    def expand(name: str, seen: tuple[str, ...]) -> dict[str, Any]:
        if name in resolved:
            return resolved[name]
        if name in seen:
            raise ValueError(f"{name}: 'extends' forms a cycle ({' -> '.join((*seen, name))})")
        body = raw.get(name)
        if not isinstance(body, Mapping):
            where = f"{seen[-1]}.extends" if seen else name
            raise ValueError(f"{where}: unknown or malformed rule set '{name}'")
        parent = body.get("extends")
        flat = dict(expand(str(parent), (*seen, name))) if parent is not None else {}
        flat.update({k: v for k, v in body.items() if k != "extends"})
        flat["name"] = name
        resolved[name] = flat
        return flat

    for key in raw:
        expand(str(key), ())
    return resolved


class EditSupport(_Frozen):
    """What one carrier accepts for ``/v1/images/edits``."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    edits: bool = True
    max_images: int = Field(16, ge=1)
    mask: bool = True
    json_inputs: bool = Field(
        True, alias="json", description="edits whose images came as URLs or data URIs (JSON)"
    )
    max_image_bytes: int | None = Field(None, ge=1)
    image_formats: tuple[str, ...] = ("png", "jpeg", "webp")


def restrict_edits(rules: RuleSet, support: EditSupport) -> RuleSet:
    """``rules`` as served by a carrier with ``support``: the edits both accept, so routing
    checks one rule set per route. ``rules`` itself when the carrier takes every edit."""
    if rules.edit is None or support == _EVERY_EDIT:
        return rules
    if not support.edits:
        return rules.model_copy(update={"edit": None})
    limits = rules.edit
    max_bytes = limits.max_image_bytes
    if support.max_image_bytes is not None:
        max_bytes = min(max_bytes, support.max_image_bytes)
    narrowed = limits.model_copy(
        update={
            "max_images": min(limits.max_images, support.max_images),
            "mask": limits.mask and support.mask,
            "json_inputs": limits.json_inputs and support.json_inputs,
            "max_image_bytes": max_bytes,
            "image_formats": tuple(f for f in limits.image_formats if f in support.image_formats),
        }
    )
    return rules.model_copy(update={"edit": narrowed})


_EVERY_EDIT = EditSupport()
