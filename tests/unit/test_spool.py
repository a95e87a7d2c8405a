"""Request bytes: small blobs stay in memory, big ones go to anonymous files, readers are independent."""

from __future__ import annotations

import os

import pytest

from app.inputs.spool import FileBlob, MemoryBlob, Spool


async def test_small_blobs_stay_in_memory() -> None:
    with Spool(threshold=1024) as spool:
        writer = spool.writer()
        await writer.write(b"x" * 1024)
        blob = await writer.finish()
        assert isinstance(blob, MemoryBlob) and blob.size == 1024
        assert spool.open_files == 0


async def test_big_blobs_go_to_disk_with_bounded_memory() -> None:
    chunk = bytes(range(256)) * 256  # 64 KiB
    with Spool(threshold=256 * 1024) as spool:
        writer = spool.writer()
        peak = 0
        for _ in range(80):  # 5 MiB
            await writer.write(chunk)
            peak = max(peak, writer.buffered)
        blob = await writer.finish()
        assert isinstance(blob, FileBlob) and blob.size == 80 * len(chunk)
        assert peak < 1024 * 1024 + len(chunk)
        assert spool.open_files == 1
        with blob.open() as reader:
            assert reader.read() == chunk * 80


async def test_readers_of_one_blob_do_not_share_an_offset() -> None:
    data = os.urandom(300_000)
    with Spool(threshold=0) as spool:
        writer = spool.writer()
        await writer.write(data)
        blob = await writer.finish()
        with blob.open() as a, blob.open() as b:
            assert a.read(10) == data[:10]
            assert b.read(20) == data[:20]
            assert a.read(10) == data[10:20]
            assert a.seek(0, os.SEEK_END) == len(data) and a.tell() == len(data)
            assert a.seek(-5, os.SEEK_END) == len(data) - 5 and a.read() == data[-5:]
            assert b.read() == data[20:]


async def test_closing_the_spool_releases_its_files() -> None:
    spool = Spool(threshold=0)
    writer = spool.writer()
    await writer.write(b"abc")
    blob = await writer.finish()
    assert isinstance(blob, FileBlob)
    os.fstat(blob.fd)
    spool.close()
    with pytest.raises(OSError):
        os.fstat(blob.fd)
    with pytest.raises(RuntimeError):
        await spool.writer().write(b"more")


async def test_a_spool_directory_holds_no_named_files(tmp_path) -> None:
    with Spool(tmp_path, threshold=0) as spool:
        writer = spool.writer()
        await writer.write(b"secret image bytes")
        await writer.finish()
        assert spool.open_files == 1
        assert list(tmp_path.iterdir()) == []  # unlinked at creation: nothing to leak
