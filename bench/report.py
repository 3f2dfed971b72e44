#!/usr/bin/env python3
"""Turn bench/records.sh's results.tsv and meta.tsv into the Markdown report (stdout).

usage: report.py RESULTS_TSV META_TSV RAW_DIR_NAME   (Python 3 standard library only)
"""

import csv
import sys

WORKLOADS = ["view-one", "list-with-filter", "create"]
SERVERS = ["keel", "pocketbase"]
# Keel's targets relative to PocketBase (throughput ratio), see docs/BENCHMARKS.md.
RATIO_TARGETS = {"view-one": 3.0, "list-with-filter": 3.0, "create": 2.0}
P99_TARGET_MS = 10.0
RSS_TARGET_MB = 60.0
# Warn when other processes used more than this much of one core during a measured run.
OTHERS_WARN_PCT = 10
DASH = "—"


def ms(us):
    return f"{float(us) / 1000:.2f} ms"


def main():
    results_path, meta_path, raw_name = sys.argv[1:4]
    with open(results_path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    res = {(r["server"], r["workload"]): r for r in rows}
    meta = {}
    with open(meta_path) as fh:
        for line in fh:
            key, _, value = line.rstrip("\n").partition("\t")
            meta[key] = value
    ran = [s for s in SERVERS if any(r["server"] == s for r in rows)]

    out = []
    w = out.append
    w(f"# Records benchmark, {meta.get('date', '?')}")
    w("")
    w(f"- command: `{meta.get('command', '?')}`")
    w(f"- settings: {meta.get('settings', '?')}")
    w(
        f"- machine: {meta.get('cpus', '?')} cores ({meta.get('cpu_model', '?')}), "
        f"{meta.get('mem', '?')}, {meta.get('kernel', '?')}; wrk runs on the same cores as the server"
    )
    w(f"- {meta.get('wrk', 'wrk')}; Keel tree: {meta.get('git', '?')}")
    for s in ran:
        label = "Keel" if s == "keel" else "PocketBase"
        w(
            f"- {label}: {meta.get(s + '.version', '?')}; seeding: {meta.get(s + '.seed', '?')}; "
            f"CPU idle before start: {meta.get(s + '.idle_before', '?')}%, "
            f"load average: {meta.get(s + '.loadavg_before', '?')}"
        )
    idle = {s: int(meta[s + ".idle_before"]) for s in ran if meta.get(s + ".idle_before", "").isdigit()}
    others = [int(r.get("other_cpu_pct") or 0) for r in rows]
    if (others and max(others) > OTHERS_WARN_PCT) or any(v < 90 for v in idle.values()):
        w("")
        w(
            "**Warning: the machine was not quiet.** Other processes used up to "
            f"{max(others, default=0)}% of a core during the measured runs (CPU idle just before "
            "each server started: " + ", ".join(f"{s} {v}%" for s, v in idle.items()) + "), "
            "so these figures are noisy: see the CPU table below, and re-run on a quiet machine."
        )
    w("")
    w("| workload | Keel req/s | PocketBase req/s | ratio | Keel p50 | Keel p99 | PB p50 | PB p99 |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for wl in WORKLOADS:
        k, p = res.get(("keel", wl)), res.get(("pocketbase", wl))
        ratio = DASH
        if k and p and float(p["rps"]) > 0:
            ratio = f"{float(k['rps']) / float(p['rps']):.2f}×"
        w(
            "| "
            + " | ".join(
                [
                    wl,
                    f"{float(k['rps']):,.0f}" if k else DASH,
                    f"{float(p['rps']):,.0f}" if p else DASH,
                    ratio,
                    ms(k["p50_us"]) if k else DASH,
                    ms(k["p99_us"]) if k else DASH,
                    ms(p["p50_us"]) if p else DASH,
                    ms(p["p99_us"]) if p else DASH,
                ]
            )
            + " |"
        )
    w("")
    rss_mb = {}
    for s in ran:
        label = "Keel" if s == "keel" else "PocketBase"
        rss = meta.get(s + ".rss_kb", "")
        if rss.isdigit():
            rss_mb[s] = int(rss) / 1024
            hwm = meta.get(s + ".hwm_kb", "")
            peak = f" (peak {int(hwm) / 1024:.1f} MB)" if hwm.isdigit() else ""
            w(f"- {label} RSS after the runs: {rss_mb[s]:.1f} MB{peak}")
        else:
            w(f"- {label} RSS after the runs: n/a (the server {rss or 'was not measured'})")

    bad = [r for r in rows if int(r["status_errors"]) or int(r["socket_errors"])]
    if bad:
        w("")
        w("**Errors — these figures are not valid:**")
        for r in bad:
            w(
                f"- {r['server']} {r['workload']}: {r['status_errors']} non-2xx responses, "
                f"{r['socket_errors']} socket errors/timeouts out of {r['requests']} requests"
            )
    else:
        w("- errors: none (every response 2xx, no socket errors or timeouts)")

    if "keel" in ran:
        w("")
        w("Targets (Keel):")
        for wl in WORKLOADS:
            k, p = res.get(("keel", wl)), res.get(("pocketbase", wl))
            parts = []
            if k and p:
                ratio = float(k["rps"]) / float(p["rps"])
                ok = ratio >= RATIO_TARGETS[wl]
                parts.append(f"{ratio:.2f}× PocketBase (target ≥ {RATIO_TARGETS[wl]:g}×) {'met' if ok else 'NOT met'}")
            if k:
                p99 = float(k["p99_us"]) / 1000
                ok = p99 < P99_TARGET_MS
                parts.append(f"p99 {p99:.2f} ms (target < {P99_TARGET_MS:g} ms) {'met' if ok else 'NOT met'}")
            w(f"- {wl}: " + "; ".join(parts))
        if "keel" in rss_mb:
            ok = rss_mb["keel"] < RSS_TARGET_MB
            w(f"- RSS {rss_mb['keel']:.1f} MB (target < {RSS_TARGET_MB:g} MB) {'met' if ok else 'NOT met'}")
    w("")
    w("CPU during each measured run, in % of one core (the machine has "
      f"{meta.get('cpus', '?')} cores; \"others\" is everything but the server and wrk):")
    w("")
    w("| server | workload | server | wrk | others |")
    w("|---|---|---:|---:|---:|")
    for r in rows:
        w(f"| {r['server']} | {r['workload']} | {r.get('server_cpu_pct', '?')}% | "
          f"{r.get('wrk_cpu_pct', '?')}% | {r.get('other_cpu_pct', '?')}% |")
    w("")
    w(f"Raw wrk output: `bench-out/{raw_name}/`.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
