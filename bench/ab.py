#!/usr/bin/env python3
"""bench/ab.py -- the side-by-side table of bench/ab.sh.

Usage: ab.py DIR OLD_REV NEW_REV COMMAND   (DIR holds old-N.md and new-N.md, the results files
of `bench/run --quick` for each round). Every table cell whose column is in seconds ("[s]" or
"wall") is paired by its position (table, row, column) in both trees' files; the median over
the rounds of each side and new/old are printed as markdown.
"""
import glob
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import num, tables  # noqa: E402


def timed_cells(path):
    """(table number, first cell of the row, column) -> seconds, for every timed cell."""
    out = {}
    for t, (_, rows) in enumerate(tables(open(path, encoding="utf-8").read())):
        for row in rows:
            label = next(iter(row.values()), "")
            for col, cell in row.items():
                if ("[s]" in col or "wall" in col.lower()) and num(cell) == num(cell):
                    out[(t, label, col)] = num(cell)
    return out


def main():
    d, old_rev, new_rev, command = sys.argv[1:5]
    sides = {}
    for side in ("old", "new"):
        runs = [timed_cells(p) for p in sorted(glob.glob(f"{d}/{side}-*.md"))]
        sides[side] = {k: [r[k] for r in runs if k in r] for k in set().union(*runs)} if runs else {}
    machine = subprocess.run("nproc; uname -m", shell=True, capture_output=True, text=True).stdout.split()
    print(f"# bench/run --quick, {old_rev} (old) and {new_rev} (new) side by side\n")
    print(f"Command: {command}  ")
    print(f"Machine: {machine[0] if machine else '?'} cores, {machine[1] if len(machine) > 1 else '?'}; "
          f"rounds per side: {max((len(v) for v in sides['new'].values()), default=0)}, old and new alternating\n")
    print("| table | row | figure | old median [s] | new median [s] | new/old |")
    print("|---:|---|---|---:|---:|---:|")
    ratios = []
    for key in sorted(set(sides["old"]) & set(sides["new"]), key=lambda k: (k[0], str(k[1]), k[2])):
        o, n = statistics.median(sides["old"][key]), statistics.median(sides["new"][key])
        ratio = n / o if o > 0 else float("nan")
        if o > 0:
            ratios.append(ratio)
        print(f"| {key[0]} | {key[1]} | {key[2]} | {o:g} | {n:g} | {ratio:.2f} |")
    if ratios:
        geo = statistics.geometric_mean([r for r in ratios if r > 0])
        print(f"\nGeometric mean of new/old over {len(ratios)} figures: {geo:.3f}.")


main()
