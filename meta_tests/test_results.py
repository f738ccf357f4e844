"""The run as data (conformance/results.py), fed plain reports without pytest running: cells,
verdicts, the first failure in collection order whatever order reports arrive in (xdist)."""
from types import SimpleNamespace

import pytest

from conformance.results import Report

pytestmark = pytest.mark.selftest


def rep(test, outcome="passed", impl="mine", when="call", **props):
    return SimpleNamespace(nodeid=f"tests/{test}", when=when, passed=outcome == "passed", failed=outcome == "failed",
                           skipped=outcome == "skipped", duration=0.5, longrepr=("", 0, "Skipped: no GPU"),
                           user_properties=[("impl", impl), ("trained", [0.1, 1, 10]), *props.items()])


def test_cells_verdicts_and_time():
    report = Report(["mine", "other"])
    report.applicable = {"mine": ["contract", "devices"], "other": ["contract"]}
    for r in (rep("test_contract.py::test_a[mine]"), rep("test_devices.py::test_gpu[mine]", "skipped"),
              rep("test_contract.py::test_a[other]", "failed", impl="other", reason="bad", reproduce="cmd")):
        report.add(r)
    assert report.cell("mine", "contract")["status"] == "pass" and report.cell("mine", "devices")["status"] == "skip"
    assert report.verdict("mine") == "conforms" and report.verdict("other") == "FAILS"
    assert report.cell("other", "contract")["reason"] == "bad"
    assert report.spent("mine")["tests_s"] == 1.0 and report.spent("mine")["steps"] == 20


def test_the_first_failure_is_the_collections_first_whatever_arrives_first():
    report = Report(["mine"])
    report.order = {"tests/test_contract.py::test_a[mine]": 0, "tests/test_contract.py::test_b[mine]": 1}
    report.add(rep("test_contract.py::test_b[mine]", "failed", reason="second", reproduce="b"))
    report.add(rep("test_contract.py::test_a[mine]", "failed", reason="first", reproduce="a"))
    cell = report.cell("mine", "contract")
    assert cell["reason"] == "first" and [f["reason"] for f in cell["failures"]] == ["first", "second"]
    assert cell["fail"] == 2


def test_state_left_changed_is_one_hygiene_failure_however_many_tests_saw_it():
    """Under -n each process makes its own calls, so how many tests' calls leak depends on the split:
    the cell counts the leak once, with the collection's first test that saw it."""
    report = Report(["mine"])
    report.order = {f"tests/test_contract.py::test_{c}[mine]": i for i, c in enumerate("abc")}
    report.add(rep("test_hygiene.py::test_x[mine]"))
    for c in "cab":
        report.add(rep(f"test_contract.py::test_{c}[mine]", "failed", when="teardown", leak=["torch default dtype"],
                       reproduce=c))
    cell = report.cell("mine", "hygiene")
    assert (cell["pass"], cell["fail"]) == (1, 1) and cell["reproduce"] == "a" and "test_a" in cell["reason"]
    assert cell["failures"][0]["leaks"] == 3


def test_ids_are_shown_without_the_xdist_group():
    """Under --dist loadgroup each id ends in its group (`[mine]@mine`): the report names the test
    as the collection did, and orders it by the collection's place."""
    report = Report(["mine"])
    report.order = {"tests/test_contract.py::test_a[mine]": 0, "tests/test_contract.py::test_b[mine]": 1}
    report.add(rep("test_contract.py::test_b[mine]@mine", "failed", when="teardown", leak=["torch default dtype"],
                   reproduce="b"))
    report.add(rep("test_contract.py::test_a[mine]@mine", "failed", when="teardown", leak=["torch default dtype"],
                   reproduce="a"))
    cell = report.cell("mine", "hygiene")
    assert cell["reproduce"] == "a" and cell["reason"].startswith("a call during test_a[mine] left"), cell
    assert "@" not in cell["failures"][0]["test"]
