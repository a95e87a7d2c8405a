from __future__ import annotations

from pathlib import Path

from app.storage import LocalStorage, new_image_id, valid_image_id


def test_ids_are_128_random_bits_url_safe() -> None:
    ids = {new_image_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(valid_image_id(i) and len(i) == 22 for i in ids)


def test_save_and_locate(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "images")
    image_id = storage.save(b"\x89PNG\r\n\x1a\nrest", "png")
    path = storage.locate(image_id, "png")
    assert path is not None and path.read_bytes() == b"\x89PNG\r\n\x1a\nrest"
    assert storage.locate(image_id, "webp") is None
    assert not list((tmp_path / "images").rglob(".tmp-*"))


def test_locate_refuses_anything_but_ids(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    (tmp_path / "secret.png").write_bytes(b"x")
    for candidate in ("../secret", "secret", "..", "a/b", "A" * 21, "A" * 23):
        assert storage.locate(candidate, "png") is None
