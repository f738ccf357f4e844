"""A notebook as an implementation: its code cells, top to bottom, are the module's body.

Read with nbformat. A cell that is valid Python runs as written. In one that is not, the lines
only IPython understands (magics such as `%matplotlib inline`, shell escapes such as
`!pip install torch`, `x = !ls`, help such as `np.dot?`) are left out, each replaced by `pass`
so that line numbers stay true, and a note names the cell; a cell magic leaves its cell out,
except %%time and %%capture, whose body runs. Cells are numbered as a notebook shows them top
to bottom, markdown included, from 1; an error names the cell and the line within it.
"""
import re
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".ipynb"
BODY_ONLY = {"time", "capture"}  # cell magics that only wrap their body: the body runs
IPYTHON_LINE = re.compile(r"^(\s*)(?:[%!?]|[\w.\[\]]+\?{1,2}\s*$|[\w.,\s\[\]]+=\s*[%!])")
CELL_NAME = re.compile(r"^(?P<path>.*\.ipynb)#cell(?P<cell>\d+)$")


@dataclass(frozen=True)
class Cell:
    number: int  # among all the notebook's cells, from 1
    source: str
    notes: tuple  # what was left out of it, in words


def is_notebook(path) -> bool:
    return Path(path).suffix == SUFFIX


def cells(path) -> list:
    """The notebook's code cells, as Python (see the module's docstring)."""
    import nbformat

    book = nbformat.read(str(path), as_version=4)
    out = []
    for number, cell in enumerate(book.cells, start=1):
        if cell.cell_type == "code":
            source, notes = python_of(cell.source)
            out.append(Cell(number, source, tuple(f"cell {number}: {n}" for n in notes)))
    return out


def python_of(source: str) -> tuple:
    """(the cell as Python, notes of what was left out)."""
    try:
        compile(source, "<cell>", "exec")
        return source, []
    except SyntaxError:
        pass
    lines, notes = source.splitlines(), []
    top = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if lines and lines[top].strip().startswith("%%"):
        magic = (lines[top].strip()[2:].split() or [""])[0]
        if magic not in BODY_ONLY:
            return "pass\n", [f"left out: a %%{magic} cell magic (IPython only)"]
        lines[top] = "pass"
        notes.append(f"ran the body of its %%{magic} cell magic without it")
    for i, line in enumerate(lines):
        found = IPYTHON_LINE.match(line)
        if found and not _is_python(line.strip()):
            notes.append(f"left out line {i + 1}: {line.strip()[:80]!r} ({_kind(line.strip())})")
            lines[i] = found.group(1) + "pass"
    return "\n".join(lines) + "\n", notes


def _is_python(line: str) -> bool:
    try:
        compile(line, "<line>", "exec")
        return True
    except SyntaxError:
        return False


def _kind(line: str) -> str:
    if line.startswith("!") or re.match(r"[\w.,\s\[\]]+=\s*!", line):
        return "a shell escape, IPython only"
    if line.startswith("%") or re.match(r"[\w.,\s\[\]]+=\s*%", line):
        return "an IPython magic"
    return "IPython help"


def source(path) -> str:
    """The notebook's code as one module's source (for reading its imports and definitions)."""
    return "\n".join(c.source for c in cells(path))


def cell_filename(path, number: int) -> str:
    """The file name a cell's code is compiled under: tracebacks then say which cell."""
    return f"{path}#cell{number}"


def shown_place(filename: str, lineno, shown) -> str:
    """'alice.ipynb, cell 3, line 2' for a cell's code; else 'mine.py:12' (shown: how paths are shown)."""
    found = CELL_NAME.match(filename or "")
    if found:
        return f"{shown(found['path'])}, cell {found['cell']}, line {lineno}"
    return f"{shown(filename)}:{lineno}"
