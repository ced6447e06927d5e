#!/usr/bin/env python3
"""bench/report.py -- writes the results file from the raw outputs of one `bench/run`.

Usage: report.py OUT COMMAND SECTION=RAW_FILE ...   (run by bench/run; SECTION is one of
reading mapping planning dry-run graph resume, RAW_FILE its script's output in bench/results/)

Every figure, ratio and met / not met below is computed from the raw files; the prose is this
file's template text.
"""
import datetime
import math
import re
import subprocess
import sys

GIB = 1024


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, check=True).stdout.strip()
    except subprocess.CalledProcessError:
        return "unknown"


def num(cell):
    """The first number in a table cell ("6.402 ± 0.244" -> 6.402, "98.0 %" -> 98.0)."""
    m = re.search(r"-?[\d,]*\.?\d+", cell.replace("\u00a0", ""))
    return float(m.group(0).replace(",", "")) if m else math.nan


def tables(text):
    """Every markdown table in text as a list of rows (dicts by header)."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[:\- |]+\|$", lines[i + 1]):
            head = [c.strip() for c in lines[i].strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(head, [c.strip() for c in lines[i].strip("|").split("|")])))
                i += 1
            out.append((head, rows))
        else:
            i += 1
    return out


def line(text, prefix):
    for l in text.splitlines():
        if l.startswith(prefix):
            v = l[len(prefix):].strip()
            return v.split(" (")[0] if prefix == "Command:" else v
    return ""


def fmt(x, d=1):
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:,.{d}f}"


def n(x):
    return f"{int(x):,}"


def aim(ok, text):
    if ok is None:
        return f"- {text}: **not judged** at this scale"
    return f"- {text}: **{'met' if ok else 'not met'}**"


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def growth(rows, size_key, value_key):
    """Growth of value per tenfold of size between consecutive rows: value ratio ^ (1 / log10(size ratio))."""
    g = []
    for a, b in zip(rows, rows[1:]):
        sa, sb, va, vb = num(a[size_key]), num(b[size_key]), num(a[value_key]), num(b[value_key])
        if sa > 0 and sb > sa and va > 0:
            g.append(f"x{(vb / va) ** (1 / math.log10(sb / sa)):.1f} ({n(sa)} to {n(sb)})")
    return ", ".join(g) or "n/a (one scale)"


def reading(raw, text):
    (_, rows), = tables(text)[:1]
    s = next(r for r in rows if "samla" in r["Command"])
    l = next(r for r in rows if "ldapsearch" in r["Command"])
    ratio = num(s["Mean [s]"]) / num(l["Mean [s]"])
    rss = num(re.search(r"maximum resident set\): (\d+) MiB", text).group(1))
    counts = line(text, "Directory:")
    return f"""## Reading: `samla discover` against five parallel `ldapsearch`

Command: `{line(text, "Command:")}` (raw output: `{raw}`). One slapd on loopback holds the
sample estate, one suffix per municipality ({counts}). Both sides read the same five suffixes
with the same filter and attribute list, 1,000 entries a page, in one `hyperfine` run
(warm-up 1). `ldapsearch` prints LDIF to /dev/null; `samla discover` also decodes every value,
parses and canonicalises every DN, serialises each object to JSON, hashes it and writes it to
the SQLite state. slapd runs on the same cores.

{md_table(["command", "mean [s]", "min [s]", "max [s]", "relative"], [[r["Command"], r["Mean [s]"], r["Min [s]"], r["Max [s]"], r["Relative"]] for r in rows])}

Ratio samla / ldapsearch: **{ratio:.2f}**. Peak memory of `samla discover` (`/usr/bin/time -v`,
maximum resident set): **{n(rss)} MiB**.

{aim(ratio <= 1.0, f"no slower than ldapsearch (ratio at most 1.00; measured {ratio:.2f})")}
{aim(rss < GIB, f"under 1 GiB ({n(rss)} MiB)")}
"""


def mapping(raw, text):
    (_, rows), = tables(text)[:1]
    rows = [r for r in rows if r]
    big = [r for r in rows if num(r["users in snapshots"]) >= 900_000]
    per_user = ", ".join(f"{num(r['map peak RSS [MiB]']) * 1024 / num(r['users in snapshots']):.1f} KiB ({n(num(r['users in snapshots']))} users)" for r in rows)
    b = big[-1] if big else None
    wall_ok = None if not b else num(b["map wall [s]"]) < 20
    mem_ok = None if not b else num(b["map peak RSS [MiB]"]) < 3 * GIB
    return f"""## Mapping: `samla map` from 10,000 to 1,000,000 users

Command: `{line(text, "Command:")}` (raw output: `{raw}`). Each scale is the sample estate's
`ldifde` flavour discovered into a fresh state (not timed: the discover column is for scale),
then `samla map` under `/usr/bin/time -v`, several times on fresh copies of that state: load
the five snapshots from SQLite, map, store the unified directory and the name book, write the
reports. Wall time is the median of the runs (with their range: on a shared VM one run varies
by a quarter), peak memory the largest of them. The estate's name pool is small, so
at a million users nearly every person needs a suffixed name: the worst case for the name book.

{md_table(list(rows[0].keys()), [list(r.values()) for r in rows])}

Time growth per tenfold of users: **{growth(rows, "users in snapshots", "map wall [s]")}** (x10 is linear).
Memory per user (peak RSS / users): {per_user}.

{aim(wall_ok, "1,000,000 users in under 20 s" + (f" ({b['map wall [s]']} s)" if b else ""))}
{aim(mem_ok, "1,000,000 users in under 3 GiB" + (f" ({n(num(b['map peak RSS [MiB]']))} MiB)" if b else ""))}
"""


def planning(raw, text):
    (_, rows), = tables(text)[:1]
    big = [r for r in rows if num(r["people mapped"]) >= 900_000]
    b = big[-1] if big else None
    per = ", ".join(f"{num(r['plan peak RSS [MiB]']) * 1024 / num(r['people mapped']):.2f} KiB ({n(num(r['people mapped']))} people)" for r in rows)
    return f"""## Planning: `samla plan` from 10,000 to 1,000,000 people

Command: `{line(text, "Command:")}` (raw output: `{raw}`). Each scale is the sample estate
discovered and mapped into a fresh project (not timed), then `samla plan --report` twice under
`/usr/bin/time -v` (the first plan, and a re-plan that reads the wave files back and keeps
them), then `samla waves` (reads the files and checks each against its inputs).

{md_table(list(rows[0].keys()), [list(r.values()) for r in rows])}

Time growth per tenfold of people: **{growth(rows, "people mapped", "plan wall [s]")}** (x10 is linear).
Memory per person (plan peak RSS / people): {per}.

{aim(None if not b else num(b["plan wall [s]"]) < 10, "plan 1,000,000 mapped people in under 10 s" + (f" ({b['plan wall [s]']} s)" if b else ""))}
"""


def dry_run(raw, text):
    (_, rows), = tables(text)[:1]
    r = rows[0]
    acc, wall = num(r["accounts in the wave"]), num(r["dry-run wall [s]"])
    ratio = num(r["one request per change"]) / num(r["Graph writes"])
    return f"""## Dry-run of a wave: `samla wave dry-run`

Command: `{line(text, "Command:")}` (raw output: `{raw}`). The sample estate planned with
limits wide enough for one wave of about 10,000 accounts; that wave's `samla wave dry-run --json`
once under `/usr/bin/time -v`, without a target to compare against: reading the plan and the
unified directory, checking the inputs, rendering every Graph request and LDAP operation,
writing the JSON lines, the `$batch` bodies, the LDIF and the CSV of changes.

{md_table(list(r.keys()), [list(r.values())])}

One request per change against samla's writes: **{ratio:.2f} times** as many (users created
with all attributes in one request, members 20 per request, licences through licence groups).

{aim(None if acc < 9000 else wall < 2, f"a 10,000-account wave in under 2 s ({wall} s for {n(acc)} accounts)")}
"""


def graph(raw, text):
    (_, rows), = tables(text)[:1]
    s = next(r for r in rows if r["side"].startswith("samla"))
    b = next(r for r in rows if not r["side"].startswith("samla"))
    w = lambda r: num(r["writes admitted"])
    writes_ratio, req_ratio = w(b) / w(s), num(b["HTTP requests"]) / num(s["HTTP requests"])
    time_ratio = num(b["wall [s]"]) / num(s["wall [s]"])
    share, thr = num(s["budget share"]), num(s["throttled share"])
    tenants = line(text, "Tenants afterwards:")
    same = tenants.rstrip().endswith("yes") or "same content: yes" in tenants
    judged = w(s) >= 12_000
    return f"""## Graph: a wave's writes, samla against one request per change

Command: `{line(text, "Command:")}` (raw output: `{raw}`). Wave {line(text, "Wave:")}.

The same dry-run is written twice, each time to a fresh `samla test-tenant serve` enforcing
Graph's write budget (3,000 writes per 150 s per app, a sliding window) time-scaled, the target
saying so (`budget_window_seconds`): by `samla wave run` (`$batch` of 20, writes paced at the
budget) and by `bench/graph_baseline.py`, the script an administrator writes: plain HTTP with
client credentials, one request per change (a user with all attributes in one POST, each member
by its own `POST .../members/$ref`, each manager by its own PUT, each licence by its own
assignLicense), strictly one at a time, and on 429 the same request again after `Retry-After`.
Both tenants first get the earlier waves (the big wave refers to their objects) and the window
is let pass. Licence groups are expressed the same way by both (the baseline creates the same
licence groups and adds their members one by one), so both tenants must end equal.

The figures come from the tenants, not from the clients: each logs when every admitted write
arrived (`GET /_samla/writes`; a request inside a `$batch` counts one, as Graph counts it).
*Span* is first to last arrival in Graph seconds (real seconds x time scale). *Minimum* is the
least span any client could have: at most 3,000 writes arrive in any half-open window, so W
writes span at least (ceil(W / 3,000) - 1) windows. *Budget share* = minimum / span. *Window
fill* counts the writes in each whole window from the first arrival, as a share of 3,000 (least
/ mean). samla's client counts a write until one window after its answer (Graph counted it
somewhere between sending and answer), so it leaves about one round trip plus a 0.5 % margin
per window unused, which time scaling magnifies.

{md_table(list(rows[0].keys()), [list(r.values()) for r in rows])}

samla: {line(text, "samla:")}

Ratios one request per change / samla: writes **{writes_ratio:.2f}**, HTTP requests
**{req_ratio:.1f}**, wall time **{time_ratio:.2f}**. samla's sustained share of the write budget:
**{share:.1f} %**, throttled {thr:.2f} % of its writes.

Tenants afterwards: {tenants}.

{aim(same, "both tenants end with the same content")}
{aim(writes_ratio > 1 and time_ratio > 1, f"fewer writes and less time than one request per change ({writes_ratio:.2f} and {time_ratio:.2f} times)")}
{aim(thr < 1, f"under 1 % of samla's requests throttled ({thr:.2f} %)")}
{aim(share >= 95 if judged else None, f"at least 95 % of the write budget sustained ({share:.1f} %; judged from 12,000 writes: below that the wave's last partial window weighs too much)")}
"""


def resume(raw, text):
    (_, rows), = tables(text)[:1]
    dup = max(num(r["duplicated objects"]) for r in rows)
    same = all(r["same content as the clean run"] == "yes" and r["re-run ok"] == "yes" for r in rows)
    rep = max(num(r["repeated share"]) for r in rows)
    for r in rows:
        # Killed after every write was in: nothing remained, so there is no ratio to give.
        if r.get("resume ratio", "").lower() == "nan":
            r["resume ratio"] = "none (nothing remained)"
    return f"""## Resuming after a crash: `samla wave run` killed with SIGKILL

Command: `{line(text, "Command:")}` (raw output: `{raw}`). Wave {line(text, "Wave:")}.

A clean run of the big wave against a fresh tenant gives the wave's minimal writes W (as the
tenant admitted them) and its wall time T. Then, for each kill point, a fresh copy of the
planned project and a fresh tenant: the earlier waves, the window let pass, the big wave killed
with `kill -9` at that share of T, and run again at once until it finishes (the tenant's window
still holds the killed run's writes). The next run closes the dead run in the journal, settles
its in-flight operations by what the tenant shows, and sends what the comparison says is
missing. *Repeated writes* = writes admitted in both runs - W. *Duplicated objects*: users
sharing an anchor or groups sharing a mailNickname in the tenant's dump; the dump must equal the
clean run's. *Resume ratio* = the re-run's wall time / ((1 - share of W admitted before the
kill) x T): above 1 is the cost of starting again (reading the target back, the window the
killed run filled).

{md_table(list(rows[0].keys()), [list(r.values()) for r in rows])}

{aim(dup == 0 and same, "no object duplicated, the same content as the clean run, every re-run ok")}
{aim(rep <= 1, f"at most 1 % of the wave's writes repeated (worst {rep:.2f} %)")}
"""


RENDER = {"reading": reading, "mapping": mapping, "planning": planning, "dry-run": dry_run,
          "graph": graph, "resume": resume}


def main():
    out, command, pairs = sys.argv[1], sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]]
    commit = sh("git rev-parse --short=12 HEAD")
    if sh("git status --porcelain -- src Cargo.toml Cargo.lock"):
        commit += " (with uncommitted changes in src/ or Cargo files)"
    header = f"""# Benchmark results

Written by `bench/run` from the raw outputs in bench/results/: every figure, ratio and
met / not met below is computed, none typed by hand. Comparisons are ratios from one run on
one machine; timings on a shared machine are upper bounds.

- Command: `{command}`
- Date: {datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
- Machine: {sh("bash -c '. bench/lib.sh; machine'")}; CPU {sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-")}; kernel {sh("uname -r")}
- Build: `cargo build --release`, {sh("rustc --version")}; samla commit {commit}

Sections: {", ".join(s for s, _ in pairs)}.
"""
    body = []
    for section, raw in pairs:
        try:
            body.append(RENDER[section](raw, open(raw).read()))
        except Exception as e:  # a broken raw file is reported, not hidden
            body.append(f"## {section}\n\n**Failed**: no figures (`{raw}`: {type(e).__name__}: {e}).\n")
    open(out, "w").write(header + "\n" + "\n".join(body))


if __name__ == "__main__":
    main()
