"""Real PNG files of a chosen byte size, for the mock upstream and for edit inputs.

Pixels are seeded noise, so zlib cannot shrink them and the file size follows the pixel count;
the same size always gives the same bytes.
"""

from __future__ import annotations

import io
import math
import random

from PIL import Image

_OVERHEAD = 200  # signature, IHDR, IDAT framing, IEND: a few dozen bytes, rounded up


def noise_png(target_bytes: int, seed: int = 7) -> bytes:
    """An RGB PNG of noise whose encoded size is close to (slightly above) ``target_bytes``."""
    pixels = max(1, (target_bytes - _OVERHEAD) // 3)
    width = max(1, math.isqrt(pixels))
    height = max(1, -(-pixels // width))
    noise = random.Random(seed).randbytes(width * height * 3)
    out = io.BytesIO()
    # Level 1: noise does not compress anyway; this keeps start-up quick for multi-MB images.
    Image.frombytes("RGB", (width, height), noise).save(out, "PNG", compress_level=1)
    return out.getvalue()
