#!/usr/bin/env python3
"""End-to-end test: native and classic histograms become GCM distributions, with their exemplars.
The remote-write 2.0 payloads testdata/v2/03 (integer), 04 (float, a gauge histogram), 05 (custom
buckets) and 06 (exemplars on a native histogram, on counters and on a lone classic _bucket series) are
decoded, their timestamps shifted so the newest is a minute old (GCM refuses points over 25 h old; an
exemplar timestamp of 0, "none", stays 0), and POSTed to prom2gcm, which writes to the GCM emulator. A
classic histogram `classic_latency_seconds` is built here as remote-write 1.0 requests: its HISTOGRAM
metadata first, then for T0, T0+15s and T0+30s (minutes ago) its _bucket{le=0.1|0.5|+Inf}, _sum and
_count series in three POSTs per timestamp, in varying order, with exemplars on the bucket series at
T1. prom2gcm runs with --export.histogram-wait=2s, so a histogram's first set (its layout unknown)
finishes 2 s after it arrived; the test waits for that before sending T1. A reference written here from
the rules at the top of exporter/native_histogram.h, exporter/histogram_assembler.h,
exporter/exemplars.h and exporter/transform.h (README "Histograms") then predicts every point, and:
  - each POST gets 204; the emulator holds exactly the predicted points (none missing, none extra):
    NAME/histogram DISTRIBUTION series, CUMULATIVE, or GAUGE for the gauge histogram, and the
    payload-06 counters as NAME/counter CUMULATIVE DOUBLE points;
  - counters: with a start timestamp each point is the whole histogram (or value) from that start;
    without one the first sample is a baseline (not written) and later points are the bucket-wise
    difference from it, starting at the baseline's time; a reset starts over 1 ms before the sample;
  - the classic histogram: T0's set is the baseline; the T1 and T2 points start at T0, with explicit
    bounds [0.1, 0.5], per-bucket counts of cumulative(T) - cumulative(T0), count the _count delta and
    mean the _sum delta / count; payload 06's lone _bucket series (no _sum, _count or +Inf) is dropped
    after the wait as one histogram_incomplete set, its exemplar with it;
  - each point's start and end, count, mean (1e-9 relative), bucket bounds (exponential
    scale*growth^k for k = 0..N, or the custom/classic bounds; the emulator's JSON gives bounds, not
    the option message), bucket counts bucket by bucket, and sum_of_squared_deviation (finite, >= 0
    and equal to the documented representative-point (bucket midpoint) estimate, 1e-6 relative);
  - exemplars: those sent with a histogram's series are on its first point written after they arrived
    (request_latency_seconds: its only point; classic_latency_seconds: the T1 point), each on the GCM
    bucket its value falls in (underflow (-inf, b0), [b(i-1), b(i)), overflow [bN, inf)), the newest
    one per bucket, sorted by value, with value, time_ms, span_name
    "projects/e2e-project/traces/TRACE_ID/spans/SPAN_ID" when both trace_id and span_id are present,
    and every other label in dropped_labels; every other distribution point has none, and the
    counters' exemplars are written nowhere (their series are DOUBLE);
  - the emulator rejected nothing; prom2gcm dropped no sample as invalid_histogram,
    value_type_mismatch, sampling_period, duplicate, histogram_late_part or histogram_layout_change,
    one as counter_baseline per counter series without start time (native, plain or classic), the
    predicted number of histogram_incomplete sets, and counted the folded negative observations.
Usage: native_histogram_e2e_test.py --prom2gcm BIN --emulator BIN"""
import argparse
import bisect
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

remote_pb, types_pb, pb = rwproto.load()  # re-runs this script with /usr/bin/python3 when protobuf or snappy is missing
import snappy  # noqa: E402

PAYLOADS = ("03_native_histograms_int.pb.snappy", "04_native_histograms_float.pb.snappy",
            "05_native_histograms_nhcb.pb.snappy", "06_exemplars.pb.snappy")
HEADERS = {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
           "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "2.0.0"}
HEADERS_V1 = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
              "X-Prometheus-Remote-Write-Version": "0.1.0"}
METRIC_PREFIX = "prometheus.googleapis.com/"
PROJECT = "e2e-project"  # the stack's --export.label.project-id
HISTOGRAM_WAIT = ["--export.histogram-wait=2s"]
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
            if exemplar.timestamp:  # 0 means "no timestamp"
                exemplar.timestamp += delta_ms


def post(url, request, headers=HEADERS):
    body = snappy.compress(request.SerializeToString())
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as response:
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


def labels_of(request, refs):
    return {request.symbols[refs[i]]: request.symbols[refs[i + 1]] for i in range(0, len(refs), 2)}


def series_of(request):
    """{(metric type, labels incl. job and instance): (GCM metric kind, [Hist], [exemplar JSON])} of
    the native histogram series of one request."""
    out = {}
    for ts in request.timeseries:
        if not ts.histograms:
            continue
        labels = labels_of(request, ts.labels_refs)
        name = labels.pop("__name__")
        gauge = ts.metadata.type == pb.Metadata.METRIC_TYPE_GAUGEHISTOGRAM
        exemplars = [exemplar_json(labels_of(request, e.labels_refs), e.value, e.timestamp) for e in ts.exemplars]
        out[(METRIC_PREFIX + name + "/histogram", tuple(sorted(labels.items())))] = (
            "GAUGE" if gauge else "CUMULATIVE", [Hist(h) for h in ts.histograms], exemplars)
    return out


def counter_points(samples):
    """[(start_ms, end_ms, value)] of one counter series' [(t, value, start)] by the counter rules."""
    points, baseline, last, start, last_queued = [], None, None, None, None
    for t, v, s in samples:
        if s:
            if s >= t:
                continue
            start, value = s, v
        elif last is None:
            baseline = last = v
            start = t
            continue
        else:
            if v < last:
                baseline, start = None, t - 1
            last = v
            value = v if baseline is None else v - baseline
        if last_queued is not None and t - last_queued < SAMPLING_PERIOD_MS:
            continue
        last_queued = t
        points.append((start, t, value))
    return points


def float_series_of(request):
    """The float-sample series of one request: ({counter key: [(start, end, value)]}, the number of
    counters without start time, the number of classic histogram sets lacking _sum, _count or +Inf)."""
    counters, baselines, sets = {}, 0, {}
    for ts in request.timeseries:
        if not ts.samples:
            continue
        labels = labels_of(request, ts.labels_refs)
        name = labels.pop("__name__")
        if ts.metadata.type == pb.Metadata.METRIC_TYPE_COUNTER:
            key = (METRIC_PREFIX + name + "/counter", tuple(sorted(labels.items())))
            counters[key] = counter_points([(x.timestamp, x.value, x.start_timestamp) for x in ts.samples])
            baselines += int(any(not x.start_timestamp for x in ts.samples))
        elif ts.metadata.type == pb.Metadata.METRIC_TYPE_HISTOGRAM:
            family, part = name.rsplit("_", 1)
            le = labels.pop("le", None)
            for x in ts.samples:
                parts = sets.setdefault((family, tuple(sorted(labels.items())), x.timestamp), set())
                parts.add("+Inf" if le == "+Inf" else part if part != "bucket" else "bucket")
        else:
            raise NotImplementedError("the reference predicts only counters and classic histogram parts")
    incomplete = sum(1 for parts in sets.values() if not {"sum", "count", "+Inf"} <= parts)
    return counters, baselines, incomplete


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


# ---- the reference: exemplars (exemplars.h) ---------------------------------------------------------

def exemplar_json(labels, value, time_ms):
    """An exemplar as the emulator shows it: trace_id + span_id as span_name, other labels dropped."""
    out = {"value": value, "time_ms": time_ms}
    has_span = bool(labels.get("trace_id")) and bool(labels.get("span_id"))
    if has_span:
        out["span_name"] = "projects/%s/traces/%s/spans/%s" % (PROJECT, labels["trace_id"], labels["span_id"])
    dropped = {k: v for k, v in labels.items() if not (has_span and k in ("trace_id", "span_id"))}
    if dropped:
        out["dropped_labels"] = dropped
    return out


def bucket_index(bounds, value):
    """GCM buckets: underflow (-inf, b0) is 0, [b(i-1), b(i)) is i, overflow [bN, inf) is N+1."""
    return bisect.bisect_right(bounds, value)


def attach(exemplars, bounds):
    """The exemplars a point with these bounds carries: the newest per bucket, sorted by value."""
    kept = {}
    for e in exemplars:
        if math.isnan(e["value"]):
            continue
        i = bucket_index(bounds, e["value"])
        if i not in kept or e["time_ms"] >= kept[i]["time_ms"]:
            kept[i] = e
    return sorted(kept.values(), key=lambda e: e["value"])


def with_exemplars(points, exemplars, arrived_ms):
    """[(start, end, Hist, [exemplar JSON])]: the exemplars go on the first point ending at or after
    arrived_ms (the point written next after they arrived)."""
    out = []
    for start, end, h in points:
        mine = []
        if exemplars and end >= arrived_ms:
            mine, exemplars = attach(exemplars, to_distribution(h)["bucket_bounds"]), []
        out.append((start, end, h, mine))
    return out


# ---- the classic histogram, sent as remote-write 1.0 ----------------------------------------------

CLASSIC = "classic_latency_seconds"
CLASSIC_LABELS = {"job": "classic_e2e", "instance": "127.0.0.1:9999"}
CLASSIC_BOUNDS = [0.1, 0.5]
# per timestamp: cumulative bucket counts (le = 0.1, 0.5, +Inf), _sum, _count
CLASSIC_SETS = (([2, 5, 6], 1.5, 6), ([4, 9, 12], 4.2, 12), ([5, 14, 20], 7.9, 20))
# each timestamp's three POSTs, in this order
CLASSIC_ORDERS = (("bucket", "sum", "count"), ("count", "bucket", "sum"), ("sum", "count", "bucket"))
CLASSIC_EXEMPLAR_SET = 1  # exemplars go with the bucket series of T1 (time_ms relative to T1):
CLASSIC_EXEMPLARS = (("0.5", 0.2, -4000, {"trace_id": "11111111111111111111111111111111",
                                          "span_id": "1111111111111111"}),  # older, same bucket: not kept
                     ("0.5", 0.3, -2000, {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                                          "span_id": "00f067aa0ba902b7", "user": "alice"}),
                     ("+Inf", 0.75, -1000, {}))  # the overflow bucket, no attachments


def classic_metadata():
    request = remote_pb.WriteRequest()
    m = request.metadata.add()
    m.type, m.metric_family_name = types_pb.MetricMetadata.HISTOGRAM, CLASSIC
    m.help, m.unit = "Classic latency.", "seconds"
    return request


def classic_series(request, name, extra, t, value):
    ts = request.timeseries.add()
    labels = dict(CLASSIC_LABELS, __name__=name, **extra)
    for k in sorted(labels):
        ts.labels.add(name=k, value=labels[k])
    ts.samples.add(value=value, timestamp=t)
    return ts


def classic_requests(index, t):
    """The three 1.0 requests of set `index` at time t, in its order."""
    buckets, total, count = CLASSIC_SETS[index]
    out = []
    for part in CLASSIC_ORDERS[index]:
        request = remote_pb.WriteRequest()
        if part == "bucket":
            for le, c in zip([str(b) for b in CLASSIC_BOUNDS] + ["+Inf"], buckets):
                ts = classic_series(request, CLASSIC + "_bucket", {"le": le}, t, c)
                for e_le, value, dt, labels in CLASSIC_EXEMPLARS if index == CLASSIC_EXEMPLAR_SET else ():
                    if e_le == le:
                        ts.exemplars.add(value=value, timestamp=t + dt,
                                         labels=[types_pb.Label(name=k, value=v) for k, v in sorted(labels.items())])
        else:
            classic_series(request, CLASSIC + "_" + part, {}, t, total if part == "sum" else count)
        out.append((part, request))
    return out


def classic_expected(t0):
    """(key, [(start, end, Hist, [exemplar JSON])]) of the classic histogram sent from t0 on."""
    hists = []
    for index, (buckets, total, count) in enumerate(CLASSIC_SETS):
        h = pb.Histogram(count_float=count, sum=total, schema=CUSTOM_SCHEMA, zero_threshold=0,
                         timestamp=t0 + index * 15000, custom_values=CLASSIC_BOUNDS)
        h.positive_spans.add(offset=0, length=len(buckets))
        h.positive_counts.extend([b - a for a, b in zip([0] + buckets[:-1], buckets)])
        hists.append(Hist(h))
    t1 = t0 + CLASSIC_EXEMPLAR_SET * 15000
    exemplars = [exemplar_json(labels, value, t1 + dt) for _, value, dt, labels in CLASSIC_EXEMPLARS]
    key = (METRIC_PREFIX + CLASSIC + "/histogram", tuple(sorted(CLASSIC_LABELS.items())))
    return key, with_exemplars(expected_points(hists, False), exemplars, t1)


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


def compare_exemplars(where, want, got, problems):
    same = len(got) == len(want) and all(
        close(g.get("value"), w["value"], 1e-12) and {k: v for k, v in g.items() if k != "value"} ==
        {k: v for k, v in w.items() if k != "value"} for g, w in zip(got, want))
    if not same:
        problems.append("%s: exemplars %r, want %r" % (where, got, want))


def compare_series(key, value_type, want_points, got_points, problems):
    where = "%s %s" % (key[0][len(METRIC_PREFIX):], dict(key[1]))
    if [(s, e) for s, e, _ in got_points] != [(s, e) for s, e, _, _ in want_points]:
        problems.append("%s: points (start, end) %r, want %r" % (where, [p[:2] for p in got_points],
                                                                  [p[:2] for p in want_points]))
        return
    for (start, end, want, exemplars), (_, _, got) in zip(want_points, got_points):
        at = "%s at %d" % (where, end)
        if value_type == "DOUBLE":
            if isinstance(got, dict) or not close(float(got), want, 1e-12):
                problems.append("%s: value %r, want %r" % (at, got, want))
            continue
        compare_distribution(at, to_distribution(want), got, problems)
        compare_exemplars(at, exemplars, got.get("exemplars", []), problems)


def expected(requests, classic_t0):
    """{series key: (GCM metric kind, value type, [(start_ms, end_ms, Hist or float, [exemplar JSON])])}
    and the totals prom2gcm must count."""
    out, totals = {}, {"points": 0, "baselines": 0, "folded": 0, "incomplete": 0}
    for _, request in requests:
        for key, (kind, hists, exemplars) in series_of(request).items():
            points = expected_points(hists, kind == "GAUGE")
            # all of a series' histograms and exemplars come in one request: the first point takes them
            out[key] = (kind, "DISTRIBUTION", with_exemplars(points, exemplars, hists[0].t))
            totals["baselines"] += int(kind != "GAUGE" and any(not h.start for h in hists))
            totals["folded"] += sum(sum(h.negative.values()) for _, _, h in points)
        counters, baselines, incomplete = float_series_of(request)
        for key, points in counters.items():
            out[key] = ("CUMULATIVE", "DOUBLE", [(s, e, v, []) for s, e, v in points])
        totals["baselines"] += baselines
        totals["incomplete"] += incomplete
    key, points = classic_expected(classic_t0)
    out[key] = ("CUMULATIVE", "DISTRIBUTION", points)
    totals["baselines"] += 1
    totals["points"] = sum(len(points) for _, _, points in out.values())
    return out, totals


def compare(want, stack, problems):
    got = stack.emulator_points()
    kinds = {s["metric_type"]: (s["metric_kind"], s["value_type"])
             for s in get_json(stack.emulator_http + "/v1/timeseries")["timeseries"]}
    for key, (kind, value_type, points) in sorted(want.items()):
        if not points:
            continue
        if kinds.get(key[0], (kind, value_type)) != (kind, value_type):
            problems.append("%s is %s, want %s %s" % (key[0], kinds[key[0]], kind, value_type))
        compare_series(key, kinds.get(key[0], (kind, value_type))[1], points, got.get(key, []), problems)
    for key in sorted(set(got) - {key for key, (_, _, points) in want.items() if points}):
        problems.append("unexpected series in the emulator: %s %s" % key)


def check_prom2gcm_metrics(stack, totals, problems):
    dropped = "prom2gcm_exporter_points_dropped_total"
    for reason in ("invalid_histogram", "value_type_mismatch", "sampling_period", "duplicate",
                   "histogram_late_part", "histogram_layout_change"):
        n = stack.prom2gcm_metric(dropped, 'reason="%s"' % reason)
        if n:
            problems.append("prom2gcm dropped %d samples as %s" % (n, reason))
    for reason, want in (("counter_baseline", totals["baselines"]), ("histogram_incomplete", totals["incomplete"])):
        n = stack.prom2gcm_metric(dropped, 'reason="%s"' % reason)
        if n != want:
            problems.append("prom2gcm dropped %d as %s, want %d" % (n, reason, want))
    folded = stack.prom2gcm_metric("prom2gcm_exporter_histogram_negative_observations_folded_total")
    if folded != totals["folded"]:
        problems.append("prom2gcm folded %d negative observations, want %d" % (folded, totals["folded"]))


def post_checked(stack, what, request, problems, headers=HEADERS):
    status, body = post(stack.prom2gcm_url + "/api/v1/write", request, headers)
    if status != 204:
        problems.append("POST %s: %d %s" % (what, status, body.strip()))


def run(stack, problems):
    stack.start_emulator()
    stack.start_prom2gcm(HISTOGRAM_WAIT)
    now = int(time.time() * 1000)
    classic_t0 = now - 180000
    post_checked(stack, "classic metadata", classic_metadata(), problems, HEADERS_V1)
    for part, request in classic_requests(0, classic_t0):
        post_checked(stack, "classic T0 " + part, request, problems, HEADERS_V1)
    sent_t0 = time.time()
    requests = load_requests()
    delta = now - 60000 - newest_timestamp(requests)
    for name, request in requests:
        shift_timestamps(request, delta)
        post_checked(stack, name, request, problems)
    want, totals = expected(requests, classic_t0)
    # T0's set (the classic histogram's first, its layout unknown) finishes after the 2 s wait
    time.sleep(max(0.0, sent_t0 + 2.6 - time.time()))
    for index in (1, 2):
        for part, request in classic_requests(index, classic_t0 + index * 15000):
            post_checked(stack, "classic T%d %s" % (index, part), request, problems, HEADERS_V1)
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
