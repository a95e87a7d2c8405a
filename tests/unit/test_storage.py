"""The storage package: ids, and the backend registry keyed by ``storage.backend``."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, StorageConfig
from app.storage import BACKENDS, Backend, LocalStorage, make_storage, new_image_id, valid_image_id


def test_ids_are_128_random_bits_url_safe() -> None:
    ids = {new_image_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(valid_image_id(i) and len(i) == 22 for i in ids)


def test_the_default_backend_is_the_local_disk(tmp_path: Path) -> None:
    storage = make_storage(StorageConfig(directory=tmp_path / "images"))
    assert isinstance(storage, LocalStorage)
    assert storage.directory == (tmp_path / "images").resolve()
    assert storage.serves_files


def test_the_backend_is_chosen_by_name_from_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[StorageConfig] = []

    def elsewhere(config: StorageConfig) -> LocalStorage:
        made.append(config)
        return LocalStorage(tmp_path / "elsewhere")

    monkeypatch.setitem(BACKENDS, "elsewhere", Backend(elsewhere))
    config = StorageConfig(backend="elsewhere", directory=tmp_path / "ignored")
    storage = make_storage(config)
    assert made == [config]
    assert isinstance(storage, LocalStorage)
    assert storage.directory == (tmp_path / "elsewhere").resolve()


def test_an_unknown_backend_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage.backend: unknown backend 's4' \(known: local"):
        make_storage(StorageConfig(backend="s4", directory=tmp_path))
