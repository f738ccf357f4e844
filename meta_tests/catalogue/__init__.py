"""The catalogue of broken implementations: realistic bugs, each a small edit of a correct module.

Every entry names the module it breaks (a bundled one in implementations/, or a correct module in
another style in meta_tests/correct/), the edit (text that must occur exactly once, and its
replacement), the check family that must catch it, a pattern its failure message must match,
and, for a bug with a plain name, the pattern the diagnosis must name it by ("likely: ...").
meta_tests/test_catalogue.py writes each broken module out and runs that family on it with
--impl. Write them out to read or run by hand: `python -m meta_tests.catalogue DIR`.
"""
from pathlib import Path

from meta_tests.catalogue.bug import ROOT, Bug
from meta_tests.catalogue.contract import CONTRACT
from meta_tests.catalogue.numeric import NUMERIC
from meta_tests.catalogue.process import PROCESS

BUGS = NUMERIC + CONTRACT + PROCESS

__all__ = ["BUGS", "ROOT", "Bug", "write"]


def write(directory) -> list:
    """Write every broken module into directory; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for bug in BUGS:
        path = directory / f"{bug.id}.py"
        path.write_text(f"# BROKEN on purpose ({bug.family} must catch it): {bug.id}\n" + bug.text())
        paths.append(path)
    return paths
