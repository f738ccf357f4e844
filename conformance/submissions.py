"""What --impl names, expanded: a file, a dotted module, a folder, or a quoted pattern.

A folder stands for every implementation in it and in its subfolders: the .py files and
notebooks that define train (read, not run). A pattern ('subs/*.py', 'subs/**/*.ipynb') is
expanded as the shell would, recursively for **. The rows of a folder or a pattern are named by
their path below it (alice/solution), with the suffix only where two files would share a name;
files that define no train are listed as not implementations, never failed.
"""
import ast
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from conformance import notebooks
from conformance.errors import shown_path

SUFFIXES = (".py", notebooks.SUFFIX)
SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".git", ".venv", "venv", "node_modules", ".hypothesis"}


class SpecError(Exception):
    """An --impl value that names nothing usable, with the reason."""


@dataclass(frozen=True)
class Entry:
    spec: str  # what loading takes: a path or a dotted name
    name: str = ""  # the row's name, for a file found in a folder or by a pattern
    in_class: bool = False  # found in a folder or by a pattern: an import that fails is its row's failure


@dataclass
class Expanded:
    entries: list = field(default_factory=list)
    not_implementations: list = field(default_factory=list)  # files in a folder that define no train


def expand(specs) -> Expanded:
    out = Expanded()
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            base, files = path, sorted(_walk(path))
            what = f"{spec}: a folder with no .py file or notebook in it"
        elif any(c in spec for c in "*?[") and not path.exists():
            base = Path(fixed_part(spec))
            files = sorted(Path(p) for p in glob.glob(spec, recursive=True)
                           if Path(p).is_file() and p.endswith(SUFFIXES) and not SKIPPED & set(Path(p).parts))
            what = f"{spec}: no .py file or notebook matches this pattern"
        else:
            out.entries.append(Entry(spec))
            continue
        if not files:
            raise SpecError(what)
        found = [f for f in files if defines_train(f)]
        out.not_implementations += [shown_path(f) for f in files if f not in found]
        names = row_names(found, base)
        out.entries += [Entry(shown_path(f), names[f], True) for f in found]
    seen, unique = set(), []
    for entry in out.entries:  # a file named twice (a folder and a pattern in it) is one row
        key = Path(entry.spec).resolve() if Path(entry.spec).is_file() else entry.spec
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    out.entries = unique
    return out


def _walk(folder: Path):
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.startswith("."))
        for name in files:
            if name.endswith(SUFFIXES) and name != "__init__.py":
                yield Path(root) / name


def fixed_part(pattern: str) -> str:
    """The folder a pattern's matches are named from: its parts before the first wildcard."""
    parts = Path(pattern).parts
    fixed = [p for p in parts[:next((i for i, p in enumerate(parts) if any(c in p for c in "*?[")), len(parts))]]
    return str(Path(*fixed)) if fixed else "."


def row_names(files, base: Path) -> dict:
    """file -> its path below base without its suffix; with it where two would be one name."""
    stems = {f: f.relative_to(base).with_suffix("").as_posix() if f.is_relative_to(base) else f.stem for f in files}
    clash = {s for s in stems.values() if list(stems.values()).count(s) > 1}
    return {f: (f.relative_to(base).as_posix() if s in clash and f.is_relative_to(base) else s)
            for f, s in stems.items()}


def defines_train(path: Path) -> bool:
    """Whether a file defines train at its top level (a def, an assignment, an import): read, not
    run. One that cannot be read as Python counts as an implementation, so that its error is its row's."""
    tree = _parsed(path)
    return tree is None or any(_names_train(node) for node in top_level(tree.body))


def declared_tags(path: Path) -> tuple:
    """Its TAGS, where the source assigns them a literal at its top level; () otherwise (its import
    says what they are)."""
    tree, tags = _parsed(path), ()
    for node in top_level(tree.body) if tree is not None else ():
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TAGS" for t in node.targets):
            try:
                tags = ast.literal_eval(node.value)
            except ValueError:
                tags = ()
    ok = isinstance(tags, (tuple, list)) and all(isinstance(t, str) and t.isidentifier() for t in tags)
    return tuple(tags) if ok else ()


def _parsed(path: Path):
    """The file's module (a notebook's code cells as Python), read, not run; None when it cannot
    be read as Python (its import says why, on its row)."""
    try:
        return ast.parse(notebooks.source(path) if notebooks.is_notebook(path) else path.read_text())
    except Exception:  # noqa: BLE001 - a SyntaxError, or a notebook nbformat cannot read
        return None


def top_level(body):
    """The statements that run at import: the module body and its if/try/with blocks, not functions."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                yield from top_level(block)
            for handler in getattr(node, "handlers", []):
                yield from top_level(handler.body)


def _names_train(node) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name == "train"
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == "train" for t in node.targets)
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return isinstance(node.target, ast.Name) and node.target.id == "train"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return any((a.asname or a.name) == "train" for a in node.names)
    return False
