"""Every command's --help ends with examples of that command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mtus_dsl.cli import main


@pytest.mark.parametrize("command", sorted(main.commands))
def test_each_commands_help_has_examples(command):
    """`mtus COMMAND --help` shows an Examples section whose lines run that command."""
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    examples = result.output.split("Examples:\n", 1)[1].strip().splitlines()
    runs = [line.split()[:2] for line in examples if line.strip().startswith("mtus ")]
    assert runs and all(run == ["mtus", command] for run in runs)


def test_the_main_help_has_examples():
    """`mtus --help` lists the commands and shows examples."""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "fmt" in result.output
