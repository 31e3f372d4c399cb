#!/usr/bin/env python3
"""End-to-end test of prom2gcm's authentication and TLS with a real Prometheus (Debian's). prom2gcm
serves HTTPS with a certificate of a CA made for the run, and wants a bearer token or a bcrypt basic-auth
user. One Prometheus scrapes itself and writes over HTTPS (tls_config ca_file) through three queues,
each marking its series with a `via` label: one with bearer_token_file, one with basic_auth, one without
credentials. Checked:
  - the series of the bearer and basic queues reach the emulator;
  - the queue without credentials is refused: prom2gcm counts 401s, and no series of it is stored;
  - after the certificate files are replaced and prom2gcm gets SIGHUP, a new TLS connection is served
    the new certificate, and the authenticated queues' points keep arriving through the same listener.
Usage: auth_tls_e2e_test.py --prom2gcm BIN --emulator BIN"""
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, report, stack_arguments, wait_until  # noqa: E402


PASSWORD = "e2e password"
TOKEN = "e2e-token-0123456789"
UP = "prometheus.googleapis.com/up/gauge"


def bcrypt_hash(password, cost=10):
    """A $2b$ hash from the system's crypt(3) (libxcrypt); Python's crypt module is gone in 3.13."""
    libcrypt = ctypes.CDLL("libcrypt.so.1")
    libcrypt.crypt_gensalt.restype = libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = libcrypt.crypt_gensalt(b"$2b$", cost, None, 0)
    return libcrypt.crypt(password.encode(), salt).decode()


def openssl(workdir, *args):
    subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True)


def make_ca(workdir):
    openssl(workdir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "1", "-subj", "/CN=prom2gcm e2e CA", "-keyout", "ca.key", "-out", "ca.crt")
    with open(os.path.join(workdir, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")


def issue(workdir, name):
    """name.crt and name.key: a certificate for 127.0.0.1 with common name `name`, signed by the CA."""
    openssl(workdir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=" + name, "-keyout", name + ".key", "-out", name + ".csr")
    openssl(workdir, "x509", "-req", "-days", "1", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-extfile", "san.ext", "-out", name + ".crt")


def serve(workdir, name):
    """Puts name's certificate and key where prom2gcm reads them (replaced whole, as a rotation does)."""
    for ext in ("crt", "key"):
        shutil.copy(os.path.join(workdir, "%s.%s" % (name, ext)), os.path.join(workdir, "served.%s.tmp" % ext))
        os.replace(os.path.join(workdir, "served.%s.tmp" % ext), os.path.join(workdir, "served." + ext))


def served_common_name(port, ca_file):
    context = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            return dict(field[0] for field in tls.getpeercert()["subject"])["commonName"]


def write_file(workdir, name, text):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def remote_write_queues(url, workdir):
    """Three queues to prom2gcm over HTTPS, each adding via=<its name> to its series."""
    queues = ""
    for via, credentials in (("bearer", "bearer_token_file: %s/token" % workdir),
                             ("basic", "basic_auth: {username: prometheus, password_file: %s/password}" % workdir),
                             ("none", "")):
        queues += f"""  - url: {url}/api/v1/write
    name: {via}
    tls_config: {{ca_file: {workdir}/ca.crt}}
    {credentials}
    write_relabel_configs: [{{target_label: via, replacement: {via}}}]
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
"""
    return queues


def points_via(stack, via, metric=UP):
    """The emulator's points written through queue `via`: of Prometheus' `up` series, or of any metric."""
    return [p for (metric_type, labels), points in stack.emulator_points().items()
            if metric in (None, metric_type) and dict(labels).get("via") == via for p in points]


def main():
    parser = stack_arguments()
    args = parser.parse_args()

    stack = Stack(args.prom2gcm, args.emulator)
    problems = []
    started = time.time()
    try:
        workdir = stack.dir
        make_ca(workdir)
        issue(workdir, "first")
        serve(workdir, "first")
        write_file(workdir, "token", TOKEN + "\n")
        write_file(workdir, "password", PASSWORD)
        users = write_file(workdir, "users.yml", "basic_auth_users:\n  prometheus: %s\n" % bcrypt_hash(PASSWORD))
        stack.start_emulator()
        stack.start_prom2gcm(["--web.tls-cert-file=%s/served.crt" % workdir, "--web.tls-key-file=%s/served.key" % workdir,
                              "--web.bearer-token-file=%s/token" % workdir, "--web.basic-auth-file=" + users],
                             ca_file=os.path.join(workdir, "ca.crt"))
        stack.start_prometheus(scrape_interval="1s", remote_write=remote_write_queues(stack.prom2gcm_url, workdir))

        wait_until("the bearer and basic queues' series in the emulator",
                   lambda: points_via(stack, "bearer") and points_via(stack, "basic"), timeout=30)
        wait_until("401s counted for the queue without credentials",
                   lambda: stack.prom2gcm_metric("prom2gcm_http_unauthorized_total", 'reason="missing"') > 0,
                   timeout=15)
        if served_common_name(stack.prom2gcm_port, os.path.join(workdir, "ca.crt")) != "first":
            problems.append("prom2gcm does not serve the first certificate")

        issue(workdir, "second")
        serve(workdir, "second")
        reloaded_ms = int(time.time() * 1000)
        stack.procs["prom2gcm"].send_signal(signal.SIGHUP)
        wait_until("the second certificate served after SIGHUP",
                   lambda: served_common_name(stack.prom2gcm_port, os.path.join(workdir, "ca.crt")) == "second",
                   timeout=10)
        # GCM's 5 s sampling period: a point after the reload is due within one period and a scrape.
        wait_until("points written after the reload",
                   lambda: all(any(p[1] > reloaded_ms for p in points_via(stack, via)) for via in ("bearer", "basic")),
                   timeout=20)

        stack.check_running()
        refused = stack.prom2gcm_metric("prom2gcm_http_unauthorized_total")
        unauthenticated = points_via(stack, "none", metric=None)
        if unauthenticated:
            problems.append("series written without credentials were stored: %s" % unauthenticated[:3])
        wrong = stack.prom2gcm_metric("prom2gcm_http_unauthorized_total", 'reason="invalid_credentials"')
        if wrong:
            problems.append("%d requests with credentials were refused" % wrong)
        print("up: bearer %d points, basic %d points; any metric: none %d points; %d requests refused (401); %.1f s"
              % (len(points_via(stack, "bearer")), len(points_via(stack, "basic")), len(unauthenticated), refused,
                 time.time() - started))
    except (TimeoutError, RuntimeError, subprocess.CalledProcessError) as e:
        problems.append(str(e))
    finally:
        for name in ("prometheus", "prom2gcm"):  # senders first, so each flushes to a live receiver
            stack.stop(name, timeout=10)
        stack.stop_all()
        print("logs in", stack.dir)
    return report(problems)


if __name__ == "__main__":
    sys.exit(main())
