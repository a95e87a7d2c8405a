"""A request's stored images as ``images`` rows. The usage ledger writes them in its batches
(``app.usage.ledger``), off the request path, in the same transaction as the request's row.

The row's id is the stored image's id (the one in its URL), its ``request_id`` the request's
``x-request-id``; the owner is the principal the auth layer gave the request (a database key's
id, a config-file key's ``key_<hash>`` id, or ``open`` on a gateway without keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.db.types import from_timestamp
from app.domain import UsageRecord
from app.images_index.policy import expiry


@dataclass(frozen=True, slots=True)
class ImageRows:
    backend: str = "local"  # storage.backend: where the images of this deployment live
    retention: float = 0.0  # storage.retention, seconds; 0: forever
    store_prompts: bool = True  # ledger.store_prompts

    def rows(self, record: UsageRecord) -> list[dict[str, Any]]:
        created = from_timestamp(record.created_at)
        expires = expiry(created, record.retention, self.retention)
        prompt = record.prompt if self.store_prompts else None
        return [
            {
                "id": image.ref.id,
                "request_id": record.request_id[:64],
                "key_id": record.principal_id,
                "team_id": record.team,
                "model": record.model,
                "created_at": created,
                "format": image.format,
                "width": image.width or 0,
                "height": image.height or 0,
                "bytes": image.byte_size,
                "backend": self.backend,
                "location": image.ref.filename,
                "expires_at": expires,
                "deleted_at": None,
                "prompt": prompt,
            }
            for image in record.stored
            if image.ref is not None
        ]
