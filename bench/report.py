#!/usr/bin/env python3
"""Turn bench/records.sh's results.tsv and meta.tsv into the Markdown report (stdout).

usage: report.py RESULTS_TSV META_TSV RAW_DIR_NAME   (Python 3 standard library only)
"""

import csv
import sys

# `health` (GET /api/health) is the run's ceiling, not a records workload: it has no target.
WORKLOADS = ["health", "view-one", "view-signed-in", "list-with-filter", "create"]
SERVERS = ["keel", "keel-postgres", "keel-mysql", "pocketbase"]
LABELS = {
    "keel": "Keel (SQLite)",
    "keel-postgres": "Keel (PostgreSQL)",
    "keel-mysql": "Keel (MariaDB)",
    "pocketbase": "PocketBase",
}
# Keel's targets per records engine, relative to PocketBase (throughput ratio) and absolute
# (p99 at the run's connections, RSS), see docs/BENCHMARKS.md. An engine without a target for
# a workload is reported, not judged.
RATIO_TARGETS = {
    "keel": {"view-one": 7.0, "list-with-filter": 6.0, "create": 5.0},
    "keel-postgres": {"view-one": 1.0, "list-with-filter": 1.0},
    "keel-mysql": {},
}
P99_TARGET_MS = {
    "keel": {"view-one": 5.0, "list-with-filter": 10.0, "create": 10.0},
    "keel-postgres": {"view-one": 20.0, "list-with-filter": 20.0},
}
RSS_TARGET_MB = {"keel": 50.0}
# Warn when other processes used more than this much of one core during a measured run.
OTHERS_WARN_PCT = 10
DASH = "—"


def ms(us):
    return f"{float(us) / 1000:.2f} ms"


def little_bound_us(r, connections):
    """The largest mean latency the measured responses can have (Little's law: each
    connection has one request in flight, so a run's latencies sum to at most connections ×
    its duration). None when the run gives no mean (an older results.tsv)."""
    if not r.get("mean_us") or not connections or float(r["rps"]) <= 0:
        return None
    return connections / float(r["rps"]) * 1e6


def corrected(r, connections):
    """wrk corrects its latencies for coordinated omission: for each response slower than
    twice a connection's mean interval between requests it adds the responses that connection
    would have waited for at that rate (`stats_correct` in wrk.c). When its mean is more than 5 %
    above what the measured responses can average, those added samples make its tail: a stall,
    whose length is the run's slowest response."""
    bound = little_bound_us(r, connections)
    return bound is not None and float(r["mean_us"]) > 1.05 * bound


def slowest_ms(r):
    return f"{float(r['max_us']) / 1000:.2f} ms" if r.get("max_us") else "?"


def cpu_us_per_request(server, r):
    """µs of CPU a request cost `server` in the run `r` (None when not measured)."""
    try:
        pct = float(r["server_cpu_pct"])
        if server in ("keel-postgres", "keel-mysql"):
            pct += float(r.get("other_cpu_pct") or 0)
        rps = float(r["rps"])
    except (TypeError, KeyError, ValueError):
        return None
    return pct / 100 / rps * 1e6 if rps > 0 and pct > 0 else None


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
    settings = dict(p.split("=", 1) for p in meta.get("settings", "").split() if "=" in p)
    connections = int(settings["connections"]) if settings.get("connections", "").isdigit() else 0
    # --processes N > 1 (Keel on PostgreSQL only): N servers, one wrk each, combined.
    processes = {s: int(meta[s + ".processes"]) for s in ran if meta.get(s + ".processes", "").isdigit()}
    for s, n in processes.items():
        LABELS[s] = LABELS[s][:-1] + f", {n} processes)"

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
        label = LABELS[s]
        w(
            f"- {label}: {meta.get(s + '.version', '?')}; seeding: {meta.get(s + '.seed', '?')}; "
            f"CPU idle before start: {meta.get(s + '.idle_before', '?')}%, "
            f"load average: {meta.get(s + '.loadavg_before', '?')}"
        )
    for s, n in processes.items():
        w(
            f"- {LABELS[s]}: {n} `keel serve` on the same database, PostgreSQL jobs store and event "
            f"bus (channel {meta.get(s + '.channel', '?')}), seeded through the first; each workload ran "
            f"{n} wrk at once, one per process, with connections/{n} each: req/s and requests are "
            f"summed, p50 and p99 are the largest of the {n} instances' (not a merged histogram), "
            "server CPU and RSS are summed over the processes"
        )
    idle = {s: int(meta[s + ".idle_before"]) for s in ran if meta.get(s + ".idle_before", "").isdigit()}
    # On PostgreSQL and MariaDB the database server's CPU is in "others": it is the engine.
    others = [int(r.get("other_cpu_pct") or 0) for r in rows if r["server"] in ("keel", "pocketbase")]
    if (others and max(others) > OTHERS_WARN_PCT) or any(v < 90 for v in idle.values()):
        w("")
        w(
            "**Warning: the machine was not quiet.** Other processes used up to "
            f"{max(others, default=0)}% of a core during the measured runs (CPU idle just before "
            "each server started: " + ", ".join(f"{s} {v}%" for s, v in idle.items()) + "), "
            "so these figures are noisy: see the CPU table below, and re-run on a quiet machine."
        )
    w("")
    keels = [k for k in ran if k != "pocketbase"]
    head = ["workload"] + [f"{LABELS[k]} req/s" for k in ran]
    head += [f"{LABELS[k]} ÷ PB" for k in keels if "pocketbase" in ran]
    w("| " + " | ".join(head) + " |")
    w("|---" + "|---:" * (len(head) - 1) + "|")
    for wl in WORKLOADS:
        cells = [wl]
        for k in ran:
            r = res.get((k, wl))
            cells.append(f"{float(r['rps']):,.0f}" if r else DASH)
        p = res.get(("pocketbase", wl))
        for k in keels if "pocketbase" in ran else []:
            r = res.get((k, wl))
            ok = r and p and float(p["rps"]) > 0
            cells.append(f"{float(r['rps']) / float(p['rps']):.2f}×" if ok else DASH)
        w("| " + " | ".join(cells) + " |")
    w("")
    w("| workload | " + " | ".join(f"{LABELS[k]} p50 / p99" for k in ran) + " |")
    w("|---" + "|---:" * len(ran) + "|")
    for wl in WORKLOADS:
        cells = [wl]
        for k in ran:
            r = res.get((k, wl))
            cells.append(f"{ms(r['p50_us'])} / {ms(r['p99_us'])}" if r else DASH)
        w("| " + " | ".join(cells) + " |")
    w("")
    rss_mb = {}
    for s in ran:
        label = LABELS[s]
        rss = meta.get(s + ".rss_kb", "")
        if rss.isdigit():
            rss_mb[s] = int(rss) / 1024
            hwm = meta.get(s + ".hwm_kb", "")
            peak = f" (peak {int(hwm) / 1024:.1f} MB)" if hwm.isdigit() else ""
            anon, file = meta.get(s + ".rss_anon_kb", ""), meta.get(s + ".rss_file_kb", "")
            split = (
                f"; allocated {int(anon) / 1024:.1f} MB, executable and libraries mapped from disk "
                f"{int(file) / 1024:.1f} MB"
                if anon.isdigit() and file.isdigit()
                else ""
            )
            w(f"- {label} RSS after the runs: {rss_mb[s]:.1f} MB{peak}{split}")
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
    for r in rows:
        if corrected(r, connections):
            w(
                f"- {r['server']} {r['workload']}: wrk's coordinated-omission correction makes this tail "
                f"(its mean {float(r['mean_us']) / 1000:.2f} ms is above the "
                f"{little_bound_us(r, connections) / 1000:.2f} ms the measured responses can average at "
                f"{connections} connections): the slowest response took {slowest_ms(r)}"
            )

    for k in [k for k in ran if k != "pocketbase"]:
        w("")
        w(f"Targets ({LABELS[k]}):")
        for wl in WORKLOADS:
            r, p = res.get((k, wl)), res.get(("pocketbase", wl))
            parts = []
            target = RATIO_TARGETS[k].get(wl)
            if r and p and float(p["rps"]) > 0:
                ratio = float(r["rps"]) / float(p["rps"])
                if target is None:
                    parts.append(f"{ratio:.2f}× PocketBase (no target)")
                else:
                    ok = ratio >= target
                    parts.append(f"{ratio:.2f}× PocketBase (target ≥ {target:g}×) {'met' if ok else 'NOT met'}")
            if r:
                p99 = float(r["p99_us"]) / 1000
                p99_target = P99_TARGET_MS.get(k, {}).get(wl)
                if p99_target is not None:
                    ok = p99 <= p99_target
                    parts.append(f"p99 {p99:.2f} ms (target ≤ {p99_target:g} ms) {'met' if ok else 'NOT met'}")
                else:
                    parts.append(f"p99 {p99:.2f} ms (no target)")
                if corrected(r, connections):
                    parts.append(f"a stall of up to {slowest_ms(r)}, counted with wrk's coordinated-omission correction")
            w(f"- {wl}: " + "; ".join(parts or [DASH]))
        if k in rss_mb and k in RSS_TARGET_MB:
            ok = rss_mb[k] < RSS_TARGET_MB[k]
            w(f"- RSS {rss_mb[k]:.1f} MB (target < {RSS_TARGET_MB[k]:g} MB) {'met' if ok else 'NOT met'}")
    w("")
    w("CPU during each measured run, in % of one core (the machine has "
      f"{meta.get('cpus', '?')} cores; \"others\" is everything but the server and wrk, so for Keel on "
      "PostgreSQL or MariaDB it includes the database server):")
    w("")
    w("| server | workload | server | wrk | others |")
    w("|---|---|---:|---:|---:|")
    for r in rows:
        w(f"| {r['server']} | {r['workload']} | {r.get('server_cpu_pct', '?')}% | "
          f"{r.get('wrk_cpu_pct', '?')}% | {r.get('other_cpu_pct', '?')}% |")
    w("")
    # The throughput ratio counts wrk's share of the two cores against the faster server (wrk
    # spends the same CPU per request on both, and more requests a second take more of it):
    # CPU per request compares the servers' own work.
    w("Server CPU per request, in µs (the server's CPU time ÷ its requests; for Keel on "
      "PostgreSQL or MariaDB the database server's, \"others\", is added), and PocketBase's ÷ "
      "Keel's (how many times less CPU Keel spent on a request):")
    w("")
    head = ["workload"] + [LABELS[k] for k in ran]
    head += [f"PB ÷ {LABELS[k]}" for k in keels if "pocketbase" in ran]
    w("| " + " | ".join(head) + " |")
    w("|---" + "|---:" * (len(head) - 1) + "|")
    for wl in WORKLOADS:
        cost = {k: cpu_us_per_request(k, res.get((k, wl))) for k in ran}
        cells = [wl] + [f"{cost[k]:.1f}" if cost[k] else DASH for k in ran]
        for k in keels if "pocketbase" in ran else []:
            ok = cost[k] and cost["pocketbase"]
            cells.append(f"{cost['pocketbase'] / cost[k]:.2f}×" if ok else DASH)
        w("| " + " | ".join(cells) + " |")
    w("")
    w(f"Raw wrk output: `bench-out/{raw_name}/`.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
