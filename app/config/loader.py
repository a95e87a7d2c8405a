"""Reading the YAML config: ``${VAR}`` interpolation, validation, and errors that name the
key path (``models[2].carriers[0].carrier``) and what is wrong."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.config.rules import apply_overrides, resolve_rule_sets
from app.config.schema import CarrierConfig, GatewayConfig

CarrierKinds = Mapping[str, type[CarrierConfig]]
"""Each carrier kind's options model, by kind name (``app.carriers.CARRIER_OPTIONS``)."""

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A config that cannot be used; the message is ready to print."""


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree.

    Substitution happens after parsing, so a value can never inject YAML structure.
    ``$$`` is a literal dollar sign. An unset variable without default becomes "".
    """
    if isinstance(node, str):
        return _VAR.sub(lambda m: "$" if m.group(0) == "$$" else _lookup(m, env), node)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def _lookup(match: re.Match[str], env: Mapping[str, str]) -> str:
    value = env.get(match.group(1), "")
    return value if value != "" or match.group(2) is None else match.group(2)


def key_path(loc: Iterable[int | str]) -> str:
    """('models', 2, 'carriers', 0, 'carrier') -> 'models[2].carriers[0].carrier'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def load_config(path: Path, env: Mapping[str, str], kinds: CarrierKinds) -> GatewayConfig:
    """Read, interpolate, validate and cross-check a config file.

    ``kinds`` maps each carrier kind to its options model: ``carriers[]`` is a union
    discriminated by ``kind``, assembled from the carrier registry (config sits below it).
    """
    tree = _parse_yaml(path)
    raw = interpolate(tree, env)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    # `x-...` keys hold YAML anchors for reuse, as in compose files.
    raw = {key: value for key, value in raw.items() if not str(key).startswith("x-")}
    rules_path = path.parent / str(raw.get("rules_file", "rules.yaml"))
    raw["rule_sets"] = _load_rule_sets(rules_path, env)
    raw["source"] = path
    if isinstance(raw.get("carriers"), list):
        raw["carriers"] = [
            _carrier(path, i, entry, kinds, _variables(tree["carriers"][i]))
            for i, entry in enumerate(raw["carriers"])
        ]
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = key_path(first["loc"])
        prefix = f"{rules_path}: " if where.startswith("rule_sets") else f"{path}: "
        where = where.removeprefix("rule_sets.")
        raise ConfigError(f"{prefix}{where}: {first['msg']}") from None
    problems = list(cross_check(config))
    if problems:
        where, message = problems[0]
        raise ConfigError(f"{path}: {where}: {message}")
    return config


def _variables(entry: Any) -> dict[str, str]:
    """Which environment variable each field of a raw (not interpolated) entry names."""
    if not isinstance(entry, dict):
        return {}
    found = {key: _VAR.search(value) for key, value in entry.items() if isinstance(value, str)}
    return {str(key): match.group(1) for key, match in found.items() if match and match.group(1)}


def _carrier(
    path: Path, index: int, entry: Any, kinds: CarrierKinds, variables: dict[str, str]
) -> Any:
    """``carriers[index]`` validated by the options model of its ``kind``."""
    if not isinstance(entry, dict):
        return entry  # the schema names what is wrong with it
    model = kinds.get(str(entry.get("kind")))
    if model is None:
        problem = f"unknown kind '{entry['kind']}'" if "kind" in entry else "a kind is required"
        raise ConfigError(f"{path}: carriers[{index}].kind: {problem} (known: {_list(kinds)})")
    try:
        carrier = model.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = key_path(("carriers", index, *first["loc"]))
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    carrier._variables.update(variables)
    return carrier


def _read_yaml(path: Path, env: Mapping[str, str]) -> Any:
    return interpolate(_parse_yaml(path), env)


def _parse_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def _load_rule_sets(path: Path, env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    raw = _read_yaml(path, env)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of rule-set names")
    try:
        return resolve_rule_sets(raw)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def cross_check(config: GatewayConfig) -> Iterable[tuple[str, str]]:
    """References between sections: carriers, rule sets, names and aliases."""
    yield from _check_carrier_names(config)
    carriers = {carrier.name for carrier in config.carriers}
    names: dict[str, str] = {}
    for i, model in enumerate(config.models):
        if model.rules not in config.rule_sets:
            known = _list(config.rule_sets)
            yield f"models[{i}].rules", f"unknown rule set '{model.rules}' (known: {known})"
        for j, route in enumerate(model.carriers):
            where = f"models[{i}].carriers[{j}]"
            if route.carrier not in carriers:
                known = _list(carriers)
                yield f"{where}.carrier", f"unknown carrier '{route.carrier}' (known: {known})"
            if route.overrides and model.rules in config.rule_sets:
                try:
                    apply_overrides(config.rule_sets[model.rules], route.overrides)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    yield f"{where}.overrides.{key_path(first['loc'])}", first["msg"]
        for k, name in enumerate((model.name, *model.aliases)):
            where = f"models[{i}].name" if k == 0 else f"models[{i}].aliases[{k - 1}]"
            if name in names:
                yield where, f"'{name}' is already used by model '{names[name]}'"
            names[name] = model.name
    default = config.server.default_model
    if default is not None and default not in names:
        yield "server.default_model", f"unknown model '{default}'"


def _check_carrier_names(config: GatewayConfig) -> Iterable[tuple[str, str]]:
    seen: set[str] = set()
    for i, carrier in enumerate(config.carriers):
        if carrier.name in seen:
            yield f"carriers[{i}].name", f"duplicate carrier name '{carrier.name}'"
        seen.add(carrier.name)


def _list(items: Iterable[str]) -> str:
    return ", ".join(sorted(items)) or "none"
