"""Knowledge bases in read-only places: a container's cache folder, a shared install
(issue 18, point 8).

A base in a directory this process cannot write opens with ``read_only=True`` (SQLite's
immutable mode when it cannot create the files a WAL reader needs beside it), and the
default base falls back to an in-memory copy when its cache cannot be used, saying so
once in the log.

Each check runs in a child process without write access to the directory. As an
ordinary user ``chmod`` takes it away. As root it does not, since root's
``CAP_DAC_OVERRIDE`` writes anywhere: the child then runs under ``setpriv`` with that
capability (and ``CAP_DAC_READ_SEARCH``, ``CAP_FOWNER``) dropped from its bounding and
inheritable sets, so the kernel applies the owner's permission bits to it, as it would to
any user; the test first checks that the child really cannot create a file there.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autometa.contract import Config, Evaluation
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.knowledge._base import CACHE_DIR_ENV

_CAPS = "-dac_override,-dac_read_search,-fowner"


def _unprivileged() -> list[str]:
    """The command prefix that runs a child without the power to ignore permissions."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot take write access away")
    return ["setpriv", f"--inh-caps={_CAPS}", f"--bounding-set={_CAPS}", "--"]


def _run(code: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    child_env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    return subprocess.run(
        [*_unprivileged(), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=300,
    )


def _lock(directory: Path) -> None:
    """Take write access to ``directory`` away, and check that it is really gone."""
    for entry in directory.iterdir():
        entry.chmod(0o444)
    directory.chmod(0o555)
    probe = directory / "probe"
    check = _run(f"open({str(probe)!r}, 'w')")
    assert check.returncode != 0, "the child can still write there"
    assert "Permission denied" in check.stderr, check.stderr


@pytest.fixture
def locked(tmp_path: Path):  # type: ignore[no-untyped-def]
    directory = tmp_path / "ro"
    directory.mkdir()
    yield directory
    directory.chmod(0o755)  # let pytest clean up


def _base(path: Path) -> None:
    with KnowledgeBase.open(path) as kb:
        kb.add_task(TaskRecord("t", "t", "binary", "roc_auc", {"n_rows": 10.0}))
        kb.add_evaluations([Evaluation("t", Config("rf", {"i": 1}), 0.5, 0.1)])


OPEN_READ_ONLY = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="LOG %(levelname)s %(message)s")
from autometa.knowledge import KnowledgeBase
for _ in range(2):
    with KnowledgeBase.open(sys.argv[1], read_only=True) as kb:
        print(kb.counts(), kb.evaluations("t")[0].score)
try:
    KnowledgeBase.open(sys.argv[1])
except PermissionError as exc:
    print("writable open refused:", exc)
"""


def test_a_base_in_a_read_only_directory_opens_read_only(locked: Path) -> None:
    path = locked / "kb.db"
    _base(path)  # a WAL-mode base, as every base autometa writes
    _lock(locked)
    child = _run(OPEN_READ_ONLY.replace("sys.argv[1]", repr(str(path))))
    # Before the fix: PermissionError "attempt to write a readonly database" (SQLite could
    # not create kb.db-shm beside the file).
    assert child.returncode == 0, child.stderr
    counts = "{'tasks': 1, 'configs': 1, 'evaluations': 1} 0.5"
    assert child.stdout.count(counts) == 2
    assert "writable open refused: Knowledge base" in child.stdout
    said = [line for line in child.stderr.splitlines() if "immutable" in line]
    assert len(said) == 1, child.stderr  # said once, however often it is opened
    assert sorted(p.name for p in locked.iterdir()) == ["kb.db"]  # nothing created


def test_uncheckpointed_wal_content_is_not_silently_skipped(locked: Path) -> None:
    path = locked / "kb.db"
    _base(path)
    # A writer that dies before its last connection closes leaves its commit in kb.db-wal
    # only (closing would have copied it into kb.db); the -shm index is rebuilt from it.
    writer = (
        "import os, sqlite3\n"
        f"raw = sqlite3.connect({str(path)!r})\n"
        "raw.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "raw.execute(\"INSERT INTO meta VALUES ('note', '1')\")\n"
        "raw.commit()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", writer], check=True)
    assert (locked / "kb.db-wal").stat().st_size > 0
    (locked / "kb.db-shm").unlink(missing_ok=True)
    _lock(locked)
    child = _run(
        "from autometa.knowledge import KnowledgeBase\n"
        f"kb = KnowledgeBase.open({str(path)!r}, read_only=True)\n"
        "print(kb.metadata().get('note'))"
    )
    # Immutable mode would read the file without the WAL's newest commit: refused instead.
    assert child.returncode != 0
    assert "PermissionError" in child.stderr, child.stderr
    assert "kb.db-wal holds commits" in child.stderr, child.stderr


DEFAULT_TWICE = """
import logging
logging.basicConfig(level=logging.INFO, format="LOG %(levelname)s %(message)s")
from autometa.knowledge import KnowledgeBase
for _ in range(2):
    kb = KnowledgeBase.default()
    print("configs", len(kb.configs()) > 0, "read-only", kb.read_only)  # parses the files
"""


@pytest.mark.parametrize("cache", ["read-only", "unsearchable", "read-only WAL cache"])
def test_the_default_base_works_without_a_writable_cache(
    locked: Path, tmp_path: Path, cache: str
) -> None:
    if cache == "read-only WAL cache":
        # A cache file left in WAL mode (by another tool, an older autometa): a reader
        # needs kb.db-shm beside it.
        built = _run(DEFAULT_TWICE, env={CACHE_DIR_ENV: str(locked)})
        assert built.returncode == 0, built.stderr
        (cached,) = locked.glob("default-kb-*.db")
        raw = sqlite3.connect(cached)
        assert raw.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
        raw.close()
    _lock(locked)
    if cache == "unsearchable":  # a folder this user may not even look into
        locked.chmod(0o000)
    child = _run(DEFAULT_TWICE, env={CACHE_DIR_ENV: str(locked)})
    # Before the fix: PermissionError from Path.is_file (unsearchable) or from SQLite
    # (the WAL cache); a read-only empty folder logged on every parse.
    assert child.returncode == 0, child.stderr
    assert child.stdout.count("configs True read-only True") == 2
    said = [line for line in child.stderr.splitlines() if line.startswith("LOG WARNING")]
    said += [line for line in child.stderr.splitlines() if "immutable" in line]
    assert len(said) == 1, child.stderr  # said once in the log, for both opens
