"""The shipped rule sets (config/rules.yaml), and normalized jobs built with them."""

from __future__ import annotations

from typing import Any

import yaml

from app.config.rules import RuleSet, resolve_rule_sets
from app.core.normalize import normalize
from app.domain import Operation
from tests.support.config import ROOT
from tests.support.images import input_image

RULES = {
    name: RuleSet.model_validate(flat)
    for name, flat in resolve_rule_sets(
        yaml.safe_load((ROOT / "config" / "rules.yaml").read_text())
    ).items()
}


def job(rules: str, operation: Operation = "generate", **params: Any):
    raw = {"prompt": "a red fox", **params}
    return normalize(
        raw,
        operation=operation,
        model=rules,
        rules=RULES[rules],
        default_response_format="url",
        images=[input_image()] if operation == "edit" else (),
    )
