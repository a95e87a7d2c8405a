"""Which S3 client costs the gateway least per upload: obstore vs aiobotocore, each putting
``COUNT`` 3 MB objects from memory into a loopback moto server (a child process, so only the
client's CPU is counted: this process's user + system time, all threads included).

    .venv/bin/python -m bench.s3_clients [COUNT]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bench.pngs import noise_png
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server

BUCKET = "bench-clients"
SIZE = 3 * 1024 * 1024

Upload = Callable[[str, bytes], Awaitable[None]]


def cpu() -> float:
    times = os.times()
    return times.user + times.system


async def measure(name: str, upload: Upload, data: bytes, count: int) -> None:
    await upload("warm-up", data)
    start_cpu, start_wall = cpu(), time.perf_counter()
    for i in range(count):
        await upload(f"{name}/{i}.png", data)
    used, wall = cpu() - start_cpu, time.perf_counter() - start_wall
    print(
        f"{name:32s} {used / count * 1000:7.2f} ms CPU/upload  {wall / count * 1000:7.2f} ms wall"
    )


async def with_obstore(server: S3Server, data: bytes, count: int, *, unsigned: bool) -> None:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        BUCKET,
        endpoint=server.endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        unsigned_payload=unsigned,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )

    async def upload(key: str, body: bytes) -> None:
        await obstore.put_async(store, key, body)

    name = "obstore (unsigned payload)" if unsigned else "obstore (signed payload)"
    await measure(name, upload, data, count)
    started = time.perf_counter_ns()
    for i in range(1000):
        obstore.sign(store, "GET", f"x/{i}.png", timedelta(hours=1))
    print(f"obstore presign: {(time.perf_counter_ns() - started) / 1000:.0f} ns/URL")


async def with_aiobotocore(server: S3Server, data: bytes, count: int) -> None:
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ) as client:

        async def upload(key: str, body: bytes) -> None:
            await client.put_object(Bucket=BUCKET, Key=key, Body=body)

        await measure("aiobotocore", upload, data, count)


async def main(count: int) -> None:
    data = noise_png(SIZE)
    server = S3Server()
    server.start()
    try:
        server.create_bucket(BUCKET)
        await with_obstore(server, data, count, unsigned=False)
        await with_obstore(server, data, count, unsigned=True)
        await with_aiobotocore(server, data, count)
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
