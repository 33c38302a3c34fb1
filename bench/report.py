#!/usr/bin/env python3
"""Turns bench/run.sh's results.tsv into table.md and throughput.png (with gnuplot).

    bench/report.py RESULTS.tsv OUTDIR

Each figure is the median over the rounds with the smallest and largest in brackets (errors: the
sum). Ratios are taken round by round, peers side by side, then summarised the same way: to
libmilter in the same scenario, and to the limit playing the same round trips
(limit_nr for cppmilter, whose stamp negotiates NR for every stage but end of message; limit,
every command answered, for the others)."""
import csv
import statistics
import shutil
import subprocess
import sys
from pathlib import Path

LABELS = {
    "cppmilter": "cppmilter (stamp, NR derived)",
    "cppmilter_answering": "cppmilter, every command answered",
    "libmilter": "libmilter (C)",
    "gomilter": "go-milter",
    "pymilter": "pymilter",
    "limit_nr": "limit, NR like cppmilter",
    "limit": "limit, every command answered",
}
SAME_ROUND_TRIPS = {"cppmilter": "limit_nr", "limit_nr": "limit_nr"}
SCENARIOS = {
    "c1": "1 connection, 1 KiB bodies",
    "c16": "16 connections, 1 KiB bodies",
    "c64": "64 connections, 1 KiB bodies",
    "c256": "256 connections, 1 KiB bodies",
    "u64": "64 connections over a UNIX socket, 1 KiB bodies",
    "big": "16 connections, 256 KiB bodies",
    "idle": "Idle connections (memory only)",
}


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def spread(values, fmt):
    """median (min-max) of the rounds; just the value for one round."""
    values = [v for v in values if v]
    if not values:
        return "-"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def main():
    results, out = Path(sys.argv[1]), Path(sys.argv[2])
    rows = list(csv.DictReader(results.open(), delimiter="\t"))
    runs = {}  # (peer, scenario) -> {round: row}
    for r in rows:
        runs.setdefault((r["peer"], r["scenario"]), {})[r["round"]] = r
    peers = list(dict.fromkeys(r["peer"] for r in rows))

    def per_round(peer, scenario, field):
        return [number(r[field]) for r in runs.get((peer, scenario), {}).values()]

    def ratios(peer, other, scenario, field="msgs_per_s"):
        """peer / other, round by round (the two ran side by side in each round)."""
        mine, theirs = runs.get((peer, scenario), {}), runs.get((other, scenario), {})
        return [number(mine[k][field]) / number(theirs[k][field])
                for k in mine if k in theirs and number(theirs[k][field])]

    lines = []
    for scenario, title in SCENARIOS.items():
        present = [p for p in peers if (p, scenario) in runs]
        if not present:
            continue
        lines += [f"### {title}", ""]
        if scenario == "idle":
            def per_connection(peer):
                r = next(iter(runs[(peer, scenario)].values()))
                n = number(r["connections"])
                return (number(r["hwm_kb"]) - number(r.get("base_kb"))) / n if n else 0.0
            base = per_connection("libmilter") if ("libmilter", scenario) in runs else 0.0
            lines += ["| peer | connections | RSS before | peak RSS (VmHWM) | KiB per connection | vs libmilter | errors |",
                      "|---|---:|---:|---:|---:|---:|---:|"]
            for p in present:
                r = next(iter(runs[(p, scenario)].values()))
                kib = per_connection(p)
                lines.append(f"| {LABELS.get(p, p)} | {number(r['connections']):,.0f} "
                             f"| {number(r.get('base_kb')) / 1024:.1f} MiB | {number(r['hwm_kb']) / 1024:.1f} MiB "
                             f"| {kib:.2f} | {f'{kib / base:.2f}x' if kib and base else '-'} | {r['errors']} |")
        else:
            lines += ["| peer | msgs/s | vs libmilter | vs limit | p50 ms | p99 ms | p99 vs libmilter | max ms "
                      "| errors | VmHWM | loadgen CPU |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for p in present:
                limit = SAME_ROUND_TRIPS.get(p, "limit")
                errors = int(sum(per_round(p, scenario, "errors")))
                cpu = [number(r["loadgen_cpu_s"]) / number(r["seconds"])
                       for r in runs[(p, scenario)].values() if number(r["seconds"])]
                lines.append(
                    f"| {LABELS.get(p, p)} | {spread(per_round(p, scenario, 'msgs_per_s'), lambda v: f'{v:,.0f}')} "
                    f"| {spread(ratios(p, 'libmilter', scenario), lambda v: f'{v:.2f}x')} "
                    f"| {spread(ratios(p, limit, scenario), lambda v: f'{v:.2f}x')} "
                    f"| {spread(per_round(p, scenario, 'p50_ms'), lambda v: f'{v:.2f}')} "
                    f"| {spread(per_round(p, scenario, 'p99_ms'), lambda v: f'{v:.2f}')} "
                    f"| {spread(ratios(p, 'libmilter', scenario, 'p99_ms'), lambda v: f'{v:.2f}x')} "
                    f"| {spread(per_round(p, scenario, 'max_ms'), lambda v: f'{v:.1f}')} | {errors} "
                    f"| {statistics.median(per_round(p, scenario, 'hwm_kb')) / 1024:.1f} MiB "
                    f"| {statistics.median(cpu) * 100 if cpu else 0:.0f} % |")
        lines.append("")
    (out / "table.md").write_text("\n".join(lines))

    # Throughput against connections, one line per peer.
    counts = {"c1": 1, "c16": 16, "c64": 64, "c256": 256}
    data = out / "throughput.dat"
    plotted = 0
    with data.open("w") as f:
        for p in peers:
            points = [(n, statistics.median(per_round(p, s, "msgs_per_s"))) for s, n in counts.items() if (p, s) in runs]
            if not points:
                continue
            plotted += 1
            f.write(f'"{LABELS.get(p, p)}"\n')
            for n, rate in points:
                f.write(f"{n} {rate}\n")
            f.write("\n\n")
    if not plotted:
        return
    if shutil.which("gnuplot") is None:
        print("bench/report.py: no gnuplot (Debian: gnuplot-nox), no plot", file=sys.stderr)
        return
    script = f"""
set terminal pngcairo size 800,640 font ',10'
set output '{out / "throughput.png"}'
set title 'stamp milter over TCP, 1 KiB bodies: messages per second (higher is better)'
set xlabel 'concurrent connections'
set ylabel 'messages / s'
set logscale x 2
set logscale y 10
set xrange [0.8:320]
set xtics (1, 4, 16, 64, 256)
set key below
set grid
plot for [i=0:*] '{data}' index i using 1:2 with linespoints lw 2 title columnheader(1)
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


if __name__ == "__main__":
    main()
