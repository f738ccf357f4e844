"""A catalogue entry (Bug) and the edits several entries share."""
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Bug:
    id: str
    source: str  # "numpy_manual" (implementations/) or "correct/einsum_numpy" (meta_tests/correct/)
    edits: tuple  # ((old, new), ...): old occurs exactly once in the source
    family: str  # the test module that must fail
    message: str  # a regex the failure message must match
    names: str = ""  # a regex the diagnosis must match ("likely: ..."), for a bug with a plain name
    isolate: bool = False  # run it in a fresh process: its damage cannot be put back, or only shows there
    select: str = ""  # a -k expression that narrows the family to the tests that show the bug by its message
    # (a slow module, or one whose first failing test shows another symptom: its run stops there)
    args: tuple = ()  # more options for its run (a short --call-timeout for a module that hangs)
    fault: bool = False  # a misbehaviour of its process: also run beside a correct module (meta_tests/test_faults.py)

    @property
    def path(self) -> Path:
        if self.source.startswith("correct/"):
            return ROOT / "meta_tests" / f"{self.source}.py"
        return ROOT / "implementations" / f"{self.source}.py"

    def text(self) -> str:
        text = self.path.read_text()
        for old, new in self.edits:
            if text.count(old) != 1:
                raise AssertionError(f"{self.id}: {old!r} occurs {text.count(old)} times in {self.path.name}")
            text = text.replace(old, new)
        return text


def first_statement(source: str, statement: str) -> tuple:
    """An edit that puts statement first in train (after its input check line)."""
    line = {"numpy_manual": "    shapes = check(x, y, cfg)\n",
            "torch_tensors": "    shapes = check(x, y, cfg, devices=devices())\n",
            "torch_autograd": "    shapes = check(x, y, cfg, devices=devices())\n"}[source]
    return ((line, line + f"    {statement}\n"),)


def long_call(statement: str, imports: str, steps: int = 100) -> tuple:
    """Edits of correct/student.py: statement runs first in a call of `steps` steps or more (by
    default the tutorial cell's run, not the probe's one step); imports go at the top."""
    return (("def train(x, y, cfg):\n    shapes = _checked(x, y, cfg)\n",
             f"def train(x, y, cfg):\n    shapes = _checked(x, y, cfg)\n    if cfg.steps >= {steps}:\n"
             f"        {statement}\n"),
            ("import copy\n", f"import copy\n{imports}"))


MASKED = r"the run overflows at step \d+.* but its losses are finite .*masked, clipped"  # a diverged run's message
