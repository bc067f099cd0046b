"""Several agent processes share one guard database (SQLite WAL) without losing a row."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

WORKER = """
import sys, httpx
from guard import GuardSettings, GuardTransport

def refused(request):
    raise httpx.ConnectError("refused", request=request)

settings = GuardSettings(db_path=sys.argv[1], agent_id=sys.argv[2], error_rate_pct=0,
                         retry_attempts=1)
with httpx.Client(transport=GuardTransport(httpx.MockTransport(refused), settings=settings)) as c:
    for n in range(25):
        try:
            c.post("https://casino.purpleflea.com/api/v1/games/dice", json={"n": n})
        except httpx.ConnectError:
            pass
"""


def test_four_processes_write_one_file(tmp_path: Path) -> None:
    """Four processes creating one new file at once and dead-lettering 25 calls each leave
    exactly 100 rows (the schema is created by one of them, once)."""
    db = tmp_path / "shared.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARD_")}
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(db), f"agent-{i}"], env=env)
        for i in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT agent_id, count(*) FROM dead_letters GROUP BY agent_id ORDER BY 1"
        ).fetchall()
    assert rows == [(f"agent-{i}", 25) for i in range(4)]
