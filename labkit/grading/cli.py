"""``labkit grade``: the command line of the grader (``labkit grade --help``, ``labkit grade merge --help``)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from labkit.grading import sandbox
from labkit.grading.statuses import STATUSES

UNSAFE_NOTE = ("labkit grade: --unsafe-no-sandbox: each learner's code runs as you, next to the grader, and can read "
               "your files (other submissions, solutions, grades), reach the network and outlive grading; use it "
               "only for work you trust (docs/grading.md).")


def build_parser() -> argparse.ArgumentParser:
    from labkit import config

    limits = sandbox.Limits()
    parser = argparse.ArgumentParser(
        prog="labkit grade",
        description="Grade a class's lab submissions, each learner's notebook in a sandbox of its own: one status "
                    f"per exercise ({', '.join(STATUSES)}) in grades.csv, summary.md, feedback/<learner>.md and "
                    "junit.xml. `labkit grade merge OUT... --out DIR` combines the outputs of shards.")
    parser.add_argument("submissions", type=Path,
                        help="folder with one folder or .zip per learner, holding lab notebooks named as in labs/")
    parser.add_argument("--out", type=Path, required=True, help="folder for the grades (re-used on the next run)")
    parser.add_argument("--solutions", type=Path, help="solution notebooks (default: the repository's solutions/)")
    parser.add_argument("--hidden-checks", type=Path, metavar="DIR",
                        help="the instructor's hidden checks, one NN_name.py per notebook (default: "
                             "instructor/hidden_checks next to the solutions)")
    parser.add_argument("--profile", default="tiny", choices=config.PROFILES,
                        help="labkit profile the notebooks run in (default: tiny)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default: 600)")
    parser.add_argument("--notebook-timeout", type=int, default=1800,
                        help="seconds allowed per notebook (default: 1800)")
    parser.add_argument("--notebooks", nargs="+", metavar="NB",
                        help="labs to grade, by number or name (default: every lab someone handed in)")
    parser.add_argument("--force", action="store_true", help="re-grade everything, not only what changed")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel to run the notebooks in (default: python3)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="learners graded at the same time, one kernel each (default: 1; at most one per core)")
    parser.add_argument("--shard", metavar="I/N",
                        help="grade only shard I of N of the learners (by a hash of their names), e.g. in a CI "
                             "matrix or a SLURM / AWS Batch array; then `labkit grade merge` the N outputs")
    parser.add_argument("--memory", type=int, default=limits.memory_mb, metavar="MB",
                        help=f"memory one notebook's sandbox may use, all its processes together (default: "
                             f"{limits.memory_mb})")
    parser.add_argument("--processes", type=int, default=limits.processes, metavar="N",
                        help=f"processes and threads one sandbox may run (default: {limits.processes})")
    parser.add_argument("--disk", type=int, default=limits.disk_mb, metavar="MB",
                        help=f"size of all the files one notebook may write (default: {limits.disk_mb})")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="run learners' code without isolation or limits (docs/grading.md: what this gives up)")
    return parser


def build_merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit grade merge",
        description="Combine the outputs of `labkit grade --shard I/N` (each of the N shards once) into one grade "
                    "book: grades.csv, summary.md, feedback/, junit.xml and executed/, as one run writes them.")
    parser.add_argument("outs", nargs="+", type=Path, metavar="OUT", help="the --out folder of every shard")
    parser.add_argument("--out", type=Path, required=True, help="folder for the combined grades")
    return parser


def _summary(result) -> str:
    counts = Counter(row["status"] for row in result.rows)
    return ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])


def _paths(out: Path) -> str:
    return (f"grades: {out / 'grades.csv'}  summary: {out / 'summary.md'}  feedback: {out / 'feedback'}  "
            f"junit: {out / 'junit.xml'}")


def merge_main(argv: list[str]) -> int:
    from labkit.grading.grader import merge

    args = build_merge_parser().parse_args(argv)
    try:
        result = merge(args.outs, args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f"labkit grade merge: {err}", file=sys.stderr)
        return 2
    print(f"{result.learners} learner(s) from {len(args.outs)} shard(s): {_summary(result)}")
    print(_paths(result.out))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    from labkit.grading.grader import grade_class
    from labkit.grading.state import parse_shard

    args = build_parser().parse_args(argv)
    if args.timeout < 1 or args.notebook_timeout < 1:
        print("labkit grade: --timeout and --notebook-timeout must be at least 1 second.", file=sys.stderr)
        return 2
    try:
        shard = parse_shard(args.shard) if args.shard else None
        limits = sandbox.Limits(memory_mb=args.memory, processes=args.processes, disk_mb=args.disk)
        if args.unsafe_no_sandbox:
            print(UNSAFE_NOTE, file=sys.stderr)
        else:
            sandbox.require()
        result = grade_class(args.submissions, args.out, args.solutions, profile=args.profile,
                             cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout,
                             notebooks=args.notebooks, force=args.force, kernel_name=args.kernel, jobs=args.jobs,
                             sandboxed=not args.unsafe_no_sandbox, limits=limits, hidden_checks=args.hidden_checks,
                             shard=shard)
    except (FileNotFoundError, ValueError, sandbox.SandboxUnavailable) as err:
        print(f"labkit grade: {err}", file=sys.stderr)
        return 2
    for reason in result.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    where = f"shard {result.shard[0]}/{result.shard[1]}: " if result.shard else ""
    print(f"{where}{result.learners} learner(s): graded {result.graded} notebook(s), reused {result.reused} "
          f"unchanged; " + _summary(result))
    print(_paths(result.out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
