"""The conformance report (a pytest plugin, registered by conformance/plugin.py).

- Every failure ends with the command that reproduces it from the repository root.
- At the end: a matrix of implementations x check families, each cell pass, FAIL (with the
  one-line reason) or skip (with the reason), in the terminal, and written with the tutorial
  runs' figures as DIR/conformance.html (self-contained), DIR/conformance.json, DIR/*.png.
- On a terminal, one live line: tests done, implementation, family, the latest run's last
  step and loss (the tutorial's `t = 499  loss = ...`).
Works under pytest-xdist: everything it needs travels in each report's user_properties.
"""
import html
import json
import math
import shlex
import sys
import time
from base64 import b64encode
from pathlib import Path

import pytest

from conformance import gradebook, panels, timing
from conformance.isolation import WorkerFault
from conformance.loading import GPU_FRAMEWORKS, ROOT, Impl, shown_path

FAMILIES = {"test_contract": "contract", "test_gradients": "gradients", "test_trajectory": "trajectory",
            "test_domain": "domain", "test_learning": "learning", "test_hygiene": "hygiene",
            "test_bad_input": "bad input", "test_devices": "devices", "test_speed": "speed"}


# ----------------------------------------------------------------- each test's outcome


def applicable(config, impl) -> list:
    """The families that apply to impl in this run: the timings alone under --benchmark-only; the
    devices family for an implementation whose framework can use a GPU."""
    if config.getoption("benchmark_only", False):
        return ["speed"]
    gpu = GPU_FRAMEWORKS & set(impl.frameworks)
    return [f for f in FAMILIES.values() if f != "speed" and (f != "devices" or gpu)]


def family_of(nodeid: str):
    return FAMILIES.get(nodeid.split("::")[0].rpartition("/")[2].removesuffix(".py"))


def one_line(excinfo) -> str:
    """The failure in one line: the suite's own message, or the exception and where it came from."""
    if isinstance(excinfo.value, pytest.fail.Exception):
        text = str(excinfo.value.msg)
    else:
        entry = excinfo.traceback[-1] if excinfo.traceback else None
        where = f" (at {shown_path(entry.path)}:{entry.lineno + 1})" if entry is not None else ""
        text = f"{excinfo.typename}: {excinfo.value}".strip() + where
    first = text.strip().splitlines()[0] if text.strip() else excinfo.typename
    return first if len(first) <= 600 else first[:597] + "..."


def details(excinfo) -> list:
    """The lines after a suite failure's first (a domain example: its call, inputs and replay)."""
    if not isinstance(excinfo.value, pytest.fail.Exception):
        return []
    return [line.strip() for line in str(excinfo.value.msg).strip().splitlines()[1:] if line.strip()]


def command(config, path, name, impl=None) -> str:
    """The command that runs test `name` of `path` (relative to the repository) alone, as pasted in
    the directory the run started from."""
    here = config.invocation_params.dir
    exe = shown_path(sys.executable) if Path(sys.executable).absolute().is_relative_to(ROOT) else "python"
    test = ROOT / path
    test = test.relative_to(here) if test.is_relative_to(here) else test
    if impl is not None and impl.alone:  # run alone, it has its own name again
        name = name.replace(f"[{impl.name}", f"[{impl.alone}", 1)
    return f"{exe} -m pytest {shlex.quote(f'{test}::{name}')}" + (impl.repro_flag() if impl is not None else "")


def leak_reason(test: str, leak: list, stuck: list) -> str:
    """What a test's calls left changed in the process, in one line."""
    put = (f"the suite could not put back {', '.join(stuck)}; the rest it put back" if stuck
           else "the suite put it back")
    return f"a call during {test} left process-wide state changed ({put}): {'; '.join(leak[:4])}"


def reproduce(item, impl) -> str:
    """The command that reruns item alone."""
    name = item.name if item.cls is None else f"{item.cls.__name__}::{item.name}"
    return command(item.config, Path(item.path).relative_to(ROOT), name, impl)


_SEEN = {}  # id(impl) -> its Impl.trained when the last report took its share


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """Time spent in train before the first test (the probe during collection) is no test's."""
    from conformance.plugin import IMPLS

    for impl in session.config.stash.get(IMPLS, []):
        _SEEN[id(impl)] = impl.trained
        _FAULTS[id(impl)] = len(impl.faults)  # the probe's: the checks that meet them again say so


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Tag every report with its implementation; give failures a one-line reason and their repro."""
    report = yield
    impl = item.callspec.params.get("impl") if hasattr(item, "callspec") else None
    impl = impl if isinstance(impl, Impl) else None
    if impl is not None and call.when == "setup":
        item.user_properties.append(("impl", impl.name))  # for the reports of the later phases
        report.user_properties.append(("impl", impl.name))
    if impl is not None:  # the time this phase spent inside the implementation's own train
        seen = _SEEN.get(id(impl), (0.0, 0, 0))
        report.user_properties.append(("trained", [a - b for a, b in zip(impl.trained, seen)]))
        _SEEN[id(impl)] = impl.trained
    fault = _fault_of(call, impl)
    if fault is not None and not report.failed:  # a worker that ended without answering is never a pass
        report.outcome = "failed"
    if report.failed and (call.excinfo is not None or fault is not None):
        cmd = reproduce(item, impl)
        reason = f"{fault.status}: {fault.message.splitlines()[0]}" if fault is not None else one_line(call.excinfo)
        report.user_properties = [*report.user_properties, ("reason", reason[:600]), ("reproduce", cmd),
                                  ("details", fault.message.splitlines()[1:] if fault is not None
                                   else details(call.excinfo))]
        if fault is not None:
            report.user_properties.append(("fault", fault.status))
            text = f"{fault.status}: {fault.message}" + (f" [{impl.name}]" if impl is not None else "")
            report.longrepr = text if call.excinfo is None or isinstance(call.excinfo.value, WorkerFault) \
                else f"{report.longreprtext}\n\n{text}"
        report.longrepr = f"{report.longreprtext}\n\nreproduce:\n  {cmd}"
    return report


def _fault_of(call, impl):
    """The WorkerFault this phase ended in, or that one of impl's calls met during it (a check that
    caught it and went on still fails with its status)."""
    if call.excinfo is not None and isinstance(call.excinfo.value, WorkerFault):
        return call.excinfo.value
    if impl is None:
        return None
    seen = _FAULTS.get(id(impl), 0)
    _FAULTS[id(impl)] = len(impl.faults)
    return impl.faults[seen] if len(impl.faults) > seen else None


_FAULTS = {}  # id(impl) -> how many of its faults a report has taken


class Report:
    """What the run found, cell by cell, and the tutorial runs to draw."""

    def __init__(self, names):
        self.names = list(names)
        self.tests = {}  # (impl, family) -> [{"test", "status", "reason", "reproduce"}]
        self.runs = {}  # impl -> tutorial run (tests/test_learning.py)
        self.speed = {}  # (group, impl) -> {steps: timing} (tests/test_speed.py)
        self.tags = {}  # impl -> its TAGS
        self.applicable = {}  # impl -> the families that apply to it
        self.notes = {}  # (impl, family) -> notes of passing tests (drawing from a global generator)
        self.done = set()  # test ids finished, for the live line
        self.time = {}  # (impl, family) -> [seconds in its tests, seconds inside train, calls, steps]
        self.files = {}  # impl -> the file it was loaded from, as the user named it
        self.import_notes = {}  # impl -> what the suite left out of it (a notebook's IPython lines)
        self.not_implementations = []  # files in an --impl folder or pattern that define no train

    def add(self, rep):
        props = dict(rep.user_properties)
        impl, family = props.get("impl"), family_of(rep.nodeid)
        if "tutorial_run" in props and impl:
            self.runs[impl] = props["tutorial_run"]
        if "speed" in props and impl and rep.when == "call" and rep.passed:
            info = props["speed"]
            self.speed[(info["group"], impl)] = info
        if "note" in props and impl and family:
            notes = self.notes.setdefault((impl, family), [])
            notes += [props["note"]] if props["note"] not in notes else []
        if "leak" in props and impl:  # the plugin put back what a call left changed: a hygiene failure
            self.tests.setdefault((impl, "hygiene"), []).append({
                "test": rep.nodeid, "status": "fail", "phase": "after the test",
                "reason": leak_reason(rep.nodeid.split("::")[-1], props["leak"], props.get("stuck", [])),
                "reproduce": props.get("reproduce"), "details": []})
            self.done.add(rep.nodeid)
            return  # its failed teardown is this hygiene failure, not one of the test's own family
        if "trained" in props and impl and family:
            spent = self.time.setdefault((impl, family), [0.0, 0.0, 0, 0])
            for i, value in enumerate([rep.duration, *props["trained"]]):
                spent[i] += value
        if not (rep.when == "call" or rep.failed or rep.skipped):
            return  # a passing setup or teardown says nothing about the test
        self.done.add(rep.nodeid)
        if not impl or not family:
            return
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            entry = {"status": "skip", "reason": reason.removeprefix("Skipped: ")}
        elif rep.failed:
            entry = {"status": "fail", "reason": props.get("reason", "failed"), "reproduce": props.get("reproduce"),
                     "phase": rep.when, "details": props.get("details", []), "fault": props.get("fault")}
        else:
            entry = {"status": "pass"}
        self.tests.setdefault((impl, family), []).append({"test": rep.nodeid, **entry})

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
        """One row per implementation and group (tests/test_speed.py's measurement)."""
        rows = [{"implementation": impl, **info} for (group, impl), info in self.speed.items()]
        order = {n: i for i, n in enumerate(self.names)}
        return sorted(rows, key=lambda r: (r["group"] != "tutorial cell", r["size"][0], order.get(r["implementation"], 0)))

    def goals(self, rows) -> list:
        """The README's performance goals, each judged from this run's intervals: met or not met only
        where the interval lies on one side of the goal; otherwise the run cannot tell."""
        out = []
        cell = [r for r in rows if r["group"] == "tutorial cell"]
        if cell:
            best = min(cell, key=lambda r: r["floor_ratio"])
            verdict = timing.judge(best["ratio_low"], best["ratio_high"], 1.10)
            out.append(f"fastest at its tutorial cell: {best['implementation']}, {best['floor_ratio']:.2f}x the floor "
                       f"[{best['ratio_low']:.2f}, {best['ratio_high']:.2f}] (goal <= 1.10x: {verdict})")
        tiny = [r for r in rows if r["size"] == [1, 1, 1, 1] and "whole_loop" in self.tags.get(r["implementation"], ())]
        if tiny:
            verdicts = [timing.judge(r["us_low"], r["us_high"], 1.0) for r in tiny]
            verdict = "not met" if "not met" in verdicts else "cannot tell" if "cannot tell" in verdicts else "met"
            out.append("whole-loop compiled, size 1: " + ", ".join(
                f"{r['implementation']} {r['us_per_step']:.2f} [{r['us_low']:.2f}, {r['us_high']:.2f}] us" for r in tiny)
                       + f" per step (goal < 1 us: {verdict})")
        big = [r for r in rows if r["size"][0] >= 2048 and r["group"] != "tutorial cell"]
        if big:
            best = max(big, key=lambda r: r["peak_share"])
            low = best["peak_share"] * best["us_per_step"] / best["us_high"]
            high = best["peak_share"] * best["us_per_step"] / best["us_low"] if best["us_low"] > 0 else float("inf")
            out.append(f"size >= 2048: best {best['implementation']} at {best['peak_share']:.0%} [{low:.0%}, {high:.0%}] "
                       f"of the peak (goal >= 85%: {timing.judge(low, high, 0.85, below=False)})")
        busy = [r["implementation"] for r in rows if r["busy"]]
        if busy:
            out.append(f"not judged as facts: {', '.join(busy)} measured while the machine was busy: rerun")
        return out

    def as_json(self, environment, figures, speed_rows) -> dict:
        fams = self.families()
        every = list(dict.fromkeys(f for n in self.shown() for f in self.applicable.get(n, ()))) or fams
        return {
            "schema": 2, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": environment,
            "families": fams, "all_families": [f for f in FAMILIES.values() if f in every or f in fams],
            "figures": figures, "speed": _finite(speed_rows), "speed_goals": self.goals(speed_rows),
            "not_implementations": self.not_implementations,
            "implementations": [{"name": n, "file": self.files.get(n, ""), "verdict": self.verdict(n),
                                 "applicable": list(self.applicable.get(n, fams)),
                                 "cells": {f: self.cell(n, f) for f in fams}, "notes": self.import_notes.get(n, []),
                                 "tutorial_run": _finite(self.runs.get(n)), "time": self.spent(n)}
                                for n in self.shown()],
        }


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


class Reporter:
    """Registered by the plugin once the implementations are known (not in xdist workers)."""

    def __init__(self, config, impls, deselected=None, not_implementations=()):
        self.config, self.report = config, Report(i.name for i in impls)
        self.report.tags = {i.name: i.tags for i in impls}
        self.report.applicable = {i.name: applicable(config, i) for i in impls}
        self.report.files = {i.name: i.where for i in impls}
        self.report.import_notes = {i.name: list(i.notes) for i in impls if i.notes}
        self.report.not_implementations = list(not_implementations)
        self.deselected = deselected if deselected is not None else {}
        self.frameworks = {f for i in impls for f in i.frameworks}
        self.live, self.item, self.looping = None, None, False
        self.first_test = None  # when it began, for the time before it

    # -- the live line

    def progress_on(self) -> bool:
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        choice = self.config.getoption("progress")
        if tr is None or choice == "off" or getattr(self.config.option, "numprocesses", None):
            return False
        return choice == "on" or (tr.isatty and self.config.get_verbosity() == 0)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session):
        if self.progress_on():
            self.live = self.config.pluginmanager.get_plugin("terminalreporter")
            self.live.showfspath = False
            self.live._show_progress_info = False  # the live line says how far the run is
            self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report):
        """With the live line on, pytest's own letter per test is left out."""
        status = yield
        return (status[0], "", "") if self.live is not None and self.looping else status

    def pytest_runtest_setup(self, item):
        self.item = item
        self.first_test = self.first_test or time.perf_counter()

    def pytest_runtest_logreport(self, report):
        self.report.add(report)
        if self.live is not None and (report.when == "teardown" or report.failed):
            self.show(report)

    def show(self, report):
        tr, props = self.live, dict(report.user_properties)
        impl, family = props.get("impl", "-"), family_of(report.nodeid) or report.nodeid.split("::")[0]
        if report.failed:
            tr.rewrite(f"FAIL {impl} · {family}: {props.get('reason', 'failed')}", erase=True, red=True)
            tr.write_line("")
        runner = self.item.callspec.params.get("impl") if hasattr(self.item, "callspec") else None
        runner = runner if isinstance(runner, Impl) else None
        last = f"   t = {runner.last[0] - 1}  loss = {runner.last[1]:.4g}" if runner and runner.last else ""
        total = str(self.session.testscollected)
        line = f"[{len(self.report.done):>{len(total)}}/{total}] {impl} · {family}{last}"
        tr.rewrite(line[: tr._tw.fullwidth - 1], erase=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session):
        self.looping = True
        try:
            result = yield
        finally:
            self.looping = False  # the short summary after the loop asks for the words again
        if self.live is not None:
            self.live.rewrite("", erase=True)
            self.live.rewrite("")
        return result

    # -- the end

    def gpu_reason(self) -> str:
        """Why the speed table has no GPU rows ('' if one was available)."""
        from conformance.loading import gpu_missing_reason

        return gpu_missing_reason(set(self.frameworks) or {"torch"})

    def pytest_terminal_summary(self, terminalreporter):
        rep, tr = self.report, terminalreporter
        families = rep.families()
        if not families:
            return
        tr.section("conformance")
        for line, verdict in matrix_lines(rep, families):
            tr.write_line(line, red=verdict == "FAILS", green=bool(verdict) and verdict.startswith("conforms"))
        notes = why_lines(rep, families, self.deselected)
        if notes:
            tr.write_line("")
            for line in notes:
                tr.write_line(line)
        from conformance.plugin import STARTED

        began = self.config.stash.get(STARTED, None)
        before = self.first_test - began if self.first_test and began else None  # None under xdist: the workers'
        lines = time_lines(rep, bool(self.config.getoption("impl")), before)
        if lines:
            tr.write_line("")
            for line in lines:
                tr.write_line(line)
        rows = rep.speed_rows()
        if rows:
            tr.section("speed")
            for line in speed_lines(rows, self.gpu_reason()):
                tr.write_line(line)
            for line in rep.goals(rows):
                tr.write_line("goal: " + line)
        where = self.write_files(rows)
        if where:
            tr.write_line("")
            tr.write_line(f"report: {where}")
        target = self.config.getoption("gradescope")
        if target:
            data = self.report.as_json([], {"files": {}}, rows)
            Path(target).write_text(json.dumps(gradebook.gradescope(data), indent=1, allow_nan=False))
            tr.write_line(f"gradescope: {target}")

    def write_files(self, rows):
        """The report's files (rows: the speed rows); where they went, or '' for --report=none."""
        option = self.config.getoption("report")
        if option == "none":
            return ""
        from conformance import figures as draw

        outdir = ROOT / "reports" if option is None else Path(option).resolve()
        outdir.mkdir(parents=True, exist_ok=True)
        figures = {"files": {}}
        if self.report.runs and len(self.report.runs) <= draw.MOST:
            runs = {n: self.report.runs[n] for n in self.report.names if n in self.report.runs}
            drawn = draw.draw(runs, outdir)
            figures = {"files": {k: p.name for k, p in drawn["files"].items()}, "colours": drawn["colours"]}
        sweep = [r for r in rows if r["group"].startswith("sweep")]
        if sweep:
            figures["files"]["speed_sweep"] = draw.draw_sweep(sweep, self.report.names, outdir).name
        data = self.report.as_json(header_lines(self.config), figures, rows)
        data["speed_gpu"] = self.gpu_reason() if rows else ""
        data["left_out"] = {reason: len(ids) for reason, ids in self.deselected.items()}
        (outdir / "conformance.json").write_text(json.dumps(data, indent=1, allow_nan=False))
        (outdir / "conformance.html").write_text(to_html(data, outdir))
        (outdir / "gradebook.csv").write_text(gradebook.to_csv(data))
        names = ["conformance.html", "conformance.json", "gradebook.csv", *figures.get("files", {}).values()]
        return f"{shown_path(outdir)}/ ({', '.join(names)})"


EACH_MOST = 10  # rows of a run said one by one (time lines; not-applicable lines list their names)


def time_lines(rep, per_impl, before=None) -> list:
    """Where the tests' time went: inside the implementations' own train, or the suite's (the oracle
    and its shadows, the checks). A line per implementation for plug-ins; else one line in all.
    before: seconds from the start to the first test (imports, collection, the structure probe)."""
    spent = {n: rep.spent(n) for n in rep.shown()}
    spent = {n: s for n, s in spent.items() if s["tests_s"] > 0}
    if not spent:
        return []
    if not per_impl:
        tests, train = sum(s["tests_s"] for s in spent.values()), sum(s["train_s"] for s in spent.values())
        return [f"time: {tests:.1f} s in the tests, {train:.1f} s of it inside the implementations' train; "
                "per implementation and family in conformance.json"]
    lines = []
    if len(spent) > EACH_MOST:  # a class: the total, and the slowest few
        tests, train = sum(s["tests_s"] for s in spent.values()), sum(s["train_s"] for s in spent.values())
        lines.append(f"time: {len(spent)} implementations' tests took {tests:.1f} s, {train:.1f} s of it inside "
                     f"their train; {(tests - train) / len(spent):.1f} s each the suite's own on average; the "
                     "slowest below, every one in gradebook.csv")
        spent = dict(sorted(spent.items(), key=lambda kv: -kv[1]["tests_s"])[:3])
    for name, s in spent.items():
        per_step = f", {1e3 * s['train_s'] / s['steps']:.2g} ms a step on average" if s["steps"] else ""
        slowest = sorted(s["families"].items(), key=lambda kv: -kv[1]["tests_s"])[:3]
        lines.append(f"time: {name}'s tests took {s['tests_s']:.1f} s: {s['train_s']:.1f} s inside its train "
                     f"({s['calls']:,} calls, {s['steps']:,} steps{per_step}), {s['tests_s'] - s['train_s']:.1f} s "
                     "the suite's own (the oracle, the checks); the longest families: "
                     + ", ".join(f"{f} {v['tests_s']:.1f} s ({v['train_s']:.1f} s in train)" for f, v in slowest))
    if before is not None:
        lines.append(f"time: {before:.1f} s before the first test (imports, the frameworks' set-up, collection, "
                     "one-step calls of the 16 structures)")
    return lines


def speed_lines(rows, gpu_reason=""):
    yield (f"medians over undisturbed blocks, [95% intervals]; peak {rows[0]['peak_gflops']:.0f} GFLOP/s (float32 "
           f"matmul of {timing.PEAK_SIZE}^2, best of torch and NumPy, measured in this run); floor = the step's "
           "matrix products alone, timed in the same blocks")
    head = ("implementation", "group", "N,D_in,H,D_out", "us/step [interval]", "x floor [interval]", "GFLOP/s",
            "of peak", "per call", "one-time", "blocks")
    width = max(len(r["implementation"]) for r in [*rows, {"implementation": head[0]}]) + 2
    fmt = f"{{:<{width}}}{{:<15}}{{:<20}}{{:>24}}{{:>22}}{{:>9}}{{:>9}}{{:>11}}{{:>10}}  {{}}"
    yield fmt.format(*head)
    for r in rows:
        us = f"{num(r['us_per_step'], '.1f')} [{num(r['us_low'], '.1f')}, {num(r['us_high'], '.1f')}]"
        ratio = f"{num(r['floor_ratio'], '.2f')} [{num(r['ratio_low'], '.2f')}, {num(r['ratio_high'], '.2f')}]"
        blocks = f"{r['blocks']}" + (f" in {r['passes']} passes" if r.get("passes", 1) > 1 else "") + \
            (f" ({r['disturbed']} disturbed)" if r["disturbed"] else "")
        if r["busy"]:
            blocks += f"  machine busy during this measurement ({r['busy_share']:.0%} used by others): rerun"
        yield fmt.format(r["implementation"], r["group"], ",".join(map(str, r["size"])), us, ratio,
                         num(r["gflops"], ".1f"), num(r["peak_share"], ".0%"), num(r["per_call_ms"], ".2f", " ms"),
                         num(r["one_time_s"], ".2f", " s"), blocks)
    if gpu_reason:
        yield f"cuda: no rows ({gpu_reason}); every row above is the CPU"


def num(value, spec, unit="") -> str:
    """A measured number, or '-' where there is none (JSON's null, NaN)."""
    return "-" if value is None or value != value else f"{value:{spec}}{unit}"


def header_lines(config) -> list:
    """The run's setting: the report header (implementations, frameworks, devices) and the command."""
    lines = []
    for result in config.hook.pytest_report_header(config=config, start_path=config.rootpath):
        lines.extend([result] if isinstance(result, str) else result)
    return lines + ["command: pytest " + " ".join(shlex.quote(a) for a in config.invocation_params.args)]


# ----------------------------------------------------------------- text


def mark(cell) -> str:
    if cell.get("fault"):  # a worker that crashed, exited, hung or was interrupted: its status, as harnesses say it
        return f"{cell['fault']} {cell['faults']}/{cell['pass'] + cell['fail'] + cell['skip']}"
    if cell["status"] == "pass" and cell.get("notes"):
        return "pass*"
    return {"pass": "pass", "skip": "skip", "not run": "-"}.get(cell["status"]) or \
        f"FAIL {cell['fail']}/{cell['pass'] + cell['fail'] + cell['skip']}"


def matrix_lines(rep, families):
    width = max(len(n) for n in rep.shown()) + 2
    rows = {name: [mark(rep.cell(name, f)) for f in families] for name in rep.shown()}
    cols = [max([len(f), 9] + [len(r[i]) for r in rows.values()]) + 2 for i, f in enumerate(families)]
    yield "".ljust(width) + "".join(f.ljust(c) for f, c in zip(families, cols)) + "verdict", None
    for name, row in rows.items():
        verdict = rep.verdict(name)
        yield name.ljust(width) + "".join(r.ljust(c) for r, c in zip(row, cols)) + verdict, verdict


def why_lines(rep, families, deselected=None):
    """A line per failed cell (reason, its details, its repro), one per note (* in the matrix), one
    per skip reason with its cells, and one per reason checks were left out as not applicable."""
    lines, skips = [], {}
    for name in rep.shown():
        for f in families:
            cell = rep.cell(name, f)
            if cell["status"] == "fail":
                more = f" (+{cell['fail'] - 1} more)" if cell["fail"] > 1 else ""
                lines += [f"{name} · {f}: {cell['reason']}{more}"] + [f"    {d}" for d in cell.get("details", [])]
                lines += [f"    reproduce: {cell['reproduce']}"] if not any("replay:" in d for d in cell.get("details", [])) \
                    else []
            elif cell["status"] == "skip":
                skips.setdefault((f, cell["reason"]), []).append(name)
            for note in cell.get("notes", []):
                lines.append(f"* {name} · {f}: {note}")
    for (f, reason), names in skips.items():
        who = "every implementation" if len(names) == len(rep.shown()) > 1 else ", ".join(names)
        lines.append(f"{f} skipped for {who}: {reason}")
    lines += left_out_lines(deselected or {}, rep.shown())
    return lines


# ----------------------------------------------------------------- HTML

def left_out_lines(deselected: dict, names: list) -> list:
    """'not applicable, left out (N): <reason>', one line per reason; reasons that differ only in
    the implementation they name are one line that counts them (a class's 30 rows)."""
    grouped = {}
    for reason, ids in deselected.items():
        name = max((n for n in names if f" {n}:" in reason or f" {n} " in reason), key=len, default=None)
        key = reason.replace(f" {name}", " \0", 1) if name else reason
        count, who = grouped.setdefault(key, [0, []])
        grouped[key][0] = count + len(ids)
        who += [name] if name else []
    out = []
    for key, (count, who) in grouped.items():
        if len(who) > 1:
            shown = ", ".join(who[:EACH_MOST]) + (f" and {len(who) - EACH_MOST} more" if len(who) > EACH_MOST else "")
            key = key.replace("\0", f"{len(who)} implementations ({shown})", 1)
        elif who:
            key = key.replace("\0", who[0], 1)
        out.append(f"not applicable, left out ({count}): {key}")
    return out


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .35em .7em; text-align: left; vertical-align: top; }
td.pass { background: #dff3e0; } td.fail { background: #f9d6d5; } td.skip { background: #f3efd9; color: #555; }
.verdict-conforms { color: #1a6b22; font-weight: 600; } .verdict-FAILS { color: #a61b14; font-weight: 600; }
section.row { border-top: 1px solid #eee; } section.row h3 { margin-bottom: .2em; } svg.panel { max-width: 100%; }
td.verdict-partly { color: #1a6b22; }
tr.FAILS th { color: #a61b14; } pre { background: #f5f5f5; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
img { max-width: 100%; border: 1px solid #ddd; } .small { color: #666; font-size: 12px; }
"""


def anchor(name, family=None) -> str:
    """The id of a failed cell's section, or of a row's own section (family None)."""
    return ("row-" if family is None else "fail-") + "".join(c if c.isalnum() else "-" for c in
                                                             (name if family is None else f"{name}-{family}"))


def row_sections(data) -> str:
    """A section per implementation, failures first: its verdict, file, first failure and the
    likely bug, notes, and its tutorial run beside the oracle's (conformance/panels.py)."""
    e = html.escape
    out = []
    rows = sorted(data["implementations"], key=lambda i: not i["verdict"] == "FAILS")
    for impl in rows:
        failed = [(f, c) for f, c in impl["cells"].items() if c["status"] == "fail"]
        lines = [f'<p><b class="verdict-{"FAILS" if failed else "conforms"}">{e(impl["verdict"])}</b>'
                 + (f' · <code>{e(impl["file"])}</code>' if impl.get("file") else "") + "</p>"]
        for family, cell in failed[:1]:
            lines.append(f'<p>{e(family)}: {e(cell["reason"])} <a href="#{anchor(impl["name"], family)}">'
                         f'repro</a></p>')
        lines += [f'<p class="small">{e(note)}</p>' for note in impl.get("notes", [])]
        run = impl.get("tutorial_run")
        figure = (panels.row_svg(run, failed=any(f == "trajectory" for f, _ in failed)) if run else
                  '<p class="small">No tutorial run (the learning family did not run for it).</p>')
        out.append(f'<section class="row" id="{anchor(impl["name"])}"><h3>{e(impl["name"])}</h3>'
                   f'{"".join(lines)}{figure}</section>')
    return "".join(out)


def to_html(data, outdir) -> str:
    e = html.escape
    fams = data["families"]
    rows, notes = [], {}  # notes: skip reason or note -> its number under the table
    for impl in data["implementations"]:
        cells = []
        for f in fams:
            c = impl["cells"][f]
            label = mark(c)
            if c["status"] == "fail":
                body = f'<a href="#{anchor(impl["name"], f)}">{e(label)}</a><br><span class="small">{e(c["reason"])}</span>'
            elif c["status"] == "skip":
                n = notes.setdefault(f"skipped: {c['reason']}", len(notes) + 1)
                body = f'{e(label)} <a href="#skip-{n}"><sup>{n}</sup></a>'
            elif c.get("notes"):
                marks = [notes.setdefault(f"note: {t}", len(notes) + 1) for t in c["notes"]]
                body = e(label) + "".join(f' <a href="#skip-{n}"><sup>{n}</sup></a>' for n in marks)
            else:
                body = e(label)
            cells.append(f'<td class="{e(c["status"].replace(" ", "-"))}" title="{e(c.get("reason", label))}">{body}</td>')
        kind = impl["verdict"] if impl["verdict"] in ("conforms", "FAILS") else "partly"
        rows.append(f'<tr class="{e(kind)}"><th><a href="#{anchor(impl["name"])}">{e(impl["name"])}</a></th>'
                    f'{"".join(cells)}'
                    f'<td class="verdict-{e(kind)}">{e(impl["verdict"])}</td></tr>')
    failures = []
    for impl in data["implementations"]:
        for f in fams:
            c = impl["cells"][f]
            if c["status"] != "fail":
                continue
            items = "".join(f'<li><code>{e(t["test"])}</code>: {e(t["reason"])}'
                            + "".join(f'<br><span class="small">{e(d)}</span>' for d in t.get("details") or [])
                            + f'<pre>{e(t["reproduce"] or "")}</pre></li>' for t in c["failures"])
            failures.append(f'<section id="{anchor(impl["name"], f)}"><h3>{e(impl["name"])} · {e(f)}</h3>'
                            f'<p>To reproduce, run in the directory the suite was run from:</p><ul>{items}</ul></section>')
    figs = []
    for key, caption in (("loss_curves", "Loss per step of each implementation's tutorial run (log scale)."),
                         ("trajectory_error", "Per step, the relative distance of each run's loss from the "
                                              "float64 oracle's from the same start (log scale).")):
        name = data["figures"].get("files", {}).get(key)
        if name:
            png = b64encode((outdir / name).read_bytes()).decode()
            figs.append(f'<figure id="{key}"><img alt="{e(caption)}" src="data:image/png;base64,{png}">'
                        f'<figcaption>{e(caption)} Also written as <code>{e(name)}</code>.</figcaption></figure>')
    if not figs and any(i.get("tutorial_run") for i in data["implementations"]):
        figs.append("<p>More rows than one axes can show apart: each row's own panel is above.</p>")
    if not figs:
        figs.append("<p>No tutorial runs in this session (the learning family did not run), so no figures.</p>")
    speed_html = ""
    if data["speed"]:
        lines = list(speed_lines(data["speed"], data.get("speed_gpu", "")))
        speed_html = (f'<h2>Speed</h2><pre id="speed">{e(chr(10).join(lines))}</pre>'
                      + "".join(f"<p>{e(g)}</p>" for g in data["speed_goals"]))
        name = data["figures"].get("files", {}).get("speed_sweep")
        if name:
            png = b64encode((outdir / name).read_bytes()).decode()
            speed_html += (f'<figure id="speed_sweep"><img alt="time per step and GFLOP/s against size" '
                           f'src="data:image/png;base64,{png}"><figcaption>Time per step and achieved rate '
                           f'against size. Also written as <code>{e(name)}</code>.</figcaption></figure>')
    timed = [i for i in data["implementations"] if i.get("time", {}).get("tests_s")]
    time_html = ""
    if timed:
        head = "".join(f"<th>{e(h)}</th>" for h in ("implementation", "in its tests", "inside its train", "calls",
                                                       "steps", "longest family"))
        body = []
        for i in timed:
            t = i["time"]
            longest, spent = max(t["families"].items(), key=lambda kv: kv[1]["tests_s"])
            body.append(f'<tr><th>{e(i["name"])}</th><td>{t["tests_s"]:.1f} s</td><td>{t["train_s"]:.1f} s</td>'
                        f'<td>{t["calls"]:,}</td><td>{t["steps"]:,}</td>'
                        f'<td>{e(longest)} {spent["tests_s"]:.1f} s</td></tr>')
        time_html = (f'<h2>Time</h2><p>Where each implementation\'s tests spent their time: inside its own '
                     f'<code>train</code>, or in the suite (the oracle, the checks).</p>'
                     f'<table id="time"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')
    verdicts = [i["verdict"] for i in data["implementations"]]
    others = (f'<p id="not-implementations">Not implementations (they define no <code>train</code>): '
              f'{e(", ".join(data["not_implementations"]))}</p>' if data.get("not_implementations") else "")
    summary = f'{sum(v.startswith("conforms") for v in verdicts)} of {len(verdicts)} implementations conform'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>Conformance report: {e(summary)}</title><style>{STYLE}</style></head>
<body>
<h1>Conformance report</h1>
<p id="summary">{e(summary)}. Written {e(data["created"])}.</p>
<table id="matrix"><thead><tr><th>implementation</th>{"".join(f"<th>{e(f)}</th>" for f in fams)}<th>verdict</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{"".join(f'<p class="small" id="skip-{n}"><sup>{n}</sup> {e(r)}</p>' for r, n in notes.items())}
{others}
<h2>Rows</h2>
<p>Each implementation's tutorial run, failures first: its loss beside the float64 oracle's from the same
start, and per step its distance from the oracle's loss (solid) with the bound rounding allows (dotted).</p>
{row_sections(data)}
<h2>Failures</h2>
{"".join(failures) or "<p>None.</p>"}
<h2>Tutorial runs</h2>
{"".join(figs)}
{speed_html}
{time_html}
<h2>Run</h2>
<pre>{e(chr(10).join(data["environment"]))}</pre>
</body></html>
"""
