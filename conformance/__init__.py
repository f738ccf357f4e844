"""The suite's pytest plugin and the machinery it runs on (not the checks themselves: those are tests/).

The plugin: plugin.py (options, hooks, parametrising, the header), selection.py (what applies,
deselected with its reason, and the order), keys.py (the run's stash keys), pytest_private.py
(the private pytest API, in one place), remote.py (xdist's remote workers).
What --impl names: submissions.py (files, folders, patterns), notebooks.py, imports.py (frameworks
read from the source), loading.py (found and imported in a worker).
The process boundary: impl.py (Impl: an implementation's calls and the structures it computes),
replies.py (what a call's worker answers, made the suite's), pool.py (the workers kept alive),
isolation.py (a worker process: limits, fault statuses), worker.py (the worker's side), importer.py
(its import of a module), watch.py (what a call does besides its result), errors.py (exceptions in
one line), wire.py (plain data across the boundary), devices.py (the GPUs a worker's frameworks
see), state/ (process-wide state: the settings per framework, snapshot/diff/restore, generators, warm-up).
The report: results.py (the run as data), report.py (its hooks), terminal.py, html_report.py,
panels.py, figures.py, gradebook.py.
Speed: timing.py (the statistics), budgets.py (thread budgets). data.py: the suite's data.
The numeric core the check families share is core/ (its own __init__ lists it).

Installed into .venv by `./run` as the `conformance` pytest11 entry point, so that
`pytest --impl /elsewhere/mine.py` works from any directory.
"""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # a checkout's top; installed, the folder the packages are in
_spec = importlib.util.find_spec("conformance.suite")  # the check families, as the package maps tests/
SUITE = Path(_spec.origin).parent if _spec is not None and _spec.origin else ROOT / "tests"
INSTALLED = SUITE != ROOT / "tests"  # from a wheel: no checkout, no pytest.ini
HOME = Path.cwd() if INSTALLED else ROOT  # where reports/ and .hypothesis/ go
