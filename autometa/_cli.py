"""The ``autometa`` command line.

Exit codes a script can rely on: 0 success, 1 a failed run (e.g. every trial failed),
2 bad usage or bad input (click's convention for usage errors).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from autometa._version import __version__

if TYPE_CHECKING:
    from autometa.contract import TaskKind
    from autometa.knowledge import KnowledgeBase

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

logger = logging.getLogger(__name__)

PLOTS_HELP = 'Write PNG plots into this folder (needs pip install "autometa-ml[plots]").'


JSON_REPORT_OPTION = click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the full report (per task) as JSON.",
)
KIND_HELP = (
    "binary, multiclass or regression. Default: a regression scorer in --scoring means "
    "regression, another scorer classification; without one it is guessed from the "
    "target (an integer target with few values, each on two rows or more, is taken as "
    "classes)."
)


def _read_knowledge(location: str | None) -> KnowledgeBase:
    """The knowledge base at ``location``, opened only to read (it must exist), or the
    shipped one."""
    from autometa.knowledge._base import KnowledgeBase

    if location:
        return KnowledgeBase.open(location, read_only=True, create=False)
    return KnowledgeBase.default()


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@click.group()
@click.version_option(__version__, prog_name="autometa")
@click.option("-v", "--verbose", count=True, help="Log progress (-v info, -vv debug).")
def main(verbose: int) -> None:
    """autometa: meta-learning AutoML that warm-starts Optuna from earlier tasks."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="Name of the target column.")
@click.option("--kind", default=None, help=KIND_HELP)
@click.option("--timeout", type=float, default=None, help="Seconds for search and refit.")
@click.option("--n-trials", type=int, default=None, help="Stop after this many trials.")
@click.option("--n-jobs", type=int, default=1, show_default=True, help="Parallel trials.")
@click.option("--random-state", type=int, default=None)
@click.option("--scoring", default=None, help="A scikit-learn scorer name.")
@click.option("--warm-start", type=int, default=None, help="Warm starts (0 = cold search).")
@click.option("--storage", default=None, help="Optuna storage URL for a durable study.")
@click.option("--study-name", default=None)
@click.option(
    "--knowledge", default=None, help="Knowledge base file or URL to learn from and grow."
)
@click.option(
    "--ensemble/--no-ensemble",
    default=True,
    show_default=True,
    help="An ensemble of the evaluated configurations; --no-ensemble refits the best alone.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the fitted model here: .skops (data only, safe to share; needs "
    "autometa-ml[safe]) or .joblib (a pickle: it runs code when loaded, so load only files "
    "you trust).",
)
@click.option(
    "--plots",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=PLOTS_HELP,
)
def fit(data: Path, target: str, out: Path | None, plots: Path | None, **options: Any) -> None:
    """Fit a model on DATA (CSV, CSV.gz or Parquet) and print how the search went.

    The explanation says where each warm start came from, what the meta-learner
    predicted, how it scored and which configuration won; --plots draws the same.
    """
    import autometa
    from autometa.knowledge._corpus import read_table

    if plots is not None:
        _check_plots_available()
    if out is not None:
        from autometa.persistence import check_model_path

        try:
            check_model_path(out)  # a bad --out fails now, not after the fit
        except (ValueError, ImportError) as exc:
            _fail(str(exc))
    try:
        X, y = read_table(data, target)
        model = autometa.fit(X, y, progress=sys.stderr.isatty(), **options)
    except autometa.AllTrialsFailedError as exc:  # a ValueError, but a failed run
        _fail(str(exc), EXIT_FAILED)
    except (ValueError, TypeError) as exc:
        _fail(str(exc))
    click.echo(model.explain())
    if out is not None:
        from autometa.persistence import save_model

        try:
            save_model(model, out)
        except ValueError as exc:
            _fail(str(exc), EXIT_FAILED)
        click.echo(f"Model saved to {out}")
    if plots is not None:  # after the save: a plot that fails must not cost the model
        from autometa.plots import write_plots

        try:
            _echo_plots(write_plots(model, plots))
        except (OSError, ValueError) as exc:
            _fail(f"the fit worked but the plots could not be written: {exc}", EXIT_FAILED)


@main.command()
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", default=None, help="Drop this column before predicting, if present.")
@click.option("--proba", is_flag=True, help="Print class probabilities instead of labels.")
@click.option(
    "--trust",
    "trusted",
    multiple=True,
    help="A type a .skops model may hold although it is not known to be safe (repeatable).",
)
def predict(
    model_path: Path, data: Path, target: str | None, proba: bool, trusted: tuple[str, ...]
) -> None:
    """Predict DATA with a model saved by `autometa fit --out`.

    A .skops model is data: types not known to be safe are refused unless named with
    --trust. A .joblib model is a pickle that runs code when loaded: only files you trust.
    """
    import pandas as pd

    from autometa.persistence import load_model

    try:
        model = load_model(model_path, trusted=trusted)
    except (ValueError, ImportError) as exc:  # UntrustedTypesError is a ValueError
        _fail(str(exc))
    frame = pd.read_csv(data, keep_default_na=False, na_values=[""])
    if target and target in frame.columns:
        frame = frame.drop(columns=[target])
    try:
        values = model.predict_proba(frame) if proba else model.predict(frame)
    except (ValueError, TypeError) as exc:
        _fail(str(exc))
    pd.DataFrame(values if proba else {"prediction": values}).to_csv(sys.stdout, index=False)


@main.command()
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", required=True)
@click.option("--kind", default=None, help=KIND_HELP)
@click.option("-k", "--k", "k", type=int, default=10, show_default=True)
@click.option("--knowledge", default=None, help="Knowledge base file or URL (default: shipped).")
@click.option(
    "--plots",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=PLOTS_HELP + " Draws the task among the earlier ones.",
)
def recommend(
    data: Path,
    target: str,
    kind: TaskKind | None,
    k: int,
    knowledge: str | None,
    plots: Path | None,
) -> None:
    """Recommend configurations for DATA, with the evidence for each; fits nothing."""
    from autometa._explain import format_recommendations
    from autometa.knowledge._base import KnowledgeBase
    from autometa.knowledge._corpus import read_table
    from autometa.search._planning import make_plan

    if plots is not None:
        _check_plots_available()
    if k < 1:
        _fail(f"-k must be at least 1, got {k}.")
    try:
        X, y = read_table(data, target)
        # A named knowledge base is only read: recommending must not create or change it.
        base = (
            None
            if knowledge is None
            else KnowledgeBase.open(knowledge, read_only=True, create=False)
        )
        plan = make_plan(X, y, kind=kind, knowledge=base, warm_start=k)  # as autometa.recommend
    except (ValueError, TypeError, OSError) as exc:
        _fail(str(exc))
    click.echo(
        format_recommendations(plan.recommendations, meta_features=plan.meta_features.values)
    )
    if plots is not None:
        from autometa.plots import save, task_space_figure

        figure = task_space_figure(
            plan.meta_features.values, plan.task.kind, plan.recommendations, plan.knowledge
        )
        _echo_plots([save(figure, plots / "task_space.png")])


def _check_plots_available() -> None:
    """Fail before any work when --plots is given but matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        _fail('--plots needs matplotlib: pip install "autometa-ml[plots]"')


def _echo_plots(paths: list[Path]) -> None:
    click.echo("Plots: " + ", ".join(str(p) for p in paths))


@main.command()
def plugins() -> None:
    """List plugins: name, distribution and version, hooks implemented."""
    from autometa._plugins import build_plugin_manager

    for info in build_plugin_manager().info():
        origin = f"{info.distribution} {info.version}" if info.distribution else "passed in"
        click.echo(f"{info.name:<12} {origin:<24} {', '.join(info.hooks)}")


@main.group()
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
) -> None:
    """Evaluate the shared pool on every dataset of CORPUS_DIR (resumes when rerun)."""
    from autometa.knowledge._builder import BuildProtocol, build_knowledge_base

    logger.info("kb build started: %s -> %s", corpus_dir, out)
    try:
        protocol = BuildProtocol(n_splits, max_rows, time_limit, pool_size, random_state)
        knowledge = build_knowledge_base(
            corpus_dir,
            out,
            protocol=protocol,
            datasets=datasets or None,
            shards_dir=shards,
            n_jobs=n_jobs,
            allowed=allowed,
        )
    except ValueError as exc:
        _fail(str(exc))
    logger.info("kb build finished: %s", knowledge.counts())
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
        _fail(f"unknown learners {unknown}; registered: {sorted(registry)}")
    try:
        knowledge = _read_knowledge(location)
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
                _fail(
                    "no installed plugin evaluates a strategy selector; install autometa "
                    "with its first-party plugins, or unblock 'selectors'."
                )
            else:
                report, summary = judged
    except ValueError as exc:
        _fail(str(exc))
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
@click.option(
    "--cost-model", is_flag=True, help="Also report the cost model's error on held-out tasks."
)
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
) -> None:
    """Replay search policies leaving one task out, charging stored scores and fit times.

    Prints the mean normalized regret, (best - achieved) / (best - worst) over the pool
    on the held-out task, after each simulated budget in seconds and each trial count,
    for greedy_portfolio, nearest_tasks, random, cost_aware, single_best and the oracle.
    """
    from autometa.contract._cost import timing_table
    from autometa.knowledge._cost_model import cost_model_error
    from autometa.knowledge._replay import FULL_ROWS, replay

    try:
        n_rows: float | str | None = None
        if rows is not None:
            n_rows = rows if rows == FULL_ROWS else float(rows)
        knowledge = _read_knowledge(location)
        report = replay(
            knowledge,
            seconds=[float(s) for s in seconds.split(",")],
            trials=[int(k) for k in trials.split(",")],
            n_rows=n_rows,
            n_splits=n_splits,
            budget=budget,
            overhead=overhead,
            random_state=random_state,
        )
        error = cost_model_error(*timing_table(knowledge)) if cost_model else None
    except ValueError as exc:
        _fail(str(exc))
    click.echo(report.table())
    if error is not None:
        click.echo("\ncost model, one task held out at a time:")
        click.echo(error.table())
    if json_out is not None:
        json_out.write_text(report.to_json())


@kb.command("info")
@click.argument("location", required=False)
def kb_info(location: str | None) -> None:
    """Counts and provenance of a knowledge base (default: the shipped one)."""
    from autometa.knowledge._base import KnowledgeBase

    try:
        knowledge = (
            KnowledgeBase.open(location, read_only=True) if location else KnowledgeBase.default()
        )
    except ValueError as exc:
        _fail(str(exc))
    click.echo(
        json.dumps(
            {"counts": knowledge.counts(), "metadata": knowledge.metadata()},
            indent=2,
            sort_keys=True,
            default=str,
        )
    )


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

    try:
        knowledge = _read_knowledge(location)
        with knowledge:
            kept = [t.task_id for t in knowledge.tasks() if t.task_id not in set(exclude)]
            counts = knowledge.export_jsonl(out, task_ids=kept)
    except ValueError as exc:
        _fail(str(exc))
    click.echo(f"wrote {out}: {counts}")


@kb.command("import")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--into", required=True, help="Knowledge base file or URL (created if missing).")
def kb_import(sources: tuple[Path, ...], into: str) -> None:
    """Import JSON Lines files or folders of them; all or nothing."""
    from autometa.knowledge._base import KnowledgeBase

    try:
        with KnowledgeBase.open(into) as knowledge:
            counts = knowledge.import_jsonl(list(sources))
    except ValueError as exc:
        _fail(str(exc))
    click.echo(f"imported into {into}: {counts}")
