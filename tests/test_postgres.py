"""PostgreSQL: the knowledge base and a study shared by several processes, on a real server.

The server comes from AUTOMETA_TEST_POSTGRES_URL (`.ci/run` starts one); every test gets
fresh databases from the ``postgres_database`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
from estimators import SleepyClassifier
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from sklearn.datasets import load_breast_cancer

import autometa
from autometa import hookimpl
from autometa.contract import Algorithm, Config, Evaluation, Evidence, MetaLearner, Recommendation
from autometa.knowledge import KnowledgeBase, KnowledgeBaseError, TaskRecord
from autometa.knowledge._schema import configs_table
from autometa.knowledge._storage import CONNECT_TIMEOUT_S
from autometa.search._leases import LEASE_ATTR
from autometa.search._storage import SQLITE_LOCK_SUFFIX
from autometa.search._studies import counts_as_done

TESTS = str(Path(__file__).parent)


def run_children(
    script: str,
    argv: list[list[str]],
    at_barrier: Callable[[int, Callable[[], None]], None] | None = None,
    timeout: float = 300,
) -> None:
    """Run one Python process per argument list, in lockstep; all must succeed.

    Interpreters start at different speeds (seconds apart on a busy machine), so each
    child calls :func:`ready_then_wait` before work that must overlap; the children go
    on only once all of them have called it (a barrier, as often as they call it).
    ``at_barrier(number, go)``, when given, is called once all are waiting at barrier
    ``number`` (0, 1, ...) and must call ``go()`` to release them.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in argv
    ]
    barrier = 0
    try:
        while True:
            said = [child.stdout.readline().strip() for child in children]  # type: ignore[union-attr]
            if not any(said):  # all finished
                break
            if said != ["ready"] * len(children):
                raise AssertionError(
                    f"children out of step ({said}): "
                    + "\n".join(c.communicate()[1] for c in children)
                )

            def go() -> None:
                for child in children:
                    child.stdin.write("go\n")  # type: ignore[union-attr]
                    child.stdin.flush()  # type: ignore[union-attr]

            if at_barrier is None:
                go()
            else:
                at_barrier(barrier, go)
            barrier += 1
        for child in children:
            _, err = child.communicate(timeout=timeout)
            assert child.returncode == 0, err
    finally:
        for child in children:
            child.kill()
            child.wait()


def ready_then_wait() -> None:
    """In a child of :func:`run_children`: say it is ready, wait until all are."""
    print("ready", flush=True)
    sys.stdin.readline()


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: a snapshot to compare before and after."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            names = sqlalchemy.inspect(conn).get_table_names()
            return {
                name: sorted(map(tuple, conn.exec_driver_sql(f'SELECT * FROM "{name}"')), key=repr)
                for name in names
            }
    finally:
        engine.dispose()


# -- the knowledge base ------------------------------------------------------------------
def config(i: int) -> Config:
    return Config("sgd", {"alpha": 10.0 ** (-i / 50), "loss": "log_loss"})


def test_a_knowledge_base_on_postgres_reads_back_as_on_sqlite(
    postgres_url: str, tmp_path: Path
) -> None:
    tasks = [
        TaskRecord(task_id, task_id, "binary", "roc_auc", {"a": 1.5, "b": float("nan")})
        for task_id in ("a", "B", "_z", "b")  # en-US and code-point orders differ here
    ]
    evaluations = [
        Evaluation(t.task_id, config(i), 0.5 + i / 100, 0.1, "ok", None)
        for t in tasks
        for i in range(5)
    ] + [Evaluation("a", Config("Tree", {}), float("nan"), 0.0, "failed", "ValueError: no")]
    bases = {
        "postgres": KnowledgeBase.open(postgres_url),
        "sqlite": KnowledgeBase.open(tmp_path / "kb.db"),
    }
    try:
        for kb in bases.values():
            for task in tasks:
                kb.add_task(task)
            kb.add_evaluations(evaluations)
            kb.export_jsonl(tmp_path / f"{id(kb)}.jsonl")
        pg, lite = bases["postgres"], bases["sqlite"]
        assert "autometa:***@" in pg.location  # the password is never shown
        assert [t.task_id for t in pg.tasks()] == ["B", "_z", "a", "b"]  # as Python sorts
        assert pg.tasks() == lite.tasks()
        assert [c.key for c in pg.configs()] == [c.key for c in lite.configs()]
        assert repr(pg.evaluations()) == repr(lite.evaluations())
        assert list(pg.evaluated("a")) == list(lite.evaluated("a"))
        exports = [(tmp_path / f"{id(kb)}.jsonl").read_text() for kb in (pg, lite)]
        assert exports[0] == exports[1]
    finally:
        for kb in bases.values():
            kb.close()


APPEND = """
import sys
from autometa.knowledge import KnowledgeBase, TaskRecord
from autometa.contract import Evaluation
from test_postgres import config, ready_then_wait
url, who = sys.argv[1], sys.argv[2]
ready_then_wait()
kb = KnowledgeBase.open(url)  # both processes may create the schema at this moment
kb.add_task(TaskRecord(who, who, "binary", "roc_auc", {"rows": 100.0}))
numbers = range(200) if who == "first" else range(199, -1, -1)  # same configs, other order
ready_then_wait()
kb.add_evaluations(Evaluation(who, config(i), i / 200, 0.01, "ok", None) for i in numbers[:150])
kb.add_evaluations(Evaluation(who, config(i), i / 200, 0.01, "ok", None) for i in numbers[150:])
kb.close()
"""


def test_two_processes_append_to_one_postgres_knowledge_base_at_once(postgres_url: str) -> None:
    """Both write 200 evaluations of the same 200 configurations, in opposite orders.

    To make their transactions overlap for sure, the test holds one configuration row
    that both need (an open transaction inserting it) until both wait for it, having
    each written the rows before it in its own order, then lets go. Writers taking rows
    in their own order would now deadlock; PostgreSQL would abort one of them.
    """
    engine = sqlalchemy.create_engine(postgres_url)

    def hold_a_shared_row(barrier: int, go: Callable[[], None]) -> None:
        if barrier == 0:
            go()
            return
        middle = config(100)
        with engine.connect() as conn:
            blocker = conn.begin()
            conn.execute(
                configs_table.insert(),
                {"key": middle.key, "algorithm": middle.algorithm, "params": "{}"},
            )
            go()
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            waiting += " AND wait_event_type = 'Lock'"
            deadline = time.monotonic() + 120
            with engine.connect() as watch:
                while watch.exec_driver_sql(waiting).scalar() < 2:
                    assert time.monotonic() < deadline, "the writers never met on the row"
                    time.sleep(0.05)
            blocker.rollback()

    try:
        run_children(APPEND, [[postgres_url, "first"], [postgres_url, "second"]], hold_a_shared_row)
    finally:
        engine.dispose()
    with KnowledgeBase.open(postgres_url, read_only=True) as kb:
        evaluations = kb.evaluations()
        assert len(evaluations) == 400
        cells = {(e.task_id, e.config.key) for e in evaluations}
        assert cells == {(who, config(i).key) for who in ("first", "second") for i in range(200)}
        assert len(kb.configs()) == 200  # shared configurations stored once
        assert kb.counts() == {"tasks": 2, "configs": 200, "evaluations": 400}


def test_a_foreign_or_newer_postgres_database_is_refused_untouched(
    postgres_database: Callable[[], str],
) -> None:
    foreign = postgres_database()
    engine = sqlalchemy.create_engine(foreign)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE people (name text)")
        conn.exec_driver_sql("INSERT INTO people VALUES ('ada')")
    engine.dispose()
    before = rows(foreign)
    with pytest.raises(KnowledgeBaseError, match=r"not an autometa knowledge base.*people") as e:
        KnowledgeBase.open(foreign)
    assert "empty database" in str(e.value)
    assert rows(foreign) == before

    newer = postgres_database()
    with KnowledgeBase.open(newer) as kb:
        kb.add_task(TaskRecord("t", "t", "binary", "roc_auc", {"rows": 1.0}))
    engine = sqlalchemy.create_engine(newer)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    engine.dispose()
    before = rows(newer)
    for read_only in (False, True):
        with pytest.raises(KnowledgeBaseError, match=r"newer autometa.*schema version 99"):
            KnowledgeBase.open(newer, read_only=read_only)
    assert rows(newer) == before


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers (a hung server)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def test_an_unreachable_postgres_fails_within_seconds_and_names_it(silent_server: int) -> None:
    url = f"postgresql+psycopg://me:secret@127.0.0.1:{silent_server}/kb"
    X, y = load_breast_cancer(return_X_y=True)

    def timed(call: Callable[[], Any]) -> tuple[float, str]:
        started = time.monotonic()
        with pytest.raises(ValueError, match="Cannot open") as error:
            call()
        return time.monotonic() - started, str(error.value)

    pool = ThreadPoolExecutor(2)  # the two waits overlap
    try:
        opened = pool.submit(timed, lambda: KnowledgeBase.open(url))
        fitted = pool.submit(
            timed, lambda: autometa.fit(X, y, n_trials=1, storage=url, study_name="s")
        )
        # A hang fails here; closing the server afterwards (fixture) unblocks the threads.
        results = [f.result(timeout=CONNECT_TIMEOUT_S + 10) for f in (opened, fitted)]
    finally:
        pool.shutdown(wait=False)
    for elapsed, message in results:
        assert elapsed < CONNECT_TIMEOUT_S + 5, message
        assert f"me:***@127.0.0.1:{silent_server}/kb" in message
        assert "secret" not in message
    assert "knowledge base" in results[0][1]
    assert "storage" in results[1][1]


# -- one study, several processes ----------------------------------------------------------
SLEEPY = Algorithm(
    "sleepy",
    ("binary", "multiclass"),
    lambda params, task: SleepyClassifier(seconds=params["seconds"]),
    lambda task: {"seconds": FloatDistribution(0.05, 0.15)},
    {"seconds": 0.1},
)
WARM_STARTS = (Config("sleepy", {"seconds": 0.1}), Config("sleepy", {"seconds": 0.12}))


class TwoWarmStarts(MetaLearner):
    """Recommends the two :data:`WARM_STARTS`, whatever the task."""

    name = "two_warm_starts_pg"

    def fit(self, knowledge: KnowledgeBase) -> TwoWarmStarts:
        return self

    def recommend(self, meta_features, *, kind, algorithms, k=10):  # type: ignore[no-untyped-def]
        return [Recommendation(c, 0.5, Evidence(self.name)) for c in WARM_STARTS[:k]]


PLUGIN = types.SimpleNamespace(
    autometa_plugin_name="postgres_test",
    autometa_algorithms=hookimpl(lambda task: [SLEEPY]),
    autometa_meta_learners=hookimpl(lambda: [TwoWarmStarts]),
)

SHARE = """
import json, os, sys
import autometa
from autometa.contract import Strategy
from sklearn.datasets import load_breast_cancer
from test_postgres import PLUGIN, ready_then_wait
storage, knowledge, n_trials, shared = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
ready_then_wait()
model = autometa.fit(
    X.iloc[:200], y.iloc[:200], storage=storage, study_name="shared", n_trials=n_trials,
    knowledge=knowledge, random_state=0, plugins=[PLUGIN], algorithms=["sleepy"],
    strategy=Strategy("two_warm_starts_pg", 2, "random", "cv", 2), artifact_store=shared,
)
summary = model.ensemble_
with open(os.path.join(shared, f"summary-{os.getpid()}.json"), "w") as out:
    json.dump({"candidates": summary.n_candidates, "without": summary.n_without_predictions,
               "ok": sum(e.ok for e in model.evaluations_)}, out)
"""


@pytest.mark.slow  # three interpreters importing scikit-learn and Optuna at once
def test_processes_sharing_a_postgres_study_run_exactly_its_trials_once(
    postgres_database: Callable[[], str], tmp_path: Path
) -> None:
    storage, knowledge = postgres_database(), postgres_database()
    n_trials, processes = 12, 3
    shared = tmp_path / "artifacts"  # the folder every process's ensemble reads
    run_children(SHARE, [[storage, knowledge, str(n_trials), str(shared)]] * processes)

    trials = optuna.load_study(study_name="shared", storage=storage).trials
    done = [t for t in trials if counts_as_done(t)]
    assert len(done) == n_trials  # exactly the study's total: no process ran its own
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    configs = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(configs)) == len(configs), "a configuration was evaluated twice"
    for warm in WARM_STARTS:  # enqueued once, although every process enqueued them
        assert configs.count(tuple(sorted(warm.to_trial_params().items()))) == 1
    runners = {t.user_attrs[LEASE_ATTR]["pid"] for t in trials}
    assert len(runners) >= 2, "the search was not shared"
    with KnowledgeBase.open(knowledge, read_only=True) as kb:  # all three grew it at once
        assert len(kb.tasks()) == 1
        stored = {e.config.key for e in kb.evaluations()}
        assert stored == {Config.from_trial_params(t.params).key for t in done}
    summaries = [json.loads(p.read_text()) for p in shared.glob("summary-*.json")]
    assert len(summaries) == processes
    for summary in summaries:  # every process ensembled every trial it saw, others' too
        assert summary["without"] == 0
        assert summary["candidates"] == summary["ok"]
    assert max(s["candidates"] for s in summaries) == n_trials


RECOMMENDATIONS = [
    Recommendation(Config("sleepy", {"seconds": 0.05 + i / 100}), 0.5, Evidence("test"))
    for i in range(5)
]

ENQUEUE = """
import sys
import optuna
from autometa.search._space import enqueue
from autometa.search._storage import open_storage, study_lock
from test_postgres import RECOMMENDATIONS, ready_then_wait
storage = open_storage(sys.argv[1])
study = optuna.load_study(study_name="queue", storage=storage)
ready_then_wait()
for _ in range(10):
    with study_lock(study, storage):
        enqueue(study, RECOMMENDATIONS)
"""


def race_to_enqueue(url: str) -> None:
    """Three processes enqueue the same warm starts ten times each, under the study lock:
    each is queued once."""
    optuna.create_study(study_name="queue", storage=url, direction="maximize")
    run_children(ENQUEUE, [[url]] * 3)
    trials = optuna.load_study(study_name="queue", storage=url).trials
    assert {t.state for t in trials} == {TrialState.WAITING}
    queued = sorted(t.system_attrs["fixed_params"]["sleepy__seconds"] for t in trials)
    assert queued == [r.config.params["seconds"] for r in RECOMMENDATIONS]


@pytest.mark.slow  # three interpreters importing autometa at once
def test_the_study_lock_makes_concurrent_warm_starts_enqueue_once(postgres_url: str) -> None:
    race_to_enqueue(postgres_url)


@pytest.mark.slow  # three interpreters importing autometa at once
def test_the_file_lock_makes_concurrent_warm_starts_enqueue_once_on_sqlite(
    tmp_path: Path,
) -> None:
    """The same race on an SQLite study: the lock file beside it serialises the enqueues."""
    race_to_enqueue(f"sqlite:///{tmp_path / 'study.db'}")
    assert (tmp_path / f"study.db{SQLITE_LOCK_SUFFIX}").exists()
