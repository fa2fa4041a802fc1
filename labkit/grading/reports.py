"""The reports of a graded class: grades.csv, summary.md, feedback/<learner>.md and junit.xml.

Only the instructor's files (grades.csv, summary.md, junit.xml) carry what a hidden check said; a learner's
feedback says that a hidden check failed, not how.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

from labkit.grading.integrity import HIDDEN_FAILED
from labkit.grading.statuses import STATUSES, one_line
from labkit.grading.submissions import safe_name

COLUMNS = ("learner", "notebook", "exercise", "status", "detail")
HIDDEN_FEEDBACK = (f"{HIDDEN_FAILED[0].upper()}{HIDDEN_FAILED[1:]} (hidden checks run only when your work is graded; "
                   "your instructor has the details)")


def _csv_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (learners' messages end up here)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_reports(out: Path, rows: list[dict], notes: dict[str, list[str]], titles: dict,
                  skipped: list[str] = ()) -> None:
    """Write grades.csv, summary.md, feedback/<learner>.md and junit.xml from the graded rows."""
    out = Path(out)
    with open(out / "grades.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "detail": _csv_safe(row["detail"])})
    (out / "summary.md").write_text(summary_markdown(rows, notes, titles, skipped), encoding="utf-8")
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    learners = sorted({row["learner"] for row in rows} | set(notes))
    keep = {f"{safe_name(learner)}.md" for learner in learners}
    for old in feedback.glob("*.md"):
        if old.name not in keep:
            old.unlink()
    for learner in learners:
        mine = [row for row in rows if row["learner"] == learner]
        (feedback / f"{safe_name(learner)}.md").write_text(
            feedback_markdown(learner, mine, notes.get(learner, []), titles), encoding="utf-8")
    write_junit(out / "junit.xml", rows)


def _title(titles: dict, notebook: str, exercise: str) -> str:
    """``titles`` maps a notebook's stem to {exercise id: title} (or to its Solution)."""
    found = titles.get(notebook) or {}
    found = found.titles() if hasattr(found, "titles") else found
    return found.get(exercise, "")


def _table(header: list[str], body: list[list]) -> list[str]:
    def cell(value) -> str:
        return str(value).replace("|", "\\|")

    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)] + [
        "| " + " | ".join(cell(v) for v in line) + " |" for line in body]


def summary_markdown(rows: list[dict], notes: dict[str, list[str]], titles: dict,
                     skipped: list[str] = ()) -> str:
    """The class at a glance: pass rate per exercise, each status's count, the most frequent hints."""
    learners = sorted({row["learner"] for row in rows})
    lines = ["# Grading summary", "", f"{len(learners)} learner(s), {len(rows)} exercise grades.", ""]
    by_exercise: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        by_exercise[(row["notebook"], row["exercise"])].append(row)
    body = []
    for (notebook, exercise), group in by_exercise.items():
        counts = Counter(row["status"] for row in group)
        body.append([exercise, _title(titles, notebook, exercise), f"{counts['pass'] / len(group):.0%}"]
                    + [counts.get(s, 0) for s in STATUSES])
    lines += ["## Pass rate per exercise", ""] + _table(["exercise", "title", "pass rate", *STATUSES], body) + [""]
    lines += ["## Most frequent hints (failed checks)", ""]
    any_hint = False
    for (_notebook, exercise), group in by_exercise.items():
        hints = Counter(row["detail"] for row in group if row["status"] == "fail")
        for hint, count in hints.most_common(3):
            lines.append(f"- **{exercise}** ({count}×): {hint}")
            any_hint = True
    if not any_hint:
        lines.append("No check failed.")
    errors = Counter((row["exercise"], row["detail"]) for row in rows
                     if row["status"] in ("error", "blocked", "limit"))
    if errors:
        lines += ["", "## Most frequent errors, limits and blocked exercises", ""]
        lines += [f"- **{exercise}** ({count}×): {detail}" for (exercise, detail), count in errors.most_common(5)]
    flagged = sorted({(row["learner"], row["notebook"], row["detail"]) for row in rows if row["status"] == "flagged"})
    lines += ["", "## Flagged notebooks (check these by hand)", ""]
    lines += [f"- {learner} · {notebook}: {detail}" for learner, notebook, detail in flagged] or ["None."]
    if skipped:
        lines += ["", "## Not graded", ""] + [f"- {s}" for s in skipped]
    return "\n".join(lines) + "\n"


_ADVICE = {
    "pass": "",
    "fail": "The check's hint: ",
    "error": "Your code raised: ",
    "timeout": "Too slow: ",
    "limit": "Over a limit: ",
    "blocked": "Not graded: ",
    "missing": "Missing: ",
    "flagged": "Flagged for your instructor: ",
}


def _advice(row: dict) -> str:
    """What a learner reads about one grade (a hidden check's message stays with the instructor)."""
    if not row["detail"]:
        return ""
    if row["status"] == "fail" and row["detail"].startswith(HIDDEN_FAILED):
        return HIDDEN_FEEDBACK
    return _ADVICE.get(row["status"], "") + row["detail"]


def feedback_markdown(learner: str, rows: list[dict], notes: list[str], titles: dict) -> str:
    """One learner's feedback: each exercise's status and what to look at."""
    passed = sum(row["status"] == "pass" for row in rows)
    lines = [f"# Feedback for {learner}", "", f"{passed} of {len(rows)} exercises pass.", ""]
    for notebook in sorted({row["notebook"] for row in rows}):
        lines += [f"## {notebook}", ""]
        body = [[row["exercise"], _title(titles, notebook, row["exercise"]), row["status"], _advice(row)]
                for row in rows if row["notebook"] == notebook]
        lines += _table(["exercise", "title", "status", "what to look at"], body) + [""]
    if notes:
        lines += ["## Notes", ""] + [f"- {one_line(n)}" for n in dict.fromkeys(notes)] + [""]
    lines += ["Check yourself before you hand in: `pytest --nbmake labs/<notebook>.ipynb`, or run the check cells "
              "in Jupyter.", ""]
    return "\n".join(lines)


def write_junit(path: Path, rows: list[dict]) -> None:
    """JUnit XML: one test suite per learner, one test case per exercise (CI dashboards read it)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="labkit grade")
    for learner in sorted({row["learner"] for row in rows}):
        mine = [row for row in rows if row["learner"] == learner]
        failures = sum(row["status"] in ("fail", "missing", "blocked", "flagged") for row in mine)
        errors = sum(row["status"] in ("error", "timeout", "limit") for row in mine)
        suite = ET.SubElement(root, "testsuite", name=learner, tests=str(len(mine)), failures=str(failures),
                              errors=str(errors), skipped="0")
        for row in mine:
            case = ET.SubElement(suite, "testcase", classname=f"{learner}.{row['notebook']}",
                                 name=f"{row['exercise']}")
            if row["status"] != "pass":
                tag = "error" if row["status"] in ("error", "timeout", "limit") else "failure"
                ET.SubElement(case, tag, type=row["status"], message=row["detail"]).text = row["detail"]
    root.set("tests", str(len(rows)))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
