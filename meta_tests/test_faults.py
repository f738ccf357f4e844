"""Faults are failures (CONTRACT.md): a module that crashes, exits, hangs, raises KeyboardInterrupt,
exhausts memory, leaves threads or processes running, or patches pytest in its process gets a
failing verdict with a status that names it, in a run that goes on: a correct module beside it
in the same run still conforms, and the run's exit status is never 0."""
import json
import os
import re
import subprocess
import sys

import pytest

from conformance.loading import ROOT
from meta_tests.catalogue import BUGS
from meta_tests.subprocesses import fresh_env

pytestmark = pytest.mark.selftest
STUDENT = ROOT / "meta_tests" / "correct" / "student.py"
FAULTS = [b for b in BUGS if b.fault]
STATUS = re.compile(r"^(CRASH|EXIT|TIMEOUT|INTERRUPT) \d+/\d+$")


def run(tmp_path, *args, timeout=600):
    """The suite as a user starts it, from tmp_path, with the report in tmp_path/report."""
    env = fresh_env()
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                           f"--report={tmp_path / 'report'}", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)


def cells(tmp_path) -> dict:
    data = json.loads((tmp_path / "report" / "conformance.json").read_text())
    return {i["name"]: i for i in data["implementations"]}


@pytest.mark.parametrize("bug", FAULTS, ids=[b.id for b in FAULTS])
def test_a_fault_beside_a_correct_module(tmp_path, bug):
    """The faulty module fails with its status (or, for patched reports, is caught all the same);
    the correct module in the same run conforms in every family run; the exit status is 1."""
    (tmp_path / "good.py").write_text(STUDENT.read_text())
    (tmp_path / "bad.py").write_text(bug.text())
    family = bug.family.removeprefix("test_")
    proc = run(tmp_path, str(ROOT / "tests"), "--impl=good.py", "--impl=bad.py", "-k", f"contract or {family}",
               *bug.args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, f"exit status {proc.returncode}:\n{out[-3000:]}"
    rows = cells(tmp_path)
    assert rows["good"]["verdict"].startswith("conforms"), rows["good"]
    assert rows["bad"]["verdict"] == "FAILS", rows["bad"]
    shown = {f: c for f, c in rows["bad"]["cells"].items() if c["status"] == "fail"}
    assert any(re.search(bug.message, c["reason"]) for c in shown.values()), shown
    if bug.message.startswith(("CRASH", "EXIT", "TIMEOUT", "INTERRUPT")):
        matrix = next(line for line in proc.stdout.splitlines() if line.startswith("bad "))
        assert any(STATUS.match(cell) for cell in re.split(r"\s{2,}", matrix)[1:]), matrix


def test_a_module_that_prints_millions_of_lines(tmp_path):
    """Output cannot flood the suite: a correct module that prints a million lines at import and
    in every call conforms, and none of it reaches the terminal."""
    flood = STUDENT.read_text().replace("def train(x, y, cfg):\n", "def train(x, y, cfg):\n"
                                        "    print('step\\n' * 100_000, end='')\n", 1)
    (tmp_path / "loud.py").write_text("print('hello\\n' * 1_000_000, end='')\n" + flood)
    proc = run(tmp_path, str(ROOT / "tests"), "--impl=loud.py", "-k", "contract or hygiene")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert cells(tmp_path)["loud"]["verdict"].startswith("conforms")
    assert "hello" not in proc.stdout and len(proc.stdout) < 200_000


def test_a_real_interrupt_still_stops_the_run(tmp_path):
    """Ctrl-C from the user (SIGINT to the suite's process) ends the run as pytest ends it, while
    a module's own KeyboardInterrupt is that module's failure (the catalogue's entry)."""
    (tmp_path / "slow.py").write_text(STUDENT.read_text().replace(
        "def train(x, y, cfg):\n", "def train(x, y, cfg):\n    import time\n    time.sleep(3)\n", 1))
    env = fresh_env()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(ROOT / "tests"),
                             "--impl=slow.py", "--report=none"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    import signal
    import time

    time.sleep(8)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-2000:]
    assert "KeyboardInterrupt" in out, out[-2000:]
