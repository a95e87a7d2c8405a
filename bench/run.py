"""Run the scenarios: each against the mock upstream directly, then through Imagegate.

The gateway runs as a real process (``imagegate serve --config bench/gateway.yaml``) pinned to
CPU 0; the mock upstream and this load generator share CPU 1. For every scenario and run: start
the mock, measure it directly, start a fresh gateway (time to ready, idle RSS), check one answer
end to end, then measure through the gateway while reading its CPU time and memory from /proc.
Medians over the runs go into a table and into ``bench/results/<time>-<commit>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import shutil
import string
import tempfile
import time
from pathlib import Path

from bench.common import (
    GATEWAY_CPUS,
    LOAD_CPU,
    RESULTS,
    ROOT,
    Options,
    Outcome,
)
from bench.loops import run_fast
from bench.measure import run_scenario
from bench.report import compare, environment_info, table, verdicts, write_json
from bench.scenarios import SCENARIOS
from bench.scenarios import select as select_scenarios


def warm_storage(directory: Path) -> Path:
    """An image directory as a gateway that has been running a while has it: all 4096 shard
    directories (``<id[:2]>``) exist. A fresh one makes nearly every save of its first few
    thousand images also create a directory, which is not what steady state costs."""
    images = directory / "images"
    alphabet = string.ascii_letters + string.digits + "-_"  # secrets.token_urlsafe's
    for shard in itertools.product(alphabet, repeat=2):
        (images / "".join(shard)).mkdir(parents=True, exist_ok=True)
    return images


# Journal-less ext4 skips inodes deleted within the last 60 s (up to 360 s while their inode
# table block is dirty) when it allocates new ones (fs/ext4/ialloc.c, recently_deleted()):
# right after a bench deletes its images, file creation costs several times more (perf:
# recently_deleted() at 22% of the gateway's CPU at gen_small_c1). A run that follows
# another within SETTLE_S seconds waits out the difference. That covers the 60 s; a run's own
# new files dirty the same inode table blocks, so after a large clean-up the penalty can last
# the whole 360 s: comparisons of two checkouts store on tmpfs (--storage-dir /dev/shm/...).
SETTLE_S = 90.0
# When a bench last deleted its images: in the results and for the whole machine, so a bench
# run from another checkout (say the commit a change is compared with) waits as well.
CLEANUP_MARKS = (RESULTS / ".last-cleanup", Path(tempfile.gettempdir()) / "imagegate-bench-cleanup")


def journal_less_ext4(path: Path) -> bool:
    device = mount = fstype = ""
    target = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        point = fields[1].rstrip("/") + "/"
        if (target + "/").startswith(point) and len(point) > len(mount):
            device, mount, fstype = fields[0], point, fields[2]
    if fstype != "ext4":
        return False
    return not any(Path("/proc/fs/jbd2").glob(f"{Path(device).name}-*"))


async def settle(root: Path) -> None:
    marks = []
    for mark in CLEANUP_MARKS:
        with contextlib.suppress(OSError, ValueError):
            marks.append(float(mark.read_text()))
    if not marks:
        return
    since = time.time() - max(marks)
    if 0 <= since < SETTLE_S and journal_less_ext4(root):
        wait = SETTLE_S - since
        print(f"waiting {wait:.0f} s: the previous bench deleted its images {since:.0f} s ago "
              "and this file system (ext4 without a journal) makes new files slow for a "
              "minute after deletions", flush=True)  # fmt: skip
        await asyncio.sleep(wait)


async def run_all(opts: Options) -> list[Outcome]:
    """Every scenario, all storing into one warm image directory deleted only at the end.

    Deleting images between runs would slow the next runs' saves on some file systems
    (journal-less ext4 skips recently deleted inodes when allocating; see README).
    """
    outcomes = []
    with contextlib.ExitStack() as cleanup:
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="imagegate-bench-")))
        root = work
        if opts.storage is not None:
            opts.storage.mkdir(parents=True, exist_ok=True)
            where = tempfile.TemporaryDirectory(prefix="imagegate-bench-", dir=opts.storage)
            root = Path(cleanup.enter_context(where))
        await settle(root)
        opts.storage = warm_storage(root)
        for scenario in opts.scenarios:
            print(f"{scenario.name}: {scenario.about}", flush=True)
            outcome = await run_scenario(scenario, opts, work)
            if outcome.status != "ok":
                print(f"  {outcome.status}: {outcome.note}", flush=True)
            outcomes.append(outcome)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for mark in CLEANUP_MARKS:
        with contextlib.suppress(OSError):
            mark.write_text(f"{time.time():.0f}")
    return outcomes


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scenarios",
        default=os.environ.get("SCENARIOS", ""),
        help="comma-separated names or prefixes (default: all); "
        + ", ".join(s.name for s in SCENARIOS),
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("BENCH_DURATION") or 4),
        help="measured seconds per run, after a warm-up (default 4)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=int(os.environ.get("BENCH_RUNS") or 3),
        help="runs per scenario; the table shows medians (default 3)",
    )
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/<time>.json)")
    parser.add_argument("--compare", type=Path, help="a previous results JSON to compare with")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--storage-dir",
        type=Path,
        default=os.environ.get("BENCH_STORAGE") or None,
        help="where the gateway stores images (default: the system temp directory); "
        "deleted at the end of the bench",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the gateway with py-spy into DIR/<scenario>.txt (collapsed stacks)",
    )
    args = parser.parse_args(argv)
    if not 0.5 <= args.duration <= 120 or not 1 <= args.runs <= 20:
        parser.error("--duration must be 0.5..120 seconds and --runs 1..20")
    try:
        scenarios = select_scenarios(args.scenarios)
    except ValueError as exc:
        parser.error(str(exc))
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    return Options(
        scenarios,
        args.duration,
        args.runs,
        args.out,
        args.compare,
        pin,
        args.profile,
        args.storage_dir,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    if opts.pin:
        os.sched_setaffinity(0, {LOAD_CPU})
    else:
        print("warning: not pinning (needs 2 CPUs and taskset); numbers are not comparable")
    info = environment_info(opts)
    placement = (
        f"gateway on CPU {GATEWAY_CPUS}, mock upstream and load generator on CPU {LOAD_CPU}"
        if opts.pin
        else "unpinned"
    )
    print(
        f"Imagegate bench: {len(opts.scenarios)} scenario(s) x {opts.runs} run(s) x "
        f"{opts.duration:g} s; {placement}; commit {info['commit']}"
        f"{' (dirty)' if info['dirty'] else ''}",
        flush=True,
    )
    started = time.perf_counter()
    outcomes = run_fast(run_all(opts))
    path = write_json(outcomes, info, opts.out)
    print()
    print(f"Medians of {opts.runs} run(s), {opts.duration:g} s each ({info['cpu']}, "
          f"{info['cpus']} CPUs, Python {info['python']}):")  # fmt: skip
    print(table(outcomes))
    print()
    print("\n".join(verdicts(outcomes)))
    if opts.compare is not None:
        print()
        print("\n".join(compare(opts.compare, outcomes)))
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    return 1 if any(o.status == "failed" for o in outcomes) else 0
