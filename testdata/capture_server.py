#!/usr/bin/env python3
"""Tiny remote-write capture endpoint used by testdata/record.sh.

Listens on 127.0.0.1:PORT (threaded, standard library only), saves every POST
body byte-for-byte -- still snappy-compressed, exactly as the sender sent it --
into OUTDIR as NNNN.bin (zero-padded arrival sequence, from 0001), answers
204 No Content, and appends one line per request to OUTDIR/requests.tsv:

    seq  file  path  content_type  content_encoding  remote_write_version  user_agent  bytes

Usage:
    capture_server.py --out DIR [--port N] [--port-file FILE]

--port 0 (the default) picks a free port; the chosen port is printed on stdout
and, with --port-file, written to that file once the socket is listening.
Stops cleanly on SIGTERM / SIGINT.
"""

import argparse
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEADER_COLUMNS = ["seq", "file", "path", "content_type", "content_encoding",
                  "remote_write_version", "user_agent", "bytes"]


class Capture:
    def __init__(self, outdir):
        self.outdir = outdir
        self.lock = threading.Lock()
        self.seq = 0
        os.makedirs(outdir, exist_ok=True)
        self.index_path = os.path.join(outdir, "requests.tsv")
        with open(self.index_path, "w") as f:
            f.write("\t".join(HEADER_COLUMNS) + "\n")

    def save(self, path, headers, body):
        with self.lock:
            self.seq += 1
            seq = self.seq
            name = "%04d.bin" % seq
            tmp = os.path.join(self.outdir, "." + name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(body)
            os.replace(tmp, os.path.join(self.outdir, name))

            def h(key):
                v = headers.get(key)
                return "-" if v is None else v.replace("\t", " ").replace("\n", " ")

            row = [str(seq), name, path, h("Content-Type"), h("Content-Encoding"),
                   h("X-Prometheus-Remote-Write-Version"), h("User-Agent"), str(len(body))]
            with open(self.index_path, "a") as f:
                f.write("\t".join(row) + "\n")
        return seq


def make_handler(capture):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Prometheus expects

        def do_POST(self):
            length = self.headers.get("Content-Length")
            if length is None:
                self.send_error(411, "Content-Length required")
                return
            body = self.rfile.read(int(length))
            capture.save(self.path, self.headers, body)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            body = b"capture server: POST remote-write bodies here\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):  # quiet
            pass

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder for NNNN.bin and requests.tsv")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--port-file", help="write the listening port here once bound")
    args = ap.parse_args()

    capture = Capture(args.out)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(capture))
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print("capture_server: listening on 127.0.0.1:%d, saving to %s" % (port, args.out), flush=True)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    print("capture_server: stopped after %d requests" % capture.seq, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
