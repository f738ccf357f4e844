"""The conformance report (a pytest plugin, registered by conformance/plugin.py).

- Every failure ends with the command that reproduces it from the repository root.
- At the end: a matrix of implementations x check families, each cell pass, FAIL (with the
  one-line reason) or skip (with the reason), in the terminal, and written with the tutorial
  runs' figures as DIR/conformance.html (self-contained), DIR/conformance.json, DIR/*.png.
- On a terminal, one live line: tests done, implementation, family, the latest run's last
  step and loss (the tutorial's `t = 499  loss = ...`).
Works under pytest-xdist: everything it needs travels in each report's user_properties.
"""
import json
import shlex
import sys
import time
from pathlib import Path

import pytest

from conformance import HOME, ROOT, gradebook, pytest_private
from conformance.errors import shown_path
from conformance.html_report import to_html
from conformance.impl import Impl
from conformance.isolation import WorkerFault
from conformance.keys import IMPLS, STARTED
from conformance.pool import GPU_FRAMEWORKS, gpu_missing_reason
from conformance.results import FAMILIES, Prop, Report, family_of, leak_reason, plain_id, table_of  # noqa: F401 - leak_reason: the plugin's
from conformance.terminal import matrix_lines, speed_lines, time_lines, why_lines

def applicable(config, impl) -> list:
    """The families that apply to impl in this run: the timings alone under --benchmark-only; the
    devices family for an implementation whose framework can use a GPU."""
    if config.getoption("benchmark_only", False):
        return ["speed"]
    gpu = GPU_FRAMEWORKS & set(impl.frameworks)
    return [f for f in FAMILIES.values() if f != "speed" and (f != "devices" or gpu)]


def one_line(excinfo) -> str:
    """The failure in one line: the suite's own message, or the exception and where it came from."""
    if isinstance(excinfo.value, pytest.fail.Exception):
        text = str(excinfo.value.msg)
    elif getattr(excinfo.value, "oneline", None):  # raised in the worker: its place there is the module's
        text = excinfo.value.oneline
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


def reproduce(item, impl) -> str:
    """The command that reruns item alone."""
    name = item.name if item.cls is None else f"{item.cls.__name__}::{item.name}"
    path = Path(item.path).resolve()
    return command(item.config, path.relative_to(ROOT) if path.is_relative_to(ROOT) else path, name, impl)


_SEEN = {}  # id(impl) -> its Impl.trained when the last report took its share


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """Time spent in train before the first test (the probe during collection) is no test's."""
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
        item.user_properties.append((Prop.IMPL, impl.name))  # for the reports of the later phases
        report.user_properties.append((Prop.IMPL, impl.name))
    if impl is not None:  # the time this phase spent inside the implementation's own train
        seen = _SEEN.get(id(impl), (0.0, 0, 0))
        report.user_properties.append((Prop.TRAINED, [a - b for a, b in zip(impl.trained, seen)]))
        _SEEN[id(impl)] = impl.trained
    fault = _fault_of(call, impl)
    if fault is not None and not report.failed:  # a worker that ended without answering is never a pass
        report.outcome = "failed"
    if report.failed and (call.excinfo is not None or fault is not None):
        cmd = reproduce(item, impl)
        reason = f"{fault.status}: {fault.message.splitlines()[0]}" if fault is not None else one_line(call.excinfo)
        report.user_properties = [*report.user_properties, (Prop.REASON, reason[:600]), (Prop.REPRODUCE, cmd),
                                  (Prop.DETAILS, fault.message.splitlines()[1:] if fault is not None
                                   else details(call.excinfo))]
        if fault is not None:
            report.user_properties.append((Prop.FAULT, fault.status))
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
            pytest_private.hide_progress(self.live)
            self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report):
        """With the live line on, pytest's own letter per test is left out."""
        status = yield
        return (status[0], "", "") if self.live is not None and self.looping else status

    def pytest_collection_finish(self, session):
        if session.items:
            self.report.order = {plain_id(item.nodeid): i for i, item in enumerate(session.items)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        """Under xdist the controller collects nothing: the workers' order (the same in each) is the run's."""
        if not self.report.order:
            self.report.order = {plain_id(nodeid): i for i, nodeid in enumerate(ids)}

    def pytest_runtest_setup(self, item):
        self.item = item
        self.first_test = self.first_test or time.perf_counter()

    def pytest_runtest_logreport(self, report):
        self.report.add(report)
        if self.live is not None and (report.when == "teardown" or report.failed):
            self.show(report)

    def show(self, report):
        tr, props = self.live, dict(report.user_properties)
        impl, family = props.get(Prop.IMPL, "-"), family_of(report.nodeid) or report.nodeid.split("::")[0]
        if report.failed:
            tr.rewrite(f"FAIL {impl} · {family}: {props.get(Prop.REASON, 'failed')}", erase=True, red=True)
            tr.write_line("")
        runner = self.item.callspec.params.get("impl") if hasattr(self.item, "callspec") else None
        runner = runner if isinstance(runner, Impl) else None
        last = f"   t = {runner.last[0] - 1}  loss = {runner.last[1]:.4g}" if runner and runner.last else ""
        total = str(self.session.testscollected)
        line = f"[{len(self.report.done):>{len(total)}}/{total}] {impl} · {family}{last}"
        tr.rewrite(line[: pytest_private.width(tr) - 1], erase=True)

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
            for line in speed_lines(rows, self.gpu_reason(), rep.budgets):
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

        outdir = HOME / "reports" if option is None else Path(option).resolve()
        outdir.mkdir(parents=True, exist_ok=True)
        figures = {"files": {}}
        if self.report.runs and len(self.report.runs) <= draw.MOST:
            runs = {n: self.report.runs[n] for n in self.report.names if n in self.report.runs}
            drawn = draw.draw(runs, outdir)
            figures = {"files": {k: p.name for k, p in drawn["files"].items()}, "colours": drawn["colours"]}
        sweep = [r for r in rows if r["group"].startswith("sweep") and table_of(r) == "1"]
        if sweep:  # the one-thread table's, the repeatable one (the other tables' rows are in the JSON)
            figures["files"]["speed_sweep"] = draw.draw_sweep(sweep, self.report.names, outdir).name
        data = self.report.as_json(header_lines(self.config), figures, rows)
        data["speed_gpu"] = self.gpu_reason() if rows else ""
        data["left_out"] = {reason: len(ids) for reason, ids in self.deselected.items()}
        (outdir / "conformance.json").write_text(json.dumps(data, indent=1, allow_nan=False))
        (outdir / "conformance.html").write_text(to_html(data, outdir))
        (outdir / "gradebook.csv").write_text(gradebook.to_csv(data))
        names = ["conformance.html", "conformance.json", "gradebook.csv", *figures.get("files", {}).values()]
        return f"{shown_path(outdir)}/ ({', '.join(names)})"


def header_lines(config) -> list:
    """The run's setting: the report header (implementations, frameworks, devices) and the command."""
    lines = []
    for result in config.hook.pytest_report_header(config=config, start_path=config.rootpath):
        lines.extend([result] if isinstance(result, str) else result)
    return lines + ["command: pytest " + " ".join(shlex.quote(a) for a in config.invocation_params.args)]


# ----------------------------------------------------------------- text


