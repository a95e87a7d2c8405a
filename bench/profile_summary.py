"""Summarise py-spy collapsed stacks (``--format raw --threads``): where the samples are.

    python -m bench.profile_summary bench/results/profile/gen_small_c64.txt [--top 30]

Prints the functions with the most samples on the stack (inclusive) and at the top of the
stack (self), as shares of all samples, idle samples included.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    module = where.rstrip(")").rsplit("/", 1)[-1].split(":")[0]
    return f"{name} ({module})" if module else name


def thread_name(frame: str) -> str:
    # "thread (27707): MainThread" -> "MainThread"; numbered pool threads are grouped.
    name = frame.partition(": ")[2] or frame
    return name.rstrip("0123456789").rstrip("_- ") or name


def summarise(path: Path, top: int, thread: str | None = None) -> str:
    stacks = load(path)
    threads: Counter[str] = Counter()
    for frames, count in stacks:
        threads[thread_name(frames[0])] += count
    if thread is not None:
        stacks = [(f, c) for f, c in stacks if thread_name(f[0]) == thread]
    total = sum(count for _, count in stacks) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        names = [short(frame) for frame in frames[1:]] or ["(no frames)"]
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    lines = [f"{path}: {sum(threads.values())} samples; by thread:"]
    lines += [f"  {n:6d}  {name}" for name, n in threads.most_common()]
    lines += ["", f"{thread or 'all threads'}: {total} samples", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--thread", help="only this thread (e.g. MainThread)")
    args = parser.parse_args(argv)
    for path in args.paths:
        print(summarise(path, args.top, args.thread))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
