"""What a run found, as data: a cell per implementation and check family, the verdicts, the time
spent, the tutorial runs and speed rows. No pytest here: report.py feeds it pytest's reports, the
terminal and HTML views (terminal.py, html_report.py) and the gradebook read it."""
import math
import time

from conformance import budgets, timing

FAMILIES = {"test_contract": "contract", "test_gradients": "gradients", "test_trajectory": "trajectory",
            "test_domain": "domain", "test_learning": "learning", "test_hygiene": "hygiene",
            "test_bad_input": "bad input", "test_devices": "devices", "test_speed": "speed"}




class Prop:
    """The names of what a test's report carries in user_properties (from xdist workers too): the
    report's hooks, the plugin and the checks write them, Report.add reads them."""

    IMPL = "impl"  # the implementation's row name
    TRAINED = "trained"  # [seconds, calls, steps] inside its train during this phase
    REASON = "reason"  # a failure in one line
    REPRODUCE = "reproduce"  # the command that reruns the test alone
    DETAILS = "details"  # the failure's further lines
    FAULT = "fault"  # the status of a call that ended its worker (CRASH, TIMEOUT, ...)
    LEAK = "leak"  # process-wide state the test's calls left changed
    STUCK = "stuck"  # what of it the suite could not put back
    NOTE = "note"  # something a passing test tolerated
    TUTORIAL_RUN = "tutorial_run"  # the learning family's run, for the figures
    SPEED = "speed"  # a speed row
    SPEED_BUDGET = "speed_budget"  # its thread budget's peak and floors


# ----------------------------------------------------------------- each test's outcome


def leak_reason(test: str, leak: list, stuck: list) -> str:
    """What a test's calls left changed in the process, in one line."""
    put = (f"the suite could not put back {', '.join(stuck)}; the rest it put back" if stuck
           else "the suite put it back")
    return f"a call during {test} left process-wide state changed ({put}): {'; '.join(leak[:4])}"


def plain_id(nodeid: str) -> str:
    """A test's id without the group xdist's loadgroup appends to it (`...[x]@x`)."""
    return nodeid[:nodeid.rfind("@")] if nodeid.rfind("@") > nodeid.rfind("]") else nodeid


def family_of(nodeid: str):
    return FAMILIES.get(nodeid.split("::")[0].rpartition("/")[2].removesuffix(".py"))



class Report:
    """What the run found, cell by cell, and the tutorial runs to draw."""

    def __init__(self, names):
        self.names = list(names)
        self.tests = {}  # (impl, family) -> [{"test", "status", "reason", "reproduce"}]
        self.runs = {}  # impl -> tutorial run (tests/test_learning.py)
        self.speed = {}  # (group, table, impl) -> its speed row (tests/test_speed.py)
        self.budgets = {}  # table ("1", "2", "cuda:0": budgets.table) -> its peak (every library's rate), floors
        self.tags = {}  # impl -> its TAGS
        self.applicable = {}  # impl -> the families that apply to it
        self.notes = {}  # (impl, family) -> notes of passing tests (drawing from a global generator)
        self.done = set()  # test ids finished, for the live line
        self.time = {}  # (impl, family) -> [seconds in its tests, seconds inside train, calls, steps]
        self.files = {}  # impl -> the file it was loaded from, as the user named it
        self.import_notes = {}  # impl -> what the suite left out of it (a notebook's IPython lines)
        self.not_implementations = []  # files in an --impl folder or pattern that define no train
        self.order = {}  # test id -> its place in the collection: a cell's first failure is the same under -n

    def add(self, rep):
        props, nodeid = dict(rep.user_properties), plain_id(rep.nodeid)
        impl, family = props.get(Prop.IMPL), family_of(nodeid)
        if Prop.TUTORIAL_RUN in props and impl:
            self.runs[impl] = props[Prop.TUTORIAL_RUN]
        if Prop.SPEED in props and impl and rep.when == "call" and rep.passed:
            info = props[Prop.SPEED]
            self.speed[(info["group"], table_of(info), impl)] = info
            if Prop.SPEED_BUDGET in props:
                budget = props[Prop.SPEED_BUDGET]
                known = self.budgets.setdefault(budget.get("table", str(budget["cores"])), {"floor_costs": {}})
                known.update({k: v for k, v in budget.items() if k != "floor_costs"})  # the latest peak: the best
                known["floor_costs"][f"{info['size']} {info['dtype']}"] = budget.get("floor_costs", {})
        if Prop.NOTE in props and impl and family:
            notes = self.notes.setdefault((impl, family), [])
            notes += [props[Prop.NOTE]] if props[Prop.NOTE] not in notes else []
        if Prop.LEAK in props and impl:  # the plugin put back what a call left changed: a hygiene failure
            entry = {"test": nodeid, "status": "fail", "phase": "after the test",
                     "reason": leak_reason(nodeid.split("::")[-1], props[Prop.LEAK],
                                           props.get(Prop.STUCK, [])),
                     "reproduce": props.get(Prop.REPRODUCE), "details": [], "leaks": 1}
            cell = self.tests.setdefault((impl, "hygiene"), [])
            earlier = next((t for t in cell if t.get("phase") == "after the test"), None)
            if earlier is None:
                cell.append(entry)
            else:  # one failure however many tests' calls leaked (under -n each process makes its own calls)
                last = len(self.order)
                if self.order.get(entry["test"], last) < self.order.get(earlier["test"], last):
                    earlier.update({**entry, "leaks": earlier["leaks"]})
                earlier["leaks"] += 1
            self.done.add(nodeid)
            return  # its failed teardown is this hygiene failure, not one of the test's own family
        if Prop.TRAINED in props and impl and family:
            spent = self.time.setdefault((impl, family), [0.0, 0.0, 0, 0])
            for i, value in enumerate([rep.duration, *props[Prop.TRAINED]]):
                spent[i] += value
        if not (rep.when == "call" or rep.failed or rep.skipped):
            return  # a passing setup or teardown says nothing about the test
        self.done.add(nodeid)
        if not impl or not family:
            return
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            entry = {"status": "skip", "reason": reason.removeprefix("Skipped: ")}
        elif rep.failed:
            entry = {"status": "fail", "reason": props.get(Prop.REASON, "failed"),
                     "reproduce": props.get(Prop.REPRODUCE), "phase": rep.when,
                     "details": props.get(Prop.DETAILS, []), "fault": props.get(Prop.FAULT)}
        else:
            entry = {"status": "pass"}
        self.tests.setdefault((impl, family), []).append({"test": nodeid, **entry})

    def shown(self):
        """The implementations with at least one result (-k may have deselected the others)."""
        return [n for n in self.names if any(k[0] == n for k in self.tests)]

    def families(self):
        return [f for f in FAMILIES.values() if any(k[1] == f for k in self.tests)]

    def cell(self, impl, family) -> dict:
        tests = self.tests.get((impl, family), [])
        count = {s: sum(t["status"] == s for t in tests) for s in ("pass", "fail", "skip")}
        if not tests:
            return {"status": "not run", **count}
        notes = self.notes.get((impl, family), [])
        if count["fail"]:
            tests = sorted(tests, key=lambda t: self.order.get(t["test"], len(self.order)))
            faulted = [t for t in tests if t.get("fault")]
            first = faulted[0] if faulted else next(t for t in tests if t["status"] == "fail")
            fault = {"fault": first["fault"], "faults": sum(t.get("fault") == first["fault"] for t in tests)} \
                if faulted else {}
            return {"status": "fail", **count, **fault, "reason": first["reason"], "reproduce": first["reproduce"],
                    "details": first.get("details", []), "failures": [t for t in tests if t["status"] == "fail"],
                    "notes": notes}
        if count["pass"]:
            return {"status": "pass", **count, "notes": notes}
        reasons = sorted({t["reason"] for t in tests})
        return {"status": "skip", **count, "reason": "; ".join(reasons)}

    def verdict(self, impl) -> str:
        cells = {f: self.cell(impl, f) for f in FAMILIES.values()}
        if any(c["status"] == "fail" for c in cells.values()):
            return "FAILS"
        if not any(c["status"] == "pass" for c in cells.values()):
            return "not checked"
        want = self.applicable.get(impl, ())
        ran = [f for f in want if cells[f]["status"] != "not run"]
        return "conforms" if len(ran) == len(want) else f"conforms ({len(ran)} of {len(want)} families run)"

    def spent(self, impl) -> dict:
        """Where impl's tests spent their time: in all, and inside its own train (per family too)."""
        fams = {f: dict(zip(("tests_s", "train_s", "calls", "steps"), self.time[(impl, f)]))
                for f in FAMILIES.values() if (impl, f) in self.time}
        total = {k: sum(v[k] for v in fams.values()) for k in ("tests_s", "train_s", "calls", "steps")}
        return {**total, "families": fams}

    def speed_rows(self) -> list:
        """One row per implementation, group and budget (tests/test_speed.py's measurement), each
        against its budget's peak as the run ends (the best rate measured in it, not the one known
        when the row was measured)."""
        rows = [{"implementation": impl, **info, **self._peak(table, info)}
                for (group, table, impl), info in self.speed.items()]
        for row in rows:  # above the machine's best after the peak was measured again: noise, not a rate
            row["above_peak"] = bool(row["gflops"] > row["peak_gflops"])
            # the floor's own share (the same FLOPs at its cost): how far up any row of that shape could go
            row["floor_share"] = row["peak_share"] * row["us_per_step"] / row["floor_us"] if row["floor_us"] > 0 else None
        order = {n: i for i, n in enumerate(self.names)}
        return sorted(rows, key=lambda r: (budgets.table_order(table_of(r)), r["group"] != "tutorial cell", r["size"][0],
                                           order.get(r["implementation"], 0)))

    def _peak(self, table, row) -> dict:
        best = self.budgets.get(table, {})
        if not best.get("gflops") or best["gflops"] <= row.get("peak_gflops", 0):
            return {}
        return {"peak_gflops": best["gflops"], "peak_library": best["library"],
                "peak_share": row["gflops"] / best["gflops"]}

    def goals(self, rows) -> list:
        """The README's performance goals, per thread budget, each judged from this run's intervals:
        met or not met only where the interval lies on one side of the goal, otherwise the run
        cannot tell. Rows that used more cores than their budget, saw the machine busy or came out
        above the peak are not ranked; a goal about the best row is 'not met' only where no row
        that might be the best went unjudged (busy, slowed, above the peak), else 'cannot tell'."""
        out = []
        for table in sorted({table_of(r) for r in rows}, key=budgets.table_order):
            name, gpu = budgets.table_name(table), not table.isdigit()
            mine = [r for r in rows if table_of(r) == table]
            fair = [r for r in mine if not r["busy"] and not r.get("over_budget") and not r.get("above_peak")]
            cell = [r for r in fair if r["group"] == "tutorial cell"]
            unjudged = [r for r in mine if r not in fair and not r.get("over_budget")]  # unmeasured, not disqualified

            def best_of(verdict, group="tutorial cell"):  # a goal about the best row, with others unjudged
                left = sum(r["group"] == group for r in unjudged)
                return f"cannot tell, {left} not judged" if verdict == "not met" and left else verdict
            if cell:
                best = min(cell, key=lambda r: r["floor_ratio"])
                verdict = best_of(timing.judge(best["ratio_low"], best["ratio_high"], 1.10))
                out.append(f"{name}: fastest at its tutorial cell against the floor: {best['implementation']}, "
                           f"{best['floor_ratio']:.2f}x [{best['ratio_low']:.2f}, {best['ratio_high']:.2f}] "
                           f"(goal <= 1.10x: {verdict})")
                share = PEAK_GOAL.get(table == "1", 0.60)
                best = max(cell, key=lambda r: r["peak_share"])
                low, high = _share_interval(best)
                goal = "no goal on a GPU" if gpu else f"goal >= {share:.0%}: {best_of(timing.judge(low, high, share, below=False))}"
                out.append(f"{name}: best share of the peak at its tutorial cell: {best['implementation']}, "
                           f"{best['peak_share']:.0%} [{low:.0%}, {high:.0%}] ({goal}{_floor_note(best)})")
            tiny = [r for r in fair if r["size"] == [1, 1, 1, 1] and "whole_loop" in self.tags.get(r["implementation"], ())
                    and not gpu]  # a GPU launches a kernel in about 5 us
            if tiny:
                verdicts = [timing.judge(r["us_low"], r["us_high"], 1.0) for r in tiny]
                verdict = "not met" if "not met" in verdicts else "cannot tell" if "cannot tell" in verdicts else "met"
                out.append(f"{name}: whole-loop compiled, size 1: " + ", ".join(
                    f"{r['implementation']} {r['us_per_step']:.2f} [{r['us_low']:.2f}, {r['us_high']:.2f}] us"
                    for r in tiny) + f" per step (goal < 1 us: {verdict})")
            big = [r for r in fair if r["size"][0] >= 2048 and r["group"] != "tutorial cell"]
            if big:
                best = max(big, key=lambda r: r["peak_share"])
                low, high = _share_interval(best)
                goal = "no goal on a GPU" if gpu else f"goal >= 85%: {best_of(timing.judge(low, high, 0.85, below=False), best['group'])}"
                out.append(f"{name}: size >= 2048: best {best['implementation']} at {best['peak_share']:.0%} "
                           f"[{low:.0%}, {high:.0%}] of the peak ({goal}{_floor_note(best)})")
            over = [f"{r['implementation']} ({r['group']}, {r['cores']:.1f} cores)" for r in mine if r.get("over_budget")]
            if over:
                out.append(f"{name}: not ranked: {', '.join(over)} used more than the budget")
            above = [f"{r['implementation']} ({r['group']}, {r['peak_share']:.0%})" for r in mine if r.get("above_peak")]
            if above:
                out.append(f"{name}: not ranked: {', '.join(above)} above the peak, mismeasured: rerun")
        busy = [r["implementation"] for r in rows if r["busy"]]
        if busy:
            out.append(f"not judged as facts: {', '.join(dict.fromkeys(busy))} measured while the machine was busy or slowed: rerun")
        return out

    def as_json(self, environment, figures, speed_rows) -> dict:
        fams = self.families()
        every = list(dict.fromkeys(f for n in self.shown() for f in self.applicable.get(n, ()))) or fams
        return {
            "schema": 2, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": environment,
            "families": fams, "all_families": [f for f in FAMILIES.values() if f in every or f in fams],
            "figures": figures, "speed": _finite(speed_rows), "speed_goals": self.goals(speed_rows),
            "speed_budgets": _finite({k: self.budgets[k] for k in sorted(self.budgets, key=budgets.table_order)}),
            "not_implementations": self.not_implementations,
            "implementations": [{"name": n, "file": self.files.get(n, ""), "verdict": self.verdict(n),
                                 "applicable": list(self.applicable.get(n, fams)),
                                 "cells": {f: self.cell(n, f) for f in fams}, "notes": self.import_notes.get(n, []),
                                 "tutorial_run": _finite(self.runs.get(n)), "time": self.spent(n)}
                                for n in self.shown()],
        }


PEAK_GOAL = {True: 0.75, False: 0.60}  # the best tutorial cell's share of the peak: at 1 thread, at all cores


def table_of(row) -> str:
    """The speed table a row belongs to (budgets.table)."""
    return row.get("table") or str(row.get("budget", 1))


def _floor_note(row) -> str:
    """The floor's own share of the peak beside a share goal: the products alone, at the row's shape."""
    return f"; its floor, the products alone: {row['floor_share']:.0%}" if row.get("floor_share") else ""


def _share_interval(row) -> tuple:
    """The interval of a row's share of the peak, from its us/step interval."""
    low = row["peak_share"] * row["us_per_step"] / row["us_high"] if row["us_high"] > 0 else 0.0
    high = row["peak_share"] * row["us_per_step"] / row["us_low"] if row["us_low"] > 0 else float("inf")
    return low, high


def _finite(value):
    """JSON has no NaN or Inf: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# ----------------------------------------------------------------- the plugin


