"""`mtus catalogue` for any files: the header comes from their guideline declarations, empty parts are left out."""

from __future__ import annotations

from click.testing import CliRunner

from mtus_dsl.cli import main

GUIDELINE = """\
guideline demo "Demo Massage Guidelines" edition "2020":
    regulation "8 CCR 0000.0"
    in force from 2020-01-01

section massage "Massage" pages 60-61:
    services massage
    unit visits

    general: max_visits 6 over 2 weeks
        page 60
"""

WITH_FACTS = GUIDELINE + """
input flare_up: boolean "a documented acute flare-up"
fact flaring: boolean = flare_up "a flare-up"
"""


def _catalogue(tmp_path, text: str) -> str:
    path = tmp_path / "demo.mtus"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["catalogue", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_header_is_the_files_own(tmp_path):
    """One guideline: the title is its title; nothing of the shipped corpus (its sources, its command) shows."""
    text = _catalogue(tmp_path, GUIDELINE)
    assert text.startswith("# Catalogue: Demo Massage Guidelines (2020)\n")
    assert "1 guideline edition, 1 section, 1 rule, 0 examples." in text
    assert "sources.md" not in text and "guidelines/" not in text and "MTUS guideline catalogue" not in text


def test_empty_parts_are_left_out(tmp_path):
    """No tables, conditions, inputs or facts declared: no such sections, and no contents entries for them."""
    text = _catalogue(tmp_path, GUIDELINE)
    for title in ("Tables", "Conditions and their codes", "Case fields the guidelines add", "Derived facts"):
        assert title not in text


def test_parts_the_files_declare_are_shown(tmp_path):
    """An input and a fact bring their sections (and contents entries); tables and conditions stay out."""
    text = _catalogue(tmp_path, WITH_FACTS)
    assert "- [Case fields the guidelines add](#case-fields)" in text and "## Derived facts" in text
    assert "| `flare_up` | boolean | a documented acute flare-up |" in text
    assert "Tables" not in text and "Conditions and their codes" not in text
