#!/usr/bin/env python3
"""Turns the RESULT lines of A-B-B-A virtio benchmark runs (`tests/sandbox/run.sh --vmm pluginvmm --scenarios
netbench,netbench_qemu,netbench_qemu,netbench,...`, their log or log.results files) into BENCHMARKS.md's ratio table.

PluginVmm runs are NAME, QEMU runs NAME_qemu (netbench: iperf3 Mbit/s each way; blkbench: dd MiB/s). Within one L1
boot, the benchmark runs are taken in order four at a time; a window that is A-B-B-A or B-A-A-B gives one ratio per
metric, sum(PluginVmm) / sum(QEMU), which cancels a drift of L1's speed that is linear over the window (L1 gets
faster during its first minutes: TCG translates its network code). Other runs (warm-ups such as net_qemu, a window cut
short) are listed but give no ratio. The summary is the geometric mean of the windows' ratios with their range.

Usage: benchmarks/virtio_pairs.py RUN.log.results [MORE.log.results ...]"""
import math, re, sys

METRICS = {"netbench": [("iperf_tx_Mbps", "transmit", "L2 → L1 Mbit/s"), ("iperf_rx_Mbps", "receive", "L1 → L2 Mbit/s")],
           "blkbench": [("read_MiBs", "read", "read MiB/s"), ("write_MiBs", "write", "write + fsync MiB/s"),
                        ("read2_MiBs", "read2", "second read MiB/s")]}


def runs_by_l1(path):
    """[[(bench, is_qemu, {metric: value})]] per L1 boot, in order; a run counts once its status line is there."""
    boots, current, values = [], [], {}
    for line in open(path, errors="replace"):
        m = re.search(r"RESULT (\S+?)=(\S*)", line)
        if not m:
            continue
        key, value = m.groups()
        # every L1 boot: l1_boot_s, or l1_boot_attemptN_s for the fresh L1 that re-runs what a frozen one left
        if re.fullmatch(r"l1_boot(_attempt\d+)?_s", key):
            if current:
                boots.append(current)
            current, values = [], {}
            continue
        m = re.fullmatch(r"(netbench|blkbench)(_qemu)?_(.+)", key)
        if not m:
            continue
        bench, qemu, metric = m.group(1), m.group(2) is not None, m.group(3)
        if metric == "status":
            current.append((bench, qemu, values.pop((bench, qemu), {}), value))
        else:
            try:
                values.setdefault((bench, qemu), {})[metric] = float(value)
            except ValueError:
                pass
    if current:
        boots.append(current)
    return boots


def windows(runs):
    """Ratios per A-B-B-A / B-A-A-B window of passed runs: [(bench, [runs], {metric: ratio})]."""
    out, passed = [], [r for r in runs if r[3] == "pass"]
    for bench in METRICS:
        seq = [r for r in passed if r[0] == bench]
        i = 0
        while i + 4 <= len(seq):
            w = seq[i:i + 4]
            pattern = [r[1] for r in w]
            if pattern in ([False, True, True, False], [True, False, False, True]):
                ratios = {}
                for metric, _, _ in METRICS[bench]:
                    ours = [r[2].get(metric) for r in w if not r[1]]
                    theirs = [r[2].get(metric) for r in w if r[1]]
                    if None not in ours + theirs and sum(theirs) > 0:
                        ratios[metric] = sum(ours) / sum(theirs)
                out.append((bench, w, ratios))
                i += 4
            else:
                i += 1
    return out


def main(paths):
    all_windows = []
    for path in paths:
        for n, runs in enumerate(runs_by_l1(path), 1):
            for bench, w, ratios in windows(runs):
                all_windows.append((f"{path.split('/')[-1].split('.')[0]}, L1 #{n}", bench, w, ratios))
    for bench, metrics in METRICS.items():
        rows = [x for x in all_windows if x[1] == bench]
        if not rows:
            continue
        print(f"\n{bench}: each window's runs in order (P = PluginVmm, Q = QEMU), then PluginVmm / QEMU\n")
        print("| window | " + " | ".join(f"{label} (runs)" for _, _, label in metrics) + " | " +
              " | ".join(f"ratio {short}" for _, short, _ in metrics) + " |")
        print("|---" * (1 + 2 * len(metrics)) + "|")
        for where, _, w, ratios in rows:
            cells = [", ".join(f"{'Q' if r[1] else 'P'} {r[2].get(m, float('nan')):g}" for r in w) for m, _, _ in metrics]
            print(f"| {where} | " + " | ".join(cells) + " | " +
                  " | ".join(f"{ratios[m]:.2f}" if m in ratios else "–" for m, _, _ in metrics) + " |")
        for metric, _, label in metrics:
            rs = [x[3][metric] for x in rows if metric in x[3]]
            if rs:
                g = math.exp(sum(math.log(r) for r in rs) / len(rs))
                print(f"\n{label}: geometric mean of {len(rs)} windows **{g:.2f}** (range {min(rs):.2f}–{max(rs):.2f})", end="")
        print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
