#!/usr/bin/env python3
"""Turns the RESULT lines of `tests/sandbox/run.sh --bench` (its log or log.results file) into the L2-boot table of
BENCHMARKS.md: per L2 VMM configuration the median VMM launch -> L2-MARK-INIT time, the guest's own uptime at /init,
the VMM's peak RSS and its peak RSS outside the guest-RAM mapping, and the ratio of each median marker time to the
fastest QEMU configuration's.
Usage: benchmarks/sandbox_table.py RUN.log.results   (markers of runs that hit the watchdog still count: the marker
came before the kill; runs without a marker are listed as missing)"""
import re, statistics, sys

MACHINE = {"pluginvmm-default": "PluginVmm", "qemu-microvm-nortc": "QEMU `-M microvm`",
           "qemu-microvm": "QEMU `-M microvm,rtc=on`", "qemu-q35": "QEMU `-M q35`"}

def main(path):
    runs = {}
    extra = {}
    for line in open(path, errors="replace"):
        m = re.search(r"RESULT bench_(.+?)_r(\d+)_(marker_s|vmm_peak_rss_kB|vmm_nonguest_rss_kB|uptime_at_init_s|verdict)=(\S*)", line)
        if m:
            label, rep, key, value = m.groups()
            runs.setdefault(label, {}).setdefault(int(rep), {})[key] = value
            continue
        m = re.search(r"RESULT (host_loadavg_start|host_loadavg_end|bench_status)=(\S*)", line)
        if m:
            extra[m.group(1)] = m.group(2)

    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def med_marker(values):
        # a run without a marker was cut by the watchdog before the guest's /init: slower than any that has one
        values = [float("inf") if v is None else v for v in values]
        return statistics.median(values) if values else None

    rows = []
    for label, reps in runs.items():
        markers = [num(r.get("marker_s")) for r in reps.values()]
        rows.append(dict(
            label=label, name=MACHINE.get(label, label), n=len(reps),
            got=sum(m is not None for m in markers),
            marker=med_marker(markers), all=markers,
            uptime=med(num(r.get("uptime_at_init_s")) for r in reps.values()),
            rss=med(num(r.get("vmm_peak_rss_kB")) for r in reps.values()),
            nonguest=med(num(r.get("vmm_nonguest_rss_kB")) for r in reps.values()),
            verdicts=",".join(r.get("verdict", "?") for _, r in sorted(reps.items()))))
    qemu = [r for r in rows if r["label"].startswith("qemu") and r["marker"] not in (None, float("inf"))]
    fastest = min(qemu, key=lambda r: r["marker"]) if qemu else None
    qemu_nonguest = fastest["nonguest"] if fastest else None

    fmt = lambda v, f="{:.1f}": "-" if v is None else "> watchdog" if v == float("inf") else f.format(v)
    print(f"host load average at start / end: {extra.get('host_loadavg_start', '?')} / {extra.get('host_loadavg_end', '?')}")
    print()
    print("| L2 VMM | runs with marker | launch → L2-MARK-INIT, median (s) | each run (s) | ratio to fastest QEMU "
          "| guest uptime at /init, median (s) | VMM peak RSS, median (MiB) | peak RSS outside guest RAM, median (MiB) "
          "| ratio | verdicts |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (not r["label"].startswith("pluginvmm"), r["label"])):
        ratio = r["marker"] / fastest["marker"] if fastest and r["marker"] else None
        rss_ratio = r["nonguest"] / qemu_nonguest if qemu_nonguest and r["nonguest"] else None
        each = " / ".join("none" if m is None else f"{m:.1f}" for m in r["all"])
        print(f"| {r['name']} | {r['got']}/{r['n']} | {fmt(r['marker'])} | {each} | {fmt(ratio, '{:.2f}×')} "
              f"| {fmt(r['uptime'])} | {fmt(r['rss'] and r['rss'] / 1024)} | {fmt(r['nonguest'] and r['nonguest'] / 1024)} "
              f"| {fmt(rss_ratio, '{:.2f}×')} | {r['verdicts']} |")
    if fastest:
        print(f"\nfastest QEMU configuration (median marker): {fastest['name']}; RSS ratio is against its RSS outside guest RAM")

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
