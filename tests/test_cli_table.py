"""The command table of ``uprock_async.cli``: one row per subcommand, one parser each,
and the console script's entry point."""

from __future__ import annotations

import argparse
from importlib.metadata import entry_points

import pytest

from uprock_async import cli
from uprock_async.cli import COMMANDS, build_parser, main


def test_the_console_script_runs_cli_main() -> None:
    [script] = [ep for ep in entry_points(group="console_scripts") if ep.name == "uprock-async"]
    assert script.value == "uprock_async.cli:main"
    assert script.load() is main is cli.main


def test_every_row_of_the_table_is_a_subcommand_and_nothing_else() -> None:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == [command.name for command in COMMANDS]
    assert len({command.name for command in COMMANDS}) == len(COMMANDS)
    for command in COMMANDS:
        assert command.help
        assert sub.choices[command.name].get_default("run") is command.run


@pytest.mark.parametrize("name", [command.name for command in COMMANDS])
def test_every_command_of_the_table_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: uprock-async {name}")
    assert "--base-url" in out  # the shared options reach every command


@pytest.mark.parametrize("name", ["job-details", "watch"])
def test_the_monitoring_commands_share_their_options(name: str) -> None:
    args = build_parser().parse_args(
        [name, "ids.txt", "-o", "out.jsonl", "--metrics-port", "9100", "--base-url", "http://h"]
    )
    assert (args.file, args.output, args.metrics_port) == ("ids.txt", "out.jsonl", 9100)
    assert args.base_url == "http://h"


def test_watch_defaults_follow_watch_jobs() -> None:
    args = build_parser().parse_args(["watch"])
    assert (args.file, args.poll_interval, args.timeout, args.details) == ("-", 2.0, None, True)
    assert build_parser().parse_args(["watch", "--no-details"]).details is False
    assert build_parser().parse_args(["watch", "--timeout", "inf"]).timeout == float("inf")
