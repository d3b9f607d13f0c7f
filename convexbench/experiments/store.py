"""The embedded results store: one SQLite file per results directory, no server.

Every finished cell is one row, written in its own transaction the moment it finishes, so a
crash or Ctrl-C never loses a finished cell and never leaves half a row.  ``cell_id`` is the
primary key and a second write of the same cell is ignored, so a cell is stored at most once;
:meth:`ResultsStore.finished_ids` is what a resumed run skips.  Each invocation of the runner
adds a row to ``runs`` with its provenance.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convexbench.names import FINISHED_STATUSES

STORE_FILE = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    cell_id    TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    cell       TEXT NOT NULL,
    record     TEXT NOT NULL,
    error      TEXT,
    seconds    REAL,
    started    TEXT,
    finished   TEXT,
    worker     TEXT,
    run_id     TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    run_id     TEXT PRIMARY KEY,
    started    TEXT NOT NULL,
    finished   TEXT,
    spec_name  TEXT,
    spec       TEXT,
    provenance TEXT,
    n_cells    INTEGER,
    n_skipped  INTEGER,
    n_run      INTEGER,
    n_errors   INTEGER,
    interrupted INTEGER
);
"""


@dataclass(frozen=True)
class CellResult:
    """The outcome of one cell: a status, a flat JSON-friendly record and timings."""

    cell_id: str
    status: str  # ok | error
    record: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    started: str = ""
    finished: str = ""
    worker: str = ""


def failure_reason(status: str, error: str | None, solve_status: Any) -> str | None:
    """Why a stored cell failed (it raised, or its solve ended without an answer: time or
    memory limit, crash, ...), or None; shared by the progress bar and the report."""
    if status == "error":
        return error or "error"
    if isinstance(solve_status, str) and solve_status not in FINISHED_STATUSES:
        if solve_status == "time_limit":
            return "solve stopped at its time limit"
        return f"solve ended with status {solve_status}"
    return None


def to_jsonable(value: Any) -> Any:
    """Plain JSON types (numpy scalars and arrays converted, non-finite floats -> None)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


class ResultsStore:
    """A results directory holding ``results.sqlite``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / STORE_FILE
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60.0)
        con.execute("PRAGMA synchronous=FULL")
        return con

    # -- cells ---------------------------------------------------------------------------
    def finished_ids(self) -> set[str]:
        """Ids of every stored cell (finished, successfully or with an error)."""
        with self._connect() as con:
            return {row[0] for row in con.execute("SELECT cell_id FROM cells")}

    def write(self, cell: dict[str, Any], result: CellResult, run_id: str = "") -> bool:
        """Store one finished cell atomically; False if it was already stored."""
        con = self._connect()
        try:
            with con:  # one transaction
                cur = con.execute(
                    "INSERT OR IGNORE INTO cells (cell_id, experiment, kind, status, cell, "
                    "record, error, seconds, started, finished, worker, run_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (result.cell_id, cell["experiment"], cell["kind"], result.status,
                     json.dumps(to_jsonable(cell)), json.dumps(to_jsonable(result.record)),
                     result.error, result.seconds, result.started, result.finished,
                     result.worker, run_id),
                )
                return cur.rowcount == 1
        finally:
            con.close()

    def delete(self, cell_ids: Iterable[str]) -> int:
        """Forget cells (e.g. failed ones to retry); returns how many were removed."""
        ids = list(cell_ids)
        with self._connect() as con:
            cur = con.executemany("DELETE FROM cells WHERE cell_id = ?", [(i,) for i in ids])
            return cur.rowcount

    def clear(self) -> None:
        """Remove every cell and run (``--fresh``)."""
        with self._connect() as con:
            con.execute("DELETE FROM cells")
            con.execute("DELETE FROM runs")

    def rows(self) -> list[dict[str, Any]]:
        """Every stored cell as a dict: the cell's parameters, status, timings and record."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM cells ORDER BY rowid").fetchall()
        out = []
        for row in rows:
            item = dict(row)
            item["cell"] = json.loads(item["cell"])
            item["record"] = json.loads(item["record"])
            out.append(item)
        return out

    def count(self) -> int:
        """Number of stored cells."""
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM cells").fetchone()[0])

    # -- runs ----------------------------------------------------------------------------
    def start_run(self, run_id: str, started: str, spec_name: str, spec: dict[str, Any],
                  provenance: dict[str, Any], n_cells: int, n_skipped: int) -> None:
        """Record the start of a runner invocation."""
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO runs (run_id, started, spec_name, spec, provenance, "
                "n_cells, n_skipped, n_run, n_errors, interrupted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 0)",
                (run_id, started, spec_name, json.dumps(to_jsonable(spec)),
                 json.dumps(to_jsonable(provenance)), n_cells, n_skipped),
            )

    def finish_run(self, run_id: str, finished: str, n_run: int, n_errors: int,
                   interrupted: bool) -> None:
        """Record the end of a runner invocation."""
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET finished = ?, n_run = ?, n_errors = ?, interrupted = ? "
                "WHERE run_id = ?", (finished, n_run, n_errors, int(interrupted), run_id))

    def runs(self) -> list[dict[str, Any]]:
        """Every runner invocation, oldest first, with parsed spec and provenance."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM runs ORDER BY started").fetchall()
        out = []
        for row in rows:
            item = dict(row)
            for key in ("spec", "provenance"):
                item[key] = json.loads(item[key]) if item[key] else {}
            out.append(item)
        return out


def frame(store: ResultsStore | str | Path):
    """The stored cells as a pandas DataFrame, one row per cell.

    Columns: the record's fields (objective, verified, n_active, trace_objective, ...; a
    solver's status is ``solve_status``), then
    the cell's ``cell_id, experiment, kind, status, error, dataset, model, method, seed,
    repetition, roles`` and ``beta_spec`` (the value in the spec); ``beta`` is the weight
    actually used.  Options appear as ``opt_<name>``.
    """
    import pandas as pd

    if not isinstance(store, ResultsStore):
        store = ResultsStore(store)
    rows = []
    for row in store.rows():
        cell = row["cell"]
        item: dict[str, Any] = dict(row["record"])
        item["beta"] = item.get("beta_effective", item.get("beta"))
        if "status" in item:  # the solver's status; "status" is the cell's (ok | error)
            item["solve_status"] = item.pop("status")
        item.update({
            "cell_id": row["cell_id"], "experiment": row["experiment"], "kind": row["kind"],
            "status": row["status"], "error": row["error"], "cell_seconds": row["seconds"],
            "dataset": cell["dataset"], "model": cell["model"], "method": cell["method"],
            "seed": cell["seed"], "repetition": cell["repetition"],
            "roles": tuple(cell.get("roles", ())), "beta_spec": cell["beta"],
            "beta_scale": cell["beta_scale"],
        })
        for key, value in cell.get("options", {}).items():
            item[f"opt_{key}"] = value
        rows.append(item)
    return pd.DataFrame(rows)
