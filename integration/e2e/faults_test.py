#!/usr/bin/env python3
"""Fault tests of the durable queue (--storage.path): the real prom2gcm and the GCM emulator, load
from a sender written here, and an exact count at the end.

The sender knows exactly which samples were acknowledged. It writes remote-write 1.0 requests of
GAUGE series `faults_gauge{s="I"}` (GAUGE metadata sent first): series I's sample K has timestamp
T0 + K * 5 s (T0 about 3 h ago, so every point is older than now and younger than 25 h) and the
unique value I * 1e6 + K. Several threads each own a share of the series and send one request at a
time holding the next sample of each of their series; a request is retried after 5xx, 429 or a
connection error until it gets a 2xx, and only then are its samples recorded as acknowledged and the
next ones sent (per-series order, as Prometheus keeps it). At the end the test waits until
prom2gcm's prom2gcm_storage_unconfirmed_requests and prom2gcm_exporter_queued_points are 0, reads
the emulator's /v1/timeseries and /v1/stats and checks:
  - every acknowledged sample is in the emulator with its value, exactly once;
  - every point in the emulator was sent (a sample sent but never acknowledged, e.g. in flight at a
    kill, may or may not be there);
  - the emulator refused no point, except as said per mode.
Modes (one ctest entry each, label `faults`):
  kill9:       kill -9 of prom2gcm at three random moments under load, restarting it each time on
               the same port and --storage.path while the sender keeps retrying. The send journal
               (README, "Durable queue") tells the restart what GCM already accepted, and it asks GCM
               about the calls in flight at the kill, so nothing is sent twice: the emulator must
               refuse no point at all, and everything acknowledged must be there exactly once.
  outage:      the emulator answers every call UNAVAILABLE for 10 s, then takes 2 s per call for 8 s,
               while the load goes on: everything arrives, nothing is refused.
  unavailable: 30% of calls UNAVAILABLE for a phase (everything arrives, nothing refused), then 5% of
               points rejected (INVALID_ARGUMENT, injected_fault): those are finally refused. Exact:
               acknowledged = present + refused, refused = the emulator's injected_fault count =
               prom2gcm_exporter_points_failed_total; no other refusal.
  disk_bound:  --storage.max-bytes=2MiB and the emulator down: the log fills and the sender gets
               503s; then the emulator recovers, and so must prom2gcm by itself (2xx again, the 503'd
               requests retried by the sender and delivered); nothing acknowledged is lost.
  corrupt_tail: load with the emulator down so everything stays in the log, kill -9, one byte of the
               newest segment's last record flipped and garbage appended, the emulator healed, and a
               restart: prom2gcm must start, log the cut, and deliver every acknowledged sample
               except exactly those of the corrupted record (which the test decodes from the segment
               before corrupting it); nothing is refused.
Usage: faults_test.py --prom2gcm BIN --emulator BIN --mode MODE"""
import argparse
import collections
import http.client
import os
import random
import re
import struct
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SOURCE_DIR, "testdata"))
import rwproto  # noqa: E402
from stack import Stack, get_json, metric_sum, http_get, report  # noqa: E402

remote_pb, types_pb, _ = rwproto.load()  # re-runs this script with /usr/bin/python3 when protobuf or snappy is missing
import snappy  # noqa: E402

HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}
METRIC = "faults_gauge"
STEP_MS = 5000
MAX_SAMPLES = 2000  # per series: 2000 * 5 s < 3 h


class Sender:
    """Threads writing the series; self.acked[(series, k)] = value once a 2xx covered it."""

    def __init__(self, url, series=200, threads=4, rate=15.0, pad=0):
        self.host, self.port = url.split("//", 1)[1].split(":")
        self.port = int(self.port)
        self.series, self.threads, self.rate = series, threads, rate
        now_ms = int(time.time() * 1000)
        self.t0 = now_ms // STEP_MS * STEP_MS - 3 * 3600 * 1000
        rng = random.Random(7)
        self.pads = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(pad))
                     for _ in range(series)] if pad else None
        self.lock = threading.Lock()
        self.acked = {}
        self.sent = {}
        self.codes = collections.Counter()
        self.errors = collections.Counter()
        self.fatal = []
        self.last_ack = 0.0
        self.stopping = threading.Event()
        self.abort = threading.Event()  # give up on requests not acknowledged yet
        self.workers = []

    def value(self, series, k):
        return float(series * 1000000 + k)

    def labels(self, series):
        labels = [("__name__", METRIC), ("instance", "sender:1"), ("job", "faults"), ("s", str(series))]
        if self.pads:
            labels.append(("pad", self.pads[series]))
        return sorted(labels)

    def post(self, conn_box, body, deadline):
        """Posts until a 2xx; returns True, or False when deadline passed or a 4xx came."""
        while True:
            if time.time() > deadline or self.abort.is_set():
                return False
            try:
                if conn_box[0] is None:
                    conn_box[0] = http.client.HTTPConnection(self.host, self.port, timeout=20)
                conn_box[0].request("POST", "/api/v1/write", body, HEADERS)
                response = conn_box[0].getresponse()
                response.read()
                code = response.status
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.errors[type(e).__name__] += 1
                if conn_box[0] is not None:
                    conn_box[0].close()
                conn_box[0] = None
                time.sleep(0.1)
                continue
            with self.lock:
                self.codes[code] += 1
            if 200 <= code < 300:
                return True
            if code >= 500 or code == 429:
                time.sleep(0.05 + random.random() * 0.1)
                continue
            with self.lock:
                self.fatal.append("answer %d to a write" % code)
            return False

    def send_metadata(self):
        request = remote_pb.WriteRequest()
        request.metadata.add(type=types_pb.MetricMetadata.GAUGE, metric_family_name=METRIC, help="fault test gauge")
        if not self.post([None], snappy.compress(request.SerializeToString()), time.time() + 60):
            raise AssertionError("metadata request not acknowledged: %s" % self.fatal)

    def worker(self, index):
        mine = list(range(index, self.series, self.threads))
        conn = [None]
        k = 0
        next_at = time.time()
        while not self.stopping.is_set() and k < MAX_SAMPLES:
            request = remote_pb.WriteRequest()
            for s in mine:
                ts = request.timeseries.add()
                for name, value in self.labels(s):
                    ts.labels.add(name=name, value=value)
                ts.samples.add(value=self.value(s, k), timestamp=self.t0 + k * STEP_MS)
            body = snappy.compress(request.SerializeToString())
            with self.lock:
                for s in mine:
                    self.sent[(s, k)] = self.value(s, k)
            # A request started is finished (acknowledged) unless prom2gcm stays away for 60 s.
            if not self.post(conn, body, time.time() + 60):
                break
            with self.lock:
                for s in mine:
                    self.acked[(s, k)] = self.value(s, k)
                self.last_ack = time.time()
            k += 1
            next_at += 1.0 / self.rate
            delay = next_at - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.time()

    def start(self):
        self.send_metadata()
        self.started = time.time()
        for i in range(self.threads):
            t = threading.Thread(target=self.worker, args=(i,), daemon=True)
            t.start()
            self.workers.append(t)

    def stop(self):
        self.stopping.set()
        for t in self.workers:
            t.join(90)
        self.duration = time.time() - self.started

    def counts(self):
        with self.lock:
            return len(self.acked), dict(self.codes), dict(self.errors)


def prom2gcm_metrics(stack):
    return http_get(stack.prom2gcm_url + "/metrics").decode()


def drain(stack, timeout=90):
    """Waits until prom2gcm has no unconfirmed request and no queued point (twice in a row)."""
    deadline = time.time() + timeout
    calm = 0
    while time.time() < deadline:
        text = prom2gcm_metrics(stack)
        if (metric_sum(text, "prom2gcm_storage_unconfirmed_requests") == 0
                and metric_sum(text, "prom2gcm_exporter_queued_points") == 0):
            calm += 1
            if calm >= 2:
                return True
        else:
            calm = 0
        time.sleep(0.3)
    return False


def emulator_samples(stack, sender, problems):
    """{(series, k): value} of every faults_gauge point in the emulator; problems for points never
    sent, wrong values and points stored twice."""
    present = {}
    for ts in get_json(stack.emulator_http + "/v1/timeseries", timeout=60)["timeseries"]:
        if not ts["metric_type"].endswith("/" + METRIC + "/gauge"):
            problems.append("unexpected series %s %s" % (ts["metric_type"], ts["metric_labels"]))
            continue
        s = int(ts["metric_labels"]["s"])
        for point in ts["points"]:
            offset = point["end_ms"] - sender.t0
            k = offset // STEP_MS
            if offset % STEP_MS or (s, k) not in sender.sent:
                problems.append("series %d: point at %d ms was never sent" % (s, point["end_ms"]))
                continue
            if (s, k) in present:
                problems.append("series %d sample %d stored twice" % (s, k))
            if float(point["value"]) != sender.value(s, k):
                problems.append("series %d sample %d: value %s, sent %s" % (s, k, point["value"], sender.value(s, k)))
            present[(s, k)] = float(point["value"])
    return present


def common_checks(stack, sender, problems, expect_missing=frozenset()):
    """Drains, compares, returns (present, missing acknowledged, stats)."""
    if not drain(stack):
        problems.append("prom2gcm did not drain: unconfirmed=%s queued=%s" % (
            stack.prom2gcm_metric("prom2gcm_storage_unconfirmed_requests"),
            stack.prom2gcm_metric("prom2gcm_exporter_queued_points")))
    if sender.fatal:
        problems.append("sender: %s" % sender.fatal[:5])
    present = emulator_samples(stack, sender, problems)
    missing = set(sender.acked) - set(present)
    unexpected = missing - set(expect_missing)
    if unexpected:
        problems.append("%d acknowledged samples missing, e.g. %s" % (len(unexpected), sorted(unexpected)[:10]))
    stats = stack.emulator_stats()
    if stats["points_accepted"] != len(present):
        problems.append("emulator accepted %d points, holds %d" % (stats["points_accepted"], len(present)))
    unacked_present = len(set(present) - set(sender.acked))
    acked, codes, errors = sender.counts()
    print("acked samples %d, present %d (of them never acknowledged %d), missing acked %d; "
          "answers %s, connection errors %s; emulator rejected %s, calls failed by fault %s"
          % (acked, len(present), unacked_present, len(missing), codes, errors, stats["points_rejected"],
             stats.get("requests_failed_by_fault")))
    if acked < 2000:
        problems.append("only %d samples acknowledged: too few for a meaningful run" % acked)
    return present, missing, stats


def rejected_other_than(stats, allowed):
    return {reason: n for reason, n in stats["points_rejected"].items() if n and reason not in allowed}


def post_faults(stack, method="POST", query=""):
    request = urllib.request.Request(stack.emulator_http + "/v1/faults" + query, data=b"" if method == "POST" else None,
                                     method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def storage_flags(stack, extra=()):
    return ["--storage.path=" + os.path.join(stack.dir, "storage"), "--export.metadata-wait=2s", *extra]


# ---- modes ----------------------------------------------------------------------------------------

def run_kill9(stack, problems):
    stack.start_emulator()
    flags = storage_flags(stack)
    stack.start_prom2gcm(flags)
    port = stack.prom2gcm_port
    sender = Sender(stack.prom2gcm_url)
    sender.start()
    rng = random.Random()
    kills = []
    for _ in range(3):
        time.sleep(rng.uniform(2.0, 5.0))
        before = sender.counts()[0]
        code = stack.kill("prom2gcm")
        kills.append((before, code))
        time.sleep(rng.uniform(0.1, 1.0))
        start = time.time()
        stack.start_prom2gcm(flags, port=port, append_log=True)
        print("kill -9 with %d samples acknowledged (exit %s); restarted in %.1f s" % (before, code, time.time() - start))
    time.sleep(4)
    sender.stop()
    present, missing, stats = common_checks(stack, sender, problems)
    with open(os.path.join(stack.dir, "prom2gcm.log")) as f:
        replayed = [int(n) for n in re.findall(r"durable queue: replayed (\d+) unconfirmed", f.read())]
    with open(os.path.join(stack.dir, "prom2gcm.log")) as f:
        held = [int(n) for n in re.findall(r"Cloud Monitoring already holds (\d+) of", f.read())]
    print("replayed requests per restart %s; points of in-flight calls GCM already held, not re-sent: %s"
          % (replayed, held))
    if len(replayed) != 4 or replayed[0] != 0:
        problems.append("expected 4 'durable queue: replayed' lines (the first start's 0, then 3 restarts), found %s"
                        % replayed)
    if stats["points_rejected_total"]:
        problems.append("the emulator refused points (sent twice?): %s" % stats["points_rejected"])


def run_outage(stack, problems):
    stack.start_emulator()
    stack.start_prom2gcm(storage_flags(stack))
    sender = Sender(stack.prom2gcm_url)
    sender.start()
    time.sleep(3)
    post_faults(stack, query="?outage_seconds=10")
    time.sleep(10)
    post_faults(stack, query="?outage_seconds=0&latency_ms=2000")
    queued = stack.prom2gcm_metric("prom2gcm_exporter_queued_points")
    time.sleep(8)
    post_faults(stack, "DELETE")
    time.sleep(3)
    sender.stop()
    print("queued points when the outage ended: %d" % queued)
    _, _, stats = common_checks(stack, sender, problems)
    if stats["points_rejected_total"]:
        problems.append("the emulator refused points: %s" % stats["points_rejected"])
    if not stats.get("requests_failed_by_fault"):
        problems.append("no call failed by the fault: the test proves nothing")


def run_unavailable(stack, problems):
    stack.start_emulator(["--fault.unavailable-ratio=0.3", "--fault.seed=%d" % random.randrange(1 << 30)])
    stack.start_prom2gcm(storage_flags(stack, ["--storage.group-commit-delay=2ms"]))  # the flag, end to end
    sender = Sender(stack.prom2gcm_url)
    sender.start()
    time.sleep(10)
    unavailable_failed = stack.emulator_stats().get("requests_failed_by_fault", 0)
    post_faults(stack, query="?unavailable_ratio=0&reject_point_ratio=0.05")
    time.sleep(10)
    post_faults(stack, "DELETE")
    time.sleep(2)
    sender.stop()
    present, missing, stats = common_checks(stack, sender, problems, expect_missing=set(sender.acked))
    refused = stats["points_rejected"].get("injected_fault", 0)
    failed = stack.prom2gcm_metric("prom2gcm_exporter_points_failed_total")
    acked_present = len(set(sender.acked) & set(present))
    print("calls failed UNAVAILABLE in phase 1: %d; refused (injected_fault): emulator %d, prom2gcm failed %d; "
          "acked %d = present %d + refused %d ?" % (unavailable_failed, refused, failed, len(sender.acked),
                                                   acked_present, refused))
    if not unavailable_failed:
        problems.append("no call failed UNAVAILABLE: phase 1 proves nothing")
    if not refused:
        problems.append("no point rejected: phase 2 proves nothing")
    if len(sender.acked) != acked_present + refused:
        problems.append("acknowledged %d != present %d + refused %d" % (len(sender.acked), acked_present, refused))
    if failed != refused:
        problems.append("prom2gcm counted %d points failed, the emulator refused %d" % (failed, refused))
    other = rejected_other_than(stats, ("injected_fault",))
    if other:
        problems.append("the emulator refused points other than injected ones: %s" % other)


def run_disk_bound(stack, problems):
    stack.start_emulator()
    stack.start_prom2gcm(storage_flags(stack, ["--storage.max-bytes=2097152"]))
    post_faults(stack, query="?outage_seconds=600")
    sender = Sender(stack.prom2gcm_url, pad=300, rate=20)
    sender.start()
    deadline = time.time() + 30
    while time.time() < deadline and not (sender.counts()[1].get(503, 0) >= 20
                                          and stack.prom2gcm_metric("prom2gcm_storage_log_full_total") > 0):
        time.sleep(0.2)
    full_503 = sender.counts()[1].get(503, 0)
    acked_when_full = sender.counts()[0]
    log_bytes = stack.prom2gcm_metric("prom2gcm_storage_log_bytes")
    print("log full after %.1f s: %d samples acknowledged, %d answers 503, log %d bytes, log_full_total %d"
          % (time.time() - sender.started, acked_when_full, full_503, log_bytes,
             stack.prom2gcm_metric("prom2gcm_storage_log_full_total")))
    if full_503 < 20:
        problems.append("the log never filled: %d answers 503" % full_503)
    time.sleep(2)
    post_faults(stack, "DELETE")
    healed = time.time()
    acked_at_heal = sender.counts()[0]
    deadline = time.time() + 30
    while time.time() < deadline and sender.counts()[0] < acked_at_heal + 4000:
        time.sleep(0.2)
    recovered = sender.counts()[0] >= acked_at_heal + 4000
    print("after the emulator recovered: %d more samples acknowledged in %.1f s; log %d bytes, "
          "unconfirmed %d, queued points %d" % (sender.counts()[0] - acked_at_heal, time.time() - healed,
                                               stack.prom2gcm_metric("prom2gcm_storage_log_bytes"),
                                               stack.prom2gcm_metric("prom2gcm_storage_unconfirmed_requests"),
                                               stack.prom2gcm_metric("prom2gcm_exporter_queued_points")))
    if not recovered:
        problems.append("prom2gcm did not recover from a full log by itself within 30 s of the emulator's recovery "
                        "(log %d bytes, max 2097152)" % stack.prom2gcm_metric("prom2gcm_storage_log_bytes"))
        sender.abort.set()  # requests still answered 503 stay unacknowledged
    sender.stop()
    _, _, stats = common_checks(stack, sender, problems)
    if stats["points_rejected_total"]:
        problems.append("the emulator refused points: %s" % stats["points_rejected"])


def read_records(path):
    """[(offset, seq, payload)] of the complete records of a WAL segment."""
    with open(path, "rb") as f:
        data = f.read()
    records, offset = [], 0
    while offset + 16 <= len(data):
        length, _, seq = struct.unpack_from("<IIQ", data, offset)
        if offset + 16 + length > len(data):
            break
        records.append((offset, seq, data[offset + 16:offset + 16 + length]))
        offset += 16 + length
    return records


def run_corrupt_tail(stack, problems):
    stack.start_emulator()
    flags = storage_flags(stack)
    stack.start_prom2gcm(flags)
    port = stack.prom2gcm_port
    post_faults(stack, query="?outage_seconds=600")
    sender = Sender(stack.prom2gcm_url)
    sender.start()
    time.sleep(5)
    sender.stop()
    stack.kill("prom2gcm")
    wal = os.path.join(stack.dir, "storage", "wal")
    segments = sorted(name for name in os.listdir(wal) if name.endswith(".wal"))
    newest = os.path.join(wal, segments[-1])
    records = read_records(newest)
    offset, seq, payload = records[-1]
    request = remote_pb.WriteRequest()
    request.ParseFromString(snappy.uncompress(payload[1:]))
    lost = set()
    for ts in request.timeseries:
        s = int(next(label.value for label in ts.labels if label.name == "s"))
        for sample in ts.samples:
            lost.add((s, (sample.timestamp - sender.t0) // STEP_MS))
    with open(newest, "r+b") as f:
        f.seek(offset + 16 + len(payload) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
        f.seek(0, os.SEEK_END)
        f.write(os.urandom(333))
    print("segments %s; flipped a byte of record seq %d at offset %d of %s (%d samples) and appended 333 bytes"
          % (segments, seq, offset, segments[-1], len(lost)))
    post_faults(stack, "DELETE")
    stack.start_prom2gcm(flags, port=port, append_log=True)
    with open(os.path.join(stack.dir, "prom2gcm.log")) as f:
        log = f.read()
    cut = [line for line in log.splitlines() if "wal: " in line and "offset %d:" % offset in line]
    print("\n".join(cut) or "no cut line")
    if not cut:
        problems.append("no log line about the cut at offset %d" % offset)
    present, missing, stats = common_checks(stack, sender, problems, expect_missing=lost)
    if missing != lost & set(sender.acked):
        problems.append("lost %d acknowledged samples, expected exactly the %d of the corrupted record"
                        % (len(missing), len(lost)))
    if stats["points_rejected_total"]:
        problems.append("the emulator refused points: %s" % stats["points_rejected"])


MODES = {"kill9": run_kill9, "outage": run_outage, "unavailable": run_unavailable,
         "disk_bound": run_disk_bound, "corrupt_tail": run_corrupt_tail}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prom2gcm", required=True)
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--mode", choices=sorted(MODES), required=True)
    args = parser.parse_args()
    stack = Stack(args.prom2gcm, args.emulator)
    problems = []
    started = time.time()
    try:
        MODES[args.mode](stack, problems)
        stack.check_running()
    except Exception as e:  # noqa: BLE001 - reported as a problem with the stack's folder
        problems.append("%s: %s" % (type(e).__name__, e))
    finally:
        stack.stop_all()
    print("%s took %.1f s; logs in %s" % (args.mode, time.time() - started, stack.dir))
    return report(problems)


if __name__ == "__main__":
    sys.exit(main())
