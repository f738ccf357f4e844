"""Proof that the suite catches bugs: every broken module of the catalogue fails the check
family that should catch it, with a message that points at the bug; correct modules written
in other styles pass the whole suite; unusable modules get one clear error."""
import re

import pytest

from tests.catalogue import BUGS, Bug
from tests.helpers import ROOT, bundled, setup

pytestmark = pytest.mark.selftest
ARGS = ("-p", "no:cacheprovider", "--rootdir", str(ROOT), "-c", str(ROOT / "pytest.ini"), "--report=none")


@pytest.fixture(scope="module", autouse=True)
def frameworks_loaded():
    """Run every bundled module once first: pytester drops the modules an inner run imports,
    and torch's and TensorFlow's lazily imported parts cannot be imported twice in a process."""
    for impl in bundled():
        impl.run(*setup(impl, 0, "float32", steps=1))


def run_suite(pytester, module_path, isolate=False):
    """Run the whole suite on one module; return [(nodeid, failure text)]."""
    args = (str(ROOT / "tests"), "--impl", str(module_path), "-rf", *ARGS)
    if isolate:
        result = pytester.runpytest_subprocess(*args)
        out = result.stdout.str()
        return [(m, out) for m in re.findall(r"^FAILED (\S+)", out, re.M)]
    reprec = pytester.inline_run(*args)
    return [(r.nodeid, r.longreprtext) for r in reprec.getreports("pytest_runtest_logreport") if r.failed]


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_suite_catches(pytester, bug: Bug):
    path = pytester.path / f"{bug.id}.py"
    path.write_text(bug.text())
    failures = run_suite(pytester, path, bug.isolate)
    assert failures, f"the suite passed the broken module {bug.id} ({bug.family} should catch it)"
    caught = [text for nodeid, text in failures if f"/{bug.family}.py" in nodeid and re.search(bug.message, text)]
    assert caught, (f"{bug.id}: no failure in {bug.family} matching {bug.message!r}; failures were:\n"
                    + "\n".join(f"{n}: {t.splitlines()[0] if t else ''}" for n, t in failures[:12]))


@pytest.mark.parametrize("module", ["tests/plugins/student.py", "tests/reference.py"])
def test_correct_modules_in_other_styles_pass(pytester, module):
    failures = run_suite(pytester, ROOT / module)
    assert not failures, "\n".join(f"{n}: {t}" for n, t in failures)


UNUSABLE = {
    "no_train": ("CONFIG = None\n", r"defines no train\(x, y, cfg\) function"),
    "unknown_config_field": ("CONFIG = {'learning_rate': 1e-3}\ndef train(x, y, cfg): pass\n",
                             r"bad CONFIG: .*unknown field.*learning_rate"),
    "impossible_config_value": ("CONFIG = {'lr': -1}\ndef train(x, y, cfg): pass\n", r"bad CONFIG: cfg.lr must be"),
    "import_fails": ("import not_a_module_anywhere\n", r"import failed: ModuleNotFoundError"),
    "bad_tags": ("TAGS = 'numpy'\ndef train(x, y, cfg): pass\n", r"TAGS must be a sequence"),
}


@pytest.mark.parametrize("case", UNUSABLE)
def test_unusable_module_is_one_clear_error(pytester, case):
    source, message = UNUSABLE[case]
    path = pytester.path / f"{case}.py"
    path.write_text(source)
    result = pytester.runpytest_inprocess(str(ROOT / "tests"), "--impl", str(path), *ARGS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert re.search(f"{case}.py: {message}", err), err
    assert "Traceback" not in err


def test_result_without_keys_names_them(pytester):
    path = pytester.path / "no_grads.py"
    path.write_text("import numpy as np\ndef train(x, y, cfg):\n    return {'losses': np.zeros(cfg.steps)}\n")
    failures = run_suite(pytester, path)
    assert failures and all("train returned a result without ['init', 'params'" in t or "NotImplemented" in t
                            or "no error raised" in t or "should raise" in t for _, t in failures)
    assert any("train returned a result without ['init', 'params', 'grads']" in t for _, t in failures)
