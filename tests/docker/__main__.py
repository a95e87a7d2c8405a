"""``python -m tests.docker [--keep-image]``: the whole container suite, cleaned up even on
failure or interruption; prints a summary and exits non-zero when any check failed."""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from tests.docker import image, scenarios, team
from tests.docker.podman import Cleanup
from tests.docker.report import Report

ROOT = Path(__file__).resolve().parents[2]
# The only Python base image that exists without a registry here (container-env.sh);
# the Dockerfile and compose.yaml default to 3.12.
PYTHON_VERSION = "3.11"
BASE = f"python:{PYTHON_VERSION}-slim"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.docker", description=__doc__)
    parser.add_argument("--keep-image", action="store_true", help="do not remove the test image")
    args = parser.parse_args()
    missing = [tool for tool in ("podman", "podman-compose") if shutil.which(tool) is None]
    if missing:
        print(
            f"docker-test: {', '.join(missing)} not found; run "
            "../shared/tools/container-env.sh as root first",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so the clean-up below still runs
    run_id = f"igtest-{secrets.token_hex(4)}"
    report, cleanup = Report(), Cleanup()
    tag = f"localhost/imagegate-test:{run_id}"
    print(f"docker-test run {run_id}: image {tag}", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"{run_id}-") as workdir:
        ctx = scenarios.Run(ROOT, run_id, tag, PYTHON_VERSION, Path(workdir), report, cleanup)
        try:
            _run_all(ctx, keep_image=args.keep_image)
        finally:
            problems = cleanup.run_all()
            report.check(
                "clean-up removed every container, volume and network",
                not problems,
                "; ".join(problems),
            )
    print(report.summary())
    return 0 if report.passed else 1


def _run_all(ctx: scenarios.Run, keep_image: bool) -> None:
    report = ctx.report
    if not keep_image:
        ctx.cleanup.add(f"image {ctx.tag}", ["podman", "rmi", "--force", ctx.tag])
    with report.scenario("build"):
        image.build(report, ctx.root, ctx.tag, ctx.python_version)
    if not report.passed:
        return
    with report.scenario("image contents"):
        image.check_config(report, ctx.tag)
        image.check_size(report, ctx.tag, BASE)
        image.check_files(report, ctx.tag, BASE)
    with report.scenario("refuses to start open"):
        scenarios.refuses_open(ctx)
    with report.scenario("serve with a gateway key"):
        scenarios.serves_with_key(ctx)
    with report.scenario("graceful shutdown on SIGTERM"):
        scenarios.drains_on_sigterm(ctx)
    with report.scenario("compose stack"):
        scenarios.compose_stack(ctx)
    with report.scenario("team compose profile: 2 workers, PostgreSQL, Redis"):
        team.team_stack(ctx)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    raise SystemExit(main())
