#!/usr/bin/env python3
"""End-to-end test: a real Prometheus (Debian's) scrapes itself and node-exporter and remote-writes to
prom2gcm, which writes to the GCM emulator. After a while, every sample Prometheus stored (read back
through its HTTP API) must be in the emulator:
  - exact mode (scrape every 5 s, GCM's sampling period): each gauge sample (and the gauge half of each
    untyped series) once, with the same value and timestamp, except a sample sooner than 5 s after the
    last one written (scrape jitter), which GCM would refuse; each counter point equal to the stored
    value minus the first stored value, starting at the first sample's time (a decrease is a reset,
    starting 1 ms before it); the emulator rejected nothing.
    Classic histograms too: each histogram NAME (NAME_bucket{le}, NAME_sum, NAME_count) is one
    NAME/histogram series, CUMULATIVE DISTRIBUTION, labelled like its parts minus `le`. Its first
    scrape is the baseline (not written); each later scrape T is a point from the baseline's time with
    bounds = the finite `le` values, bucket counts = the per-bucket (underflow first, trailing zeros
    trimmed) differences of the cumulative buckets minus the baseline's, count = +Inf minus the
    baseline's, mean = (sum minus the baseline's) / count (0 when count is 0). A decreasing count is a
    reset (start 1 ms before, the whole histogram), changed bounds a new baseline; the 5 s sampling
    period thins as for scalars. Series appearing during the run follow the same rules; at least one
    histogram point must be checked, prometheus_http_request_duration_seconds and every histogram
    node-exporter exposes among them, and no histogram series may be in the emulator unpredicted.
  - thinning mode (scrape every 1 s): each gauge series arrives thinned to one point per 5 s or more,
    every point one Prometheus stored, and the emulator rejected nothing.
Usage: prometheus_e2e_test.py --prom2gcm BIN --emulator BIN [--mode exact|thinning] [--seconds N]"""
import collections
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, get_json, report, stack_arguments  # noqa: E402

SUFFIXES = ("_total", "_sum", "_count", "_bucket")
# Prometheus' own per-target series, which have no metadata; prom2gcm writes them as gauges.
SYNTHETIC_GAUGES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
                    "scrape_series_added", "scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes"}


def family_type(name, metadata):
    if name in SYNTHETIC_GAUGES:
        return "gauge"
    if name in metadata:
        return metadata[name]
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in metadata:
            return metadata[name[: -len(suffix)]]
    return None


def gcm_kinds(name, prom_type):
    """The GCM metric kinds prom2gcm writes a series to: [(kind suffix, cumulative?)]."""
    if prom_type == "counter":
        return [("counter", True)]
    if prom_type in ("gauge", "info", "stateset"):
        return [("gauge", False)]
    if prom_type == "summary":
        if name.endswith("_sum"):
            return [("summary:counter", True)]
        if name.endswith("_count"):
            return [("summary", True)]
        return [("summary", False)]
    if prom_type in ("histogram", "gaugehistogram"):
        return []  # the parts of a distribution: see check_histograms
    return [("unknown", False)]  # untyped; its unknown:counter half is covered by unit tests


def comparable(value):
    """NaN compares unequal to itself; the emulator writes it as the string "NaN"."""
    if isinstance(value, str) or math.isnan(value):
        return "NaN" if value != "+Inf" and value != "-Inf" else value
    return value


def expected_cumulative(samples):
    points, base, start, last = [], samples[0][1], samples[0][0], samples[0][1]
    for t, v in samples[1:]:
        if v < last:
            base, start = 0.0, t - 1
        last = v
        points.append((start, t, v - base))
    return points


def thinned(points, period_ms=5000):
    """prom2gcm drops a point sooner than GCM's sampling period after the series' last point; Prometheus'
    scrape times jitter by a few ms, so a 5 s scrape interval now and then gives a 4998 ms gap."""
    kept = []
    for p in points:
        if not kept or p[1] - kept[-1][1] >= period_ms:
            kept.append(p)
    return kept


def check_exact(stored, metadata, emulated, horizon_ms):
    problems, checked = [], 0
    for labels, samples in stored.items():
        labels = dict(labels)
        name = labels.pop("__name__")
        for kind, cumulative in gcm_kinds(name, family_type(name, metadata)):
            key = ("prometheus.googleapis.com/%s/%s" % (name, kind), tuple(sorted(labels.items())))
            got = [(p[0], p[1], comparable(p[2])) for p in emulated.get(key, [])]
            want = expected_cumulative(samples) if cumulative else [(t, t, v) for t, v in samples]
            want = [(p[0], p[1], comparable(p[2])) for p in thinned(want)]
            want = [p for p in want if p[1] <= horizon_ms]
            got = [p for p in got if p[1] <= horizon_ms]
            if not cumulative:
                got = [(p[1], p[1], p[2]) for p in got]
            if sorted(got) != sorted(want):
                problems.append("%s: want %d points, got %d; first want %s, first got %s"
                                % (key, len(want), len(got), want[:2], got[:2]))
            checked += len(want)
    return problems, checked


HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")
MID_RUN_HANDLER = "/api/v1/query"  # main() queries it during the run: new prometheus_http_request_* series


def histogram_sets(stored, metadata):
    """{(NAME, labels-tuple without le): {ms: {"buckets": {le: cumulative}, "sum": v, "count": v}}} of
    every histogram-typed family's _bucket, _sum and _count series."""
    out = collections.defaultdict(lambda: collections.defaultdict(lambda: {"buckets": {}}))
    for labels, samples in stored.items():
        labels = dict(labels)
        name = labels.pop("__name__")
        part = next((s for s in HISTOGRAM_PARTS if name.endswith(s)), None)
        if part is None or metadata.get(name[: -len(part)]) != "histogram":
            continue
        le = labels.pop("le", None)
        if part == "_bucket" and le is None:
            continue
        sets = out[(name[: -len(part)], tuple(sorted(labels.items())))]
        for t, v in samples:
            if part == "_bucket":
                sets[t]["buckets"][float(le)] = v
            else:
                sets[t][part[1:]] = v
    return out


def distribution(buckets, base, total_sum, base_sum):
    """The documented custom-bucket distribution of cumulative `buckets` minus cumulative `base`."""
    les = sorted(buckets)
    deltas = [buckets[le] - base.get(le, 0.0) for le in les]  # over time, per le
    counts = [int(d - (deltas[i - 1] if i else 0)) for i, d in enumerate(deltas)]  # per bucket
    while counts and counts[-1] == 0:
        counts.pop()
    count = int(deltas[-1])
    return {"bucket_bounds": [le for le in les if not math.isinf(le)], "bucket_counts": counts, "count": count,
            "mean": (total_sum - base_sum) / count if count else 0.0}


def expected_histogram(sets):
    """[(start_ms, end_ms, distribution)] of one classic histogram, before thinning."""
    points, base, base_sum, start, last = [], None, 0.0, None, None
    for t in sorted(sets):
        s = sets[t]
        buckets = s["buckets"]
        if "sum" not in s or "count" not in s or math.inf not in buckets or len(buckets) < 2:
            continue  # prom2gcm drops such a set (incomplete, or no finite bound)
        if base is None or sorted(buckets) != sorted(last):
            base, base_sum, start, last = buckets, s["sum"], t, buckets  # the baseline, or a new layout
            continue
        if buckets[math.inf] < last[math.inf]:
            base, base_sum, start = {}, 0.0, t - 1  # a reset
        last = buckets
        points.append((start, t, distribution(buckets, base, s["sum"], base_sum)))
    return points


def same_distribution(want, got):
    if not isinstance(got, dict):
        return False
    counts = list(got.get("bucket_counts", []))
    while counts and counts[-1] == 0:
        counts.pop()
    mean, want_mean = got.get("mean"), want["mean"]
    return (got.get("count") == want["count"] and counts == want["bucket_counts"]
            and [float(b) for b in got.get("bucket_bounds", [])] == want["bucket_bounds"]
            and isinstance(mean, (int, float))
            and (mean == want_mean or abs(mean - want_mean) <= 1e-9 * max(abs(mean), abs(want_mean))))


def check_histograms(stored, metadata, emulated, kinds, horizon_ms):
    """Problems, and the histogram points checked per series {(NAME, labels-tuple): n}."""
    problems, checked = [], collections.Counter()
    predicted = set()
    for (name, labels), sets in sorted(histogram_sets(stored, metadata).items()):
        key = ("prometheus.googleapis.com/%s/histogram" % name, labels)
        predicted.add(key)
        want = [p for p in thinned(expected_histogram(sets)) if p[1] <= horizon_ms]
        got = [p for p in emulated.get(key, []) if p[1] <= horizon_ms]
        checked[(name, labels)] += len(want)
        if want and kinds.get(key[0]) != ("CUMULATIVE", "DISTRIBUTION"):
            problems.append("%s is %s, want CUMULATIVE DISTRIBUTION" % (key[0], kinds.get(key[0])))
        if [p[:2] for p in got] != [p[:2] for p in want]:
            problems.append("%s %s: points (start, end) %s, want %s"
                            % (name, dict(labels), [p[:2] for p in got], [p[:2] for p in want]))
            continue
        for (start, end, w), (_, _, g) in zip(want, got):
            if not same_distribution(w, g):
                problems.append("%s %s at %d (start %d): got %s, want %s" % (name, dict(labels), end, start, g, w))
    for key in sorted(set(emulated) - predicted):
        if key[0].endswith("/histogram") and any(p[1] <= horizon_ms for p in emulated[key]):
            problems.append("unexpected histogram series in the emulator: %s %s" % (key[0], dict(key[1])))
    return problems, checked


def by_family(checked):
    families = collections.Counter()
    for (name, _), n in checked.items():
        families[name] += n
    return families


def check_histogram_coverage(stored, metadata, checked):
    """At least one point of: prometheus_http_request_duration_seconds, the series of it born mid-run
    (main() queries Prometheus during the run), and each node-exporter histogram."""
    problems, families = [], by_family(checked)
    node = {name for (name, labels) in histogram_sets(stored, metadata) if dict(labels).get("job") == "node"}
    for name in sorted({"prometheus_http_request_duration_seconds"} | node):
        if not families[name]:
            problems.append("no %s histogram point checked" % name)
    if not any(n for (name, labels), n in checked.items()
               if name == "prometheus_http_request_duration_seconds"
               and dict(labels).get("handler") == MID_RUN_HANDLER):
        problems.append("no point checked of the histogram series born mid-run (handler %s)" % MID_RUN_HANDLER)
    if not sum(checked.values()):
        problems.append("no histogram point checked")
    return problems


def check_thinning(stored, metadata, emulated, horizon_ms):
    problems, checked = [], 0
    for labels, samples in stored.items():
        labels = dict(labels)
        name = labels.pop("__name__")
        if family_type(name, metadata) != "gauge":
            continue
        key = ("prometheus.googleapis.com/%s/gauge" % name, tuple(sorted(labels.items())))
        got = sorted(p for p in emulated.get(key, []) if p[1] <= horizon_ms)
        stored_points = {(t, v) for t, v in samples}
        span = [t for t, _ in samples if t <= horizon_ms]
        if len(span) < 20:
            continue
        for a, b in zip(got, got[1:]):
            if b[1] - a[1] < 5000:
                problems.append("%s: points %d ms apart" % (key, b[1] - a[1]))
        for p in got:
            if (p[1], p[2]) not in stored_points:
                problems.append("%s: point %s was never stored by Prometheus" % (key, p))
        expected = (span[-1] - span[0]) // 5000
        if len(got) < expected - 2:
            problems.append("%s: %d points for %d ms of 1 s samples" % (key, len(got), span[-1] - span[0]))
        checked += len(got)
    return problems, checked


def main():
    parser = stack_arguments()
    parser.add_argument("--mode", choices=("exact", "thinning"), default="exact")
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()

    stack = Stack(args.prom2gcm, args.emulator)
    try:
        stack.start_emulator()
        stack.start_prom2gcm(["--export.metadata-wait=20s"])
        stack.start_node_exporter()
        stack.start_prometheus(scrape_interval="5s" if args.mode == "exact" else "1s")
        started = time.time()
        next_query = started + 10
        while time.time() - started < args.seconds:
            stack.check_running()
            if args.mode == "exact" and time.time() >= next_query:
                get_json(stack.prometheus_url + MID_RUN_HANDLER + "?query=up")  # histogram series born mid-run
                next_query += 10
            time.sleep(1)
        at = time.time()
        stored = stack.prometheus_samples(args.seconds + 120, at)
        metadata = stack.prometheus_metadata()
        horizon_ms = int((at - 10) * 1000)  # leave remote-write's last seconds in flight out
        check = check_exact if args.mode == "exact" else check_thinning
        deadline = time.time() + 60
        while True:
            emulated = stack.emulator_points()
            problems, checked = check(stored, metadata, emulated, horizon_ms)
            if args.mode == "exact":
                kinds = {s["metric_type"]: (s["metric_kind"], s["value_type"])
                         for s in get_json(stack.emulator_http + "/v1/timeseries")["timeseries"]}
                histogram_problems, histograms_checked = check_histograms(stored, metadata, emulated, kinds,
                                                                          horizon_ms)
                problems += histogram_problems
            if not problems or time.time() > deadline:
                break
            time.sleep(2)
        stats = stack.emulator_stats()
        if stats["points_rejected_total"]:
            problems.append("the emulator rejected points: %s" % stats["points_rejected"])
        print("%s mode: %d series in Prometheus, %d points checked, emulator stats %s"
              % (args.mode, len(stored), checked, stats))
        if checked < 500:
            problems.append("only %d points checked: too few for a meaningful run" % checked)
        if args.mode == "exact":
            families = by_family(histograms_checked)
            print("%d histogram points checked in %d series: %s"
                  % (sum(families.values()), len(histograms_checked),
                     ", ".join("%s %d" % kv for kv in sorted(families.items()))))
            problems += check_histogram_coverage(stored, metadata, histograms_checked)
        return report(problems[:30])
    finally:
        stack.stop_all()
        print("logs in", stack.dir)


if __name__ == "__main__":
    sys.exit(main())
