"""The use case, async and HTTP-free: the attempt loop, re-hosting, detached runs, async jobs."""
