#!/usr/bin/env python3
"""End-to-end test of the durable queue behind a real Prometheus: Prometheus (Debian's, scraping
itself and node-exporter every 5 s) remote-writes to prom2gcm (--storage.path), which writes to the GCM
emulator. During the run:
  - after ~20 s prom2gcm is killed with SIGKILL and restarted ~8 s later on the same port and storage
    path (Prometheus retries meanwhile, with its samples in its own WAL);
  - ~15 s later the emulator answers every call UNAVAILABLE for 15 s (an outage), then recovers;
  - the run goes on ~20 s more.
Then the test waits until Prometheus has sent everything up to the end and prom2gcm has no unconfirmed
request and no queued point, and checks, up to a horizon 15 s before the end:
  - gauges (gauge families, Prometheus' own up/scrape_* series, the gauge half of untyped series and
    summary quantiles): every sample Prometheus stored (read back through its API) is in the emulator
    once, with the same value and timestamp, except those sooner than 5 s after the last one written
    (scrape jitter; prometheus_e2e_test.thinned), and nothing else is: no gap across the kill or the
    outage;
  - counters (and summaries' _sum and _count): the send journal (README, "Durable queue") gives the
    restarted prom2gcm each counter's baseline and start time, so every point must be a stored
    sample's value minus the value stored at its start time (or the value itself when it starts 1 ms
    before a stored sample: a reset), and every sample Prometheus stored after a series' first (its
    baseline) must be there: no new baseline at the restart;
  - classic histograms are left to prometheus_e2e_test;
  - the emulator refused nothing: points GCM accepted before the kill are not sent again (the journal
    says which, and GCM is asked about the calls in flight at the kill). The number of requests
    prom2gcm replayed at its restart is printed.
Usage: prometheus_restart_e2e_test.py --prom2gcm BIN --emulator BIN"""
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prometheus_e2e_test import comparable, family_type, gcm_kinds, thinned  # noqa: E402
from stack import Stack, http_get, metric_sum, report, stack_arguments, wait_until  # noqa: E402

HORIZON_S = 15  # before the end: remote-write's last seconds are left out


def set_faults(stack, query):
    request = urllib.request.Request(stack.emulator_http + "/v1/faults?" + query, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def run_for(stack, seconds):
    until = time.time() + seconds
    while time.time() < until:
        stack.check_running()
        time.sleep(0.5)


def sent_up_to(stack, at):
    """Whether Prometheus' remote-write queue has sent samples up to `at` (seconds)."""
    text = http_get(stack.prometheus_url + "/metrics").decode()
    return metric_sum(text, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds") >= at


def prom2gcm_idle(stack):
    text = http_get(stack.prom2gcm_url + "/metrics").decode()
    return (metric_sum(text, "prom2gcm_storage_unconfirmed_requests") == 0
            and metric_sum(text, "prom2gcm_exporter_queued_points") == 0)


def split_series(stored, metadata):
    """[(emulator key, samples, cumulative?)] of every stored series prom2gcm writes as a scalar."""
    out = []
    for labels, samples in stored.items():
        labels = dict(labels)
        name = labels.pop("__name__")
        for kind, cumulative in gcm_kinds(name, family_type(name, metadata)):
            key = ("prometheus.googleapis.com/%s/%s" % (name, kind), tuple(sorted(labels.items())))
            out.append((key, samples, cumulative))
    return out


def check_gauge(key, samples, got, horizon_ms):
    want = [(t, comparable(v)) for t, _, v in thinned([(t, t, v) for t, v in samples]) if t <= horizon_ms]
    got = [(end, comparable(v)) for _, end, v in got if end <= horizon_ms]
    if sorted(got) == want:
        return [], len(want)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    return ["%s: %d points, want %d; missing %s; not expected %s"
            % (key, len(got), len(want), missing[:4], extra[:4])], len(want)


def check_counter(key, samples, got, horizon_ms):
    """Problems and the number of points checked."""
    problems, values = [], dict(samples)
    got = [p for p in got if p[1] <= horizon_ms]
    for start, end, value in got:
        if end not in values:
            problems.append("%s: point at %d was never stored" % (key, end))
        elif start in values:
            if comparable(value) != comparable(values[end] - values[start]):
                problems.append("%s: point (%d, %d) = %s, want %s - %s"
                                % (key, start, end, value, values[end], values[start]))
        elif start + 1 in values:
            if comparable(value) != comparable(values[end]):
                problems.append("%s: reset point (%d, %d) = %s, want %s" % (key, start, end, value, values[end]))
        else:
            problems.append("%s: point (%d, %d) starts at no stored sample" % (key, start, end))
    want = [t for t, _, _ in thinned([(t, t, v) for t, v in samples])[1:] if t <= horizon_ms]  # [0]: the baseline
    missing = sorted(set(want) - {p[1] for p in got})
    if missing:
        problems.append("%s: stored samples missing at %s" % (key, missing[:6]))
    return problems, len(got)


def main():
    args = stack_arguments().parse_args()
    stack = Stack(args.prom2gcm, args.emulator)
    problems = []
    try:
        began = time.time()
        stack.start_emulator()
        flags = ["--storage.path=" + os.path.join(stack.dir, "storage"), "--export.metadata-wait=20s"]
        stack.start_prom2gcm(flags)
        port = stack.prom2gcm_port
        stack.start_node_exporter()
        stack.start_prometheus(scrape_interval="5s")
        run_for(stack, 20)

        print("kill -9 prom2gcm: exit status %s" % stack.kill("prom2gcm"))
        run_for(stack, 8)
        stack.start_prom2gcm(flags, port=port, append_log=True)
        restarted = time.time()
        run_for(stack, 15)

        set_faults(stack, "outage_seconds=15")
        outage = time.time()
        run_for(stack, 15)
        set_faults(stack, "outage_seconds=0")
        failed_by_outage = stack.emulator_stats().get("requests_failed_by_fault", 0)
        queued = stack.prom2gcm_metric("prom2gcm_exporter_queued_points")
        run_for(stack, 20)

        end = time.time()
        wait_until("Prometheus to send its samples", lambda: sent_up_to(stack, end - 1), timeout=60, interval=0.5)
        wait_until("prom2gcm to drain", lambda: prom2gcm_idle(stack) and time.sleep(1) is None
                   and prom2gcm_idle(stack), timeout=60, interval=0.5)
        stored = stack.prometheus_samples(int(end - began) + 60, end)
        metadata = stack.prometheus_metadata()
        emulated = stack.emulator_points()
        stats = stack.emulator_stats()

        horizon_ms = int((end - HORIZON_S) * 1000)
        gauges = counters = 0
        for key, samples, cumulative in split_series(stored, metadata):
            got = emulated.get(key, [])
            if cumulative:
                found, n = check_counter(key, samples, got, horizon_ms)
                counters += n
            else:
                found, n = check_gauge(key, samples, got, horizon_ms)
                gauges += n
            problems += found

        with open(os.path.join(stack.dir, "prom2gcm.log"), errors="replace") as f:
            replayed = [int(n) for n in re.findall(r"durable queue: replayed (\d+) unconfirmed", f.read())]
        print("%d series in Prometheus; %d gauge points and %d counter points checked; replayed requests "
              "per start %s; calls failed by the outage: %d, points queued when it ended: %d; outage began "
              "%.0f s after the restart; emulator stats %s"
              % (len(stored), gauges, counters, replayed, failed_by_outage, queued, outage - restarted, stats))
        if stats["points_rejected_total"]:
            problems.append("the emulator refused points: %s" % stats["points_rejected"])
        if len(replayed) != 2:
            problems.append("expected 2 'durable queue: replayed' lines (start and restart), found %s" % replayed)
        if not failed_by_outage:
            problems.append("no call failed during the outage: the test proves nothing")
        if gauges < 1000 or counters < 500:
            problems.append("only %d gauge and %d counter points checked: too few" % (gauges, counters))
        return report(problems[:30])
    finally:
        stack.stop_all()
        print("logs in", stack.dir)


if __name__ == "__main__":
    sys.exit(main())
