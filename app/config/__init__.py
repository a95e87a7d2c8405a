"""The gateway's configuration: the YAML schema, its loader, the model rule sets, and the few
settings read from the environment."""

from app.config.loader import ConfigError, load_config
from app.config.schema import (
    AuthConfig,
    CarrierConfig,
    FetchConfig,
    GatewayConfig,
    ModelConfig,
    Price,
    RouteConfig,
    ServerConfig,
    StorageConfig,
)

__all__ = [
    "AuthConfig",
    "CarrierConfig",
    "ConfigError",
    "FetchConfig",
    "GatewayConfig",
    "ModelConfig",
    "Price",
    "RouteConfig",
    "ServerConfig",
    "StorageConfig",
    "load_config",
]
