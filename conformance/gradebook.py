"""A run's verdicts as a gradebook: gradebook.csv (a row per implementation) and Gradescope's
results.json (one submission). Built from the report's data (conformance.json), without pytest.

The columns are documented in docs/grading.md; a teacher weights the families there.
"""
import csv
import io
import re

STATUSES = ("pass", "fail", "crash", "timeout", "exit", "interrupt", "skip", "not run", "n/a")
BUG = re.compile(r"likely(?: one of)?: (?P<bug>.+?)(?: \((?:it|each) reproduces .*|\. Fix: .*|$)")


def family_status(cell: dict, applies: bool) -> str:
    """pass, fail, crash, timeout, exit, interrupt (a fault of its worker), skip, not run, or n/a."""
    if not applies:
        return "n/a"
    if cell["status"] == "fail" and cell.get("fault"):
        return cell["fault"].lower()
    return cell["status"]


def bug_of(row: dict) -> str:
    """The bug the diagnosis named in the first failure that names one, else ''."""
    for cell in row["cells"].values():
        for test in cell.get("failures", []):
            found = BUG.search(test.get("reason", ""))
            if found:
                return found["bug"]
    return ""


def first_reason(row: dict) -> str:
    failed = [c for c in row["cells"].values() if c["status"] == "fail"]
    return failed[0]["reason"] if failed else ""


def rows(data: dict) -> list:
    """One dict per implementation, in the columns of gradebook.csv."""
    out = []
    for row in data["implementations"]:
        line = {"implementation": row["name"], "file": row.get("file", "")}
        for family in data["all_families"]:
            cell = row["cells"].get(family, {"status": "not run", "pass": 0, "fail": 0, "skip": 0})
            line[family] = family_status(cell, family in row.get("applicable", data["all_families"]))
            line[f"{family} passed"] = cell["pass"]
            line[f"{family} run"] = cell["pass"] + cell["fail"]
        line.update(verdict=row["verdict"], bug=bug_of(row), reason=first_reason(row),
                    seconds=round(row.get("time", {}).get("tests_s", 0.0), 1))
        out.append(line)
    return out


def to_csv(data: dict) -> str:
    lines = rows(data)
    columns = ["implementation", "file"] + [c for f in data["all_families"] for c in (f, f"{f} passed", f"{f} run")] \
        + ["verdict", "bug", "reason", "seconds"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)
    return text.getvalue()


def gradescope(data: dict) -> dict:
    """Gradescope's results.json for the run's one implementation: a test per family that applies,
    worth 1: 1 when it passes, the share of its checks that passed when one failed, 0 when none ran."""
    (row,) = data["implementations"]
    line = rows({**data, "implementations": [row]})[0]
    tests = []
    for family in data["all_families"]:
        status = line[family]
        if status == "n/a":
            continue
        ran, passed = line[f"{family} run"], line[f"{family} passed"]
        cell = row["cells"].get(family, {})
        score = 1.0 if status in ("pass", "skip") else passed / ran if status == "fail" and ran else 0.0
        output = {"pass": f"{passed} of {ran} checks passed.", "skip": f"skipped: {cell.get('reason', '')}",
                  "not run": "not run: " + (line["reason"] or "deselected in this run")}.get(
            status, f"{status.upper()}: {cell.get('reason', '')}\n\n{passed} of {ran} checks passed."
                    + (f"\nTo reproduce: {cell['reproduce']}" if cell.get("reproduce") else ""))
        tests.append({"name": family, "score": round(score, 4), "max_score": 1.0,
                      "status": "passed" if status in ("pass", "skip") else "failed", "output": output})
    return {"score": round(sum(t["score"] for t in tests), 4), "execution_time": line["seconds"],
            "output": f"{row['name']}: {row['verdict']}" + (f" (likely: {line['bug']})" if line["bug"] else ""),
            "tests": tests}
