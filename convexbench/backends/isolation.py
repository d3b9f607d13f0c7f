"""Running one backend in a child process with a hard wall-clock limit and a memory cap.

The child runs ``backend.run`` and sends back the :class:`RawRun` with its own clocks and
memory.  The time limit is wall-clock from the moment the parent starts the child (process
start-up, cvxpy compilation and the solver all count): the child passes the backend the time
*left* when it starts running (a backend with a time option of its own hands what is left
after compilation to its solver), and the parent kills it (SIGKILL) at ``time_limit + grace``
seconds, which is how compilation and solvers without a time option (ECOS, CVXOPT) get a
``time_limit``.  A child that dies by a signal is ``crashed``; one stopped by the memory cap
(``MemoryError``, ``std::bad_alloc``, SIGKILL by the kernel) or grown past it is
``memory_limit``.  Every outcome is returned, never raised, so a comparison goes on.

Start method: ``forkserver`` where available (Linux), with convexbench and cvxpy preloaded in
the server, so a child starts in milliseconds and never inherits solver thread pools: a plain
``fork`` of a process whose Clarabel has started its worker threads deadlocks in the child.
The server itself starts once per process, on the first isolated run, and takes about 1 s
(importing cvxpy); that first run's limit includes it.  Elsewhere ``spawn``; override with
``start_method`` or ``CONVEXBENCH_START_METHOD``.
"""

from __future__ import annotations

import faulthandler
import math
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from threadpoolctl import threadpool_limits

from convexbench.backends.base import Backend, RawRun
from convexbench.backends.presets import Preset
from convexbench.backends.resources import (
    PeakMemory,
    cap_address_space,
    rss_mb,
    touch_blas_workspace,
)
from convexbench.programs.base import ConvexProgram

DEFAULT_GRACE = 1.0  # seconds between the time limit and the hard kill
_MEMORY_HINTS = ("bad_alloc", "out of memory", "cannot allocate memory", "memoryerror",
                 "memory exhausted", "failed to allocate")
NAN = float("nan")


@dataclass(frozen=True)
class IsolatedRun:
    """The outcome of a run in a child process."""

    raw: RawRun
    elapsed: float  # parent's clock: child start to end
    run_seconds: float  # the child's clock around backend.run (NaN if it never finished)
    peak_memory_mb: float | None
    memory_baseline_mb: float | None
    exitcode: int | None


PRELOAD = ["convexbench.backends", "convexbench.programs", "convexbench.certificates"]


def default_start_method() -> str:
    method = os.environ.get("CONVEXBENCH_START_METHOD")
    if method:
        return method
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def _forget_inherited_forkserver() -> None:
    """In a forked child, drop the parent's forkserver: it is not our child (waitpid on it
    fails with ECHILD), so the child must start its own on first use."""
    from multiprocessing import forkserver

    server = forkserver._forkserver  # noqa: SLF001
    server._forkserver_pid = None  # noqa: SLF001
    server._forkserver_address = None  # noqa: SLF001
    server._forkserver_alive_fd = None  # noqa: SLF001
    server._lock = threading.Lock()  # noqa: SLF001


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_forkserver)


def _context(method: str):
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(PRELOAD)
    return ctx


def warm_up_backend(backend: Backend, warm_up: ConvexProgram | None, preset: Preset,
                    threads: int) -> float:
    """``backend.prepare()`` and, with a ``warm_up`` program, one untimed solve of it and a
    touch of the BLAS workspace, so that what a first solve loads for good (code, imported
    packages, BLAS buffers) is in the memory baseline and not on the clock; the seconds it
    took.  A failing warm-up is ignored (the timed run reports the failure)."""
    tic = time.monotonic()
    backend.prepare()
    if warm_up is not None:
        from convexbench.programs.scaling import unit_scaled

        with threadpool_limits(limits=threads):
            try:
                backend.run(unit_scaled(warm_up)[0], preset, time_limit=None, threads=threads)
            except Exception:  # noqa: BLE001 - reported by the timed run if it matters
                pass
        touch_blas_workspace()
    return time.monotonic() - tic


def _child(conn: Connection, backend: Backend, program: ConvexProgram, preset: Preset,
           deadline: float | None, threads: int, memory_limit_mb: float | None,
           stderr_path: str, warm_up: ConvexProgram | None = None) -> None:
    """Child process body: redirect stderr, prepare/warm up, cap memory, run, send the result.

    ``deadline`` is a ``time.monotonic()`` instant (one clock for every process of the
    machine): the backend gets the time left until it as its ``time_limit``; the
    preparation and warm-up (:func:`warm_up_backend`) move it later by the time they took.
    """
    fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    faulthandler.disable()  # an inherited handler would dump to the parent's terminal
    try:
        setup = warm_up_backend(backend, warm_up, preset, threads)
        if deadline is not None:
            deadline += setup
        if memory_limit_mb is not None:
            cap_address_space(memory_limit_mb)
        conn.send(("started", rss_mb(), setup))
        time_limit = None if deadline is None else deadline - time.monotonic()
        if time_limit is not None and time_limit <= 0:
            conn.send(("done", RawRun(
                "time_limit", "time limit reached before the run started", None,
                compile_seconds=NAN, solve_seconds=NAN, build_seconds=NAN,
                message=f"the time limit ran out while the child process started "
                        f"({-time_limit:.2f} s over)"), NAN, None, None))
            return
        tic = time.perf_counter()
        with PeakMemory() as memory, threadpool_limits(limits=threads):
            raw = backend.run(program, preset, time_limit=time_limit, threads=threads)
        run_seconds = time.perf_counter() - tic
        conn.send(("done", raw, run_seconds, memory.peak_mb, memory.baseline_mb))
    except MemoryError:
        conn.send(("memory_limit", "MemoryError: the memory cap was reached"))
    except BaseException as exc:  # everything else is reported as an error row
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(traceback.format_exc(), file=sys.stderr)
        conn.send(("error", text.splitlines()[-1][:300] if text else type(exc).__name__))
    finally:
        conn.close()


def _stderr_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return " | ".join(text.splitlines()[-lines:])[:300]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_isolated(
    backend: Backend,
    program: ConvexProgram,
    preset: Preset,
    time_limit: float | None = None,
    threads: int = 1,
    memory_limit_mb: float | None = None,
    grace: float = DEFAULT_GRACE,
    start_method: str | None = None,
    poll: float = 0.02,
    warm_up: ConvexProgram | None = None,
) -> IsolatedRun:
    """Run ``backend`` on ``program`` in a child process; never raises for the child's fate.

    ``time_limit`` counts from this call (child start-up included; ``backend.prepare()`` and
    the ``warm_up`` solve excluded: the limit and ``elapsed`` are moved by the time they took);
    the child is killed ``grace`` seconds after it runs out.
    """
    start = time.monotonic()
    ctx = _context(start_method or default_start_method())
    receiver, sender = ctx.Pipe(duplex=False)
    handle, stderr_name = tempfile.mkstemp(prefix="convexbench-child-", suffix=".stderr")
    os.close(handle)
    stderr_path = Path(stderr_name)
    limited = time_limit is not None and math.isfinite(time_limit)
    deadline = start + time_limit if limited else None
    process = ctx.Process(
        target=_child, daemon=True, name=f"convexbench-{backend.name}",
        args=(sender, backend, program, preset, deadline, threads, memory_limit_mb,
              stderr_name, warm_up))
    deadline_span = time_limit + grace if limited else None
    process.start()
    sender.close()
    baseline: float | None = None
    sampled_peak = 0.0
    message: tuple | None = None
    killed_for: str | None = None
    setup = 0.0
    try:
        while True:
            if receiver.poll(poll):
                try:
                    item = receiver.recv()
                except (EOFError, OSError):
                    break  # the child died before sending its result
                if item[0] == "started":
                    baseline, setup = item[1], item[2]
                    if deadline_span is not None:
                        deadline_span += setup
                    continue
                message = item
                break
            if not process.is_alive() and not receiver.poll(0):
                break
            # sampled from the baseline on (not during the preparation and warm-up)
            rss = rss_mb(process.pid) if process.is_alive() and baseline is not None else None
            if rss is not None:
                sampled_peak = max(sampled_peak, rss)
                if (memory_limit_mb is not None and baseline is not None
                        and rss - baseline > memory_limit_mb):
                    killed_for = "memory_limit"
                    process.kill()
                    break
            if deadline_span is not None and time.monotonic() - start > deadline_span:
                killed_for = "time_limit"
                process.kill()
                break
    finally:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
        receiver.close()
    elapsed = time.monotonic() - start - setup
    tail = _stderr_tail(stderr_path)
    stderr_path.unlink(missing_ok=True)
    peak = sampled_peak or None
    exitcode = process.exitcode

    if message is not None and message[0] == "done":
        _, raw, run_seconds, child_peak, child_baseline = message
        peak = max(filter(None, (child_peak, peak)), default=None)
        return IsolatedRun(raw, elapsed, run_seconds, peak, child_baseline or baseline, exitcode)
    if message is not None:
        kind, text = message
        status = "memory_limit" if kind == "memory_limit" else "error"
        raw = RawRun(status, text.split(":")[0], None, compile_seconds=NAN, solve_seconds=NAN,
                     build_seconds=NAN, message=text)
        return IsolatedRun(raw, elapsed, NAN, peak, baseline, exitcode)
    if killed_for == "time_limit":
        raw = RawRun("time_limit", "killed at the time limit", None, compile_seconds=NAN,
                     solve_seconds=NAN, build_seconds=NAN,
                     message=f"killed after {elapsed:.2f} s (time limit {time_limit:g} s "
                             f"+ grace {grace:g} s)")
    elif killed_for == "memory_limit":
        raw = RawRun("memory_limit", "killed at the memory limit", None, compile_seconds=NAN,
                     solve_seconds=NAN, build_seconds=NAN,
                     message=f"killed: resident memory grew by more than {memory_limit_mb:g} MB")
    else:
        raw = _death(exitcode, tail, memory_limit_mb)
    return IsolatedRun(raw, elapsed, NAN, peak, baseline, exitcode)


def _death(exitcode: int | None, tail: str, memory_limit_mb: float | None) -> RawRun:
    """The record of a child that died without sending a result."""
    memory_hint = any(hint in tail.lower() for hint in _MEMORY_HINTS)
    if exitcode is not None and exitcode < 0:
        how = f"killed by {_signal_name(-exitcode)}"
        if memory_hint or (-exitcode == signal.SIGKILL and memory_limit_mb is not None):
            status = "memory_limit"
        else:
            status = "crashed"
    else:
        how = f"exited with code {exitcode} without a result"
        status = "memory_limit" if memory_hint else "crashed"
    message = how + (f"; stderr: {tail}" if tail else "")
    return RawRun(status, how, None, compile_seconds=NAN, solve_seconds=NAN,
                  build_seconds=NAN, message=message)
