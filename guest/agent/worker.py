"""forkbox worker: the Python process of a guest VM.

Started by forkbox-agent (PID 1) at boot, before the VM is snapshotted. It
runs the recipe's prelude ($FORKBOX_RECIPE_DIR/prelude: imports such as
numpy, warm-up), tells the agent "ready\\n" on fd 4 and blocks reading one
job on fd 3. Every VM forked from the snapshot resumes here, receives one
job and runs it in this process, with the names the recipe binds
($FORKBOX_RECIPE_DIR/bind) already defined.

Job on fd 3: b"FBW1", u32 LE seed length, u32 LE code length, the seed (fresh
entropy drawn by the agent after it reseeded the kernel RNG), the code.
Fds 5 and 6 are the write ends of the pipes that become stdout and stderr.
"""

import os
import sys
import time

_started = time.monotonic()

import builtins
import io
import linecache
import random
import struct
import traceback
import types

JOB_FD, STATUS_FD, STDOUT_FD, STDERR_FD = 3, 4, 5, 6
JOB_MAGIC = b"FBW1"
MAX_SEED = 4096
SOURCE_NAME = "main.py"
RECIPE_DIR = os.environ.get("FORKBOX_RECIPE_DIR", "/etc/forkbox")

# Keep the boot-time stdio objects alive: if they were garbage-collected they
# would close fds 0-2, which by then are the user code's pipes.
_boot_stdio = (sys.stdin, sys.stdout, sys.stderr)


def read_exactly(fd, count):
    buf = bytearray(count)
    view = memoryview(buf)
    got = 0
    while got < count:
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise EOFError("job pipe closed after %d of %d bytes" % (got, count))
        got += n
    return bytes(buf)


def read_job():
    header = os.read(JOB_FD, 12)
    if not header:
        sys.exit(0)  # the agent went away before sending a job (host tests)
    header += read_exactly(JOB_FD, 12 - len(header))
    magic, seed_len, code_len = struct.unpack("<4sII", header)
    if magic != JOB_MAGIC or seed_len > MAX_SEED:
        raise ValueError("malformed job header")
    return read_exactly(JOB_FD, seed_len), read_exactly(JOB_FD, code_len)


def read_recipe_file(name, default=""):
    try:
        with open(os.path.join(RECIPE_DIR, name), encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return default


def run_prelude():
    """The recipe's code before the snapshot; returns the names it binds
    for the user's code. A failure stops the boot with its traceback on
    the console (the template build then fails naming it)."""
    scope = {"__name__": "__forkbox_prelude__", "__builtins__": builtins}
    source = read_recipe_file("prelude")
    exec(compile(source, "<recipe prelude>", "exec", dont_inherit=True), scope)
    bound = {}
    for name in read_recipe_file("bind").split():
        if name not in scope:
            raise NameError("the recipe binds %r, which its prelude does not define" % name)
        bound[name] = scope[name]
    return bound


def reseed(seed):
    """Every fork resumes with the snapshot's RNG states: replace them.
    Each generator gets its own half of the seed: both are MT19937 seeded
    the same way from an int / uint32 words, so one key would make
    random.random() and numpy.random.rand() return the same numbers."""
    half = len(seed) // 8 * 4
    random.seed(int.from_bytes(seed[:half], "little"))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(numpy.frombuffer(seed[half : 2 * half], dtype="<u4"))
    # tempfile names come from a private Random created on first use.
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile._name_sequence = None
    # numpy.random.default_rng(), secrets, uuid4 and random.SystemRandom read
    # the kernel RNG (reseeded by the agent) at each call: nothing to do.


def redirect_stdio():
    """Point fds 0-2 at /dev/null and the output pipes, at the OS level."""
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(STDOUT_FD, 1)
    os.dup2(STDERR_FD, 2)
    for fd in (STDOUT_FD, STDERR_FD, JOB_FD, STATUS_FD):
        os.close(fd)
    # Unbuffered text streams like `python3 -u`, so output reaches the agent
    # as it is written and nothing is lost on os._exit().
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(
        io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding="utf-8",
        errors="surrogateescape", write_through=True)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8",
        errors="backslashreplace", write_through=True)


def fresh_main(bound):
    """A new __main__ module, so `if __name__ == "__main__":` and pickling
    work, holding the recipe's bound names."""
    main = types.ModuleType("__main__")
    main.__dict__.update(bound)
    main.__dict__.update(__builtins__=builtins, __file__=SOURCE_NAME, __cached__=None)
    sys.modules["__main__"] = main
    sys.argv = [SOURCE_NAME]
    sys.path[0] = ""
    return main.__dict__


def run(code, bound):
    """Run the user code like `python3 main.py`: uncaught exceptions print a
    traceback and exit 1; SystemExit propagates to the interpreter, which
    applies Python's own sys.exit() rules."""
    text = code.decode("utf-8", errors="surrogateescape")
    linecache.cache[SOURCE_NAME] = (len(text), None, text.splitlines(True), SOURCE_NAME)
    scope = fresh_main(bound)
    try:
        exec(compile(code, SOURCE_NAME, "exec", dont_inherit=True), scope)
    except SystemExit:
        raise
    except BaseException as exc:
        # Hide this function's own frame, as the interpreter would.
        tb = exc.__traceback__
        exc = exc.with_traceback(tb.tb_next if tb is not None else None)
        if sys.excepthook is sys.__excepthook__:
            # The traceback module reads source lines through linecache
            # (the code has no file); the built-in hook would not.
            traceback.print_exception(exc)
        else:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        sys.exit(1)


def main():
    bound = run_prelude()
    if os.environ.get("FORKBOX_TEST_SNAPSHOT_RNG") == "1":
        # Host tests: start every worker with the same RNG states, as every
        # VM forked from one snapshot does, to prove reseed() separates them.
        random.seed(0)
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed(0)
    os.write(STATUS_FD, b"ready\n")
    seed, code = read_job()
    reseed(seed)
    redirect_stdio()
    try:
        os.chdir("/tmp")
    except OSError:
        pass
    run(code, bound)


if __name__ == "__main__":
    main()
