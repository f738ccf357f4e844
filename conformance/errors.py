"""How the suite names what went wrong: an exception in one line, with the last place in the
module's code it passed; a path as a user would type it; an exception as data for the wire."""
import traceback
from pathlib import Path

from conformance import notebooks

HERE = str(Path(__file__).resolve().parent)  # the suite's own code: a place in it is never the module's


def one_line(e: BaseException) -> str:
    """The exception in one line, with the last place in the module's code it came from."""
    if isinstance(e, SyntaxError) and e.filename:  # raised by the compiler: its place is the code's
        text = f"{type(e).__name__}: {e.msg}"
        return text[:300] + f" (at {notebooks.shown_place(e.filename, e.lineno, shown_path)})"
    text = f"{type(e).__name__}: {e}".strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300] + where(e)


def where(e: BaseException) -> str:
    """' (at mine.py:12)': the last place outside the suite's code that the exception passed
    (' (at alice.ipynb, cell 3, line 2)' in a notebook)."""
    tb, found = e.__traceback__, ""
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not name.startswith(HERE):
            found = f" (at {notebooks.shown_place(name, tb.tb_lineno, shown_path)})"
        tb = tb.tb_next
    return found


def shown_path(path) -> str:
    """path as a user would type it: relative to the working directory when inside it."""
    path, here = Path(path), Path.cwd()
    for candidate in (path.absolute(), path.resolve()):
        if candidate.is_relative_to(here):
            return str(candidate.relative_to(here))
    return str(path)


def raised(e: BaseException) -> dict:
    """An exception as data: its type, the builtin classes it derives from, its message, one line."""
    bases = [c.__name__ for c in type(e).__mro__ if c.__module__ == "builtins"]
    return {"type": type(e).__name__, "module": type(e).__module__, "bases": bases, "message": str(e)[:2000],
            "oneline": one_line(e), "traceback": "".join(traceback.format_exception(e))[-4000:]}
