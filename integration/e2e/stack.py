"""Starts and stops the processes of an end-to-end run on free loopback ports: the GCM emulator,
prom2gcm, prometheus-node-exporter and a real Prometheus. Used by the end-to-end tests and by
scripts/run.sh. Standard library only."""
import argparse
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request


def stack_arguments():
    """A parser of the two binaries every end-to-end script takes, --prom2gcm and --emulator; scripts
    add their own arguments to it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--prom2gcm", required=True)
    parser.add_argument("--emulator", required=True)
    return parser


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10, context=None):
    with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
        return response.read()


def get_json(url, timeout=30):
    return json.loads(http_get(url, timeout))


def metric_sum(text, name, label=""):
    """Sums every sample of metric family `name` (optionally only lines containing `label`) in
    Prometheus text format."""
    total = 0.0
    for line in text.splitlines():
        if label in line and re.match(re.escape(name) + r"(\{| )", line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_until(what, check, timeout=60, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(interval)
    raise TimeoutError("timed out waiting for " + what)


class Stack:
    """Owns the child processes and a scratch folder; stop() ends them all (SIGTERM, then SIGKILL)."""

    def __init__(self, prom2gcm, emulator, workdir=None):
        self.prom2gcm_binary = prom2gcm
        self.emulator_binary = emulator
        self.dir = workdir or tempfile.mkdtemp(prefix="prom2gcm-e2e-")
        self.procs = {}
        self.prom2gcm_tls = None  # an ssl.SSLContext trusting prom2gcm's CA when it serves HTTPS

    def _start(self, name, argv, **kwargs):
        # append: a restarted process adds to its log instead of replacing it.
        log = open(os.path.join(self.dir, name + ".log"), "ab" if kwargs.get("append") else "wb")
        self.procs[name] = subprocess.Popen(argv, stdout=kwargs.get("stdout", log), stderr=log)
        return self.procs[name]

    def start_emulator(self, extra=(), grpc_port=0, http_port=0):
        proc = self._start("gcm-emulator", [self.emulator_binary, "--grpc.listen-address=127.0.0.1:%d" % grpc_port,
                                            "--web.listen-address=127.0.0.1:%d" % http_port, *extra],
                           stdout=subprocess.PIPE)
        first = proc.stdout.readline().decode()  # "gcm-emulator grpc=HOST:PORT http=HOST:PORT"
        fields = dict(part.split("=", 1) for part in first.split()[1:])
        self.emulator_grpc, self.emulator_http = fields["grpc"], "http://" + fields["http"]
        wait_until("emulator", lambda: http_get(self.emulator_http + "/-/ready"))

    def start_prom2gcm(self, extra=(), port=0, ca_file=None, append_log=False):
        """Starts prom2gcm; with ca_file (the CA of its --web.tls-cert-file), it is reached over HTTPS;
        append_log: a restart adds to the log of the previous run."""
        self.prom2gcm_port = port or free_port()
        self.prom2gcm_tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.prom2gcm_url = "%s://127.0.0.1:%d" % ("https" if ca_file else "http", self.prom2gcm_port)
        self._start("prom2gcm", [self.prom2gcm_binary, "--web.listen-address=127.0.0.1:%d" % self.prom2gcm_port,
                                 "--export.endpoint=" + self.emulator_grpc, "--export.insecure",
                                 "--export.label.project-id=e2e-project", "--export.label.location=local",
                                 "--export.label.cluster=e2e", *extra], append=append_log)
        wait_until("prom2gcm", lambda: http_get(self.prom2gcm_url + "/-/ready", context=self.prom2gcm_tls))

    def start_node_exporter(self, port=0):
        self.node_port = port or free_port()
        self._start("node-exporter", ["prometheus-node-exporter",
                                      "--web.listen-address=127.0.0.1:%d" % self.node_port])

    def start_prometheus(self, scrape_interval="5s", metadata_interval="5s", port=0, name="prometheus",
                         external_labels=None, scrape_self=True, remote_write=None):
        """Starts a Prometheus; returns its URL (the first one started is also self.prometheus_url).
        It scrapes node-exporter if one was started; remote_write replaces the YAML list of remote-write
        queues (default: one, to prom2gcm)."""
        port = port or free_port()
        url = "http://127.0.0.1:%d" % port
        if not hasattr(self, "prometheus_url"):
            self.prometheus_port, self.prometheus_url = port, url
        labels = ", ".join('%s: "%s"' % kv for kv in (external_labels or {}).items())
        self_job = ('  - job_name: prometheus\n    static_configs: [{targets: ["127.0.0.1:%d"]}]\n' % port
                    if scrape_self else "")
        node_job = ('  - job_name: node\n    static_configs: [{targets: ["127.0.0.1:%d"]}]\n' % self.node_port
                    if hasattr(self, "node_port") else "")
        remote_write = remote_write or f"""  - url: {self.prom2gcm_url}/api/v1/write
    metadata_config: {{send: true, send_interval: {metadata_interval}}}
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 2s}}
"""
        config = os.path.join(self.dir, name + ".yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: {scrape_interval}
  external_labels: {{{labels}}}
scrape_configs:
{self_job}{node_job}remote_write:
{remote_write}""")
        self._start(name, ["prometheus", "--config.file=" + config,
                           "--storage.tsdb.path=" + os.path.join(self.dir, name + "-tsdb"),
                           "--web.listen-address=127.0.0.1:%d" % port])
        wait_until(name, lambda: http_get(url + "/-/ready"))
        return url

    def check_running(self):
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError("%s exited with %s; see %s" % (name, proc.returncode, self.dir))

    def stop(self, name, sig=signal.SIGTERM, timeout=30):
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def kill(self, name):
        """kill -9: no flush, no last checkpoint. Returns the exit status (-9)."""
        return self.stop(name, signal.SIGKILL)

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name, timeout=10)

    def prometheus_samples(self, window_seconds, at, url=None, selector='{__name__=~".+"}'):
        """Every raw sample Prometheus stored in the window ending at `at`: {labels-tuple: [(ms, value)]}."""
        query = urllib.parse.urlencode({"query": "%s[%ds]" % (selector, window_seconds), "time": "%.3f" % at})
        result = get_json((url or self.prometheus_url) + "/api/v1/query?" + query)["data"]["result"]
        return {tuple(sorted(r["metric"].items())): [(int(round(float(t) * 1000)), float(v)) for t, v in r["values"]]
                for r in result}

    def prometheus_metadata(self):
        return {name: entries[0]["type"] for name, entries in
                get_json(self.prometheus_url + "/api/v1/metadata")["data"].items()}

    def emulator_points(self):
        """{(metric_type, labels-tuple incl. job and instance): [(start_ms, end_ms, value)]}"""
        series = get_json(self.emulator_http + "/v1/timeseries")["timeseries"]
        out = {}
        for s in series:
            labels = dict(s["metric_labels"])
            labels["job"] = s["resource_labels"]["job"]
            labels["instance"] = s["resource_labels"]["instance"]
            out[(s["metric_type"], tuple(sorted(labels.items())))] = [
                (p["start_ms"], p["end_ms"], p["value"]) for p in s["points"]]
        return out

    def prom2gcm_metric(self, name, label=""):
        return metric_sum(http_get(self.prom2gcm_url + "/metrics", context=self.prom2gcm_tls).decode(), name, label)

    def emulator_stats(self):
        return get_json(self.emulator_http + "/v1/stats")


def report(problems):
    """Prints the problems and the closing line ctest's output shows; returns the exit code."""
    for problem in problems:
        print("PROBLEM", problem)
    print("%d passed, %d failed" % (0 if problems else 1, 1 if problems else 0))
    return 1 if problems else 0
