"""The ``imagegate`` command line: help, version, defaults in every help, checked values, and
one-line errors (exit 2, no usage dump, no traceback)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__
from app.cli import COMMANDS, build_parser, main
from app.cli.common import HelpWithDefaults
from tests.support.config import base_config, write_config


def subcommand(name: str) -> argparse.ArgumentParser:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser: argparse.ArgumentParser = action.choices[name]
            return parser
    raise AssertionError("imagegate has no subcommands")


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_bare_imagegate_prints_the_help_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: imagegate")
    for name, module in COMMANDS.items():
        assert name in out and module.HELP in " ".join(out.split())


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"imagegate {__version__}\n"


def leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers that run something: ``keys create``, not ``keys`` itself."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return [parser]
    return [leaf for group in groups for sub in group.choices.values() for leaf in leaves(sub)]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_every_subcommand_states_its_default(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    optional = []
    for parser in leaves(subcommand(name)):
        formatter = HelpWithDefaults(parser.prog)
        for action in parser._actions:
            if action.required or isinstance(action, argparse._HelpAction):
                continue
            optional.append(action)
            assert "default" in (formatter._get_help_string(action) or ""), (
                parser.prog,
                action.dest,
            )
    assert optional, f"{name} has no options"
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    capsys.readouterr()


def test_serve_help_shows_each_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in (
        "address to listen on (default: 127.0.0.1)",
        "TCP port (1 to 65535) (default: 8080)",
        "(one per core) (default: 1)",
        "(default: $IMAGEGATE_CONFIG, else config/gateway.yaml)",
        "(default: $IMAGEGATE_LOG_LEVEL, else info)",
        "(default: off;",
    ):
        assert shown in text


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0", "0 is not a port (1 to 65535)"),
        ("70000", "70000 is not a port (1 to 65535)"),
        ("-1", "-1 is not a port"),
        ("http", "'http' is not a port number"),
    ],
)
def test_ports_outside_1_to_65535_are_refused_in_one_line(
    value: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", f"--port={value}"])
    assert exited.value.code == 2
    line = one_error_line(capsys)
    assert line.startswith("imagegate serve: error: argument --port: ") and why in line


@pytest.mark.parametrize("argv", [["serve", "--log-level", "loud"], ["serve", "--workers", "0"]])
def test_bad_option_values_are_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    line = one_error_line(capsys)
    assert argv[1] in line and "see 'imagegate serve --help'" in line


def test_log_level_accepts_any_case() -> None:
    args = build_parser().parse_args(["serve", "--log-level", "DEBUG"])
    assert args.log_level == "debug"


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_a_bad_log_level_in_the_environment_is_one_line(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("IMAGEGATE_CONFIG", str(write_config(tmp_path, base_config(tmp_path))))
    monkeypatch.setenv("IMAGEGATE_LOG_LEVEL", "verbose")
    assert main([command]) == 2
    line = one_error_line(capsys)
    assert line.startswith("imagegate: invalid environment: IMAGEGATE_LOG_LEVEL:")
    assert "'verbose' is not one of critical, error, warning, info, debug" in line


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["serve", "--log-level", "chatty"], {}, "argument --log-level: 'chatty' is not one of"),
        (["serve"], {"IMAGEGATE_LOG_LEVEL": "chatty"}, "IMAGEGATE_LOG_LEVEL: "),
    ],
)
def test_a_real_process_fails_in_one_line_without_a_traceback(
    argv: list[str], env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, base_config(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "app", *argv, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
