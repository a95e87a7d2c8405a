"""A minimal S3-protocol server for the bench's ``*_s3`` scenarios: PUT, GET and HEAD of
``/<bucket>/<key>``, path style, no authentication checked.

moto (what the tests use) keeps every object in memory and spends more CPU per 3 MB PUT than the
gateway does, so a bench of hundreds of uploads a second would measure moto. This server keeps
only the last ``KEEP`` objects (enough for the bench's end-to-end check of one answer) and
answers each PUT with an ETag at once. It prints ``READY <port>`` when it listens.

    python -m bench.s3_sink --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections import OrderedDict

from aiohttp import web

KEEP = 64


def build_app() -> web.Application:
    objects: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
    tags = itertools.count()

    async def handle(request: web.Request) -> web.StreamResponse:
        key = request.path
        if request.method == "PUT":
            body = await request.read()
            objects[key] = (body, request.headers.get("content-type", "binary/octet-stream"))
            while len(objects) > KEEP:
                objects.popitem(last=False)
            return web.Response(headers={"ETag": f'"{next(tags):032x}"'})
        if request.method in ("GET", "HEAD") and key in objects:
            body, media = objects[key]
            return web.Response(body=body, content_type=media)
        if request.method == "GET" and request.query.get("list-type") == "2":
            xml = '<?xml version="1.0"?><ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>'
            return web.Response(text=xml, content_type="application/xml")
        return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def serve(port: int) -> None:
    runner = web.AppRunner(build_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"READY {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))
