"""The ``team`` compose profile (issue 13 §5): ``team-gateway`` (2 worker processes) on
PostgreSQL 15 and Redis 7. One Idempotency-Key sent 6 times at once generates one image for
all, across the workers; the usage ledger lands in PostgreSQL."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.docker.podman import Compose, free_port, host_env, run, wait_until_serving
from tests.docker.scenarios import Run

KEYS = ("IMAGEGATE_API_KEY", "IMAGEGATE_ALLOW_OPEN", "IMAGEGATE_PUBLIC_URL", "OPENAI_API_KEY",
        "OPENAI_BASE_URL", "RESELLER_BASE_URL", "RESELLER_API_KEY")  # fmt: skip
CONCURRENT = 6


def team_stack(ctx: Run) -> None:
    report, port, project = ctx.report, free_port(), f"{ctx.run_id}-team"
    settings = {
        "IMAGEGATE_TEAM_PORT": str(port),
        "IMAGEGATE_PORT": str(free_port()),
        "IMAGEGATE_IMAGE": ctx.tag,
        "PYTHON_VERSION": ctx.python_version,
        "POSTGRES_PASSWORD": secrets.token_hex(8),
    }
    env_file = ctx.workdir / "team.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = host_env(BUILDAH_FORMAT="docker", **settings, **dict.fromkeys(KEYS, ""))
    compose = Compose(project, ctx.root / "compose.yaml", env_file, env, profiles=("team",))
    for volume in ("team-images", "team-postgres"):
        name = f"{project}_{volume}"
        ctx.cleanup.add(f"volume {name}", ["podman", "volume", "rm", "-f", name])
    ctx.cleanup.add(
        f"network {project}_default", ["podman", "network", "rm", "-f", f"{project}_default"]
    )
    ctx.cleanup.add(f"compose project {project}", compose.command("down", "--volumes"), env)
    began = time.monotonic()
    compose("up", "-d", "team-gateway", timeout=300)
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(f"{base}/healthz", timeout=120)  # restarts until PostgreSQL is up
    report.measure("team profile up", f"{time.monotonic() - began:.1f} s to /healthz")
    gateway, postgres = compose.container("team-gateway"), compose.container("postgres")
    redis = compose.container("redis")
    ready = httpx.get(f"{base}/readyz", timeout=10, trust_env=False)
    report.check("`up -d team-gateway` also starts PostgreSQL and Redis; /readyz is 200",
                 ready.status_code == 200, ready.text[:300])  # fmt: skip
    pong = run(["podman", "exec", redis, "redis-cli", "ping"], timeout=30, check=False).stdout
    report.check("Redis 7 answers inside the stack", pong.strip() == "PONG", pong)
    workers = _worker_processes(gateway)
    report.check("the gateway runs 2 worker processes", workers == 2, f"{workers}")
    _one_key_many_requests(ctx, base, postgres)
    compose("down", "--volumes", timeout=180)


def _one_key_many_requests(ctx: Run, base: str, postgres: str) -> None:
    report, headers = ctx.report, {"idempotency-key": "team-" + secrets.token_hex(4)}

    def post(_: int) -> httpx.Response:
        with httpx.Client(timeout=60, trust_env=False) as client:  # its own connection
            return client.post(
                f"{base}/v1/images/generations",
                json={"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1024x1024"},
                headers=headers,
            )

    with ThreadPoolExecutor(CONCURRENT) as pool:
        responses = list(pool.map(post, range(CONCURRENT)))
    codes = [r.status_code for r in responses]
    report.require("6 concurrent requests with one Idempotency-Key: all 200",
                   codes == [200] * CONCURRENT, f"{codes} {responses[0].text[:200]}")  # fmt: skip
    urls = {r.json()["data"][0]["url"] for r in responses}
    replays = sum(r.headers.get("x-imagegate-idempotent-replay") == "true" for r in responses)
    report.check("one image for all six, five of them replays", len(urls) == 1 and replays == 5,
                 f"{len(urls)} URLs, {replays} replays")  # fmt: skip
    images = _psql(postgres, "SELECT count(*) FROM images")
    report.check("PostgreSQL holds exactly one stored image", images == "1", images)
    deadline, rows = time.monotonic() + 15, ""
    while time.monotonic() < deadline:  # the ledger writes in batches
        rows = _psql(postgres, "SELECT count(*), count(*) FILTER (WHERE replay) FROM usage_records")
        if rows == f"{CONCURRENT}|{CONCURRENT - 1}":
            break
        time.sleep(0.25)
    report.check("the ledger landed in PostgreSQL: 6 usage rows, 5 marked replay",
                 rows == f"{CONCURRENT}|{CONCURRENT - 1}", rows)  # fmt: skip


def _psql(container: str, query: str) -> str:
    command = ["podman", "exec", container, "psql", "-U", "imagegate", "-d", "imagegate", "-tAc"]
    return run([*command, query], timeout=30, check=False).stdout.strip()


def _worker_processes(container: str) -> int:
    """uvicorn's worker processes in the container (multiprocessing children: ``spawn_main``;
    the probe spells it in two halves so that it does not count itself)."""
    probe = (
        "import os; print(sum(1 for p in os.listdir('/proc') if p.isdigit() and "
        "b'spawn_' + b'main' in open(f'/proc/{p}/cmdline', 'rb').read()))"
    )
    out = run(["podman", "exec", container, "python", "-c", probe], timeout=30, check=False)
    return int(out.stdout.strip() or -1)
