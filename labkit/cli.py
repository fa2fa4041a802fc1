"""The ``labkit`` command: ``doctor``, ``build-labs``, ``run``, ``cleanup``, ``grade``, ``release``, ``train``.

* ``labkit doctor``      - what this machine has (see :mod:`labkit.doctor`); ``--course`` a GPU preflight.
* ``labkit build-labs``  - regenerate ``labs/`` from ``solutions/`` (``--check`` only reports).
* ``labkit run [NB...]`` - execute notebooks headless, in order, into an output folder, with a summary.
* ``labkit cleanup``     - stop every labkit-tagged SageMaker training job still running, and delete every
  labkit-tagged endpoint, endpoint config and model in a region (``--dry-run`` only lists them).
* ``labkit grade``       - grade a class's lab submissions, each notebook in a sandbox of its own
  (``--shard i/N`` for one part of the class, ``labkit grade merge OUT...`` to combine the parts; see
  :mod:`labkit.grading`).
* ``labkit release DIR`` - write what a graded class receives: labs, labkit, data and a README for learners,
  without the solutions and the instructor's hidden checks (see :mod:`labkit.grading.release`).
* ``labkit train``       - notebook 03's fine-tuning as a script, the same as ``python -m labkit.train``
  (see :mod:`labkit.train`); runs unchanged under ``torchrun`` and ``accelerate launch``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labkit import config


def cmd_doctor(args) -> int:
    from labkit import doctor

    return doctor.main(course=args.course)


def cmd_build_labs(args) -> int:
    from labkit import notebooks

    stale = notebooks.build_labs(check=args.check)
    if args.check:
        if stale:
            print("labs/ is out of date for: " + ", ".join(p.name for p in stale))
            print("Run `labkit build-labs` (or `make labs`) to regenerate it from solutions/.")
            return 1
        print("labs/ is in sync with solutions/.")
        return 0
    print(f"labs/ regenerated from solutions/ ({len(stale)} file(s) changed).")
    return 0


def cmd_run(args) -> int:
    from labkit import config, notebooks

    if args.profile:
        config.set_profile(args.profile)
        # kernels inherit the environment, so the notebooks run in the same profile
    missing = [p for p in args.notebooks if not Path(p).is_file()]
    if missing:
        print("No such notebook: " + ", ".join(missing), file=sys.stderr)
        return 2
    table = notebooks.run_notebooks([Path(p) for p in args.notebooks] or None, Path(args.out), args.timeout)
    with_pandas = table.to_string(index=False)
    print("\n" + with_pandas)
    print(f"\nexecuted notebooks are in {Path(args.out).resolve()}")
    return 0 if table["ok"].all() else 1


def cmd_cleanup(args) -> int:
    """List, and unless --dry-run delete, the labkit-tagged SageMaker resources in one region."""
    import os

    from labkit import sagemaker

    region = args.region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if not region:
        print("No AWS region given: pass --region (e.g. --region us-east-1) or set AWS_DEFAULT_REGION.",
              file=sys.stderr)
        return 2
    if sagemaker.credentials_source() is None:
        print(sagemaker.NO_CREDENTIALS + " Configure credentials (aws configure, or run in SageMaker Studio) "
              "and try again.", file=sys.stderr)
        return 2
    try:
        sagemaker.cleanup(region=region, dry_run=args.dry_run)
    except sagemaker.CleanupIncomplete as err:
        print(err, file=sys.stderr)
        return 1
    except Exception as err:  # no permission, no network, ...: say what, not a stack trace
        print(f"labkit cleanup could not list or delete resources in {region}: {type(err).__name__}: {err}",
              file=sys.stderr)
        return 1
    return 0


def cmd_grade(argv: list[str]) -> int:
    from labkit.grading import cli

    return cli.main(argv)


def cmd_release(args) -> int:
    from labkit.grading.release import write_release

    try:
        dest = write_release(Path(args.dir), force=args.force)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:
        print(f"labkit release: {err}", file=sys.stderr)
        return 2
    labs = sorted(p.name for p in (dest / "labs").glob("*.ipynb"))
    print(f"release written to {dest}: {len(labs)} labs, labkit, data and README.md for learners "
          "(no solutions/, no hidden checks)")
    return 0


def cmd_exercises(args) -> int:
    """Every exercise of the course: id, notebook, kind and what it asks (``--markdown``: docs/exercises.md)."""
    from labkit import exercises, notebooks

    rows = exercises.catalogue(notebooks.solutions_dir())
    if args.markdown:
        print(exercises.catalogue_markdown(rows), end="")
        return 0
    width = max(len(r["notebook"]) for r in rows)
    for r in rows:
        print(f"{r['id']:<6} {r['notebook']:<{width}}  {r['kind']:<10} {r['asks']}")
    thinking = sum(r["kind"] in exercises.THINKING_KINDS for r in rows)
    print(f"{len(rows)} exercises, {thinking} of a kind that needs thought")
    return 0


def cmd_train(argv: list[str]) -> int:
    from labkit import train

    return train.main(argv)


# Subcommands that own their whole argument parser (their --help is their module's).
DELEGATED = {"grade": cmd_grade, "train": cmd_train}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        return DELEGATED[argv[0]](argv[1:])
    parser = argparse.ArgumentParser(prog="labkit",
                                     description="Lab kit for 'Generative AI with Large Language Models'.")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="report versions, profile, device, hub access, AWS credentials, cache")
    doctor.add_argument("--course", action="store_true",
                        help="preflight for the course profile: models and data, GPU memory per notebook, time")
    labs = sub.add_parser("build-labs", help="regenerate labs/ from solutions/")
    labs.add_argument("--check", action="store_true", help="only report whether labs/ is up to date")
    run = sub.add_parser("run", help="execute notebooks headless and summarise")
    run.add_argument("notebooks", nargs="*", help="notebooks to run (default: every solutions/ notebook, in order)")
    run.add_argument("--out", default="runs", help="folder for the executed notebooks (default: runs/)")
    run.add_argument("--profile", choices=config.PROFILES, help="profile to run in")
    run.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    clean = sub.add_parser("cleanup", help="stop labkit-tagged training jobs; delete labkit-tagged endpoints, "
                                           "endpoint configs and models")
    clean.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    clean.add_argument("--region", help="AWS region (default: AWS_DEFAULT_REGION)")
    sub.add_parser("grade", help="grade a class's lab submissions, each in a sandbox (labkit grade --help)",
                   add_help=False)
    release = sub.add_parser("release", help="write what learners get: labs, labkit, data, README; no solutions "
                                             "and no hidden checks")
    release.add_argument("dir", help="folder to write the release into (new or empty)")
    release.add_argument("--force", action="store_true", help="replace an earlier release in that folder")
    sub.add_parser("train", help="fine-tune as a script, also under torchrun (labkit train --help)", add_help=False)
    listing = sub.add_parser("exercises", help="list every exercise: id, notebook, kind, what it asks")
    listing.add_argument("--markdown", action="store_true", help="print the table as docs/exercises.md")
    args = parser.parse_args(argv)
    handler = {"doctor": cmd_doctor, "build-labs": cmd_build_labs, "run": cmd_run, "cleanup": cmd_cleanup,
               "release": cmd_release, "exercises": cmd_exercises}[args.command]
    return handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
