"""Grading a class: every learner x notebook, re-runs that skip unchanged work, shards, and merging shards.

For each learner and notebook :func:`grade_notebook` reads the learner's notebook, scans it for tampering, puts
the graded notebook together, runs it in a sandbox of its own and turns how its cells ran into one status per
exercise. :func:`grade_class` does that for a whole class (or one shard of it, ``--shard i/N``) and writes the
reports; :func:`merge` combines the outputs of several shards into the grade book one run would have written.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from labkit.grading import sandbox, state
from labkit.grading.assembly import assemble, check_roots, hide_hidden_code
from labkit.grading.execute import RunSettings, execute_plan
from labkit.grading.reports import write_reports
from labkit.grading.scan import find_tampering
from labkit.grading.solutions import HIDDEN_DIR, Solution, load_solutions
from labkit.grading.statuses import exercise_status, one_line, runtime_tampering, setup_failure
from labkit.grading.submissions import Submission, read_submissions, safe_name


@dataclass
class Graded:
    """One learner's grades for one notebook."""

    rows: list[dict]
    notes: list[str]


def _graded(learner: str, notebook: str, results, notes: list[str]) -> Graded:
    rows = [{"learner": learner, "notebook": notebook, "exercise": ex, "status": status, "detail": one_line(detail)}
            for ex, status, detail in results]
    return Graded(rows, [f"{notebook}: {note}" for note in notes])


def grade_notebook(learner: str, solution: Solution, data: bytes | None, others: list[str],
                   settings: RunSettings, executed_dir: Path | None = None) -> Graded:
    """Grade one learner's copy of one lab notebook (``data`` is its bytes, None when it is absent)."""
    import nbformat

    ids = [ex.id for ex in solution.exercises]
    stem = solution.stem
    if data is None:
        near = [o for o in others if o.rsplit("/", 1)[-1][:2] == solution.name[:2]] or others
        why = f"no {solution.name} in the submission"
        if near:
            why += f"; found {', '.join(near[:3])} - lab notebooks must keep their names as in labs/"
        return _graded(learner, stem, [(i, "missing", why) for i in ids], [])
    try:
        text = data.decode("utf-8-sig")
        try:
            json.loads(text)
        except ValueError as err:
            raise ValueError(f"not valid JSON, {err}") from None
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as err:  # noqa: BLE001 - any unreadable file: say why, grade the others
        why = f"unreadable notebook ({one_line(err, 160)}); open it in Jupyter, save it and hand it in again"
        return _graded(learner, stem, [(i, "error", why) for i in ids], [])
    try:
        roots = check_roots(solution)
        plan = assemble(solution, nb, roots)
        findings = find_tampering(plan.learner_cells, protected=roots)
        if findings:
            detail = findings[0] + (f" (and {len(findings) - 1} more)" if len(findings) > 1 else "")
            return _graded(learner, stem, [(i, "flagged", detail) for i in ids], plan.notes + findings)
        log = None
        if executed_dir is not None:
            executed_dir.mkdir(parents=True, exist_ok=True)
            log = executed_dir / f"{stem}.kernel.log"
        outcomes = execute_plan(plan, settings, log)
        if executed_dir is not None:
            hide_hidden_code(plan)
            nbformat.write(plan.nb, executed_dir / solution.name)
        broken = setup_failure(plan, outcomes)
        if broken:
            return _graded(learner, stem, [(i, "error", broken) for i in ids], plan.notes)
        tampered = runtime_tampering(plan, outcomes)
        if tampered:
            return _graded(learner, stem, [(i, "flagged", tampered) for i in ids], plan.notes)
        limits = settings.sandbox.limits if settings.sandbox is not None else None
        return _graded(learner, stem, [(i, *exercise_status(plan, outcomes, i, limits)) for i in ids], plan.notes)
    except Exception as err:  # noqa: BLE001 - a grader bug on one notebook must not stop the class
        why = f"the grader could not process this notebook: {type(err).__name__}: {one_line(err, 200)}"
        return _graded(learner, stem, [(i, "error", why) for i in ids], [])


@dataclass
class ClassResult:
    rows: list[dict]
    graded: int  # learner x notebook pairs graded in this run
    reused: int  # pairs whose grades were reused from the last run
    out: Path
    skipped: list[str]
    shard: tuple[int, int] | None = None
    learners: int = 0  # learners in this run (this shard's, when sharded)


def default_hidden(solutions: Path) -> Path:
    """Where the hidden checks are looked for: ``instructor/hidden_checks`` next to the solutions folder."""
    return Path(solutions).resolve().parent / HIDDEN_DIR


def grade_class(submissions: Path, out: Path, solutions: Path | None = None, *, profile: str = "tiny",
                cell_timeout: int = 600, notebook_timeout: int = 1800, notebooks: list[str] | None = None,
                force: bool = False, kernel_name: str = "python3", jobs: int = 1, progress: bool = True,
                sandboxed: bool = True, limits: sandbox.Limits | None = None, hidden_checks: Path | None = None,
                shard: tuple[int, int] | str | None = None) -> ClassResult:
    """Grade every learner in ``submissions`` (or one shard of them) and write the reports to ``out``.

    ``notebooks`` narrows the labs graded (file names or their two-digit numbers); by default every lab that at
    least one learner handed in under its lab name. ``jobs`` learners are graded at once, each notebook in a
    sandbox of its own (``sandboxed=False``: in a plain kernel, with no isolation). ``hidden_checks`` defaults
    to ``instructor/hidden_checks`` next to the solutions. ``shard`` ("i/N" or (i, N)) grades the learners
    whose name hashes to shard i of N; :func:`merge` combines the shards' outputs.
    """
    from tqdm.auto import tqdm

    from labkit import notebooks as nbs

    shard = state.parse_shard(shard) if isinstance(shard, str) else shard
    out = Path(out)
    solutions = Path(solutions) if solutions else nbs.solutions_dir()
    hidden = Path(hidden_checks) if hidden_checks else default_hidden(solutions)
    all_solutions = load_solutions(solutions, hidden)
    if not all_solutions:
        raise FileNotFoundError("The solutions folder has no notebook with an exercise.")
    subs, skipped = read_submissions(Path(submissions), all_solutions)
    if notebooks:
        chosen = {name for name in all_solutions for want in notebooks
                  if name == want or name == f"{want}.ipynb" or name[:2] == want}
        unknown = [w for w in notebooks if not any(n == w or n == f"{w}.ipynb" or n[:2] == w for n in all_solutions)]
        if unknown:
            raise ValueError(f"No solution notebook matches {', '.join(unknown)} (have: {', '.join(all_solutions)})")
    else:
        chosen = {name for sub in subs for name in sub.notebooks}
    if not chosen:
        found = sorted({o.rsplit("/", 1)[-1] for sub in subs for o in sub.others})[:5]
        raise ValueError(f"None of the {len(subs)} submission(s) holds a notebook named as a lab ("
                         f"{', '.join(list(all_solutions)[:2])}, ...); found: {', '.join(found) or 'no notebooks'}. "
                         "Rename them, or name the labs to grade with --notebooks.")
    selected = [all_solutions[name] for name in sorted(chosen)]
    spec = None
    if sandboxed:
        from jupyter_client.kernelspec import KernelSpecManager

        try:
            argv0 = KernelSpecManager().get_kernel_spec(kernel_name).argv[0]
        except Exception:  # noqa: BLE001 - an unknown kernel fails when it starts, with its own message
            argv0 = None
        spec = sandbox.SandboxSpec.for_grading(profile, limits or sandbox.Limits(), argv0, private={
            "submissions": Path(submissions), "grades": out, "solutions": solutions, "hidden checks": hidden})
    settings = RunSettings(profile, cell_timeout, notebook_timeout, kernel_name, spec)
    digests = {sol.name: state.grader_digest(sol, settings.stamp()) for sol in selected}
    subs = [sub for sub in subs if state.in_shard(sub.learner, shard)]
    out.mkdir(parents=True, exist_ok=True)
    previous = state.read_state(out)
    entries = previous.get("entries", {}) if not force and previous.get("version") == state.STATE_VERSION else {}

    def grade_learner(sub: Submission) -> tuple[dict[str, dict], int, int]:
        mine, graded, reused = {}, 0, 0
        for sol in selected:
            data = sub.notebooks.get(sol.name)
            stamp = [state.submission_digest(data, sub.others), digests[sol.name]]
            entry = entries.get(f"{sub.learner}/{sol.name}")
            if entry and entry.get("stamp") == stamp:
                reused += data is not None
            else:
                result = grade_notebook(sub.learner, sol, data, sub.others, settings,
                                        executed_dir=out / "executed" / safe_name(sub.learner))
                entry = {"stamp": stamp, "rows": result.rows, "notes": result.notes}
                graded += data is not None
            mine[f"{sub.learner}/{sol.name}"] = entry
        return mine, graded, reused

    def record(entries_now: dict) -> dict:
        return {"shard": f"{shard[0]}/{shard[1]}" if shard else None, "notebooks": [s.name for s in selected],
                "digests": digests, "titles": {s.stem: s.titles() for s in selected}, "skipped": skipped,
                "learners": [[sub.path.name, sub.learner] for sub in subs],
                "problems": {sub.learner: sub.problems for sub in subs if sub.problems}, "entries": entries_now}

    fresh, graded, reused = {}, 0, 0
    bar = tqdm(total=len(subs), desc="learners", unit="learner", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each learner's kernels are separate processes
        futures = {pool.submit(grade_learner, sub): sub for sub in subs}
        for future in as_completed(futures):
            mine, done, kept = future.result()
            fresh.update(mine)
            graded, reused = graded + done, reused + kept
            state.write_state(out, record({**entries, **fresh}))  # progress survives a crash
            bar.set_postfix_str(futures[future].learner)
            bar.update()
    bar.close()
    state.write_state(out, record(fresh))
    rows, notes = _book(record(fresh))
    _drop_departed(out, {safe_name(sub.learner) for sub in subs})
    write_reports(out, rows, notes, {sol.stem: sol.titles() for sol in selected}, skipped)
    return ClassResult(rows, graded, reused, out, skipped, shard, len(subs))


def _book(record: dict) -> tuple[list[dict], dict[str, list[str]]]:
    """The rows (learners in submission order, notebooks in name order) and notes of a state record."""
    rows, notes = [], {}
    for _, learner in sorted(record["learners"]):
        entries = [record["entries"][f"{learner}/{name}"] for name in record["notebooks"]]
        rows += [row for entry in entries for row in entry["rows"]]
        notes[learner] = [n for entry in entries for n in entry["notes"]] + record.get("problems", {}).get(learner, [])
    return rows, notes


def _drop_departed(out: Path, keep: set[str]) -> None:
    executed = Path(out) / "executed"
    if executed.is_dir():  # learners no longer in the class (or in this shard)
        for old in executed.iterdir():
            if old.is_dir() and old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)


def merge(outs: list[Path], out: Path) -> ClassResult:
    """Combine the outputs of the shards of one class (``labkit grade --shard i/N``) into one grade book in ``out``:
    grades.csv, summary.md, feedback/, junit.xml, executed/ and a state a later run can reuse."""
    records = []
    for folder in outs:
        record = state.read_state(Path(folder))
        if record.get("version") != state.STATE_VERSION or "learners" not in record:
            raise ValueError(f"{folder} holds no grades from this version of `labkit grade` (no {state.STATE_FILE}): "
                             "pass the --out folders of the shards.")
        records.append((Path(folder), record))
    shards = [record.get("shard") for _, record in records]
    if None in shards or len({s.split("/")[1] for s in shards}) != 1:
        raise ValueError(f"merge combines the shards of one run (--shard i/N, the same N): got {shards}.")
    count = int(shards[0].split("/")[1])
    missing = sorted(set(range(1, count + 1)) - {int(s.split("/")[0]) for s in shards})
    twice = sorted({s for s in shards if shards.count(s) > 1})
    if missing or twice:
        raise ValueError(f"merge needs each of the {count} shards once: "
                         + "; ".join(filter(None, [missing and f"missing {', '.join(f'{i}/{count}' for i in missing)}",
                                                  twice and f"given twice: {', '.join(twice)}"])) + ".")
    first = records[0][1]
    for folder, record in records[1:]:
        if record["notebooks"] != first["notebooks"] or record["digests"] != first["digests"]:
            raise ValueError(f"{folder} was graded with other solutions, checks or settings than {records[0][0]}: "
                             "grade every shard with the same kit and options.")
    learners, entries, problems, titles = [], {}, {}, {}
    for _folder, record in records:
        learners += record["learners"]
        entries.update(record["entries"])
        problems.update(record.get("problems", {}))
        titles.update(record.get("titles", {}))
    names = [learner for _, learner in learners]
    if len(set(names)) != len(names):
        raise ValueError("The same learner is in two shards: were the shards graded from different submissions?")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keep = {safe_name(name) for name in names}
    for folder, _ in records:
        executed = folder / "executed"
        for learner_dir in sorted(executed.iterdir()) if executed.is_dir() else ():
            if learner_dir.is_dir() and learner_dir.name in keep and folder.resolve() != out.resolve():
                shutil.copytree(learner_dir, out / "executed" / learner_dir.name, dirs_exist_ok=True)
    merged = {"shard": None, "notebooks": first["notebooks"], "digests": first["digests"], "titles": titles,
              "skipped": first.get("skipped", []), "learners": learners, "problems": problems, "entries": entries}
    state.write_state(out, merged)
    rows, notes = _book(merged)
    _drop_departed(out, keep)
    write_reports(out, rows, notes, titles, merged["skipped"])
    return ClassResult(rows, 0, len(entries), out, merged["skipped"], None, len(names))
