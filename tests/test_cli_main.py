"""The command line as a whole: help texts and start-up cost."""

import subprocess
import sys

import pytest

from convexbench.cli import SUBCOMMANDS, build_parser, main


def test_top_level_help_lists_every_written_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    parser = build_parser()
    written = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert set(written) == set(SUBCOMMANDS)
    for name in written:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert len(capsys.readouterr().out.splitlines()) >= 3


def test_help_does_not_import_the_solvers():
    code = (
        "import sys, convexbench.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('cvxpy', 'clarabel', 'scs') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage" in capsys.readouterr().out


def test_public_api_is_lazy_and_complete():
    code = (
        "import sys, convexbench as c; light = 'cvxpy' not in sys.modules; "
        "names = [getattr(c, n).__name__ for n in c.__all__ if n != '__version__']; "
        "print(light, len(names))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "8"]
