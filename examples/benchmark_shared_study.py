"""Processes sharing one study and one knowledge base, one stopped and one killed mid-search.

    python examples/benchmark_shared_study.py --backend sqlite --out shared_sqlite.json
    python examples/benchmark_shared_study.py --backend postgres --out shared_postgres.json

(defaults: 8 processes, 200 trials, one process stopped for 90 s, one killed: minutes.)
``--backend postgres`` makes two throwaway databases (the study's and the knowledge
base's) on the server at ``--url`` (default ``$AUTOMETA_TEST_POSTGRES_URL``, which
``eval "$(bash .ci/run postgres)"`` sets), and drops them afterwards; ``--backend
sqlite`` uses two files in a temporary folder.

What runs: the knowledge base first gets one earlier task (a small fit on other rows), so
the shared fits are warm-started from it. Then ``--processes`` processes, started
together (each says "ready" over a pipe once imported and waits for "go"), each run
``autometa.fit(X, y, n_trials=--trials, storage=<the study>, study_name=<the same>,
knowledge=<the base>, n_jobs=1, random_state=<its own>)`` on the same 300 rows of
scikit-learn's breast cancer table with cheap algorithms. ``n_trials`` is the study's
total, which the processes fill together. While they search, this script watches the
study: the first process is sent SIGSTOP once it is evaluating a trial (having finished
one), and SIGCONT ``--stop-seconds`` later; the last ``--kill`` processes are sent
SIGKILL the same way, mid-trial and before the study is half full.

Afterwards the study and the knowledge base themselves are checked:

- every fault was injected; every other process's fit returned a model (exit 0) and its
  write to the knowledge base went through;
- no trial is left running; the trials that count (complete, or failed with an
  evaluation status) reach the total exactly, and each warm start is enqueued once: each
  trial is asked under the study's lock (an advisory lock on PostgreSQL, a file lock
  beside an SQLite study; the README's guarantee);
- a trial recorded as lost (failed without an evaluation status) was a killed process's,
  and its configuration was enqueued again exactly once (a stopped process, alive on
  this machine, keeps its trial however long it is stopped);
- the knowledge base holds this task's evaluations exactly as the processes wrote them:
  every configuration any process reported writing, once, with a status and score one
  of them wrote; the same configurations as the study's counted trials; the earlier
  task's rows untouched, nothing else (and SQLite's integrity check passes).

It prints a table of figures and writes them, with every check, to ``--out``; it exits 1
when a check fails.

On SQLite a process stopped *inside* a write to the study keeps SQLite's lock while it
is stopped: the others' writes wait for it, up to autometa's busy timeout of 120 s (the
stop here is shorter), so they stall rather than fail (``watcher_reads_failed`` above 0
shows this script's own reads found the lock held).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from sklearn.datasets import load_breast_cancer

POSTGRES_ENV = "AUTOMETA_TEST_POSTGRES_URL"
STUDY_NAME = "shared"
ALGORITHMS = ["naive_bayes", "knn", "linear"]
ROWS = 300
SEED_ROWS = 200
SEED_TRIALS = 6
POLL_S = 0.1
# Every child runs one native thread: several processes on a small machine.
THREADS = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


# -- the data -------------------------------------------------------------------------------
def table(rows: int, random_state: int) -> tuple[Any, Any]:
    """``rows`` rows of the breast cancer table, drawn with ``random_state``."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.sample(rows, random_state=random_state)
    return X, y.loc[X.index]


# -- one process of the shared search ------------------------------------------------------
def worker() -> None:
    """One sharing process: its settings come as a JSON line on standard input.

    It wraps :meth:`KnowledgeBase.add_evaluations` to record what its fit writes, says
    "ready", waits for "go", fits, and writes what it wrote to the settings' ``result``
    file (not standard output, whose pipe nobody reads while the processes run).
    """
    import autometa
    from autometa.knowledge import KnowledgeBase

    settings = json.loads(sys.stdin.readline())
    writes: list[dict[str, Any]] = []
    real_add_evaluations = KnowledgeBase.add_evaluations

    def recorded(self: KnowledgeBase, evaluations: Any) -> int:
        batch = list(evaluations)
        write: dict[str, Any] = {
            "rows": [[e.config.key, e.status, _plain(e.score)] for e in batch],
            "ok": False,
        }
        writes.append(write)
        written = real_add_evaluations(self, batch)
        write["ok"] = True
        return written

    KnowledgeBase.add_evaluations = recorded  # type: ignore[method-assign]
    X, y = table(ROWS, 0)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("no go")
    started = time.monotonic()
    model = autometa.fit(
        X,
        y,
        n_trials=settings["trials"],
        storage=settings["storage"],
        study_name=STUDY_NAME,
        knowledge=settings["knowledge"],
        n_jobs=1,
        random_state=settings["random_state"],
        algorithms=ALGORITHMS,
        verbose=0,
    )
    result = {
        "pid": os.getpid(),
        "task_id": model.task_id_,
        "best_score": model.best_score_,
        "evaluations": len(model.evaluations_),
        "seconds": time.monotonic() - started,
        "writes": writes,
    }
    Path(settings["result"]).write_text(json.dumps(result))


def _plain(score: float) -> float | None:
    return None if math.isnan(score) else score


# -- where the study and the knowledge base live -------------------------------------------
@contextmanager
def locations(backend: str, url: str | None, folder: Path) -> Iterator[tuple[str, str]]:
    """The study's storage URL and the knowledge base's location; dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'study.db'}", str(folder / "knowledge.db")
        return
    import sqlalchemy

    server = url or os.environ.get(POSTGRES_ENV)
    if not server:
        raise SystemExit(
            f"--backend postgres needs --url or {POSTGRES_ENV} (a server whose role may "
            'create databases); start the test server with: eval "$(bash .ci/run postgres)"'
        )
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    prefix = f"autometa_bench_{uuid.uuid4().hex[:12]}"
    names = [f"{prefix}_study", f"{prefix}_kb"]
    made: list[str] = []
    try:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")
                made.append(name)
        base = sqlalchemy.engine.make_url(server)
        study, kb = (base.set(database=n).render_as_string(hide_password=False) for n in names)
        yield study, kb
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def seed_knowledge(knowledge: str) -> str:
    """Give the knowledge base one earlier task, so the shared fits get warm starts."""
    import autometa

    X, y = table(SEED_ROWS, 1)
    model = autometa.fit(
        X, y, n_trials=SEED_TRIALS, random_state=0, knowledge=knowledge, algorithms=ALGORITHMS
    )
    return str(model.task_id_)


# -- running the processes and injecting the faults ----------------------------------------
@dataclass
class Process:
    """One sharing process, as this script sees it."""

    index: int
    popen: subprocess.Popen[str]
    result: Path
    stderr: Path
    fault: str | None  # "stop", "kill" or None
    stopped_s: float = 0.0
    fault_trials: list[int] = field(default_factory=list)
    """The trials it was running when its fault was injected."""
    injected: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid


def start(
    n: int, stop: bool, kill: int, storage: str, knowledge: str, trials: int, folder: Path
) -> list[Process]:
    """Start ``n`` processes and release them together once all are ready."""
    processes = []
    env = {**os.environ, **THREADS}
    for index in range(n):
        fault = "stop" if stop and index == 0 else "kill" if index >= n - kill else None
        result, err = folder / f"result_{index}.json", folder / f"stderr_{index}.txt"
        settings = {
            "storage": storage,
            "knowledge": knowledge,
            "trials": trials,
            "random_state": 100 + index,
            "result": str(result),
        }
        popen = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err.open("w"),
            text=True,
            env=env,
        )
        _say(popen, json.dumps(settings))  # on a pipe: a password stays off the command line
        processes.append(Process(index, popen, result, err, fault))
    for p in processes:  # the barrier: every process imported and waiting...
        said = p.popen.stdout.readline() if p.popen.stdout else ""
        if said != "ready\n":
            p.popen.wait()
            raise SystemExit(f"process {p.index} did not start: {p.stderr.read_text()[-2000:]}")
    for p in processes:  # ...then all released at once
        _say(p.popen, "go")
    return processes


def _say(popen: subprocess.Popen[str], line: str) -> None:
    stdin: IO[str] | None = popen.stdin
    assert stdin is not None
    stdin.write(line + "\n")
    stdin.flush()


def _owner(trial: FrozenTrial) -> int | None:
    from autometa.search._leases import LEASE_ATTR

    lease = trial.user_attrs.get(LEASE_ATTR)
    pid = lease.get("pid") if isinstance(lease, Mapping) else None
    return pid if isinstance(pid, int) else None


def inject_faults(
    processes: list[Process], storage: str, trials: int, stop_seconds: float, timeout: float
) -> list[str]:
    """Watch the study until every process exited; stop and kill them mid-trial.

    A process gets its fault once it has finished a trial and is evaluating another (a
    running trial leased to its pid, its algorithm sampled), while the study is less than
    half full. A
    stopped process is continued ``stop_seconds`` later. Every process is continued and
    killed if this raises or ``timeout`` passes. Returns the errors of this script's own
    reads of the study (retried at the next poll).
    """
    from autometa.contract._types import ALGORITHM_PARAM as ALGORITHM
    from autometa.search._studies import counts_as_done

    deadline = time.monotonic() + timeout
    rdb = optuna.storages.RDBStorage(storage)
    stopped_at: float | None = None
    busy: list[str] = []
    try:
        while any(p.popen.poll() is None for p in processes):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the processes did not finish within {timeout:.0f} s")
            # Before reading the study: a process stopped inside a write holds SQLite's lock,
            # so every read fails (busy) until it is continued.
            for p in processes:
                due = stopped_at is not None and time.monotonic() - stopped_at >= stop_seconds
                if p.fault == "stop" and due and not p.stopped_s:
                    p.popen.send_signal(signal.SIGCONT)
                    p.stopped_s = time.monotonic() - (stopped_at or 0.0)
            try:
                study = optuna.load_study(study_name=STUDY_NAME, storage=rdb)
                all_trials = study.get_trials(deepcopy=False)
            except KeyError:  # not created yet
                time.sleep(POLL_S)
                continue
            except Exception as exc:  # e.g. SQLite busy: this script's read, not a finding
                busy.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
                time.sleep(POLL_S)
                continue
            done = [t for t in all_trials if counts_as_done(t)]
            for p in processes:
                if p.fault is None or p.injected or p.popen.poll() is not None:
                    continue
                running = [t for t in all_trials if t.state == TrialState.RUNNING]
                # Sampled: evaluating it, most likely, rather than writing its parameters.
                mine = [t.number for t in running if _owner(t) == p.pid and ALGORITHM in t.params]
                finished = any(_owner(t) == p.pid for t in done)
                if not (mine and finished and 2 * len(done) < trials):
                    continue
                p.fault_trials, p.injected = mine, True
                if p.fault == "kill":
                    p.popen.send_signal(signal.SIGKILL)
                else:
                    p.popen.send_signal(signal.SIGSTOP)
                    stopped_at = time.monotonic()
            time.sleep(POLL_S)
    finally:
        for p in processes:
            if p.popen.poll() is None and (p.fault == "stop" or time.monotonic() > deadline):
                p.popen.send_signal(signal.SIGCONT)
        if time.monotonic() > deadline:
            for p in processes:
                p.popen.kill()
        for p in processes:
            p.popen.wait()
        rdb.engine.dispose()
    return busy


# -- checking what the study and the knowledge base hold -----------------------------------
@dataclass
class Report:
    """The figures of a run and its checks (name, passed, detail)."""

    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append((name, bool(passed), detail))

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


def check_processes(report: Report, processes: list[Process], stop: bool, kill: int) -> list[dict]:
    """Faults injected, survivors' exit codes and writes; returns the survivors' results."""
    stops = [p for p in processes if p.fault == "stop" and p.injected]
    kills = [p for p in processes if p.fault == "kill" and p.injected]
    report.figures.update(
        stops_injected=len(stops),
        seconds_stopped=round(max((p.stopped_s for p in stops), default=0.0), 1),
        trials_held_while_stopped=sorted(n for p in stops for n in p.fault_trials),
        kills_injected=len(kills),
        trials_running_when_killed=sorted(n for p in kills for n in p.fault_trials),
    )
    report.check(
        "every fault was injected mid-search",
        len(stops) == int(stop) and len(kills) == kill,
        f"stops {len(stops)}/{int(stop)}, kills {len(kills)}/{kill}",
    )
    report.check(
        "the killed processes died of SIGKILL",
        all(p.popen.returncode == -signal.SIGKILL for p in kills),
        str([p.popen.returncode for p in kills]),
    )
    survivors = [p for p in processes if p.fault != "kill"]
    bad = [p for p in survivors if p.popen.returncode != 0 or not p.result.exists()]
    report.figures["survivors_with_a_model"] = f"{len(survivors) - len(bad)}/{len(survivors)}"
    report.figures["stopped_process_exit"] = [p.popen.returncode for p in stops]
    report.check(
        "every other process's fit returned a model",
        not bad,
        "; ".join(f"process {p.index} exit {p.popen.returncode}: {_tail(p)}" for p in bad),
    )
    results = [json.loads(p.result.read_text()) for p in survivors if p.result.exists()]
    failed_writes = [r["pid"] for r in results if not all(w["ok"] for w in r["writes"])]
    unwritten = [r["pid"] for r in results if not r["writes"]]
    report.check(
        "every survivor wrote its evaluations to the knowledge base",
        not failed_writes and not unwritten,
        f"write failed: pids {failed_writes}; no write: pids {unwritten}",
    )
    return results


def _tail(p: Process) -> str:
    return p.stderr.read_text()[-1500:].strip()


def check_study(report: Report, storage: str, processes: list[Process], trials: int) -> set[str]:
    """The study's trials; returns the configuration keys of the trials that count and
    that a knowledge base is taught (a pruned trial counts, but its score is partial)."""
    from autometa.contract._types import ALGORITHM_PARAM, Config
    from autometa.search._leases import RETRY_ATTR
    from autometa.search._studies import EVALUATED, counts_as_done

    rdb = optuna.storages.RDBStorage(storage)
    try:
        all_trials = optuna.load_study(study_name=STUDY_NAME, storage=rdb).get_trials()
    finally:
        rdb.engine.dispose()
    states = Counter(t.state for t in all_trials)
    done = [t for t in all_trials if counts_as_done(t)]
    lost = [t for t in all_trials if t.state == TrialState.FAIL and not counts_as_done(t)]
    failed = [t for t in done if t.state == TrialState.FAIL]
    report.figures.update(
        trials_target=trials,
        trials_in_study=len(all_trials),
        trials_counted=len(done),
        trials_complete=states[TrialState.COMPLETE],
        trials_failed_evaluated=len(failed),
        trials_lost=len(lost),
        trials_pruned=states[TrialState.PRUNED],
        trials_waiting=states[TrialState.WAITING],
        trials_running=states[TrialState.RUNNING],
    )
    report.check("no trial is left running", states[TrialState.RUNNING] == 0)
    report.check(
        "the counted trials reach the study's total exactly",
        len(done) == trials,
        f"{len(done)} counted, {trials} expected",
    )
    statuses = Counter(t.user_attrs.get("status") for t in failed)
    report.check(
        "failed trials carry an evaluation status",
        set(statuses) <= set(EVALUATED),
        str(dict(statuses)),
    )
    killed = {p.pid for p in processes if p.fault == "kill" and p.injected}
    strangers = [t.number for t in lost if _owner(t) is not None and _owner(t) not in killed]
    report.check(
        "only killed processes' trials were lost (a stopped one kept its trial)",
        not strangers and len(lost) <= len(killed),
        f"lost {[t.number for t in lost]}, of live processes {strangers}",
    )
    # A kill that lands just after its trial was told (trials here take milliseconds)
    # tests nothing: the run is then inconclusive, to be run again, not a pass.
    interrupted = [n for p in processes if p.fault == "kill" for n in p.fault_trials]
    told = [n for n in interrupted if n not in {t.number for t in lost}]
    report.check(
        "each kill landed mid-trial (the trial it interrupted is recorded as lost)",
        not told,
        f"trials {told} were told before their process died: run again",
    )
    retries = Counter(t.user_attrs.get(RETRY_ATTR) for t in all_trials)
    wrong = {
        t.number: retries[t.number]
        for t in lost
        if retries[t.number] != (ALGORITHM_PARAM in t.params and RETRY_ATTR not in t.user_attrs)
    }
    report.check(
        "each lost configuration was enqueued again exactly once",
        not wrong,
        f"lost trial: retries {wrong}",
    )
    copies = Counter(
        t.user_attrs["warm_start_rank"]
        for t in all_trials
        if "warm_start_rank" in t.user_attrs and RETRY_ATTR not in t.user_attrs
    )
    report.figures["warm_starts"] = len(copies)
    report.figures["most_copies_of_a_warm_start"] = max(copies.values(), default=0)
    report.check(
        "each warm start was enqueued once",
        all(c == 1 for c in copies.values()),
        str({rank: c for rank, c in copies.items() if c > 1}),
    )
    taught = [t for t in done if t.state != TrialState.PRUNED]
    return {Config.from_trial_params(t.params).key for t in taught}


def check_knowledge(
    report: Report, knowledge: str, results: list[dict], study_keys: set[str], seed: dict
) -> None:
    """The base holds every reported row once, as written, and nothing else."""
    from autometa.knowledge import KnowledgeBase

    written: dict[str, set[tuple[str, float | None]]] = defaultdict(set)
    for result in results:
        for write in result["writes"]:
            for key, status, score in write["rows"]:
                written[key].add((status, score))
    task_ids = {r["task_id"] for r in results}
    report.check("every process fitted the same task", len(task_ids) == 1, str(task_ids))
    task_id = next(iter(task_ids)) if len(task_ids) == 1 else None
    with KnowledgeBase.open(knowledge, read_only=True) as kb:
        stored = kb.evaluations(task_id) if task_id is not None else []
        seed_now = _cells(kb.evaluations(seed["task_id"]))
        counts = kb.counts()
        tasks = {t.task_id for t in kb.tasks()}
    found = Counter(e.config.key for e in stored)
    report.figures.update(
        rows_written=sum(len(w["rows"]) for r in results for w in r["writes"]),
        rows_reported_distinct=len(written),
        rows_found=len(stored),
        rows_lost=len(set(written) - set(found)),
        rows_duplicated=sum(c - 1 for c in found.values()),
        rows_unreported=len(set(found) - set(written)),
    )
    report.check(
        "every reported row is in the knowledge base exactly once",
        set(found) == set(written) and all(c == 1 for c in found.values()),
        f"lost {len(set(written) - set(found))}, extra {len(set(found) - set(written))}, "
        f"duplicated {report.figures['rows_duplicated']}",
    )
    differ = [
        e.config.key
        for e in stored
        if e.config.key in written and (e.status, _plain(e.score)) not in written[e.config.key]
    ]
    report.check("each row holds a status and score a process wrote", not differ, str(differ[:5]))
    report.check(
        "the knowledge base has every counted trial's configuration",
        set(found) == study_keys,
        f"study only {len(study_keys - set(found))}, base only {len(set(found) - study_keys)}",
    )
    report.check(
        "the earlier task's rows are untouched and nothing else was added",
        seed_now == seed["cells"]
        and tasks == {seed["task_id"], task_id}
        and counts["evaluations"] == len(seed["cells"]) + len(stored),
        f"tasks {len(tasks)}, rows {counts['evaluations']}",
    )


def _cells(evaluations: list[Any]) -> dict[str, list[Any]]:
    return {e.config.key: [e.status, _plain(e.score)] for e in evaluations}


def sqlite_intact(report: Report, storage: str, knowledge: str) -> None:
    for label, path in (("study", storage.removeprefix("sqlite:///")), ("knowledge", knowledge)):
        conn = sqlite3.connect(path)
        try:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            conn.close()
        report.check(f"the {label} file passes SQLite's integrity check", verdict == "ok", verdict)


# -- the run --------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> Report:
    from autometa.knowledge import KnowledgeBase

    report = Report()
    stop = args.stop_seconds > 0
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="autometa-shared-") as tmp,
        locations(args.backend, args.url, args.workdir or Path(tmp)) as (storage, knowledge),
    ):
        folder = args.workdir or Path(tmp)
        seed_id = seed_knowledge(knowledge)
        with KnowledgeBase.open(knowledge, read_only=True) as kb:
            seed = {"task_id": seed_id, "cells": _cells(kb.evaluations(seed_id))}
        # Optuna's tables exist before the processes start, so this script's own reads of
        # the study never race their creation.
        optuna.storages.RDBStorage(storage).engine.dispose()
        search_started = time.monotonic()
        processes = start(args.processes, stop, args.kill, storage, knowledge, args.trials, folder)
        busy = inject_faults(processes, storage, args.trials, args.stop_seconds, args.timeout)
        report.figures.update(
            backend=args.backend,
            processes=args.processes,
            search_seconds=round(time.monotonic() - search_started, 1),
            watcher_reads_failed=len(busy),
        )
        if busy:
            report.figures["watcher_first_error"] = busy[0]
        results = check_processes(report, processes, stop, args.kill)
        postgres = args.backend == "postgres"
        study_keys = check_study(report, storage, processes, args.trials)
        check_knowledge(report, knowledge, results, study_keys, seed)
        if not postgres:
            sqlite_intact(report, storage, knowledge)
        report.figures["seed_rows"] = len(seed["cells"])
    report.figures["wall_seconds"] = round(time.monotonic() - started, 1)
    return report


def show(report: Report) -> None:
    width = max(len(k) for k in report.figures)
    for key, value in report.figures.items():
        print(f"{key:<{width}}  {value}")
    print()
    for name, ok, detail in report.checks:
        print(f"{'ok  ' if ok else 'FAIL'}  {name}" + ("" if ok or not detail else f": {detail}"))
    print("\nall checks passed" if report.passed else "\nSOME CHECKS FAILED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", help=f"PostgreSQL server URL (default: ${POSTGRES_ENV})")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--trials", type=int, default=200, help="the study's total n_trials")
    parser.add_argument("--stop-seconds", type=float, default=90.0, help="0: stop none")
    parser.add_argument("--kill", type=int, default=1, help="how many processes to kill")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after (s)")
    parser.add_argument("--out", type=Path, help="write the figures and checks as JSON")
    parser.add_argument(
        "--workdir", type=Path, help="an empty folder to keep the files and logs in"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0
    stopped = int(args.stop_seconds > 0)
    if args.processes < 1 or not 0 <= args.kill <= args.processes - max(stopped, 1):
        parser.error(
            "--kill must leave at least one process alive, and the stopped one is never "
            f"killed: at most {args.processes - max(stopped, 1)} with --processes "
            f"{args.processes}"
        )
    if args.trials < 2 * args.processes:
        parser.error("--trials must be at least twice --processes, so faults land mid-search")
    report = run(args)
    show(report)
    if args.out is not None:
        checks = [{"check": n, "passed": ok, "detail": d} for n, ok, d in report.checks]
        payload = {"figures": report.figures, "checks": checks, "passed": report.passed}
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
