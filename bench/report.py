#!/usr/bin/env python3
"""Turns bench/run.sh's results.tsv into table.md and throughput.png (with gnuplot).

    bench/report.py RESULTS.tsv OUTDIR

Each figure is the median over the rounds (errors: the sum). Ratios: to libmilter in the same scenario, and to the limit playing the same round trips
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
    "idle": "1,000 idle connections (memory only)",
}


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def main():
    results, out = Path(sys.argv[1]), Path(sys.argv[2])
    rows = list(csv.DictReader(results.open(), delimiter="\t"))
    by = {}
    for key in dict.fromkeys((r["peer"], r["scenario"]) for r in rows):
        runs = [r for r in rows if (r["peer"], r["scenario"]) == key]
        merged = {f: str(statistics.median(number(r[f]) for r in runs)) for f in runs[0] if f not in
                  ("round", "peer", "scenario")}
        merged["errors"] = str(int(sum(number(r["errors"]) for r in runs)))
        merged["rounds"] = str(len(runs))
        # The generator's CPU time over the run's length: near 100 % it would be the bottleneck.
        merged["loadgen_cpu"] = str(statistics.median(
            number(r["loadgen_cpu_s"]) / number(r["seconds"]) if number(r["seconds"]) else 0 for r in runs))
        by[key] = merged
    peers = list(dict.fromkeys(r["peer"] for r in rows))
    lines = []
    for scenario, title in SCENARIOS.items():
        present = [p for p in peers if (p, scenario) in by]
        if not present:
            continue
        lines += [f"### {title}", ""]
        if scenario == "idle":
            base = number(by.get(("libmilter", scenario), {}).get("hwm_kb"))
            lines += ["| peer | peak RSS (VmHWM) | vs libmilter | errors |", "|---|---:|---:|---:|"]
            for p in present:
                r = by[(p, scenario)]
                hwm = number(r["hwm_kb"])
                lines.append(f"| {LABELS.get(p, p)} | {hwm / 1024:.1f} MiB | {ratio(hwm, base)} | {r['errors']} |")
        else:
            lib = by.get(("libmilter", scenario), {})
            lines += ["| peer | msgs/s | vs libmilter | vs limit | p50 ms | p99 ms | p99 vs libmilter | max ms "
                      "| errors | VmHWM | loadgen CPU |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for p in present:
                r = by[(p, scenario)]
                rate = number(r["msgs_per_s"])
                limit = by.get((SAME_ROUND_TRIPS.get(p, "limit"), scenario), {})
                lines.append(
                    f"| {LABELS.get(p, p)} | {rate:,.0f} | {ratio(rate, number(lib.get('msgs_per_s')))} "
                    f"| {ratio(rate, number(limit.get('msgs_per_s')))} | {number(r['p50_ms']):.2f} "
                    f"| {number(r['p99_ms']):.2f} | {ratio(number(r['p99_ms']), number(lib.get('p99_ms')))} "
                    f"| {number(r['max_ms']):.1f} | {r['errors']} | {number(r['hwm_kb']) / 1024:.1f} MiB "
                    f"| {number(r['loadgen_cpu']) * 100:.0f} % |")
        lines.append("")
    (out / "table.md").write_text("\n".join(lines))

    # Throughput against connections, one line per peer.
    counts = {"c1": 1, "c16": 16, "c64": 64, "c256": 256}
    data = out / "throughput.dat"
    plotted = 0
    with data.open("w") as f:
        for p in peers:
            points = [(n, number(by[(p, s)]["msgs_per_s"])) for s, n in counts.items() if (p, s) in by]
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
