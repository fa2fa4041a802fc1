"""What the grading sandbox costs: `labkit grade` per notebook with and without it, measured side by side.

A class of learners who all solved notebook 00 is graded twice per round, once in plain kernels
(`--unsafe-no-sandbox`, the grader before the sandbox) and once with each notebook in its own bubblewrap sandbox,
alternating so that a host whose speed drifts treats both alike. Wall time and CPU time (the grader and every
process it started) per notebook; the ratio is sandboxed / unsandboxed.

    python bench/bench_grading.py                  # notebook 00 pruned to its exercises (kernel start dominates)
    python bench/bench_grading.py --full           # the whole of notebook 00
    python bench/bench_grading.py --learners 4 --rounds 3
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

for _key, _value in {"LABKIT_PROFILE": "tiny", "LABKIT_NO_NETWORK": "1", "HF_HUB_OFFLINE": "1",
                     "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": "Agg"}.items():
    os.environ.setdefault(_key, _value)

import nbformat  # noqa: E402

from labkit import config, exercises  # noqa: E402
from labkit.grading import grade_class, sandbox  # noqa: E402
from labkit.grading.scan import cell_names  # noqa: E402

NB = "00_lifecycle.ipynb"


def pruned(solution):
    """The solution's exercise and check cells, what they need, and every markdown cell."""
    found = exercises.list_exercises(solution, NB)
    keep = {ex.cell for ex in found} | {ex.check for ex in found}
    needed = set()
    for index in keep:
        needed |= cell_names(solution.cells[index].source)[1]
    for index in range(len(solution.cells) - 1, -1, -1):
        cell = solution.cells[index]
        if cell.cell_type == "markdown":
            keep.add(index)
        elif index not in keep and cell.cell_type == "code":
            bound, reads = cell_names(cell.source)
            if bound & needed:
                keep.add(index)
                needed |= reads
    small = copy.deepcopy(solution)
    small.cells = [solution.cells[i] for i in sorted(keep)]
    return small


def answered(solution):
    """What a learner who solved everything hands in: the solution without the markers."""
    nb = copy.deepcopy(solution)
    for cell in nb.cells:
        if cell.cell_type == "code" and exercises.has_solution(cell):
            cell.source = "\n".join(line for line in cell.source.splitlines()
                                    if line.strip() not in (exercises.BEGIN, exercises.END))
    return nb


def cpu_seconds() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="grade the whole of notebook 00, not the pruned one")
    parser.add_argument("--learners", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not sandbox.available():
        print(f"bubblewrap: {sandbox.status()}")
        return 1
    solution = nbformat.read(config.REPO_ROOT / "solutions" / NB, as_version=4)
    solution = solution if args.full else pruned(solution)
    root = Path(tempfile.mkdtemp(prefix="labkit-bench-grading-"))
    (root / "solutions").mkdir()
    nbformat.write(solution, root / "solutions" / NB)
    for number in range(args.learners):
        (root / "subs" / f"learner{number}").mkdir(parents=True)
        nbformat.write(answered(solution), root / "subs" / f"learner{number}" / NB)
    runs: dict[str, list[tuple[float, float]]] = {"plain kernel": [], "sandboxed": []}
    timeout = 1800 if args.full else 120
    for round_ in range(args.rounds):
        order = ["plain kernel", "sandboxed"] if round_ % 2 == 0 else ["sandboxed", "plain kernel"]
        for name in order:
            wall, cpu = time.perf_counter(), cpu_seconds()
            result = grade_class(root / "subs", root / f"out-{name.split()[0]}", root / "solutions", force=True,
                                 progress=False, sandboxed=name == "sandboxed", cell_timeout=timeout,
                                 notebook_timeout=timeout * 4)
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            statuses = {row["status"] for row in result.rows}
            if statuses != {"pass"}:
                print(f"{name}: unexpected statuses {statuses}; see {root}")
                return 1
            runs[name].append((wall / args.learners, cpu / args.learners))
            print(f"round {round_ + 1}, {name}: {runs[name][-1][0]:.2f} s wall, {runs[name][-1][1]:.2f} s CPU per "
                  "notebook", flush=True)
    print(f"\nnotebook 00 ({'whole' if args.full else 'pruned to its exercises'}), {args.learners} learners, "
          f"{args.rounds} rounds, one at a time, medians; {sandbox.status()}\n")
    print("| grading | wall s per notebook | CPU s per notebook |\n| --- | --- | --- |")
    med = {}
    for name, values in runs.items():
        med[name] = (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
        print(f"| {name} | {med[name][0]:.2f} | {med[name][1]:.2f} |")
    print(f"\nsandboxed / plain: wall {med['sandboxed'][0] / med['plain kernel'][0]:.2f}x, "
          f"CPU {med['sandboxed'][1] / med['plain kernel'][1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
