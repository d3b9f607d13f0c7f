"""Run the cells of a spec: skip finished ones, execute the rest, store each at once.

Executors: ``local`` (in-process for ``jobs=1``, else a ``ProcessPoolExecutor`` with ``jobs``
workers, each limited to one BLAS thread) and ``dask`` (a ``dask.distributed`` cluster at
``scheduler``, or a local cluster when no address is given).  Every finished cell is written
by the main process, one transaction per cell, so Ctrl-C or a crash keeps every finished cell
and a second run completes the rest with each cell stored exactly once.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convexbench.errors import UserError
from convexbench.experiments import provenance
from convexbench.experiments.cells import RunCell, expand
from convexbench.experiments.execute import execute_cell
from convexbench.experiments.spec import Spec, load_spec
from convexbench.experiments.store import CellResult, ResultsStore, failure_reason

EXECUTORS = ("local", "dask")

CellCallback = Callable[[RunCell, CellResult], None]


@dataclass(frozen=True)
class RunSummary:
    """What one invocation of the runner did."""

    results_dir: Path
    run_id: str
    n_cells: int
    n_skipped: int  # already stored before this run
    n_run: int  # stored by this run
    n_errors: int  # of those, cells that failed
    seconds: float
    interrupted: bool

    @property
    def complete(self) -> bool:
        """True when every cell of the spec is stored."""
        return self.n_skipped + self.n_run == self.n_cells


def _init_worker() -> None:
    """Process-pool worker setup: one BLAS thread, Ctrl-C handled by the main process."""
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)


CellResults = Generator[tuple[RunCell, CellResult], None, None]


def _interruptible() -> Callable[[], None]:
    """In the main thread, make SIGINT and SIGTERM stop the run like Ctrl-C (a
    ``KeyboardInterrupt``), also when the process started with SIGINT ignored (a background
    job of a non-interactive shell); returns the function that restores the handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    return restore


def _local_results(pending: list[RunCell], jobs: int) -> CellResults:
    if jobs <= 1:
        for cell in pending:
            yield cell, execute_cell(cell)
        return
    executor = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker)
    futures: dict[Future, RunCell] = {}
    queue = iter(pending)
    try:
        for cell in queue:  # keep the queue short so an interrupt cancels little work
            futures[executor.submit(execute_cell, cell)] = cell
            if len(futures) >= 2 * jobs:
                break
        while futures:
            done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for future in done:
                cell = futures.pop(future)
                yield cell, future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    futures[executor.submit(execute_cell, nxt)] = nxt
    finally:
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        if futures:  # interrupted: stop the workers still busy with unstored cells
            for process in processes:
                if process.is_alive():
                    process.terminate()


def _dask_results(pending: list[RunCell], scheduler: Any, jobs: int
                  ) -> CellResults:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UserError("the dask executor needs dask[distributed]: pip install "
                        "'dask[distributed]'") from None
    own: list[Any] = []
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler is None:
        cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True)
        own.append(cluster)
        client = Client(cluster)
        own.insert(0, client)
    else:
        address = getattr(scheduler, "scheduler_address", scheduler)
        try:
            client = Client(address, timeout=30)
        except OSError as exc:
            raise UserError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        own.append(client)
    futures = client.map(execute_cell, pending, key=[f"cell-{c.cell_id}" for c in pending],
                         pure=False)
    by_key = {f.key: cell for f, cell in zip(futures, pending, strict=True)}
    try:
        for future in as_completed(futures):
            yield by_key[future.key], future.result()
    finally:
        client.cancel(futures)
        for item in own:
            item.close()


def run_spec(
    spec: Spec | str | Path,
    results_dir: str | Path,
    jobs: int = 1,
    executor: str = "local",
    scheduler: Any = None,
    resume: bool = True,
    progress: bool = True,
    retry_errors: bool = False,
    on_cell: CellCallback | None = None,
    only: Iterable[str] | None = None,
) -> RunSummary:
    """Run every cell of ``spec`` not yet in ``results_dir``; return a :class:`RunSummary`.

    ``resume=False`` clears the store first.  ``retry_errors`` re-runs cells stored with
    ``status="error"``.  ``on_cell(cell, result)`` is called after each cell is stored (a
    ``KeyboardInterrupt`` raised there behaves like Ctrl-C).  ``only`` restricts the run to
    the named experiments.  Ctrl-C stops the run, keeps every stored cell and returns a
    summary with ``interrupted=True``.
    """
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise UserError("--jobs must be at least 1")
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    cells = expand(spec)
    if only is not None:
        wanted = set(only)
        cells = [c for c in cells if c.experiment in wanted]
    store = ResultsStore(results_dir)
    if not resume:
        store.clear()
    if retry_errors:
        failed = [r["cell_id"] for r in store.rows() if r["status"] == "error"]
        store.delete(failed)
    finished = store.finished_ids()
    pending = [c for c in cells if c.cell_id not in finished]
    n_skipped = len(cells) - len(pending)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    store.start_run(run_id, provenance.now(), spec.name, spec.raw,
                    provenance.collect({"spec": spec.source, "jobs": jobs,
                                        "executor": executor, "scheduler": str(scheduler)
                                        if scheduler is not None else None}),
                    len(cells), n_skipped)
    start = time.perf_counter()
    n_run = n_errors = n_failed = 0
    interrupted = False
    bar = _progress(len(pending), spec.name, progress)
    restore = _interruptible()
    try:
        if executor == "dask":
            results = _dask_results(pending, scheduler, jobs)
        else:
            results = _local_results(pending, jobs)
        try:
            for cell, result in results:
                if store.write(cell.to_dict(), result, run_id):
                    n_run += 1
                    n_errors += result.status == "error"
                n_failed += failure_reason(result.status, result.error,
                                           result.record.get("status")) is not None
                if n_failed:
                    bar.set_postfix(failed=n_failed, refresh=False)
                bar.update(1)
                if on_cell is not None:
                    on_cell(cell, result)
        finally:
            results.close()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        restore()
        bar.close()
        store.finish_run(run_id, provenance.now(), n_run, n_errors, interrupted)
    return RunSummary(Path(results_dir), run_id, len(cells), n_skipped, n_run, n_errors,
                      time.perf_counter() - start, interrupted)


def _progress(total: int, name: str, enabled: bool):
    from tqdm.auto import tqdm

    disable = not enabled or os.environ.get("CONVEXBENCH_NO_PROGRESS") == "1"
    return tqdm(total=total, desc=f"cells of {name}", unit="cell", disable=disable,
                dynamic_ncols=True)
