"""What a carrier of kind ``openai`` is configured with (``carriers[]`` in ``gateway.yaml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from app.config.schema import CarrierConfig, http_url


class OpenAIConfig(CarrierConfig):
    """An upstream that speaks the OpenAI Images API: where it is and how to authenticate."""

    kind: Literal["openai"]
    base_url: str
    api_key: SecretStr | None = None
    connect_timeout: float = Field(10.0, gt=0)
    headers: dict[str, str] = {}

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @property
    def has_key(self) -> bool:
        return self.api_key is not None and self.api_key.get_secret_value().strip() != ""

    @property
    def disabled_reason(self) -> str | None:
        # "${OPENAI_API_KEY}" resolves to "" when unset: the carrier cannot authenticate.
        return "its api_key is empty" if self.api_key is not None and not self.has_key else None

    @property
    def endpoint(self) -> str | None:
        return self.base_url

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key.get_secret_value(),) if self.has_key and self.api_key else ()

    @property
    def key_hint(self) -> str:
        """What an operator should check when the upstream refuses the key."""
        variable = self.variable_of("api_key")
        if variable is not None:
            return f"the environment variable {variable} (its api_key)"
        return f"the api_key of carrier '{self.name}' in the config"

    @property
    def key_status(self) -> str:
        if self.api_key is None:
            return "none needed"
        return "set (****)" if self.has_key else "MISSING -> disabled"
