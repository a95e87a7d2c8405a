"""The README's "Storage" section stays true: each YAML example is a valid ``storage`` section
that builds its backend, and the migrate command it shows exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from app.cli import build_parser
from app.config.loader import interpolate
from app.config.storage import StorageConfig
from app.storage import make_storage
from app.storage.s3 import S3Storage

README = Path(__file__).resolve().parents[2] / "README.md"


def storage_section() -> str:
    text = README.read_text()
    return text.split("\n## Storage\n", 1)[1].split("\n## ", 1)[0]


def yaml_examples() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", storage_section(), re.S)


@pytest.mark.parametrize("index", range(3))
def test_each_yaml_example_builds_an_s3_backend(index: int, tmp_path: Path) -> None:
    env = {"IMAGEGATE_SIGNING_KEY": "a-signing-key-of-enough-length"}
    data = interpolate(yaml.safe_load(yaml_examples()[index]), env)["storage"]
    config = StorageConfig(**data, directory=tmp_path)
    assert isinstance(make_storage(config), S3Storage)


def test_there_are_three_examples_and_the_migrate_command_exists() -> None:
    assert len(yaml_examples()) == 3
    assert "imagegate storage migrate --to s3" in storage_section()
    args = build_parser().parse_args(["storage", "migrate", "--to", "s3", "--delete-local"])
    assert args.to == "s3" and args.delete_local
