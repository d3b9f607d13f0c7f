"""The index states the run's wall time: the sum over its runner invocations."""

from convexbench.report.index import wall_time_lines


def _run(started, finished, n_run, commit, jobs=2, dirty=False, interrupted=0):
    return {"started": started, "finished": finished, "n_run": n_run, "n_errors": 0,
            "interrupted": interrupted,
            "provenance": {"git": {"commit": commit, "dirty": dirty},
                           "parameters": {"jobs": jobs}}}


def test_wall_time_is_the_sum_over_invocations():
    runs = [
        _run("2026-11-28T10:00:00+00:00", "2026-11-28T11:30:00+00:00", 900, "a" * 40,
             interrupted=1),
        _run("2026-11-28T12:00:00+00:00", "2026-11-28T12:20:30+00:00", 169, "b" * 40,
             dirty=True),
        _run("2026-11-28T13:00:00+00:00", None, 0, "c" * 40),
    ]
    lines = wall_time_lines(runs)
    assert lines[0].startswith("- wall time of the cells: 1 h 50 min in all (6630 s")
    assert "3 runner invocation(s)" in lines[0]
    assert "1 h 30 min, interrupted; 900 cells run" in lines[1] and "`aaaaaaaaaa`" in lines[1]
    assert "20 min; 169 cells run" in lines[2] and "(with uncommitted changes)" in lines[2]
    assert "unfinished or interrupted" in lines[3]
