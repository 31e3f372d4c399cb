#!/usr/bin/env python3
"""Writes deterministic remote-write 2.0 payloads into testdata/v2/.

    python3 testdata/gen_v2.py

Each file is an `io.prometheus.write.v2.Request` (proto/io/prometheus/write/v2/
types.proto) serialised with python protobuf and compressed with
snappy.compress (snappy block format), i.e. exactly what a remote-write 2.0
sender puts in the POST body.  All timestamps derive from BASE_MS, and nothing
depends on time or randomness, so re-running gives byte-identical files.

Rules every file follows (as the spec asks of senders):
  * symbols[0] is "" ;
  * a series' labels_refs are (name_ref, value_ref) pairs sorted by label name
    (byte order, so __name__ first), label names unique;
  * samples of one series are in time order.

Files (see testdata/README.md for the full description):
  01_counters_start_ts.pb.snappy      counters, per-sample start_timestamp, COUNTER metadata
  02_gauges_help_unit.pb.snappy       gauges with help and unit
  03_native_histograms_int.pb.snappy  integer native histograms (deltas), schemas -2, 0, 3, 8
  04_native_histograms_float.pb.snappy float native histograms (counts), schemas -4, 1, 5; a gauge histogram
  05_native_histograms_nhcb.pb.snappy custom-bucket histograms (schema -53, custom_values)
  06_exemplars.pb.snappy              exemplars with trace_id / span_id labels
  07_created_timestamp_legacy.pb.snappy older draft: TimeSeries.created_timestamp (field 6)
  08_mixed_stale.pb.snappy            mixed types, staleness markers, a plain NaN, no-metadata series
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rwproto  # noqa: E402

_, _, pb = rwproto.load()
import snappy  # noqa: E402

OUT = os.path.join(rwproto.TESTDATA, "v2")
BASE_MS = 1700000000000          # 2023-11-14T22:13:20Z
STEP_MS = 15000
START_MS = BASE_MS - 3600000     # process start, one hour earlier

STALE_NAN = struct.unpack("<d", struct.pack("<Q", rwproto.STALE_NAN_BITS))[0]
PLAIN_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]  # Go's math.NaN()

M = pb.Metadata
COUNTER, GAUGE, HISTOGRAM, GAUGEHISTOGRAM, SUMMARY, INFO, STATESET = (
    M.METRIC_TYPE_COUNTER, M.METRIC_TYPE_GAUGE, M.METRIC_TYPE_HISTOGRAM,
    M.METRIC_TYPE_GAUGEHISTOGRAM, M.METRIC_TYPE_SUMMARY, M.METRIC_TYPE_INFO,
    M.METRIC_TYPE_STATESET)
H = pb.Histogram
RESET_UNSPECIFIED, RESET_YES, RESET_NO, RESET_GAUGE = (
    H.RESET_HINT_UNSPECIFIED, H.RESET_HINT_YES, H.RESET_HINT_NO, H.RESET_HINT_GAUGE)

JOB = {"job": "gen_v2", "instance": "127.0.0.1:9100"}


class Builder:
    """Builds one Request with an interned symbols table starting with ""."""

    def __init__(self):
        self.req = pb.Request()
        self.index = {}
        self.ref("")

    def ref(self, s):
        if s not in self.index:
            self.index[s] = len(self.req.symbols)
            self.req.symbols.append(s)
        return self.index[s]

    def label_refs(self, labels):
        refs = []
        for name in sorted(labels, key=lambda n: n.encode()):
            refs += [self.ref(name), self.ref(labels[name])]
        return refs

    def series(self, name, labels=None, mtype=None, help_text="", unit="", created_ts=None):
        lbls = dict(JOB)
        lbls.update(labels or {})
        lbls["__name__"] = name
        ts = self.req.timeseries.add()
        ts.labels_refs.extend(self.label_refs(lbls))
        if mtype is not None:
            ts.metadata.type = mtype
            if help_text:
                ts.metadata.help_ref = self.ref(help_text)
            if unit:
                ts.metadata.unit_ref = self.ref(unit)
        if created_ts is not None:
            ts.created_timestamp = created_ts
        return ts

    def sample(self, ts, t, v, start_ts=None):
        s = ts.samples.add()
        s.value = v
        s.timestamp = t
        if start_ts is not None:
            s.start_timestamp = start_ts
        return s

    def exemplar(self, ts, t, v, labels):
        e = ts.exemplars.add()
        e.labels_refs.extend(self.label_refs(labels))
        e.value = v
        e.timestamp = t
        return e

    def write(self, name):
        raw = self.req.SerializeToString()
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(snappy.compress(raw))
        print("gen_v2: %-40s %3d series %6d bytes raw" % ("v2/" + name, len(self.req.timeseries), len(raw)))


# ---- native histogram helpers ------------------------------------------------

def _upper(schema, index, custom_values=None):
    """Upper bound of bucket `index` (only used to make `sum` plausible)."""
    if schema == -53:
        return custom_values[index] if index < len(custom_values) else custom_values[-1] * 2
    return 2.0 ** (index * 2.0 ** -schema)


def _indices(spans):
    # The first span's offset is the absolute index of its first bucket; each
    # later offset is the gap after the previous span.
    idx, out = 0, []
    for offset, length in spans:
        idx += offset
        for _ in range(length):
            out.append(idx)
            idx += 1
    return out


def _set_spans(field, spans):
    for offset, length in spans:
        sp = field.add()
        sp.offset = offset
        sp.length = length


def histogram(ts, t, schema, pos_spans, pos_counts, neg_spans=(), neg_counts=(),
              zero_threshold=0.0, zero_count=0, integer=True, reset_hint=RESET_UNSPECIFIED,
              start_ts=None, custom_values=None, sum_value=None):
    """Append a native histogram sample.  Counts are absolute per bucket; for
    integer histograms they are written as deltas (first absolute, then the
    difference to the previous bucket, across all spans)."""
    pos_idx = _indices(pos_spans)
    neg_idx = _indices(neg_spans)
    assert len(pos_idx) == len(pos_counts) and len(neg_idx) == len(neg_counts)
    h = ts.histograms.add()
    count = zero_count + sum(pos_counts) + sum(neg_counts)
    if sum_value is None:
        sum_value = sum(c * _upper(schema, i, custom_values) * 0.75 for i, c in zip(pos_idx, pos_counts)) \
            - sum(c * _upper(schema, i) * 0.75 for i, c in zip(neg_idx, neg_counts))
    h.sum = round(sum_value, 6) if sum_value == sum_value else sum_value  # keep NaN payload bits
    h.schema = schema
    h.zero_threshold = zero_threshold
    if integer:
        h.count_int = int(count)
        h.zero_count_int = int(zero_count)
        prev = 0
        for c in pos_counts:
            h.positive_deltas.append(int(c) - prev)
            prev = int(c)
        prev = 0
        for c in neg_counts:
            h.negative_deltas.append(int(c) - prev)
            prev = int(c)
    else:
        h.count_float = float(count)
        h.zero_count_float = float(zero_count)
        h.positive_counts.extend(float(c) for c in pos_counts)
        h.negative_counts.extend(float(c) for c in neg_counts)
    _set_spans(h.positive_spans, pos_spans)
    _set_spans(h.negative_spans, neg_spans)
    h.reset_hint = reset_hint
    h.timestamp = t
    if start_ts is not None:
        h.start_timestamp = start_ts
    if custom_values is not None:
        h.custom_values.extend(custom_values)
    return h


# ---- the files ----------------------------------------------------------------

def gen_counters():
    b = Builder()
    help_req = "Total number of HTTP requests."
    for method, code, rate in (("GET", "200", 7.0), ("POST", "200", 2.5), ("GET", "500", 0.25)):
        ts = b.series("http_requests_total", {"method": method, "code": code},
                      COUNTER, help_req)
        for i in range(5):
            b.sample(ts, BASE_MS + i * STEP_MS, 1000.0 + rate * 15 * i, START_MS)
    # A counter that resets: after the reset the start timestamp moves forward
    # and the value restarts from near zero.
    ts = b.series("process_cpu_seconds_total", {}, COUNTER, "Total user and system CPU time spent in seconds.",
                  "seconds")
    reset_at = BASE_MS + 2 * STEP_MS + 5000
    for i, v in enumerate((512.25, 512.5, 0.125, 0.375, 0.625)):
        start = START_MS if i < 2 else reset_at
        b.sample(ts, BASE_MS + i * STEP_MS, v, start)
    # A counter whose samples carry start_timestamp 0 (unknown start).
    ts = b.series("node_network_receive_bytes_total", {"device": "eth0"}, COUNTER,
                  "Network device statistic receive_bytes.", "bytes")
    for i in range(3):
        b.sample(ts, BASE_MS + i * STEP_MS, 123456789.0 + 4096 * i, 0)
    b.write("01_counters_start_ts.pb.snappy")


def gen_gauges():
    b = Builder()
    ts = b.series("process_resident_memory_bytes", {}, GAUGE, "Resident memory size in bytes.", "bytes")
    for i, v in enumerate((52428800.0, 53477376.0, 51380224.0, 52953088.0)):
        b.sample(ts, BASE_MS + i * STEP_MS, v)
    for zone, base in (("0", 41.5), ("1", 38.0)):
        ts = b.series("node_thermal_zone_temp_celsius", {"zone": zone, "type": "x86_pkg_temp"}, GAUGE,
                      "Zone temperature in Celsius", "celsius")
        for i in range(4):
            b.sample(ts, BASE_MS + i * STEP_MS, base + 0.5 * i)
    ts = b.series("queue_length", {"queue": "ingest"}, GAUGE, "Items waiting in the ingest queue.")
    for i, v in enumerate((0.0, 17.0, -0.0, 3.0)):
        b.sample(ts, BASE_MS + i * STEP_MS, v)
    ts = b.series("ratio_with_unit_only", {}, GAUGE, "", "ratio")
    for i, v in enumerate((0.25, 1e-300, 1.7976931348623157e308, float("inf"))):
        b.sample(ts, BASE_MS + i * STEP_MS, v)
    ts = b.series("temperature_offset", {"sensor": "a b\tc \"quoted\" ünïcode"}, GAUGE,
                  "Help with \"quotes\", a backslash \\ and ünïcode.", "celsius")
    b.sample(ts, BASE_MS, -273.15)
    b.write("02_gauges_help_unit.pb.snappy")


def gen_hist_int():
    b = Builder()
    help_lat = "Request latency."
    # schema 3, positive buckets in two spans, zero bucket, growing over time
    ts = b.series("http_request_duration_seconds", {"handler": "/api"}, HISTOGRAM, help_lat, "seconds")
    for i in range(3):
        histogram(ts, BASE_MS + i * STEP_MS, 3, [(-10, 3), (2, 2)],
                  [2 + i, 5 + 2 * i, 3 + i, 1, 1 + i], zero_threshold=2.938735877055719e-39,
                  zero_count=1 + i, reset_hint=RESET_NO if i else RESET_UNSPECIFIED, start_ts=START_MS)
    # schema 0 with negative and positive buckets
    ts = b.series("temperature_delta", {}, HISTOGRAM, "Temperature change per interval.", "celsius")
    for i in range(3):
        histogram(ts, BASE_MS + i * STEP_MS, 0, [(0, 4)], [1, 4 + i, 2, 1],
                  neg_spans=[(1, 2)], neg_counts=[3, 1 + i], zero_threshold=0.001, zero_count=2,
                  start_ts=START_MS)
    # schema -2 (coarse), then a reset (counts drop, reset hint YES, new start)
    ts = b.series("payload_size_bytes", {"direction": "in"}, HISTOGRAM, "Payload sizes.", "bytes")
    histogram(ts, BASE_MS, -2, [(1, 3)], [10, 20, 5], start_ts=START_MS)
    histogram(ts, BASE_MS + STEP_MS, -2, [(1, 3)], [12, 26, 7], start_ts=START_MS)
    histogram(ts, BASE_MS + 2 * STEP_MS, -2, [(1, 2)], [1, 1], reset_hint=RESET_YES,
              start_ts=BASE_MS + STEP_MS + 7000)
    # schema 8 (fine), single sample, no start timestamp, empty negative side
    ts = b.series("gc_pause_seconds", {}, HISTOGRAM, "GC pause durations.", "seconds")
    histogram(ts, BASE_MS, 8, [(-1800, 2), (3, 1), (0, 1)], [4, 7, 2, 9], zero_threshold=1e-128,
              zero_count=0)
    # an empty histogram (no buckets, zero count)
    ts = b.series("empty_histogram_seconds", {}, HISTOGRAM, "Nothing observed yet.", "seconds")
    histogram(ts, BASE_MS, 0, [], [], start_ts=START_MS, sum_value=0.0)
    b.write("03_native_histograms_int.pb.snappy")


def gen_hist_float():
    b = Builder()
    ts = b.series("rpc_latency_seconds", {"service": "billing"}, HISTOGRAM, "RPC latency (rate-aggregated).",
                  "seconds")
    for i in range(3):
        histogram(ts, BASE_MS + i * STEP_MS, 1, [(-4, 4), (1, 2)],
                  [0.5 + i, 2.25, 3.5 + i, 1.75, 0.5, 0.25 * (i + 1)], zero_threshold=1e-6,
                  zero_count=0.5, integer=False, start_ts=START_MS)
    ts = b.series("queue_wait_seconds", {}, HISTOGRAM, "Queue wait.", "seconds")
    for i in range(2):
        histogram(ts, BASE_MS + i * STEP_MS, -4, [(0, 2)], [10.5 + i, 0.5],
                  neg_spans=[(0, 1)], neg_counts=[1.5], integer=False)
    ts = b.series("fine_float_histogram", {}, HISTOGRAM, "Schema 5 float histogram.")
    histogram(ts, BASE_MS, 5, [(30, 3), (10, 1)], [1.0, 0.0, 2.5, 4.0], integer=False, start_ts=START_MS)
    # gauge histogram: type GAUGEHISTOGRAM, reset hint GAUGE, counts may go down
    ts = b.series("inflight_request_size_bytes", {}, GAUGEHISTOGRAM, "Sizes of requests in flight.", "bytes")
    for i, cs in enumerate(([3, 5, 1], [1, 2, 0], [4, 4, 4])):
        histogram(ts, BASE_MS + i * STEP_MS, 0, [(8, 3)], cs, integer=False, reset_hint=RESET_GAUGE)
    b.write("04_native_histograms_float.pb.snappy")


def gen_hist_nhcb():
    b = Builder()
    bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
    ts = b.series("http_server_duration_seconds", {"route": "/v1/items"}, HISTOGRAM,
                  "Server duration with custom buckets.", "seconds")
    for i in range(3):
        # 10 buckets (9 bounds + the +Inf bucket), one gap
        histogram(ts, BASE_MS + i * STEP_MS, -53, [(0, 6), (1, 3)],
                  [5 + i, 8, 13 + 2 * i, 20, 9, 4, 2, 1, i], custom_values=bounds,
                  reset_hint=RESET_NO if i else RESET_UNSPECIFIED, start_ts=START_MS)
    ts = b.series("batch_size", {}, HISTOGRAM, "Batch sizes (custom buckets, float counts).")
    for i in range(2):
        histogram(ts, BASE_MS + i * STEP_MS, -53, [(1, 3)], [2.5 + i, 7.0, 1.5],
                  custom_values=[1.0, 10.0, 100.0, 1000.0], integer=False, start_ts=START_MS)
    ts = b.series("single_bound_histogram", {}, HISTOGRAM, "One bound: a <=0 bucket and +Inf.")
    histogram(ts, BASE_MS, -53, [(0, 2)], [3, 4], custom_values=[0.0], sum_value=12.5)
    b.write("05_native_histograms_nhcb.pb.snappy")


def gen_exemplars():
    b = Builder()
    ts = b.series("http_requests_total", {"method": "GET", "code": "200"}, COUNTER,
                  "Total number of HTTP requests.")
    for i in range(3):
        b.sample(ts, BASE_MS + i * STEP_MS, 100.0 + 10 * i, START_MS)
    b.exemplar(ts, BASE_MS + 3000, 1.0, {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                                          "span_id": "00f067aa0ba902b7"})
    b.exemplar(ts, BASE_MS + STEP_MS + 1000, 1.0, {"trace_id": "0af7651916cd43dd8448eb211c80319c",
                                                    "span_id": "b7ad6b7169203331"})
    # classic histogram _bucket series carrying an exemplar (metadata of the family: HISTOGRAM)
    ts = b.series("rpc_duration_seconds_bucket", {"le": "0.25"}, HISTOGRAM,
                  "RPC duration.", "seconds")
    b.sample(ts, BASE_MS, 42.0, START_MS)
    b.exemplar(ts, BASE_MS - 500, 0.1875, {"trace_id": "5b8efff798038103d269b633813fc60c",
                                            "span_id": "eee19b7ec3c1b174", "user": "alice"})
    # native histogram with exemplars
    ts = b.series("request_latency_seconds", {}, HISTOGRAM, "Latency with exemplars.", "seconds")
    histogram(ts, BASE_MS, 2, [(-3, 4)], [1, 3, 6, 2], start_ts=START_MS)
    for k, v in enumerate((0.42, 0.61, 0.88)):
        b.exemplar(ts, BASE_MS - 1000 * (3 - k), v, {"trace_id": "%032x" % (0xabc0 + k),
                                                      "span_id": "%016x" % (0x10 + k)})
    # exemplar without labels, and one without a timestamp
    ts = b.series("jobs_processed_total", {"queue": "default"}, COUNTER, "Jobs processed.")
    b.sample(ts, BASE_MS, 7.0)
    b.exemplar(ts, BASE_MS, 1.0, {})
    b.exemplar(ts, 0, 2.0, {"trace_id": "ffffffffffffffffffffffffffffffff", "span_id": "ffffffffffffffff"})
    b.write("06_exemplars.pb.snappy")


def gen_created_legacy():
    """Older remote-write 2.0 draft: the start time travels once per series as
    TimeSeries.created_timestamp (field 6); samples have no start_timestamp."""
    b = Builder()
    ts = b.series("http_requests_total", {"method": "GET", "code": "200"}, COUNTER,
                  "Total number of HTTP requests.", created_ts=START_MS)
    for i in range(4):
        b.sample(ts, BASE_MS + i * STEP_MS, 50.0 + 5 * i)
    ts = b.series("process_cpu_seconds_total", {}, COUNTER, "Total user and system CPU time spent in seconds.",
                  "seconds", created_ts=START_MS + 1234)
    for i in range(4):
        b.sample(ts, BASE_MS + i * STEP_MS, 3.5 + 0.25 * i)
    ts = b.series("request_latency_seconds", {}, HISTOGRAM, "Latency.", "seconds", created_ts=START_MS)
    for i in range(2):
        histogram(ts, BASE_MS + i * STEP_MS, 0, [(-2, 3)], [1 + i, 2, 3])
    # a gauge: created_timestamp is absent (0)
    ts = b.series("up", {}, GAUGE, "Target health.")
    b.sample(ts, BASE_MS, 1.0)
    b.write("07_created_timestamp_legacy.pb.snappy")


def gen_mixed_stale():
    b = Builder()
    # gauge that goes stale after three samples
    ts = b.series("node_filesystem_avail_bytes", {"mountpoint": "/data", "device": "sdb1", "fstype": "ext4"},
                  GAUGE, "Filesystem space available to non-root users in bytes.", "bytes")
    for i, v in enumerate((1.5e11, 1.49e11, 1.48e11)):
        b.sample(ts, BASE_MS + i * STEP_MS, v)
    b.sample(ts, BASE_MS + 3 * STEP_MS, STALE_NAN)
    # counter that goes stale, with start timestamps
    ts = b.series("http_requests_total", {"method": "DELETE", "code": "404"}, COUNTER,
                  "Total number of HTTP requests.")
    b.sample(ts, BASE_MS, 3.0, START_MS)
    b.sample(ts, BASE_MS + STEP_MS, 4.0, START_MS)
    b.sample(ts, BASE_MS + 2 * STEP_MS, STALE_NAN, START_MS)
    # a series that is only a staleness marker
    ts = b.series("up", {"instance": "10.0.0.7:9100"}, GAUGE, "Target health.")
    b.sample(ts, BASE_MS, STALE_NAN)
    # plain NaN (not a staleness marker) and +/-Inf
    ts = b.series("weird_values", {}, GAUGE, "NaN and infinities that are ordinary values.")
    b.sample(ts, BASE_MS, PLAIN_NAN)
    b.sample(ts, BASE_MS + STEP_MS, float("-inf"))
    b.sample(ts, BASE_MS + 2 * STEP_MS, float("inf"))
    # series without metadata (type UNSPECIFIED): not counted in the manifest's metadata column
    ts = b.series("no_metadata_metric", {"a": "1"})
    b.sample(ts, BASE_MS, 1.0)
    b.sample(ts, BASE_MS + STEP_MS, 2.0)
    # summary quantile and _sum/_count, info, stateset
    for q, v in (("0.5", 0.05), ("0.99", 0.8)):
        ts = b.series("rpc_duration_seconds", {"quantile": q}, SUMMARY, "RPC duration summary.", "seconds")
        b.sample(ts, BASE_MS, v)
    ts = b.series("rpc_duration_seconds_sum", {}, SUMMARY, "RPC duration summary.", "seconds")
    b.sample(ts, BASE_MS, 123.4, START_MS)
    ts = b.series("rpc_duration_seconds_count", {}, SUMMARY, "RPC duration summary.", "seconds")
    b.sample(ts, BASE_MS, 1000.0, START_MS)
    ts = b.series("build_info", {"version": "1.2.3", "revision": "abc123"}, INFO, "Build information.")
    b.sample(ts, BASE_MS, 1.0)
    ts = b.series("feature_state", {"feature_state": "enabled"}, STATESET, "Feature flag state.")
    b.sample(ts, BASE_MS, 1.0)
    # native histogram followed by a stale histogram (sum = staleness NaN) --
    # not a float sample, so NOT counted in the manifest's stale_markers column
    ts = b.series("request_size_bytes", {}, HISTOGRAM, "Request sizes.", "bytes")
    histogram(ts, BASE_MS, 0, [(5, 2)], [3, 1], start_ts=START_MS)
    histogram(ts, BASE_MS + STEP_MS, 0, [], [], sum_value=STALE_NAN)
    # the same metric name as an earlier series but other labels, samples far apart
    ts = b.series("node_filesystem_avail_bytes", {"mountpoint": "/", "device": "sda1", "fstype": "ext4"},
                  GAUGE, "Filesystem space available to non-root users in bytes.", "bytes")
    b.sample(ts, BASE_MS - 86400000, 2.0e10)
    b.sample(ts, BASE_MS, 1.9e10)
    b.write("08_mixed_stale.pb.snappy")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith(".pb.snappy"):
            os.remove(os.path.join(OUT, name))
    gen_counters()
    gen_gauges()
    gen_hist_int()
    gen_hist_float()
    gen_hist_nhcb()
    gen_exemplars()
    gen_created_legacy()
    gen_mixed_stale()
    return 0


if __name__ == "__main__":
    sys.exit(main())
