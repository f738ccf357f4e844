"""The suite's pytest plugin and the machinery it runs on (not the checks themselves: those are tests/).

- plugin.py    options, loading the implementations, parametrising, deselecting, the header
- loading.py   an implementation under test (Impl): loading, frameworks, the structures it computes
- isolation.py the worker processes the implementations run in: limits, fault statuses
- worker.py    what runs in a worker: the import, the calls, the state watched around them
- wire.py      plain data across the process boundary (no pickle)
- devices.py   the GPUs a worker's frameworks see
- state.py     process-wide state: snapshot, compare, restore, the frameworks' warm-up
- data.py      the suite's data and memory layouts
- report.py    repro lines, the conformance matrix, HTML/JSON, the live line
- figures.py   the report's PNGs
- timing.py    the speed table's statistics (intervals, busy rounds, goals)

Installed into .venv by `./run` as the `conformance` pytest11 entry point, so that
`pytest --impl /elsewhere/mine.py` works from any directory.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
