"""The ``autometa kb`` commands: build, evaluate, replay, inspect, export and import
knowledge bases."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from autometa._cli_common import BAD_INPUT, JSON_REPORT_OPTION, fail, fail_input, read_knowledge

if TYPE_CHECKING:
    from autometa.knowledge._protocol import BuildProtocol

logger = logging.getLogger(__name__)


@click.group()
def kb() -> None:
    """Build and inspect knowledge bases."""


@kb.command("build")
@click.argument("corpus_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, help="Knowledge base file (SQLite) or database URL.")
@click.option(
    "--shards",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also export each finished task as JSON Lines here (resumable across machines).",
)
@click.option("--dataset", "datasets", multiple=True, help="Only these datasets (repeatable).")
@click.option("--n-jobs", type=int, default=-1, show_default=True)
@click.option("--n-splits", type=int, default=3, show_default=True)
@click.option("--max-rows", type=int, default=2000, show_default=True)
@click.option(
    "--time-limit",
    type=float,
    default=20.0,
    show_default=True,
    help="Seconds per evaluation before it is recorded as capped.",
)
@click.option("--pool-size", type=int, default=300, show_default=True)
@click.option("--random-state", type=int, default=0, show_default=True)
@click.option(
    "--plugin",
    "allowed",
    multiple=True,
    default=("sklearn",),
    show_default=True,
    help="Installed algorithm plugins the pool is drawn from (repeatable).",
)
@click.option(
    "--extend",
    is_flag=True,
    help="Add installed algorithms the base at --out lacks, evaluating only their cells "
    "under the base's own protocol (give no protocol option, or the same ones).",
)
@click.option(
    "--algorithm",
    "extend_algorithms",
    multiple=True,
    help="With --extend: only these algorithms (repeatable; default: every one it lacks).",
)
@click.option(
    "--configs-per-algorithm",
    type=int,
    default=34,
    show_default=True,
    help="With --extend: each added algorithm's pool size, its default included.",
)
def kb_build(
    corpus_dir: Path,
    out: str,
    shards: Path | None,
    datasets: tuple[str, ...],
    n_jobs: int,
    n_splits: int,
    max_rows: int,
    time_limit: float,
    pool_size: int,
    random_state: int,
    allowed: tuple[str, ...],
    extend: bool,
    extend_algorithms: tuple[str, ...],
    configs_per_algorithm: int,
) -> None:
    """Evaluate the shared pool on every dataset of CORPUS_DIR (resumes when rerun).

    CORPUS_DIR holds one table per dataset (.csv, .csv.gz or .parquet, in CORPUS_DIR/data
    or CORPUS_DIR itself) with a column named `target`, and optionally manifest.json: a
    list of {"name": file name without suffix, "task": binary|multiclass|regression}.
    The format is in docs/corpus.md.

    With --extend, add the installed algorithms the base at --out has no pool for: only
    their cells are evaluated, each algorithm's are exported to a subfolder of --shards,
    and the base records which plugin and version produced them.
    """
    from autometa._build import build_knowledge_base
    from autometa.knowledge._protocol import BuildProtocol
    from autometa.knowledge._urls import mask_url

    logger.info("kb build started: %s -> %s", corpus_dir, mask_url(out))
    try:
        protocol = BuildProtocol(n_splits, max_rows, time_limit, pool_size, random_state)
        if extend:
            _extend(
                corpus_dir,
                out,
                protocol,
                extend_algorithms,
                configs_per_algorithm,
                datasets,
                shards,
                n_jobs,
            )
            return
        if extend_algorithms:
            fail("--algorithm only applies with --extend.")
        knowledge = build_knowledge_base(
            corpus_dir,
            out,
            protocol=protocol,
            datasets=datasets or None,
            shards_dir=shards,
            n_jobs=n_jobs,
            allowed=allowed,
        )
    except BAD_INPUT as exc:
        fail_input(exc)
    logger.info("kb build finished: %s", knowledge.counts())
    click.echo(f"{knowledge!r}")


def _extend(
    corpus_dir: Path,
    out: str,
    protocol: BuildProtocol,
    algorithms: tuple[str, ...],
    configs_per_algorithm: int,
    datasets: tuple[str, ...],
    shards: Path | None,
    n_jobs: int,
) -> None:
    """``kb build --extend``: the protocol is compared only when an option of it was given."""
    from click.core import ParameterSource

    from autometa._extend import extend_knowledge_base

    context = click.get_current_context()
    named = ("n_splits", "max_rows", "time_limit", "pool_size", "random_state")
    given = any(context.get_parameter_source(n) != ParameterSource.DEFAULT for n in named)
    knowledge = extend_knowledge_base(
        corpus_dir,
        out,
        algorithms=algorithms or None,
        configs_per_algorithm=configs_per_algorithm,
        protocol=protocol if given else None,
        datasets=datasets or None,
        shards_dir=shards,
        n_jobs=n_jobs,
    )
    logger.info("kb build --extend finished: %s", knowledge.counts())
    click.echo(f"{knowledge!r}")


@kb.command("evaluate")
@click.argument("location", required=False)
@click.option("--learners", default=None, help="Comma-separated learner names (default: all).")
@click.option("--k", "ks", default="1,3,5,10,25", show_default=True, help="Comma-separated k.")
@click.option("--n-jobs", type=int, default=1, show_default=True)
@JSON_REPORT_OPTION
@click.option(
    "--selector",
    is_flag=True,
    help="Also evaluate the learned strategy selector (and the oracle) by leave-one-task-out.",
)
@click.option(
    "--save-selector-data",
    "selector_data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the per-task regrets as the selector's training data (JSON) here.",
)
def kb_evaluate(
    location: str | None,
    learners: str | None,
    ks: str,
    n_jobs: int,
    json_out: Path | None,
    selector: bool = False,
    selector_data: Path | None = None,
) -> None:
    """Leave-one-task-out evaluation of meta-learners on a knowledge base (default: shipped).

    --selector adds two rows: learned_selector, the meta-learner a pairwise-forest
    selector trained on the other tasks picks for each held-out task, and
    oracle_selector, each task's best learner (an upper bound).
    """
    from autometa._plugins import build_plugin_manager
    from autometa.knowledge._loto import leave_one_task_out

    manager = build_plugin_manager()
    registry = manager.meta_learners()
    names = [n.strip() for n in learners.split(",")] if learners else sorted(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        fail(f"unknown learners {unknown}; registered: {sorted(registry)}")
    try:
        knowledge = read_knowledge(location)
        report = leave_one_task_out(
            knowledge,
            {n: registry[n] for n in names},
            ks=[int(k) for k in ks.split(",")],
            n_jobs=n_jobs,
            progress=sys.stderr.isatty(),
        )
        summary = None
        if selector or selector_data is not None:
            judged = manager.evaluate_selector(
                report,
                knowledge,
                evaluate=selector,
                save_to=None if selector_data is None else str(selector_data),
                n_jobs=n_jobs,
            )
            if judged is None:
                fail(
                    "no installed plugin evaluates a strategy selector; install autometa "
                    "with its first-party plugins, or unblock 'selectors'."
                )
            else:
                report, summary = judged
    except BAD_INPUT as exc:
        fail_input(exc)
    click.echo(report.table())
    if summary:
        click.echo(summary)
    if json_out is not None:
        json_out.write_text(report.to_json())


@kb.command("replay")
@click.argument("location", required=False)
@click.option(
    "--seconds", default="5,10,30,60,120", show_default=True, help="Comma-separated budgets."
)
@click.option("--trials", default="1,5,10,25", show_default=True, help="Comma-separated counts.")
@click.option(
    "--rows",
    default=None,
    help="Scale every task's times to this many rows, or 'full' (each task's own size before "
    "subsampling); default: the stored times.",
)
@click.option("--n-splits", type=int, default=None, help="Folds per trial (default: stored 3).")
@click.option("--budget", type=float, default=None, help="Seconds the policies are told.")
@click.option("--overhead", type=float, default=0.1, show_default=True, help="Seconds per trial.")
@click.option("--random-state", type=int, default=0, show_default=True)
@JSON_REPORT_OPTION
@click.option("--cost-model", is_flag=True, help="Also the cost model's error (see above).")
@click.option("--observed-times", default="0", help="With --cost-model: Ks, e.g. 0,1,3,10.")
@click.option("--adaptive", is_flag=True, help="Also the adaptive policies (slower).")
def kb_replay(
    location: str | None,
    seconds: str,
    trials: str,
    rows: str | None,
    n_splits: int | None,
    budget: float | None,
    overhead: float,
    random_state: int,
    json_out: Path | None,
    cost_model: bool,
    observed_times: str,
    adaptive: bool,
) -> None:
    """Replay search policies leaving one task out, charging stored scores and fit times.

    Prints the mean normalized regret, (best - achieved) / (best - worst) over the pool
    on the held-out task, after each simulated budget in seconds and each trial count,
    for greedy_portfolio, nearest_tasks, random, cost_aware, single_best and the oracle
    (and adaptive_portfolio and adaptive_cost_aware, which re-weight the earlier tasks
    after every observed score, with --adaptive). --cost-model also reports the cost
    model's error on held-out tasks; --observed-times K,... after first correcting each
    held-out task's predictions with K of its own stored times, as a fit does with its
    trials' times (all Ks judged on the same cells).
    """
    from autometa.knowledge._cost_model import cost_model_report
    from autometa.knowledge._replay import FULL_ROWS, replay
    from autometa.knowledge._replay_policies import (
        AdaptiveCostAwarePolicy,
        AdaptivePolicy,
        AdaptivePortfolioPolicy,
        Policy,
        default_policies,
    )

    try:
        n_rows: float | str | None = None
        if rows is not None:
            n_rows = rows if rows == FULL_ROWS else float(rows)
        knowledge = read_knowledge(location)
        policies: list[Policy | AdaptivePolicy] = [*default_policies(random_state, overhead)]
        if adaptive:
            policies += [AdaptivePortfolioPolicy(), AdaptiveCostAwarePolicy(overhead)]
        report = replay(
            knowledge,
            policies,
            seconds=[float(s) for s in seconds.split(",")],
            trials=[int(k) for k in trials.split(",")],
            n_rows=n_rows,
            n_splits=n_splits,
            budget=budget,
            overhead=overhead,
            random_state=random_state,
        )
        errors = (
            cost_model_report(knowledge, [int(k) for k in observed_times.split(",")], random_state)
            if cost_model
            else None
        )
    except BAD_INPUT as exc:
        fail_input(exc)
    click.echo(report.table())
    if errors is not None:
        click.echo(f"\n{errors}")
    if json_out is not None:
        json_out.write_text(report.to_json())


@kb.command("info")
@click.argument("location", required=False)
def kb_info(location: str | None) -> None:
    """Counts and provenance of a knowledge base.

    Without LOCATION: the default of every fit, the shipped base with your own over it
    (``layers``: each one's location, counts and metadata; ``counts``: both together).
    Your own base is created by the first fit; AUTOMETA_USER_KNOWLEDGE names another
    file or URL, or ``off`` to learn from the shipped base only.
    """
    from autometa.knowledge._base import KnowledgeBase
    from autometa.knowledge._user import default_layers_info

    try:
        if location:
            knowledge = KnowledgeBase.open(location, read_only=True)
            info = {"counts": knowledge.counts(), "metadata": knowledge.metadata()}
        else:
            info = default_layers_info()
    except BAD_INPUT as exc:
        fail_input(exc)
    click.echo(json.dumps(info, indent=2, sort_keys=True, default=str))


@kb.command("export")
@click.argument("location", required=False)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON Lines file to write (.jsonl, or .jsonl.gz for gzip).",
)
@click.option("--exclude", multiple=True, help="Leave out this task id (repeatable).")
def kb_export(location: str | None, out: Path, exclude: tuple[str, ...]) -> None:
    """Export a knowledge base (default: the shipped one) to JSON Lines.

    --exclude makes a held-out copy, e.g. to benchmark on tasks the learner never saw.
    """

    if not out.parent.is_dir():
        fail(f"--out {out}: the directory {out.parent} does not exist; create it first.")
    try:
        knowledge = read_knowledge(location)
        with knowledge:
            kept = [t.task_id for t in knowledge.tasks() if t.task_id not in set(exclude)]
            counts = knowledge.export_jsonl(out, task_ids=kept)
    except BAD_INPUT as exc:
        fail_input(exc)
    click.echo(f"wrote {out}: {counts}")


@kb.command("import")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--into", required=True, help="Knowledge base file or URL (created if missing).")
def kb_import(sources: tuple[Path, ...], into: str) -> None:
    """Import JSON Lines files or folders of them; all or nothing."""
    from autometa.knowledge._base import KnowledgeBase
    from autometa.knowledge._urls import mask_url

    try:
        with KnowledgeBase.open(into) as knowledge:
            counts = knowledge.import_jsonl(list(sources))
    except BAD_INPUT as exc:
        fail_input(exc, ", ".join(map(str, sources)))
    click.echo(f"imported into {mask_url(into)}: {counts}")
