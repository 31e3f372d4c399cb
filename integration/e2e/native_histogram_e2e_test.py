#!/usr/bin/env python3
"""End-to-end test: native histograms become GCM distributions. The remote-write 2.0 payloads
testdata/v2/03 (integer), 04 (float, a gauge histogram) and 05 (custom buckets) are decoded, their
timestamps shifted so the newest is a minute old (GCM refuses points over 25 h old), and POSTed to
prom2gcm, which writes to the GCM emulator. A reference written here from the rules at the top of
exporter/native_histogram.h and exporter/transform.h then predicts every point, and:
  - each POST gets 204; the emulator holds exactly the predicted points (none missing, none extra),
    as NAME/histogram DISTRIBUTION series, CUMULATIVE, or GAUGE for the gauge histogram;
  - counters: with a start timestamp each point is the whole histogram from that start; without one
    the first sample is a baseline (not written) and later points are the bucket-wise difference
    from it, starting at the baseline's time; a reset starts over 1 ms before the sample;
  - each point's start and end, count, mean (1e-9 relative), bucket bounds (exponential
    scale*growth^k for k = 0..N, or the custom bounds; the emulator's JSON gives bounds, not the
    option message), bucket counts bucket by bucket, and sum_of_squared_deviation (finite, >= 0 and
    equal to the documented representative-point estimate, 1e-6 relative);
  - the emulator rejected nothing; prom2gcm dropped no sample as invalid_histogram or
    value_type_mismatch, one as counter_baseline per series without start time, and counted the
    folded negative observations.
Usage: native_histogram_e2e_test.py --prom2gcm BIN --emulator BIN"""
import argparse
import copy
import math
import os
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SOURCE_DIR, "testdata"))
import rwproto  # noqa: E402
from stack import Stack, get_json, report, wait_until  # noqa: E402

_, _, pb = rwproto.load()  # re-runs this script with /usr/bin/python3 when protobuf or snappy is missing
import snappy  # noqa: E402

PAYLOADS = ("03_native_histograms_int.pb.snappy", "04_native_histograms_float.pb.snappy",
            "05_native_histograms_nhcb.pb.snappy")
HEADERS = {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
           "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "2.0.0"}
METRIC_PREFIX = "prometheus.googleapis.com/"
CUSTOM_SCHEMA = -53
SAMPLING_PERIOD_MS = 5000


# ---- the payloads ---------------------------------------------------------------------------------

def load_requests():
    requests = []
    for name in PAYLOADS:
        with open(os.path.join(SOURCE_DIR, "testdata", "v2", name), "rb") as f:
            request = pb.Request()
            request.ParseFromString(snappy.uncompress(f.read()))
            requests.append((name, request))
    return requests


def newest_timestamp(requests):
    return max(max([h.timestamp for h in ts.histograms] + [s.timestamp for s in ts.samples])
               for _, request in requests for ts in request.timeseries)


def shift_timestamps(request, delta_ms):
    """Moves every time of the request (samples, histograms, start and created timestamps) by delta_ms."""
    for ts in request.timeseries:
        if ts.created_timestamp:
            ts.created_timestamp += delta_ms
        for point in list(ts.samples) + list(ts.histograms):
            point.timestamp += delta_ms
            if point.start_timestamp:
                point.start_timestamp += delta_ms
        for exemplar in ts.exemplars:
            exemplar.timestamp += delta_ms


def post(url, request):
    body = snappy.compress(request.SerializeToString())
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, HEADERS), timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


# ---- the reference: decoded histograms ------------------------------------------------------------

class Hist:
    """One native histogram sample: absolute counts by bucket index."""

    def __init__(self, h):
        self.float_counts = h.WhichOneof("count") == "count_float"
        self.count = h.count_float if self.float_counts else float(h.count_int)
        self.zero = h.zero_count_float if self.float_counts else float(h.zero_count_int)
        self.sum, self.schema, self.zero_threshold = h.sum, h.schema, h.zero_threshold
        self.reset_hint, self.t, self.start = h.reset_hint, h.timestamp, h.start_timestamp
        self.custom_values = list(h.custom_values)
        self.positive = bucket_counts(h.positive_spans, h.positive_counts if self.float_counts else h.positive_deltas,
                                      not self.float_counts)
        self.negative = bucket_counts(h.negative_spans, h.negative_counts if self.float_counts else h.negative_deltas,
                                      not self.float_counts)


def bucket_counts(spans, values, deltas):
    """{bucket index: absolute count} from spans and their counts (or integer deltas)."""
    out, index, position, running = {}, 0, 0, 0
    for span in spans:
        index += span.offset
        for _ in range(span.length):
            running = running + values[position] if deltas else values[position]
            out[index] = float(running)
            index, position = index + 1, position + 1
    return out


def same_layout(a, b):
    return (a.schema, a.zero_threshold, a.custom_values) == (b.schema, b.zero_threshold, b.custom_values)


def is_reset(previous, current):
    """Hint YES, a layout change (the payloads change none within a series), or any count decreasing."""
    if current.reset_hint == pb.Histogram.RESET_HINT_YES or not same_layout(previous, current):
        return True
    if current.count < previous.count or current.zero < previous.zero:
        return True
    return any(current.positive.get(i, 0) < c for i, c in previous.positive.items()) or \
        any(current.negative.get(i, 0) < c for i, c in previous.negative.items())


def subtract(current, baseline):
    """The observations since the baseline (same layout): bucket-wise differences, zeros left out."""
    delta = copy.copy(current)
    delta.count, delta.sum = current.count - baseline.count, current.sum - baseline.sum
    delta.zero = max(0.0, current.zero - baseline.zero)
    for side in ("positive", "negative"):
        now, base = getattr(current, side), getattr(baseline, side)
        setattr(delta, side, {i: c - base.get(i, 0) for i, c in now.items() if c - base.get(i, 0) > 0})
    return delta


# ---- the reference: counter rules (transform.h) -----------------------------------------------------

def expected_points(hists, gauge):
    """[(start_ms, end_ms, Hist written)] of one series, in order."""
    points, baseline, last, start, last_queued = [], None, None, None, None
    for h in hists:
        if gauge:
            start, value = h.t, h
        elif h.start:
            if h.start >= h.t:
                continue
            start, value = h.start, h
        elif last is None:
            baseline = last = h
            start = h.t
            continue
        else:
            if is_reset(last, h):
                baseline, start = None, h.t - 1
            last = h
            value = h if baseline is None else subtract(h, baseline)
        if last_queued is not None and h.t - last_queued < SAMPLING_PERIOD_MS:
            continue
        last_queued = h.t
        points.append((start, h.t, value))
    return points


def series_of(request):
    """{(metric type, labels incl. job and instance): (GCM metric kind, [Hist])} of one request."""
    out = {}
    for ts in request.timeseries:
        refs = ts.labels_refs
        labels = {request.symbols[refs[i]]: request.symbols[refs[i + 1]] for i in range(0, len(refs), 2)}
        name = labels.pop("__name__")
        gauge = ts.metadata.type == pb.Metadata.METRIC_TYPE_GAUGEHISTOGRAM
        out[(METRIC_PREFIX + name + "/histogram", tuple(sorted(labels.items())))] = (
            "GAUGE" if gauge else "CUMULATIVE", [Hist(h) for h in ts.histograms])
    return out


# ---- the reference: distribution mapping (native_histogram.h) -----------------------------------------

def exponential_bound(schema, index):
    """base^index with base = 2^(2^-schema)."""
    return 2.0 ** (index * 2.0 ** -schema)


def round_half_up(x):
    """round() of the rules; counts are never negative, so half away from zero is half up."""
    return math.floor(x + 0.5)


def layout(h):
    """(bounds, raw per-bucket counts, underflow first) by the mapping rules."""
    if h.schema == CUSTOM_SCHEMA:
        cv = h.custom_values
        return list(cv), [h.positive.get(i, 0.0) for i in range(len(cv) + 1)]
    underflow = h.zero + sum(h.negative.values())
    populated = sorted(i for i, c in h.positive.items() if c > 0)
    if not populated:
        scale = h.zero_threshold or 1.0
        return [scale, scale * exponential_bound(h.schema, 1)], [underflow]
    low, high = populated[0], populated[-1]
    if high - low + 3 > 200:
        raise NotImplementedError("the reference does not lower the resolution to fit 200 buckets")
    bounds = [exponential_bound(h.schema, low - 1 + k) for k in range(high - low + 2)]
    return bounds, [underflow] + [h.positive.get(i, 0.0) for i in range(low, high + 1)]


def representative_points(h):
    """[(point, count)] of every Prometheus bucket, for the deviation estimate."""
    if h.schema == CUSTOM_SCHEMA:
        cv = h.custom_values
        mid = [cv[0]] + [(cv[i - 1] + cv[i]) / 2 for i in range(1, len(cv))] + [cv[-1]]
        return [(mid[i], c) for i, c in h.positive.items()]
    points = [(0.0, h.zero)]
    points += [(exponential_bound(h.schema, i - 0.5), c) for i, c in h.positive.items()]
    points += [(-exponential_bound(h.schema, i - 0.5), c) for i, c in h.negative.items()]
    return points


def to_distribution(h):
    bounds, raw = layout(h)
    counts, cumulative, previous = [], 0.0, 0
    for c in raw:
        cumulative += c
        counts.append(round_half_up(cumulative) - previous)
        previous = round_half_up(cumulative)
    while counts and counts[-1] == 0:
        counts.pop()
    mean = h.sum / h.count if h.count else 0.0
    deviation = sum(c * (x - mean) ** 2 for x, c in representative_points(h))
    return {"count": round_half_up(h.count), "mean": mean, "sum_of_squared_deviation": deviation,
            "bucket_bounds": bounds, "bucket_counts": counts}


# ---- the comparison -------------------------------------------------------------------------------

def close(a, b, rel):
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def compare_distribution(where, want, got, problems):
    if got["count"] != want["count"] or sum(got["bucket_counts"]) != got["count"]:
        problems.append("%s: count %s (buckets add up to %s), want %s"
                        % (where, got["count"], sum(got["bucket_counts"]), want["count"]))
    if not close(got["mean"], want["mean"], 1e-9):
        problems.append("%s: mean %r, want %r" % (where, got["mean"], want["mean"]))
    bounds = got["bucket_bounds"]
    if len(bounds) != len(want["bucket_bounds"]) or \
            not all(close(g, w, 1e-12) for g, w in zip(bounds, want["bucket_bounds"])):
        problems.append("%s: bucket bounds %r, want %r" % (where, bounds, want["bucket_bounds"]))
    if got["bucket_counts"] != want["bucket_counts"]:
        problems.append("%s: bucket counts %r, want %r" % (where, got["bucket_counts"], want["bucket_counts"]))
    deviation = got["sum_of_squared_deviation"]
    if not (math.isfinite(deviation) and deviation >= 0 and close(deviation, want["sum_of_squared_deviation"], 1e-6)):
        problems.append("%s: sum_of_squared_deviation %r, want %r"
                        % (where, deviation, want["sum_of_squared_deviation"]))


def compare_series(key, want_points, got_points, problems):
    where = "%s %s" % (key[0][len(METRIC_PREFIX):], dict(key[1]))
    if [(s, e) for s, e, _ in got_points] != [(s, e) for s, e, _ in want_points]:
        problems.append("%s: points (start, end) %r, want %r" % (where, [p[:2] for p in got_points],
                                                                  [p[:2] for p in want_points]))
        return
    for (start, end, want), (_, _, got) in zip(want_points, got_points):
        compare_distribution("%s at %d" % (where, end), to_distribution(want), got, problems)


def expected(requests):
    """{series key: (GCM metric kind, [(start_ms, end_ms, Hist)])} and the totals prom2gcm must count."""
    out, totals = {}, {"points": 0, "baselines": 0, "folded": 0}
    for _, request in requests:
        for key, (kind, hists) in series_of(request).items():
            points = expected_points(hists, kind == "GAUGE")
            out[key] = (kind, points)
            totals["points"] += len(points)
            totals["baselines"] += int(kind != "GAUGE" and any(not h.start for h in hists))
            totals["folded"] += sum(sum(h.negative.values()) for _, _, h in points)
    return out, totals


def compare(want, stack, problems):
    got = stack.emulator_points()
    kinds = {s["metric_type"]: (s["metric_kind"], s["value_type"])
             for s in get_json(stack.emulator_http + "/v1/timeseries")["timeseries"]}
    for key, (kind, points) in sorted(want.items()):
        if not points:
            continue
        if kinds.get(key[0], (kind, "DISTRIBUTION")) != (kind, "DISTRIBUTION"):
            problems.append("%s is %s, want %s DISTRIBUTION" % (key[0], kinds[key[0]], kind))
        compare_series(key, points, got.get(key, []), problems)
    for key in sorted(set(got) - {key for key, (_, points) in want.items() if points}):
        problems.append("unexpected series in the emulator: %s %s" % key)


def check_prom2gcm_metrics(stack, totals, problems):
    dropped = "prom2gcm_exporter_points_dropped_total"
    for reason in ("invalid_histogram", "value_type_mismatch", "sampling_period", "duplicate"):
        n = stack.prom2gcm_metric(dropped, 'reason="%s"' % reason)
        if n:
            problems.append("prom2gcm dropped %d samples as %s" % (n, reason))
    baselines = stack.prom2gcm_metric(dropped, 'reason="counter_baseline"')
    if baselines != totals["baselines"]:
        problems.append("prom2gcm dropped %d baselines, want %d" % (baselines, totals["baselines"]))
    folded = stack.prom2gcm_metric("prom2gcm_exporter_histogram_negative_observations_folded_total")
    if folded != totals["folded"]:
        problems.append("prom2gcm folded %d negative observations, want %d" % (folded, totals["folded"]))


def run(stack, problems):
    stack.start_emulator()
    stack.start_prom2gcm()
    requests = load_requests()
    delta = int(time.time() * 1000) - 60000 - newest_timestamp(requests)
    for name, request in requests:
        shift_timestamps(request, delta)
        status, body = post(stack.prom2gcm_url + "/api/v1/write", request)
        if status != 204:
            problems.append("POST %s: %d %s" % (name, status, body.strip()))
    want, totals = expected(requests)
    wait_until("%d points in the emulator" % totals["points"],
               lambda: stack.emulator_stats()["points_received"] >= totals["points"], timeout=20)
    time.sleep(1)  # a point beyond the expected ones would arrive by now
    compare(want, stack, problems)
    stats = stack.emulator_stats()
    print("points: %d expected; emulator %s" % (totals["points"], stats))
    if stats["points_rejected_total"]:
        problems.append("the emulator rejected points: %s" % stats["points_rejected"])
    check_prom2gcm_metrics(stack, totals, problems)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prom2gcm", required=True)
    parser.add_argument("--emulator", required=True)
    args = parser.parse_args()
    stack = Stack(args.prom2gcm, args.emulator)
    problems = []
    try:
        run(stack, problems)
    finally:
        stack.stop_all()
    return report(problems)


if __name__ == "__main__":
    sys.exit(main())
