"""Shared helper for the testdata scripts.

Compiles the project's remote-write .proto files (proto/) into Python classes in
a temporary directory at run time, so no generated code is ever committed, and
returns the modules.  Needs `protoc` (protobuf-compiler) and the Debian
packages python3-protobuf and python3-snappy.

If the `python3` first on PATH (e.g. a pyenv one) cannot import google.protobuf
or snappy, ensure_deps() re-executes the calling script with /usr/bin/python3,
where the Debian packages live.
"""

import atexit
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

TESTDATA = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTDATA)
PROTO_DIR = os.path.join(REPO, "proto")

V1_PROTOS = ["prometheus/types.proto", "prometheus/remote.proto"]
V2_PROTOS = ["io/prometheus/write/v2/types.proto"]

STALE_NAN_BITS = 0x7FF0000000000002


def ensure_deps():
    """Make sure google.protobuf and snappy import; re-exec with /usr/bin/python3 if not."""
    try:
        import google.protobuf  # noqa: F401
        import snappy  # noqa: F401
        return
    except ImportError as e:
        err = e
    system = "/usr/bin/python3"
    if os.path.exists(system) and os.path.realpath(sys.executable) != os.path.realpath(system) \
            and os.path.isfile(sys.argv[0]) and not os.environ.get("RWPROTO_REEXEC"):
        os.environ["RWPROTO_REEXEC"] = "1"
        os.execv(system, [system] + sys.argv)
    sys.exit("missing Python module (%s): apt-get install python3-protobuf python3-snappy" % err)


_tmp = None


def load():
    """Return (v1_remote_pb2, v1_types_pb2, v2_types_pb2)."""
    global _tmp
    ensure_deps()
    if _tmp is None:
        _tmp = tempfile.mkdtemp(prefix="rwproto-")
        atexit.register(shutil.rmtree, _tmp, True)
        subprocess.run(["protoc", "-I", PROTO_DIR, "--python_out=" + _tmp] + V1_PROTOS + V2_PROTOS,
                       check=True)
        sys.path.insert(0, _tmp)
    remote = importlib.import_module("prometheus.remote_pb2")
    types = importlib.import_module("prometheus.types_pb2")
    # "io" would clash with the standard library's io module, so load the
    # remote-write 2.0 module from its file under a name of our own.
    name = "rw_v2_types_pb2"
    v2 = sys.modules.get(name)
    if v2 is None:
        path = os.path.join(_tmp, "io", "prometheus", "write", "v2", "types_pb2.py")
        spec = importlib.util.spec_from_file_location(name, path)
        v2 = importlib.util.module_from_spec(spec)
        sys.modules[name] = v2
        spec.loader.exec_module(v2)
    return remote, types, v2
