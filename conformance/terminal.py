"""The run's end in the terminal: the matrix, why each cell failed or was left out, where the time went,
the speed table. Plain text from the results (conformance/results.py)."""
from conformance import budgets as tables, timing
from conformance.results import table_of

EACH_MOST = 10  # rows of a run said one by one (time lines; not-applicable lines list their names)


def time_lines(rep, per_impl, before=None) -> list:
    """Where the tests' time went: inside the implementations' own train, or the suite's (the oracle
    and its shadows, the checks). A line per implementation for plug-ins; else one line in all.
    before: seconds from the start to the first test (imports, collection, the structure probe)."""
    spent = {n: rep.spent(n) for n in rep.shown()}
    spent = {n: s for n, s in spent.items() if s["tests_s"] > 0}
    if not spent:
        return []
    if not per_impl:
        tests, train = sum(s["tests_s"] for s in spent.values()), sum(s["train_s"] for s in spent.values())
        return [f"time: {tests:.1f} s in the tests, {train:.1f} s of it inside the implementations' train; "
                "per implementation and family in conformance.json"]
    lines = []
    if len(spent) > EACH_MOST:  # a class: the total, and the slowest few
        tests, train = sum(s["tests_s"] for s in spent.values()), sum(s["train_s"] for s in spent.values())
        lines.append(f"time: {len(spent)} implementations' tests took {tests:.1f} s, {train:.1f} s of it inside "
                     f"their train; {(tests - train) / len(spent):.1f} s each the suite's own on average; the "
                     "slowest below, every one in gradebook.csv")
        spent = dict(sorted(spent.items(), key=lambda kv: -kv[1]["tests_s"])[:3])
    for name, s in spent.items():
        per_step = f", {1e3 * s['train_s'] / s['steps']:.2g} ms a step on average" if s["steps"] else ""
        slowest = sorted(s["families"].items(), key=lambda kv: -kv[1]["tests_s"])[:3]
        lines.append(f"time: {name}'s tests took {s['tests_s']:.1f} s: {s['train_s']:.1f} s inside its train "
                     f"({s['calls']:,} calls, {s['steps']:,} steps{per_step}), {s['tests_s'] - s['train_s']:.1f} s "
                     "the suite's own (the oracle, the checks); the longest families: "
                     + ", ".join(f"{f} {v['tests_s']:.1f} s ({v['train_s']:.1f} s in train)" for f, v in slowest))
    if before is not None:
        lines.append(f"time: {before:.1f} s before the first test (imports, the frameworks' set-up, collection, "
                     "one-step calls of the 16 structures)")
    return lines


def speed_lines(rows, gpu_reason="", budgets=None):
    """A table per thread budget and per GPU, each under its peak (which library reached it, every
    library's rate, the BLAS kernel) and its floor."""
    budgets = {str(k): v for k, v in (budgets or {}).items()}
    yield ("medians over undisturbed blocks, [95% intervals]; floor = the step's matrix products alone, on the "
           "fastest library at the budget, timed in the same blocks; cores = CPU time / wall time of the steps")
    found = sorted({table_of(r) for r in rows}, key=tables.table_order)
    for table in found:
        yield ""
        yield from _budget_lines(table, budgets.get(table, {}), [r for r in rows if table_of(r) == table])
    if gpu_reason and all(t.isdigit() for t in found):
        yield f"cuda: no rows ({gpu_reason}); every row above is the CPU"


def _budget_lines(table, info, rows):
    name = tables.table_name(table)
    rates = ", ".join(f"{lib} {v:.0f}" for lib, v in sorted(info.get("rates", {}).items(), key=lambda kv: -kv[1]))
    where = "at this budget" if table.isdigit() else \
        f"on {info.get('gpu') or 'the GPU'}, TF32 off; its timing processes on {rows[0].get('budget')} cores"
    yield (f"{name}: peak {num(rows[0]['peak_gflops'], '.0f')} GFLOP/s ({rows[0].get('peak_library') or '?'}; "
           f"float32 {info.get('size', timing.PEAK_SIZE)}^2 products {where}: {rates or 'not measured'})")
    for lib in info.get("blas", []):
        yield (f"{name}: BLAS {lib.get('internal_api')} {lib.get('version')} runs its {lib.get('architecture')} "
               f"kernel, {lib.get('num_threads')} thread(s)")
    if info.get("forced"):
        forced = ", ".join(f"{k}={v}" for k, v in info["forced"].items())
        unforced = info.get("unforced") or {}
        cost = (f": NumPy does {info['rates'].get('numpy', float('nan')):.0f} GFLOP/s with it, "
                f"{unforced['gflops']:.0f} without it ({unforced.get('architecture')} kernel)") if unforced else ""
        yield f"{name}: the environment forces a BLAS kernel ({forced}){cost}; the suite leaves it as it is"
    head = ("implementation", "group", "N,D_in,H,D_out", "us/step [interval]", "x floor [interval]", "GFLOP/s",
            "of peak", "cores", "per call", "one-time", "blocks")
    width = max(len(r["implementation"]) for r in [*rows, {"implementation": head[0]}]) + 2
    fmt = f"{{:<{width}}}{{:<15}}{{:<20}}{{:>24}}{{:>22}}{{:>9}}{{:>9}}{{:>7}}{{:>11}}{{:>10}}  {{}}"
    yield fmt.format(*head)
    for r in rows:
        us = f"{num(r['us_per_step'], '.1f')} [{num(r['us_low'], '.1f')}, {num(r['us_high'], '.1f')}]"
        ratio = f"{num(r['floor_ratio'], '.2f')} [{num(r['ratio_low'], '.2f')}, {num(r['ratio_high'], '.2f')}]"
        blocks = f"{r['blocks']}" + (f" in {r['passes']} passes" if r.get("passes", 1) > 1 else "") + \
            (f" ({r['disturbed']} disturbed)" if r["disturbed"] else "") + \
            (f" ({r['slowed']} slowed)" if r.get("slowed") and not r.get("slowed_row") else "") + \
            (f", calls of {r['steps']} steps" if r.get("cell_steps", r.get("steps")) != r.get("steps") else "") + \
            (f", {r['rescaled']} floors scaled from {' and '.join(r['rescaled_from'])} to {r.get('floor_library')}"
             if r.get("rescaled") else "")
        yield fmt.format(r["implementation"], r["group"], ",".join(map(str, r["size"])), us, ratio,
                         num(r["gflops"], ".1f"), num(r["peak_share"], ".0%"), num(r.get("cores"), ".2f"),
                         num(r["per_call_ms"], ".2f", " ms"), num(r["one_time_s"], ".2f", " s"),
                         blocks + "".join(f"  {n}" for n in row_notes(r)))


def row_notes(r) -> list:
    """What a row's numbers cannot be taken for, in words."""
    out = []
    if r.get("busy_others", r["busy"]):
        out.append(f"machine busy during this measurement ({r['busy_share']:.0%} used by others): rerun")
    if r.get("slowed_row"):
        out.append(f"machine slowed during {r['slowed']} of {r['blocks']} blocks (the floor over {timing.SLOWED}x "
                   "its least in the run): rerun")
    budget = r.get("budget", 1)
    if r.get("over_budget"):
        whose = "the floor" if (r.get("floor_cores") or 0) > (r.get("cores") or 0) else "it"
        used = max(r.get("cores") or 0, r.get("floor_cores") or 0)
        out.append(f"{whose} used {used:.1f} cores of a {'1-thread' if budget == 1 else f'{budget}-core'} budget: "
                   "not ranked")
    if r.get("method_agrees") is False:
        out.append(f"per step from (T_2S - T_S)/S: {num(r['method_us'], '.1f')} [{num(r['method_low'], '.1f')}, "
                   f"{num(r['method_high'], '.1f')}] us, not (T_S - T_1)/(S - 1)'s: its per-call cost depends on S")
    if r.get("above_peak"):  # Report.speed_rows decides it, against the run's final peak
        out.append("above the peak: the peak or this row is mismeasured: not ranked")
    return out


def num(value, spec, unit="") -> str:
    """A measured number, or '-' where there is none (JSON's null, NaN)."""
    return "-" if value is None or value != value else f"{value:{spec}}{unit}"


def mark(cell) -> str:
    if cell.get("fault"):  # a worker that crashed, exited, hung or was interrupted: its status, as harnesses say it
        return f"{cell['fault']} {cell['faults']}/{cell['pass'] + cell['fail'] + cell['skip']}"
    if cell["status"] == "pass" and cell.get("notes"):
        return "pass*"
    return {"pass": "pass", "skip": "skip", "not run": "-"}.get(cell["status"]) or \
        f"FAIL {cell['fail']}/{cell['pass'] + cell['fail'] + cell['skip']}"


def matrix_lines(rep, families):
    width = max(len(n) for n in rep.shown()) + 2
    rows = {name: [mark(rep.cell(name, f)) for f in families] for name in rep.shown()}
    cols = [max([len(f), 9] + [len(r[i]) for r in rows.values()]) + 2 for i, f in enumerate(families)]
    yield "".ljust(width) + "".join(f.ljust(c) for f, c in zip(families, cols)) + "verdict", None
    for name, row in rows.items():
        verdict = rep.verdict(name)
        yield name.ljust(width) + "".join(r.ljust(c) for r, c in zip(row, cols)) + verdict, verdict


def why_lines(rep, families, deselected=None):
    """A line per failed cell (reason, its details, its repro), one per note (* in the matrix), one
    per skip reason with its cells, and one per reason checks were left out as not applicable."""
    lines, skips = [], {}
    for name in rep.shown():
        for f in families:
            cell = rep.cell(name, f)
            if cell["status"] == "fail":
                more = f" (+{cell['fail'] - 1} more)" if cell["fail"] > 1 else ""
                lines += [f"{name} · {f}: {cell['reason']}{more}"] + [f"    {d}" for d in cell.get("details", [])]
                lines += [f"    reproduce: {cell['reproduce']}"] if not any("replay:" in d for d in cell.get("details", [])) \
                    else []
            elif cell["status"] == "skip":
                skips.setdefault((f, cell["reason"]), []).append(name)
            for note in cell.get("notes", []):
                lines.append(f"* {name} · {f}: {note}")
    for (f, reason), names in skips.items():
        who = "every implementation" if len(names) == len(rep.shown()) > 1 else ", ".join(names)
        lines.append(f"{f} skipped for {who}: {reason}")
    lines += left_out_lines(deselected or {}, rep.shown())
    return lines


# ----------------------------------------------------------------- HTML

def left_out_lines(deselected: dict, names: list) -> list:
    """'not applicable, left out (N): <reason>', one line per reason; reasons that differ only in
    the implementation they name are one line that counts them (a class's 30 rows)."""
    grouped = {}
    for reason, ids in deselected.items():
        name = max((n for n in names if f" {n}:" in reason or f" {n} " in reason), key=len, default=None)
        key = reason.replace(f" {name}", " \0", 1) if name else reason
        count, who = grouped.setdefault(key, [0, []])
        grouped[key][0] = count + len(ids)
        who += [name] if name else []
    out = []
    for key, (count, who) in grouped.items():
        if len(who) > 1:
            shown = ", ".join(who[:EACH_MOST]) + (f" and {len(who) - EACH_MOST} more" if len(who) > EACH_MOST else "")
            key = key.replace("\0", f"{len(who)} implementations ({shown})", 1)
        elif who:
            key = key.replace("\0", who[0], 1)
        out.append(f"not applicable, left out ({count}): {key}")
    return out


