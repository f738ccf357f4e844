"""A generated class: a folder of submissions, as a teacher would hand one in.

Each submission is a folder of its own (s001/ ...) with one file: a copy of a correct NumPy or
torch module (bundled, or in another style from meta_tests/correct/), or of a catalogue bug
(meta_tests/catalogue/) that its family catches, every few a notebook made from one (cells,
a markdown title, IPython lines, and top-level training code a learner leaves in), and a
helper module that defines no train. The expected verdict of each is known: FAILS for a bug,
conforms for the others.

    python -m meta_tests.classroom DIR [SIZE]     # writes the class, prints one line per file
"""
import sys
from pathlib import Path

from meta_tests.catalogue import BUGS, ROOT

CORRECT = ("implementations/numpy_manual", "implementations/torch_autograd", "meta_tests/correct/student",
           "implementations/torch_tensors", "meta_tests/correct/einsum_numpy", "implementations/nn_module",
           "implementations/torch_function", "meta_tests/correct/tutorial_nn", "implementations/nn_sequential")
NOTEBOOK_EVERY = 8  # every 8th submission is a notebook
BUG_SHARE = 0.4  # of the class, submissions with a bug
FRAMEWORKS = ("numpy_manual", "torch_autograd", "torch_tensors", "nn_sequential", "torch_function",
              "correct/student", "correct/einsum_numpy", "correct/tutorial_nn")
BUGGY = [b for b in BUGS if b.source in FRAMEWORKS and not (b.fault or b.isolate or b.args or b.select)]

LEFT_IN = """%%time
# the learner's own run, left in the notebook
import numpy as np
from implementations.contract import Config
cfg = Config.of(globals().get("CONFIG")).replace(steps=20)
x = np.random.randn(cfg.batch, cfg.d_in).astype(cfg.dtype)
y = np.random.randn(cfg.batch, cfg.d_out).astype(cfg.dtype)
result = train(x, y, cfg)
print("loss", result["losses"][-1])
"""


def notebook(source: str, title: str) -> str:
    """The module as a learner's notebook: cells split at its top-level definitions."""
    import nbformat

    cells, current = [], []
    for line in source.splitlines(True):
        if line.startswith(("def ", "class ", "@")) and current and not current[-1].startswith("@"):
            cells.append("".join(current))
            current = []
        current.append(line)
    cells.append("".join(current))
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell(f"# {title}"),
                  nbformat.v4.new_code_cell("!pip install numpy torch\n%matplotlib inline"),
                  *[nbformat.v4.new_code_cell(c.strip("\n")) for c in cells if c.strip()],
                  nbformat.v4.new_code_cell(LEFT_IN)]
    return nbformat.writes(book)


def submissions(size: int) -> list:
    """[(folder, file name, text, expected verdict, what it is)] for a class of `size`."""
    bugs = round(size * BUG_SHARE)
    out = []
    for n in range(size):
        if n % round(1 / BUG_SHARE) == 1 and bugs:  # spread through the class
            bug = BUGGY[(n * 7) % len(BUGGY)]
            text, verdict, what = bug.text(), "FAILS", f"bug {bug.id}"
            bugs -= 1
        else:
            source = CORRECT[n % len(CORRECT)]
            text, verdict, what = (ROOT / f"{source}.py").read_text(), "conforms", f"correct {source}"
        folder = f"s{n + 1:03d}"
        if n % NOTEBOOK_EVERY == 3:
            out.append((folder, "net.ipynb", notebook(text, f"Two-layer net ({folder})"), verdict, what))
        else:
            out.append((folder, "net.py", text, verdict, what))
    return out


def write(directory, size: int = 100) -> list:
    directory = Path(directory)
    out = []
    for folder, name, text, verdict, what in submissions(size):
        (directory / folder).mkdir(parents=True, exist_ok=True)
        (directory / folder / name).write_text(text)
        out.append((f"{folder}/{Path(name).stem}", verdict, what))
    (directory / "s001" / "helpers.py").write_text("SEED = 0  # a helper of the learner's, with no train\n")
    return out


if __name__ == "__main__":
    for row in write(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100):
        print(*row, sep="\t")
