#!/usr/bin/env python3
"""Writes testdata/manifest.tsv: what each payload in testdata/v1 and testdata/v2 holds.

    python3 testdata/manifest.py          # rewrite testdata/manifest.tsv
    python3 testdata/manifest.py --check  # exit 1 if manifest.tsv is out of date

Decodes every *.pb.snappy file with python protobuf, from the project's .proto
files compiled at run time -- independent of the C++ decoder, which the golden
tests compare against this file.  v1/ holds remote-write 1.0
`prometheus.WriteRequest`s, v2/ remote-write 2.0 `io.prometheus.write.v2.Request`s.

Columns (tab-separated, one header line, rows sorted by file):
  file                path relative to testdata/ (e.g. v1/0001.pb.snappy)
  protocol            1.0 or 2.0
  series              number of TimeSeries
  samples             float samples, summed over all series
  histograms          native histogram samples, summed over all series
  exemplars           exemplars, summed over all series
  metadata            1.0: number of MetricMetadata entries in the request;
                      2.0: number of series whose metadata.type is not UNSPECIFIED
  stale_markers       float samples whose value bits are exactly 0x7ff0000000000002
                      (histograms with a stale-NaN sum are not counted)
  uncompressed_bytes  length of the snappy-decoded protobuf body
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rwproto  # noqa: E402

remote, _, v2 = rwproto.load()
import snappy  # noqa: E402

COLUMNS = ["file", "protocol", "series", "samples", "histograms", "exemplars", "metadata",
           "stale_markers", "uncompressed_bytes"]


def is_stale(value):
    return struct.unpack("<Q", struct.pack("<d", value))[0] == rwproto.STALE_NAN_BITS


def describe(rel, raw):
    body = snappy.uncompress(raw)
    if rel.startswith("v1/"):
        req = remote.WriteRequest()
        req.ParseFromString(body)
        protocol = "1.0"
        metadata = len(req.metadata)
    else:
        req = v2.Request()
        req.ParseFromString(body)
        protocol = "2.0"
        metadata = sum(1 for ts in req.timeseries if ts.metadata.type != 0)
    series = req.timeseries
    return [rel, protocol, len(series),
            sum(len(ts.samples) for ts in series),
            sum(len(ts.histograms) for ts in series),
            sum(len(ts.exemplars) for ts in series),
            metadata,
            sum(1 for ts in series for s in ts.samples if is_stale(s.value)),
            len(body)]


def build():
    rows = []
    for sub in ("v1", "v2"):
        d = os.path.join(rwproto.TESTDATA, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(".pb.snappy"):
                with open(os.path.join(d, name), "rb") as f:
                    rows.append(describe(sub + "/" + name, f.read()))
    text = "\t".join(COLUMNS) + "\n" + "".join("\t".join(str(c) for c in r) + "\n" for r in rows)
    return rows, text


def main():
    rows, text = build()
    path = os.path.join(rwproto.TESTDATA, "manifest.tsv")
    if "--check" in sys.argv[1:]:
        with open(path) as f:
            if f.read() != text:
                print("manifest.py: %s is out of date; run python3 testdata/manifest.py" % path, file=sys.stderr)
                return 1
        print("manifest.py: %s is up to date (%d files)" % (path, len(rows)))
        return 0
    with open(path, "w") as f:
        f.write(text)
    for proto in ("1.0", "2.0"):
        sel = [r for r in rows if r[1] == proto]
        tot = [sum(r[i] for r in sel) for i in range(2, len(COLUMNS))]
        print("manifest.py: %s: %d files, " % (proto, len(sel)) +
              ", ".join("%s=%d" % (c, t) for c, t in zip(COLUMNS[2:], tot)))
    print("manifest.py: wrote %s (%d rows)" % (path, len(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
