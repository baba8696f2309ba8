#!/usr/bin/env python3
"""Startup benchmark: the `hello` tiny PVH guest (tests/guests/hello) booted by PluginVmm and by QEMU microvm,
alternating, N runs each. Reports median wall time from process start to exit and median peak RSS, and the ratios.
Usage: benchmarks/startup.py [--runs 10]   (run from anywhere; builds what it needs through ./vmm and build.sh)"""
import argparse, os, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def measure(argv, cwd):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode, out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pluginvmm-bench-")
    subprocess.run(["sh", os.path.join(root, "tests/guests/build.sh"), "hello", work], check=True)
    elf = os.path.join(work, "hello.elf")
    toml = os.path.join(work, "hello.toml")
    with open(toml, "w") as f:
        f.write(f'[vm]\nmemory_mib = 128\nkernel = "{elf}"\n')
    subprocess.run([os.path.join(root, "vmm"), "plugins"], check=True, stdout=subprocess.DEVNULL)  # publish if stale
    host = os.path.join(root, ".build/vmm/vmm.dll")
    ours = ["dotnet", host, "run", toml]
    qemu = ["qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-m", "128", "-nodefaults", "-nographic",
            "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1", "-kernel", elf]
    results = {"pluginvmm": [], "qemu": []}
    for name, argv in (("pluginvmm", ours), ("qemu", qemu)):  # warm-up, and check both see the guest
        _, _, rc, out = measure(argv, work)
        if rc != 0x21 or b"hello from PluginVmm" not in out:
            sys.exit(f"{name}: unexpected exit {rc} / output {out[:200]!r}")
    for _ in range(args.runs):
        for name, argv in (("pluginvmm", ours), ("qemu", qemu)):
            wall, rss, rc, _ = measure(argv, work)
            assert rc == 0x21, (name, rc)
            results[name].append((wall, rss))
    med = {n: (statistics.median(w for w, _ in r) * 1000, statistics.median(m for _, m in r)) for n, r in results.items()}
    print(f"runs per VMM: {args.runs}")
    print("| VMM | median wall (ms) | median peak RSS (MiB) |")
    print("|---|---|---|")
    for n, (w, m) in med.items():
        print(f"| {n} | {w:.1f} | {m:.1f} |")
    print(f"ratio PluginVmm/QEMU: wall {med['pluginvmm'][0] / med['qemu'][0]:.2f}x, peak RSS {med['pluginvmm'][1] / med['qemu'][1]:.2f}x")

if __name__ == "__main__":
    main()
