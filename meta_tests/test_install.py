"""The suite as a wheel: built from the project, installed without a checkout (not editable), it
runs `pytest --impl mine.py` from any directory, passes a correct module and fails a broken one."""
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conformance import ROOT
from meta_tests.catalogue import BUGS
from meta_tests.subprocesses import fresh_env, pytest_cmd

PARTS = ("pyproject.toml", "conformance", "tests", "implementations")  # what `pip wheel .` reads


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The folder the wheel was installed into (pip install --target), from a copy of the project."""
    top = tmp_path_factory.mktemp("install")
    src, target = top / "src", top / "site"
    src.mkdir()
    for part in PARTS:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / part, src / part)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(top / "dist")], cwd=src,
                   check=True, capture_output=True, timeout=300)
    wheel = next((top / "dist").glob("*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True,
                   capture_output=True, timeout=300)
    return target


def run_installed(site, cwd, *args):
    env = dict(fresh_env(), PYTHONPATH=str(site))  # ahead of the checkout's editable install
    return subprocess.run(pytest_cmd(*args), cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def test_the_wheel_holds_the_whole_suite(installed):
    families = sorted(p.name for p in (ROOT / "tests").glob("test_*.py"))
    assert sorted(p.name for p in (installed / "conformance" / "suite").glob("test_*.py")) == families
    for part in ("core/oracle.py", "state/changes.py", "plugin.py"):
        assert (installed / "conformance" / part).is_file(), part
    assert (installed / "implementations" / "contract.py").is_file()


def test_an_installed_suite_judges_a_module_without_a_checkout(installed, tmp_path):
    student = ROOT / "meta_tests" / "correct" / "student.py"
    bug = next(b for b in BUGS if b.id == "missing_factor_two")
    (tmp_path / "student.py").write_text(student.read_text())
    (tmp_path / "buggy.py").write_text(bug.text())
    proc = run_installed(installed, tmp_path, "--impl", "student.py", "--impl", "buggy.py", "-p", "no:xdist",
                         "-k", "contract or gradients or domain")
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:] + proc.stderr[-2000:]
    assert f"rootdir: {installed / 'conformance'}" in out, out[:2000]  # the installed suite, not the checkout's
    assert "configfile" not in out.split("collected")[0], out[:2000]
    assert re.search(r"^student +pass +pass +pass +conforms \(3 of 7 families run\)$", out, re.M), out[-3000:]
    assert re.search(r"^buggy +FAIL \d+/\d+ +FAIL \d+/\d+ +FAIL \d+/\d+ +FAILS$", out, re.M), out[-3000:]
    assert "a missing factor 2" in out, out[-3000:]
    assert (tmp_path / "reports" / "conformance.json").is_file()  # in the directory it ran in
    # the replay line a domain failure prints runs the installed suite's test, as pasted
    replay = shlex.split(re.search(r"^ +replay: (.*)$", out, re.M)[1])
    assert replay[:3] == ["python", "-m", "pytest"] and replay[3].startswith(str(installed / "conformance" / "suite")), replay
    again = subprocess.run([sys.executable, *replay[1:], "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=600, env=dict(fresh_env(), PYTHONPATH=str(installed)))
    assert again.returncode == 1 and "1 failed" in again.stdout and "a missing factor 2" in again.stdout, \
        again.stdout[-3000:]
