"""The gateway's YAML config: schema, ``${VAR}`` interpolation, and errors that name the key path.

A config is loaded once, at start-up, into a frozen :class:`GatewayConfig`; nothing reads the
YAML again. Problems raise :class:`ConfigError` whose message names the file, the key path
(``models[2].carriers[0].carrier``) and what is wrong.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from app.capabilities import EditSupport
from app.rules import RuleSet, apply_overrides, resolve_rule_sets
from app.runtime_config import JobsConfig, RoutingConfig, StreamingConfig

ResponseFormat = Literal["url", "b64_json", "b64_ephemeral"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_MIB = 1024 * 1024


class ConfigError(Exception):
    """A config that cannot be used; the message is ready to print."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CarrierConfig(_Strict):
    name: str = Field(pattern=_NAME)
    kind: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    timeout: float = Field(300.0, gt=0, description="seconds for a whole upstream attempt")
    connect_timeout: float = Field(10.0, gt=0)
    retries: int = Field(1, ge=0, le=10, description="retries of a transient failure")
    headers: dict[str, str] = {}
    edit: EditSupport | None = Field(
        None, description="what this carrier serves for edits; default: what its kind serves"
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def has_key(self) -> bool:
        return self.api_key is not None and self.api_key.get_secret_value().strip() != ""


class Price(_Strict):
    """USD per million tokens by token type, or a flat USD per image (optionally by quality)."""

    input_text_per_mtok: float | None = Field(None, ge=0)
    input_image_per_mtok: float | None = Field(None, ge=0)
    output_image_per_mtok: float | None = Field(None, ge=0)
    per_image: float | dict[str, float] | None = None


class RouteConfig(_Strict):
    carrier: str
    model: str | None = Field(None, description="upstream model name; defaults to the public name")
    price: Price | None = None
    tier: int | None = Field(None, ge=1, description="1 is tried first; default: list position")
    weight: float = Field(1.0, gt=0, description="relative share within a tier")
    overrides: dict[str, Any] = Field({}, description="rule-set keys where this carrier differs")


class ModelConfig(_Strict):
    name: str = Field(pattern=_NAME)
    aliases: tuple[str, ...] = ()
    rules: str
    owned_by: str = "imagegate"
    created: int = Field(1_700_000_000, ge=0)
    price: Price | None = None
    timeout: float = Field(300.0, gt=0, description="overall deadline of one request (seconds)")
    timeout_by_quality: dict[str, float] = {}
    keepalive_json: bool = Field(False, description="whitespace keep-alives on JSON responses")
    carriers: tuple[RouteConfig, ...] = Field(min_length=1)


class ServerConfig(_Strict):
    default_model: str | None = None
    default_response_format: ResponseFormat = "url"
    max_json_bytes: int = Field(1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(900 * _MIB, ge=1024, description="multipart bodies (413)")
    max_json_edit_bytes: int = Field(64 * _MIB, ge=1024, description="JSON edit bodies (413)")
    spool_directory: Path | None = Field(None, description="uploads past the threshold; $TMPDIR")
    spool_threshold_bytes: int = Field(_MIB, ge=0)
    # Pillow itself warns from 89,478,485 pixels on; the local carrier decodes inputs.
    max_input_pixels: int = Field(50_000_000, ge=1, le=89_478_485)
    trusted_proxies: tuple[IPNetwork, ...] = ()
    shutdown_grace: float = Field(60.0, ge=0, description="seconds to finish detached work")


class FetchConfig(_Strict):
    """Fetching the image URLs of JSON edits. Private, loopback, link-local and other
    non-public addresses are refused unless listed in ``allow`` (CIDRs, addresses, or host
    names, ``*.example.internal`` for a whole domain)."""

    allow: tuple[str, ...] = ()
    timeout: float = Field(30.0, gt=0, description="seconds per URL, redirects included")
    connect_timeout: float = Field(10.0, gt=0)
    max_redirects: int = Field(3, ge=0, le=10)
    concurrency: int = Field(4, ge=1, le=32, description="URLs fetched at once per request")

    @field_validator("allow")
    @classmethod
    def _entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        entries = tuple(entry.strip().lower() for entry in value if entry.strip())
        for entry in entries:
            if _network(entry) is None and not _HOST_PATTERN.match(entry):
                raise ValueError(f"'{entry}' is neither a CIDR, an IP address nor a host name")
        return entries

    @property
    def allowed_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(net for net in map(_network, self.allow) if net is not None)

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return tuple(entry for entry in self.allow if _network(entry) is None)


def _network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


class StorageConfig(_Strict):
    directory: Path = Path("data/images")
    public_base_url: str | None = None
    download_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    download_timeout: float = Field(60.0, gt=0)

    @field_validator("public_base_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class AuthConfig(_Strict):
    keys: tuple[SecretStr, ...] = ()

    @field_validator("keys", mode="before")
    @classmethod
    def _drop_empty(cls, value: Any) -> Any:
        # "${IMAGEGATE_API_KEY:-}" resolves to "" when unset: that means "no key", not a key.
        if isinstance(value, list | tuple):
            return tuple(v for v in value if not (isinstance(v, str) and v.strip() == ""))
        return value


class GatewayConfig(_Strict):
    source: Path = Path("<memory>")
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    storage: StorageConfig = StorageConfig()
    routing: RoutingConfig = RoutingConfig()
    streaming: StreamingConfig = StreamingConfig()
    jobs: JobsConfig = JobsConfig()
    fetch: FetchConfig = FetchConfig()
    rules_file: str = "rules.yaml"
    rule_sets: dict[str, RuleSet] = {}
    carriers: tuple[CarrierConfig, ...] = Field(min_length=1)
    models: tuple[ModelConfig, ...] = Field(min_length=1)


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


def load_config(
    path: Path, env: Mapping[str, str], kinds: Mapping[str, Iterable[str]]
) -> GatewayConfig:
    """Read, interpolate, validate and cross-check a config file.

    ``kinds`` maps each known carrier kind to the carrier fields it requires.
    """
    raw = _read_yaml(path, env)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    # `x-...` keys hold YAML anchors for reuse, as in compose files.
    raw = {key: value for key, value in raw.items() if not str(key).startswith("x-")}
    rules_path = path.parent / str(raw.get("rules_file", "rules.yaml"))
    raw["rule_sets"] = _load_rule_sets(rules_path, env)
    raw["source"] = path
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = key_path(first["loc"])
        prefix = f"{rules_path}: " if where.startswith("rule_sets") else f"{path}: "
        where = where.removeprefix("rule_sets.")
        raise ConfigError(f"{prefix}{where}: {first['msg']}") from None
    problems = list(cross_check(config, kinds))
    if problems:
        where, message = problems[0]
        raise ConfigError(f"{path}: {where}: {message}")
    return config


def _read_yaml(path: Path, env: Mapping[str, str]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        return interpolate(yaml.safe_load(text), env)
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


def cross_check(
    config: GatewayConfig, kinds: Mapping[str, Iterable[str]]
) -> Iterable[tuple[str, str]]:
    """References between sections: carriers, rule sets, names and aliases."""
    yield from _check_carriers(config, kinds)
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


def _check_carriers(
    config: GatewayConfig, kinds: Mapping[str, Iterable[str]]
) -> Iterable[tuple[str, str]]:
    seen: set[str] = set()
    for i, carrier in enumerate(config.carriers):
        if carrier.name in seen:
            yield f"carriers[{i}].name", f"duplicate carrier name '{carrier.name}'"
        seen.add(carrier.name)
        if carrier.kind not in kinds:
            yield f"carriers[{i}].kind", f"unknown kind '{carrier.kind}' (known: {_list(kinds)})"
            continue
        for required in kinds[carrier.kind]:
            if getattr(carrier, required) is None:
                yield f"carriers[{i}].{required}", f"a carrier of kind '{carrier.kind}' needs it"


def _list(items: Iterable[str]) -> str:
    return ", ".join(sorted(items)) or "none"
