"""Check that a trimmed forkbox rootfs still runs what guests need.

Runs inside the tree (chroot ROOT python3 - < check.py) after trim.py and
compileall; any failure raises, so the build stops with the traceback.
"""
import importlib
import subprocess
import sys

import numpy

# Modules the agent's worker and typical user code import; each one pulls in
# shared libraries or stdlib parts that trim.py must not have removed.
MODULES = [
    "json", "socket", "select", "signal", "struct", "traceback", "io", "os", "contextlib",
    "hashlib", "ssl", "sqlite3", "decimal", "zlib", "bz2", "lzma", "ctypes", "uuid",
    "datetime", "random", "math", "statistics", "collections", "itertools", "functools",
    "re", "csv", "pickle", "tempfile", "threading", "unittest", "typing", "dataclasses",
    "numpy.linalg", "numpy.fft", "numpy.random", "numpy.ma", "numpy.polynomial",
    "numpy.testing", "numpy.lib.recfunctions",
]


def main():
    for name in MODULES:
        importlib.import_module(name)
    assert "/usr/lib/python3/dist-packages/numpy/" in numpy.core._multiarray_umath.__file__
    a = numpy.arange(6).reshape(2, 3) @ numpy.ones(3)
    assert a.tolist() == [3.0, 12.0], a
    r = numpy.random.default_rng(1).random((50, 50)) + numpy.eye(50) * 50  # LAPACK
    assert numpy.allclose(numpy.linalg.inv(r) @ r, numpy.eye(50))
    assert numpy.allclose(numpy.fft.ifft(numpy.fft.fft([1.0, 2.0, 3.0])).real, [1, 2, 3])
    assert numpy.random.rand(3).shape == (3,)
    out = subprocess.run(["/bin/sh", "-c", "echo sh-ok"], capture_output=True, text=True)
    assert out.stdout == "sh-ok\n", out
    print(f"check: ok: Python {sys.version.split()[0]}, numpy {numpy.__version__}, "
          f"{len(MODULES)} modules, linalg/fft/random, /bin/sh")


if __name__ == "__main__":
    main()
