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

import gc
import os
import signal
import sys
import time

_started = time.monotonic()

import atexit
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
    """Point fds 0-2 at /dev/null and the output pipes, at the OS level.
    Done before the snapshot (nothing is written to them until the job
    runs), so forks do not build these objects again."""
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(STDOUT_FD, 1)
    os.dup2(STDERR_FD, 2)
    for fd in (STDOUT_FD, STDERR_FD):
        os.close(fd)
    # Kept for the exit report (leave()); programs the code runs do not get it.
    os.set_inheritable(STATUS_FD, False)
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
    work, holding the recipe's bound names. Made before the snapshot: each
    fork runs one job in it."""
    main = types.ModuleType("__main__")
    main.__dict__.update(bound)
    main.__dict__.update(__builtins__=builtins, __file__=SOURCE_NAME, __cached__=None)
    sys.modules["__main__"] = main
    sys.argv = [SOURCE_NAME]
    sys.path[0] = ""
    return main.__dict__


def system_exit_status(exc):
    """The exit status for SystemExit, by the interpreter's own rules
    (Python/pythonrun.c): None is 0, an int is taken as the C exit() would
    take it, anything else is printed on stderr and gives 1."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF if -(2**63) <= code < 2**63 else 0xFF
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1


def report_exception(exc):
    """An uncaught exception's traceback, as the interpreter prints it."""
    # Hide this module's own frame, as the interpreter would.
    tb = exc.__traceback__
    exc = exc.with_traceback(tb.tb_next if tb is not None else None)
    if sys.excepthook is sys.__excepthook__:
        # The traceback module reads source lines through linecache
        # (the code has no file); the built-in hook would not.
        traceback.print_exception(exc)
    else:
        sys.excepthook(type(exc), exc, exc.__traceback__)


def run(code, scope):
    """Run the user code like `python3 main.py` in scope (fresh_main());
    returns the exit status: 0 on completion, 1 after an uncaught exception
    (traceback on stderr), sys.exit()'s status otherwise."""
    text = code.decode("utf-8", errors="surrogateescape")
    linecache.cache[SOURCE_NAME] = (len(text), None, text.splitlines(True), SOURCE_NAME)
    try:
        exec(compile(code, SOURCE_NAME, "exec", dont_inherit=True), scope)
    except SystemExit as exc:
        return system_exit_status(exc)
    except BaseException as exc:
        report_exception(exc)
        return 1
    return 0


def flush_std_files():
    """sys.stdout then sys.stderr, as the interpreter flushes them at exit;
    False (exit status 120, as in Python) when one could not be flushed."""
    ok = True
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except Exception as exc:
            ok = False
            if stream is sys.stdout:
                print_unraisable(stream, exc)
    return ok


def print_unraisable(obj, exc):
    """As the interpreter reports an error it cannot raise (without this
    module's frames)."""
    try:
        sys.stderr.write("Exception ignored in: %r\n" % (obj,))
        traceback.print_exception(type(exc), exc, None)
    except Exception:
        pass


def flush_user_files():
    """Files the user code opened for writing and left unflushed (say
    os.fdopen(1, "w")) would be flushed when the interpreter tore them
    down. The snapshot's own objects are frozen (gc.freeze), so this walks
    only objects made by the user code."""
    writers = (io.TextIOWrapper, io.BufferedWriter, io.BufferedRandom)
    found = [o for o in gc.get_objects() if isinstance(o, writers)]
    # Text layers first: they push their pending text into the buffers below.
    found.sort(key=lambda o: not isinstance(o, io.TextIOWrapper))
    for f in found:
        try:
            if not f.closed:
                f.flush()
        except Exception:
            pass


_exit_status = 0
_worker_pid = os.getpid()


def report_and_stop(status):
    """Tell the agent the exit status ("exit N" on the status pipe), stdin,
    stdout and stderr closed first so it sees the end of the output, and
    stop: the VM is discarded once the agent has passed the status on.
    Really exiting would first tear down this process's address space
    (Python, numpy, every mapped page) on the request's path. Processes
    forked by the code just exit."""
    if os.getpid() != _worker_pid:
        os._exit(status)
    for fd in (0, 1, 2):
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        os.write(STATUS_FD, b"exit %d\n" % status)
    except OSError:
        os._exit(status)
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(status)


def leave():
    """The last atexit handler (registered before any other): the
    interpreter has joined non-daemon threads and run every other handler,
    as at any exit; flush buffered output and end here, instead of
    finalizing the interpreter, which would free every module and object
    one by one (copying most of the template's pages) in a VM that is about
    to be destroyed."""
    status = _exit_status
    if not flush_std_files():
        status = 120
    flush_user_files()
    report_and_stop(status)


def main():
    bound = run_prelude()
    if os.environ.get("FORKBOX_TEST_SNAPSHOT_RNG") == "1":
        # Host tests: start every worker with the same RNG states, as every
        # VM forked from one snapshot does, to prove reseed() separates them.
        random.seed(0)
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed(0)
    atexit.register(leave)
    # Work every job needs, done once here instead of in every fork: the
    # code's stdio on the output pipes and the module it runs in.
    redirect_stdio()
    scope = fresh_main(bound)
    # Everything made so far lives as long as the VM: the collector never
    # needs to scan it again, so a fork's collections touch (and copy) only
    # the user code's objects.
    gc.collect()
    gc.freeze()
    os.write(STATUS_FD, b"ready\n")
    seed, code = read_job()
    os.close(JOB_FD)
    reseed(seed)
    try:
        os.chdir("/tmp")
    except OSError:
        pass
    global _exit_status
    _exit_status = run(code, scope)
    sys.exit(_exit_status)


if __name__ == "__main__":
    main()
