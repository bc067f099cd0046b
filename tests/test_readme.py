"""The README stays true: its env-var table is the settings model's."""

from __future__ import annotations

import re
from pathlib import Path

from guard._settings import env_table

README = Path(__file__).parent.parent / "README.md"


def test_env_table_matches_the_settings_model() -> None:
    """The README's env-var table is exactly what the model generates (run `make env-table`)."""
    text = README.read_text()
    found = re.search(r"<!-- env-table:[^\n]*-->\n(.*?)\n<!-- /env-table -->", text, re.S)
    assert found, "README lost its env-table markers"
    assert found.group(1) == env_table(), "README env table is stale: run `make env-table`"


def test_readme_shows_the_two_commands() -> None:
    """The quickstart names the two commands that do everything."""
    text = README.read_text()
    assert "make demo" in text
    assert "make test" in text
