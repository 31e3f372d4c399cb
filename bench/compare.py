#!/usr/bin/env python3
"""bench/compare: prom2gcm against vmagent on the same job, measured side by side in one run.
Starts the GCM emulator in sink mode and prom2gcm, then vmagent with a 204 sink (bench/sink204), and
replays the same corpus with the load generator at the same concurrency against each in turn. Reads
each process' CPU time from /proc and prints a table: samples/s, samples per CPU-second, p50/p99 of the
write acknowledgement, RSS, RSS per active series, points that reached the emulator per accepted
sample, and the ratios to vmagent. --rounds N (default 3) alternates the two runs N times, each with
fresh processes, and the table has each column's median, followed by each round's ratios: on a shared
machine one pair of runs can be 20% off either way. Between them, each round also runs bench/floor_bridge
at its stages decode, count, encode and calls (--no-floor: not), and a second table gives what each step
costs per sample and the ceiling those steps set, for any bridge on these libraries, on the ratio to
vmagent. Writes the tables and a plot (gnuplot) into BENCHMARKS.md.

--memory C1,C2,...: instead, memory per series (issue #6: at most 512 bytes per active series at a
million). For each loadgen cardinality, a fresh prom2gcm is fed about four scrapes of every series
(so each series is in the cache, counters have baselines and classic histograms are assembled), left
to settle past its first eviction pass (a minute), and its VmRSS read; printed with the marginal bytes per series between consecutive
cardinalities, (RSS2 - RSS1) / (series2 - series1), which leaves out the fixed cost (threads, shards,
gRPC). The table replaces BENCHMARKS.md's section "Memory per series, latest run" (added after the
main table when missing).

--soak SECONDS (with --memory C): one run of that length at cardinality C, at the corpus' own pace
(every series once per 5 s scrape), printing VmRSS twice a minute: memory should stay flat. The table
replaces BENCHMARKS.md's section "Memory over time, latest run" the same way."""
import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "e2e"))
from stack import Stack, free_port, http_get, metric_sum, wait_until  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_bytes(pid, key="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def loadgen_path(args):
    return os.path.join(args.build, "integration", "loadgen", "loadgen")


def parse_configs(configs):
    """NAME=BINARY[,FLAG...] arguments (bench/ab.py, bench/drain.py) as {NAME: (BINARY, [FLAG...])}."""
    parsed = {}
    for config in configs:
        name, _, rest = config.partition("=")
        binary, *flags = rest.split(",")
        parsed[name] = (binary, flags)
    return parsed


def emulator_path(args):
    return os.path.join(args.build, "integration", "gcm-emulator")


def replay(loadgen, url, samples, cardinality, connections):
    out = subprocess.run([loadgen, "--corpus", os.path.join(ROOT, "testdata", "v1"), "--url", url,
                          "--samples", str(samples), "--cardinality", str(cardinality),
                          "--connections", str(connections)], capture_output=True, text=True, timeout=1800)
    line = next(l for l in out.stdout.splitlines() if l.startswith("loadgen_result "))
    return {k: float(v) if v.replace(".", "", 1).isdigit() else v for k, v in
            (kv.split("=", 1) for kv in line.split()[1:])}


# After the replay, a process still holds what it accepted but has not passed on (prom2gcm's queues
# and calls in flight, vmagent's pending blocks); the CPU it spends on that counts (the issue measures
# end to end). Then this long more, for anything flushed on a timer (vmagent flushes each second).
SETTLE_S = 1.5


def measure(pid, run, drained):
    cpu0, t0 = cpu_seconds(pid), time.time()
    result = run()
    result["wall"] = time.time() - t0  # samples/s: the rate the sender was answered at
    wait_until("the queues to drain", drained, timeout=300)
    time.sleep(SETTLE_S)
    result["cpu"] = cpu_seconds(pid) - cpu0
    result["rss"] = rss_bytes(pid)
    result["hwm"] = rss_bytes(pid, "VmHWM")
    return result


def prom2gcm_drained(stack):
    return (stack.prom2gcm_metric("prom2gcm_exporter_queued_points") == 0 and
            stack.prom2gcm_metric("prom2gcm_exporter_calls_in_flight") == 0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--samples", type=int, default=2_000_000)
    parser.add_argument("--cardinality", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3,
                        help="prom2gcm and vmagent runs alternated this many times; the table has medians")
    parser.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    parser.add_argument("--memory", help="comma-separated cardinalities: measure RSS per series only")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for prom2gcm (with --memory)")
    parser.add_argument("--soak", type=int, default=0, help="with --memory C: seconds of a steady run")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip bench/floor_bridge's stages (the ceiling for any bridge on these libraries)")
    args = parser.parse_args()
    if args.memory:
        cardinalities = [int(c) for c in args.memory.split(",")]
        return soak(args, cardinalities[0]) if args.soak else memory(args, cardinalities)
    rounds = []
    for _ in range(args.rounds):  # alternated, so the machine's drift falls on all alike
        p = run_prom2gcm(args)
        rounds.append({"prom2gcm": p})
        if not args.no_floor:
            floor = os.path.join(args.build, "bench", "floor_bridge")
            for stage in FLOOR_STAGES:
                rounds[-1]["floor " + stage] = run_prom2gcm(args, floor, ["--floor.stage=" + stage])
        rounds[-1]["vmagent"] = run_vmagent(args, p["series"])
    report(rounds, args)
    return 0


def run_prom2gcm(args, binary=None, flags=()):
    """One replay into a fresh prom2gcm (emulator in sink mode); its row of the table. binary: another
    binary that takes prom2gcm's flags and serves its exporter metrics (bench/floor_bridge)."""
    stack = Stack(binary or os.path.join(args.build, "prom2gcm"), emulator_path(args))
    try:
        start_bench_stack(stack, flags)
        pid = stack.procs["prom2gcm"].pid
        r = measure(pid, lambda: replay(loadgen_path(args), stack.prom2gcm_url + "/api/v1/write", args.samples,
                                        args.cardinality, args.connections),
                    lambda: prom2gcm_drained(stack))
        r["series"] = stack.prom2gcm_metric("prom2gcm_exporter_series_cache_entries")
        r["points"] = stack.emulator_stats()["points_accepted"]
        return r
    finally:
        stack.stop_all()


def run_vmagent(args, series):
    """One replay into a fresh vmagent forwarding to bench/sink204; its row (series: prom2gcm's count)."""
    b = args.build
    sink = subprocess.Popen([os.path.join(b, "bench", "sink204")], stdout=subprocess.PIPE, text=True)
    vm = None
    vm_dir = tempfile.mkdtemp(prefix="vmagent-")
    try:
        sink_port = int(sink.stdout.readline().split("=")[1])
        vm_port = free_port()
        vm = subprocess.Popen(["vmagent", "-httpListenAddr=127.0.0.1:%d" % vm_port,
                               "-remoteWrite.url=http://127.0.0.1:%d/api/v1/write" % sink_port,
                               "-remoteWrite.tmpDataPath=" + vm_dir, "-loggerLevel=ERROR"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until("vmagent", lambda: http_get("http://127.0.0.1:%d/metrics" % vm_port))
        vm_metrics = "http://127.0.0.1:%d/metrics" % vm_port
        r = measure(vm.pid, lambda: replay(loadgen_path(args), "http://127.0.0.1:%d/api/v1/write" % vm_port,
                                           args.samples, args.cardinality, args.connections),
                    lambda: metric_sum(http_get(vm_metrics).decode(), "vm_persistentqueue_bytes_pending") == 0)
        r["series"] = series
        r["points"] = float("nan")
        return r
    finally:
        for proc in (vm, sink):
            if proc is not None:
                proc.terminate()
                proc.wait()
        shutil.rmtree(vm_dir, ignore_errors=True)


EVICTION_INTERVAL_S = 60  # exporter.cc kEvictionIntervalMs
SAMPLES_PER_REPLICA = 4000  # testdata/v1: about 950 series scraped every 5 s, so about four scrapes each


def start_bench_stack(stack, flags=(), env=None, emulator_flags=()):
    """Starts the emulator in sink mode (with `emulator_flags`) and prom2gcm with the bench's flags
    (then `flags`) on `stack`: metadata waited for up to 5 s, and shard queues deep enough that a
    replay at full speed is not refused for a full queue. `env`: variables for prom2gcm's environment
    only."""
    stack.start_emulator(["--sink"] + list(emulator_flags))
    env = env or {}
    os.environ.update(env)  # Stack starts processes with the inherited environment
    try:
        stack.start_prom2gcm(["--export.metadata-wait=5s", "--export.shard-capacity=100000"] + list(flags))
    finally:
        for name in env:
            del os.environ[name]


def start_for_memory(args):
    """A Stack with the emulator (sink) and prom2gcm started, prom2gcm with args.env in its environment."""
    stack = Stack(os.path.join(args.build, "prom2gcm"), emulator_path(args))
    start_bench_stack(stack, ["--export.histogram-wait=5s"], dict(kv.split("=", 1) for kv in args.env))
    return stack


def soak(args, cardinality):
    loadgen = loadgen_path(args)
    stack = start_for_memory(args)
    try:
        pid = stack.procs["prom2gcm"].pid
        series_per_replica, scrape_s = 950, 5  # testdata/v1
        run = subprocess.Popen([loadgen, "--corpus", os.path.join(ROOT, "testdata", "v1"),
                                "--url", stack.prom2gcm_url + "/api/v1/write", "--cardinality", str(cardinality),
                                "--connections", str(args.connections), "--duration", "%ds" % args.soak,
                                "--rate", str(series_per_replica * cardinality // scrape_s)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = ["| seconds | active series | RSS MiB |", "|---|---|---|"]
        print("\n".join(lines))
        start = time.time()
        while run.poll() is None:
            time.sleep(30)
            lines.append("| %.0f | %.0f | %.1f |" % (time.time() - start,
                                                    stack.prom2gcm_metric("prom2gcm_exporter_series_cache_entries"),
                                                    rss_bytes(pid) / 2**20))
            print(lines[-1], flush=True)
        result = next(l for l in run.stdout.read().splitlines() if l.startswith("loadgen_result "))
        print(result)
    finally:
        stack.stop_all()
    intro = ("`python3 bench/compare.py --memory %d --soak %d`: loadgen at the corpus' own pace (every series "
             "once per 5 s scrape); VmRSS of prom2gcm twice a minute." % (cardinality, args.soak))
    write_section(args.out, "Memory over time, latest run", intro, lines + ["", "`" + result + "`"])
    return 0


def memory(args, cardinalities):
    loadgen = loadgen_path(args)
    rows = []
    for cardinality in cardinalities:
        stack = start_for_memory(args)
        try:
            pid = stack.procs["prom2gcm"].pid
            started = time.time()
            idle = rss_bytes(pid)
            r = replay(loadgen, stack.prom2gcm_url + "/api/v1/write", SAMPLES_PER_REPLICA * cardinality,
                       cardinality, args.connections)
            # Held series and open histogram sets finish within the 5 s waits; queues drain; then the
            # next eviction pass (once a minute) hands malloc's free pages back.
            wait_until("queues drained", lambda: stack.prom2gcm_metric("prom2gcm_exporter_queued_points") == 0,
                       timeout=300)
            time.sleep(max(8, EVICTION_INTERVAL_S + 2 - (time.time() - started)))
            series = stack.prom2gcm_metric("prom2gcm_exporter_series_cache_entries")
            rows.append((cardinality, series, idle, rss_bytes(pid), rss_bytes(pid, "VmHWM"),
                         stack.prom2gcm_metric("prom2gcm_exporter_series_cache_bytes"), r["samples_acked"]))
        finally:
            stack.stop_all()
    lines = ["| cardinality | active series | samples acked | RSS idle MiB | RSS MiB | VmHWM MiB | RSS bytes per series "
             "| marginal bytes per series | cache estimate bytes per series |", "|---|---|---|---|---|---|---|---|---|"]
    previous = None
    for cardinality, series, idle, rss, hwm, cache_bytes, acked in rows:
        marginal = ("%.0f" % ((rss - previous[3]) / (series - previous[1]))
                    if previous and series != previous[1] else "")
        lines.append("| %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.0f |" % (
            cardinality, series, acked, idle / 2**20, rss / 2**20, hwm / 2**20, rss / max(series, 1), marginal,
            cache_bytes / max(series, 1)))
        previous = (cardinality, series, idle, rss)
    print("\n".join(lines))
    intro = ("`python3 bench/compare.py --memory %s`: for each cardinality a fresh prom2gcm, fed about four "
             "scrapes of every series and read after its first eviction pass. Target (issue #6): at most 512 "
             "bytes per active series at 1M series." % args.memory)
    write_section(args.out, "Memory per series, latest run", intro, lines)
    return 0


def date_and_machine():
    """BENCHMARKS.md's lines naming when and where a table was measured."""
    return "- date: %s\n- machine: %s, %d cores, %s\n" % (
        datetime.datetime.now().isoformat(timespec="seconds"), platform.processor() or platform.machine(),
        os.cpu_count(), platform.platform())


def write_section(path, heading, intro, lines):
    """Replaces the section `## heading` of the file at path (up to the next `## ` heading) with intro,
    the machine and date, and lines; a file without it gets it right after the main table, before the
    first hand-written section."""
    body = "## %s\n\n%s\n\n%s\n%s\n" % (heading, intro, date_and_machine(), "\n".join(lines))
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    marker = "\n## %s\n" % heading
    if marker in text:
        start = text.index(marker) + 1
        end = text.find("\n## ", start)
        text = text[:start] + body + (text[end:] if end >= 0 else "")
    else:
        first = text.find("\n## ")
        text = (text.rstrip("\n") + "\n\n" + body if first < 0 else
                text[:first + 1] + body + text[first:])
    with open(path, "w") as f:
        f.write(text)


# bench/floor_bridge's stages that bound any bridge on prom2gcm's libraries (see its header): receiving
# and decoding, finding entries and transforming, writing the calls' bytes, making the calls.
FLOOR_STAGES = ("decode", "count", "encode", "calls")


def floor_lines(rows, vmagent):
    """The floor stages' table and the ceiling they set on samples per CPU-second, ×vmagent."""
    us = {name: 1e6 / r["per_cpu"] for name, r in rows.items()}
    steps = {"decode": ("receive and decode", us["floor decode"]),
             "count": ("find entries, transform", us["floor count"] - us["floor decode"]),
             "encode": ("write the calls' bytes", us["floor encode"] - us["floor count"]),
             "calls": ("make the calls (bytes in cache)", us["floor calls"] - us["floor count"])}
    lines = ["| bench/floor_bridge, median | samples per CPU-second | µs per sample | step | its µs per sample |",
             "|---|---|---|---|---|"]
    for stage in FLOOR_STAGES:
        lines.append("| --floor.stage=%s | %.0f | %.3f | %s | %.3f |" % (
            stage, rows["floor " + stage]["per_cpu"], us["floor " + stage], *steps[stage]))
    least = steps["decode"][1] + steps["encode"][1] + steps["calls"][1]
    lines.append("\nCeiling for any bridge on these libraries (receive and decode + write the bytes + make the "
                 "calls, with entries and transform free): %.3f µs per sample, **%.2f× vmagent** (%.3f µs)" % (
                     least, 1e6 / vmagent["per_cpu"] / least, 1e6 / vmagent["per_cpu"]))
    return lines


def per_cpu(r):
    return r["samples_acked"] / r["cpu"] if r["cpu"] else float("inf")


def report(rounds, args):
    def median_row(name):
        rs = [r[name] for r in rounds]
        row = {k: statistics.median(r[k] for r in rs) for k in ("samples_acked", "wall", "cpu", "p50_ms", "p99_ms",
                                                                "rss", "series", "points")}
        row["per_cpu"] = statistics.median(per_cpu(r) for r in rs)
        return row
    all_rows = {name: median_row(name) for name in rounds[0]}
    rows = {name: all_rows[name] for name in ("prom2gcm", "vmagent")}
    p, v = rows["prom2gcm"], rows["vmagent"]
    lines = ["| median of %d | samples/s | samples per CPU-second | p50 ms | p99 ms | RSS MiB | RSS bytes per active "
             "series | points in emulator per accepted sample |" % len(rounds), "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append("| %s | %.0f | %.0f | %.1f | %.1f | %.0f | %.0f | %s |" % (
            name, r["samples_acked"] / r["wall"], r["per_cpu"], r["p50_ms"], r["p99_ms"], r["rss"] / 2**20,
            r["rss"] / max(r["series"], 1),
            "%.3f" % (r["points"] / r["samples_acked"]) if r["points"] == r["points"] else "n/a (forwards)"))
    def each(f):
        return ", ".join("%.2f×" % f(r["prom2gcm"], r["vmagent"]) for r in rounds)
    ratios = ("prom2gcm / vmagent, medians: samples per CPU-second **%.2f×** (target ≥ 2), p99 %.2f× (target ≤ 1), "
              "RSS %.2f×\n\nEach round (prom2gcm then vmagent): samples per CPU-second %s; p99 %s" % (
                  p["per_cpu"] / v["per_cpu"], p["p99_ms"] / v["p99_ms"], p["rss"] / v["rss"],
                  each(lambda a, b: per_cpu(a) / per_cpu(b)), each(lambda a, b: a["p99_ms"] / b["p99_ms"])))
    if "floor decode" in all_rows:
        ratios += "\n\n" + "\n".join(floor_lines(all_rows, v))
    print("\n".join(lines))
    print(ratios)
    plot = os.path.join(os.path.dirname(args.out), "bench", "compare.png")
    os.makedirs(os.path.dirname(plot), exist_ok=True)
    data = tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False)
    for name, r in rows.items():
        data.write('"%s" %.0f\n' % (name, r["per_cpu"]))
    data.close()
    subprocess.run(["gnuplot", "-e", "set terminal png size 640,400; set output '%s'; set style fill solid; "
                    "set boxwidth 0.5; set ylabel 'samples per CPU-second'; set yrange [0:*]; "
                    "plot '%s' using 0:2:xtic(1) with boxes notitle" % (plot, data.name)], check=False)
    notes = ""  # the hand-written analysis below the generated part (from its first "## " heading) stays
    if os.path.exists(args.out):
        with open(args.out) as f:
            existing = f.read()
        if "\n## " in existing:
            notes = existing[existing.index("\n## "):]
    with open(args.out, "w") as f:
        f.write("# Benchmarks\n\nWritten by `bench/compare` (`python3 bench/compare.py`): %d rounds, each a run of "
                "prom2gcm, of bench/floor_bridge's stages and of vmagent on the same machine; the tables have each column's "
                "median.\n\n" %
                len(rounds))
        f.write(date_and_machine() + "- load: %d samples of testdata/v1 replayed by loadgen, cardinality %d (%d "
                "active series), %d connections; remote-write 1.0\n\n" % (
                    args.samples, args.cardinality, p["series"], args.connections))
        f.write("\n".join(lines) + "\n\n" + ratios + "\n\n![samples per CPU-second](bench/compare.png)\n" + notes)


if __name__ == "__main__":
    sys.exit(main())
