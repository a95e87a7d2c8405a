"""Images on the local disk: ``<directory>/<id[:2]>/<id>.<format>``, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from app.domain import ImageFormat
from app.errors import StorageFailed
from app.storage.base import new_image_id, valid_image_id


class LocalStorage:
    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)

    def save(self, data: bytes, fmt: ImageFormat) -> str:
        image_id = new_image_id()
        target = self._path(image_id, fmt)
        try:
            target.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            raise StorageFailed(f"could not store the image ({exc.strerror})") from None
        return image_id

    def locate(self, image_id: str, fmt: ImageFormat) -> Path | None:
        if not valid_image_id(image_id):
            return None
        path = self._path(image_id, fmt)
        return path if path.is_file() else None

    def _path(self, image_id: str, fmt: ImageFormat) -> Path:
        return self.directory / image_id[:2] / f"{image_id}.{fmt}"
