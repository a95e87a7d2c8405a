"""What the subcommands share: option types that refuse bad values with one clear line, and
loading the config the same way ``serve`` does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple, NoReturn

from pydantic import ValidationError

from app.carriers import CARRIER_OPTIONS
from app.config import ConfigError, GatewayConfig, load_config
from app.config.settings import LOG_LEVELS, Settings, environment


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (argparse's own adds the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help already says it: a switch is ``off``, an
    option nobody set is ``not set`` (no limit, no filter, or unchanged, as its help says)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or isinstance(action, argparse._HelpAction):
            return text
        if action.default is False:
            return f"{text} (default: off)"
        if action.default is None or action.default == argparse.SUPPRESS:
            return f"{text} (default: not set)"
        return super()._get_help_string(action)


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1 to 65535)")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def log_level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"'{text}' is not one of {', '.join(LOG_LEVELS)}")
    return text.lower()


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (default: $IMAGEGATE_CONFIG, else config/gateway.yaml)",
    )


def settings_or_exit() -> Settings | None:
    """The environment's settings, or None after one line naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        where = "; ".join(
            f"IMAGEGATE_{str(error['loc'][0]).upper()}: {error['msg']}" for error in exc.errors()
        )
        print(f"imagegate: invalid environment: {where}", file=sys.stderr)
        return None


def load_or_exit(path: Path | None, settings: Settings) -> tuple[GatewayConfig, Path] | None:
    """The config at ``path`` (else the settings' path), or None after one line on stderr."""
    chosen = path or settings.config
    try:
        return load_config(chosen, environment(), CARRIER_OPTIONS), chosen
    except ConfigError as exc:
        print(f"imagegate: invalid config: {exc}", file=sys.stderr)
        return None


class Configured(NamedTuple):
    """What a command that reads the config starts from."""

    settings: Settings
    config: GatewayConfig
    path: Path


def configured_or_exit(path: Path | None) -> Configured | None:
    """The environment's settings and the config at ``path`` (else the settings' path), or
    None after one line on stderr naming what is wrong: the caller exits with 2."""
    settings = settings_or_exit()
    if settings is None:
        return None
    loaded = load_or_exit(path, settings)
    return None if loaded is None else Configured(settings, *loaded)
