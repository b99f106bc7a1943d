#!/usr/bin/env python3
"""Where a command's time goes inside oneDNN: the ceiling a speed goal can reach.

Runs COMMAND with ONEDNN_VERBOSE=profile_exec (oneDNN, inside libtorch, then times every primitive
it executes), passes the command's own output through, and sums the execution times by primitive
and propagation kind and by problem, with the multiply-accumulates per second of each convolution.

    scripts/onednn_profile.py [--top N] [--images N] -- COMMAND [ARGUMENT ...]

    scripts/onednn_profile.py --images 96 -- .build/release/orthocxr bench model \\
        --training-only --precision bf16 --steps 2 --warmup 1

--images is the number of images the whole command processes (warm-up steps included: their
primitives are timed too); with it, each row also says milliseconds per image. The convolutions'
time per image against the command's measured time per image is the share of the step that
oneDNN's convolution kernels take, the kernels PyTorch calls too: if it is 85%, no change outside
those kernels makes the step more than 1/0.85 = 1.18x faster. Works for PyTorch scripts as well
(python3 scripts/bench_pytorch.py ...): both run the same oneDNN.
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import time


def multiply_accumulates(problem):
    """The multiply-accumulates of a convolution problem such as mb32_ic64oc64_ih56oh56kh3..."""
    fields = dict((key, int(value)) for key, value in re.findall(r"([a-z]+)(\d+)", problem))
    if not {"mb", "ic", "oc"} <= fields.keys():
        return None
    groups = fields.get("g", 1)
    spatial_out = fields.get("od", 1) * fields.get("oh", 1) * fields.get("ow", 1)
    kernel = fields.get("kd", 1) * fields.get("kh", 1) * fields.get("kw", 1)
    return fields["mb"] * fields["oc"] * (fields["ic"] // groups) * kernel * spatial_out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=12, help="problems to list (default 12)")
    parser.add_argument("--images", type=int, help="images the command processes, warm-up included")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    arguments = parser.parse_args()
    command = arguments.command[1:] if arguments.command[:1] == ["--"] else arguments.command
    if not command:
        parser.error("give the command after --")

    environment = dict(os.environ, ONEDNN_VERBOSE="profile_exec")
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
    by_kind = collections.defaultdict(lambda: [0, 0.0])
    by_problem = collections.defaultdict(lambda: [0, 0.0])
    for line in process.stdout:
        if not line.startswith("onednn_verbose,"):
            sys.stdout.write(line)
            continue
        fields = line.rstrip("\n").split(",")
        # onednn_verbose,v1,primitive,exec,cpu,KIND,IMPLEMENTATION,PROPAGATION,...,PROBLEM,MILLISECONDS
        if len(fields) < 10 or fields[2:4] != ["primitive", "exec"]:
            continue
        try:
            milliseconds = float(fields[-1])
        except ValueError:
            continue
        kind, implementation, propagation, problem = fields[5], fields[6], fields[7], fields[-2]
        for table, key in ((by_kind, (kind, propagation)), (by_problem, (kind, propagation, implementation, problem))):
            table[key][0] += 1
            table[key][1] += milliseconds
    status = process.wait()
    wall = time.monotonic() - started
    if status != 0:
        sys.exit(f"onednn_profile: the command failed (exit status {status})")
    total = sum(milliseconds for _, milliseconds in by_kind.values())
    if not by_kind:
        sys.exit("onednn_profile: no oneDNN primitive ran (is the command using libtorch on the CPU?)")

    def per_image(milliseconds):
        return f"{milliseconds / arguments.images:8.2f} ms/image" if arguments.images else ""

    print(f"\noneDNN primitives: {total:.1f} ms of the command's {wall * 1000:.0f} ms wall {per_image(total)}")
    for (kind, propagation), (count, milliseconds) in sorted(by_kind.items(), key=lambda item: -item[1][1]):
        share = 100 * milliseconds / total
        print(f"  {kind:12} {propagation:17} {count:6} runs {milliseconds:9.1f} ms {share:5.1f}% {per_image(milliseconds)}")
    print(f"\nthe {arguments.top} costliest problems (GMAC/s: a convolution's multiply-accumulates per second)")
    for (kind, propagation, implementation, problem), (count, milliseconds) in sorted(
        by_problem.items(), key=lambda item: -item[1][1]
    )[: arguments.top]:
        macs = multiply_accumulates(problem) if kind == "convolution" else None
        rate = f"{macs * count / milliseconds / 1e6:6.0f} GMAC/s" if macs else " " * 13
        print(f"  {milliseconds:9.1f} ms {count:5}x {rate}  {propagation:17} {problem}  [{implementation}]")


if __name__ == "__main__":
    main()
