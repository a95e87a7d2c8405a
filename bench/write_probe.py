"""What the machine charges for storing a large image, without the gateway.

    python -m bench.write_probe [--dir DIR] [--files 160] [--size 3000000]

Decodes base64 and writes it to new files, as re-hosting does, in batches, and prints the
kernel time per file for each batch, then the same bytes rewritten into one existing file.
On a machine where new page-cache pages are expensive (some virtual machines), the kernel
time per new file is several times the cost of the copy itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import pybase64


def batch(label: str, count: int, write: object) -> None:
    assert callable(write)
    started, before = time.perf_counter(), os.times()
    for index in range(count):
        write(index)
    wall, after = time.perf_counter() - started, os.times()
    system = (after.system - before.system) / count * 1000
    user = (after.user - before.user) / count * 1000
    print(
        f"{label:<34} {wall / count * 1000:6.2f} ms/file   kernel {system:5.2f}   user {user:5.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    parser.add_argument("--files", type=int, default=160, help="files per pass (max 1000)")
    parser.add_argument("--size", type=int, default=3_000_000, help="bytes per file")
    args = parser.parse_args(argv)
    count = max(1, min(args.files, 1000))
    texts = [pybase64.b64encode(os.urandom(args.size)) for _ in range(8)]
    root = Path(tempfile.mkdtemp(prefix="imagegate-write-probe-", dir=args.dir))
    try:

        def new_file(tag: str) -> object:
            def write(index: int) -> None:
                data = pybase64.b64decode(texts[index % len(texts)], validate=True)
                fd = os.open(root / f"{tag}{index}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)

            return write

        def same_file(index: int) -> None:
            data = pybase64.b64decode(texts[index % len(texts)], validate=True)
            fd = os.open(root / "same", os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

        print(f"{count} files of {args.size:,} bytes per pass, in {root}")
        batch(
            "decode only", count, lambda i: pybase64.b64decode(texts[i % len(texts)], validate=True)
        )
        for n in range(1, 4):
            batch(f"decode + write a new file, pass {n}", count, new_file(f"p{n}-"))
        batch("decode + rewrite one existing file", count, same_file)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
