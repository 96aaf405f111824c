"""The ``autometa`` command line.

Exit codes a script can rely on: 0 success, 1 a failed run (e.g. every trial failed),
2 bad usage or bad input (click's convention for usage errors).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from autometa._cli_common import BAD_INPUT, EXIT_FAILED, fail, fail_input
from autometa._cli_fit import class_weight_option, fit_options, row_options, take_row_columns
from autometa._cli_kb import kb
from autometa._version import __version__

if TYPE_CHECKING:
    from autometa.contract import TaskKind

logger = logging.getLogger(__name__)

PLOTS_HELP = 'Write PNG plots into this folder (needs pip install "autometa-ml[plots]").'


KIND_HELP = (
    "binary, multiclass or regression. Default: a regression scorer in --scoring means "
    "regression, another scorer classification; without one it is guessed from the "
    "target (an integer target with few values, each on two rows or more, is taken as "
    "classes)."
)


@click.group()
@click.version_option(__version__, prog_name="autometa")
@click.option("-v", "--verbose", count=True, help="Log progress (-v info, -vv debug).")
def main(verbose: int) -> None:
    """autometa: meta-learning AutoML that warm-starts Optuna from earlier tasks."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument(
    "data", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
@click.option("--target", required=True, help="Name of the target column.")
@click.option("--kind", default=None, help=KIND_HELP)
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds for search and refit together. Default: 60 when --n-trials is not given.",
)
@click.option("--n-trials", type=int, default=None, help="Stop after this many trials.")
@click.option("--n-jobs", type=int, default=1, show_default=True, help="Parallel trials.")
@click.option("--random-state", type=int, default=None, help="Seed for a reproducible fit.")
@click.option(
    "--scoring",
    default=None,
    help="A scikit-learn scorer name. Default: roc_auc (binary), neg_log_loss "
    "(multiclass), r2 (regression).",
)
@click.option("--cv", type=int, default=None, help="Folds. Default: chosen by the strategy.")
@click.option(
    "--warm-start",
    type=int,
    default=None,
    help="Warm starts from the knowledge base. Default: the strategy's.",
)
@click.option("--no-warm-start", is_flag=True, help="A cold search (same as --warm-start 0).")
@click.option(
    "--algorithms",
    default=None,
    help="Comma-separated algorithm names to search (see `autometa plugins`). Default: all.",
)
@click.option("--blocked", default=None, help="Comma-separated plugin names not to load.")
@click.option(
    "--plugin",
    "plugin_modules",
    multiple=True,
    help="Import this module (dotted name) and register it as a plugin; repeatable.",
)
@click.option(
    "--memory-limit",
    default="auto",
    show_default=True,
    help="Megabytes per trial, 'auto' (80%% of RAM shared by the workers) or 'none'.",
)
@click.option("--storage", default=None, help="Optuna storage URL for a durable study.")
@click.option("--study-name", default=None, help="Name of the durable study (with --storage).")
@click.option(
    "--artifact-store",
    default="auto",
    show_default=True,
    help="Folder where the processes of a durable study share their trials' predictions "
    "for the ensemble; 'auto' is STUDY.db.artifacts beside an SQLite study, 'none' shares none.",
)
@click.option(
    "--knowledge",
    default=None,
    help="Knowledge base file or URL to learn from and grow. Default: your own over the "
    "shipped one (see `autometa kb info`; AUTOMETA_USER_KNOWLEDGE=off for the shipped one only).",
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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as JSON (kind, scoring, best configuration and score, every "
    "trial) instead of the explanation.",
)
@row_options
def fit(
    data: Path,
    target: str,
    out: Path | None,
    plots: Path | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Fit a model on DATA (CSV, CSV.gz or Parquet) and print how the search went.

    The explanation says where each warm start came from, what the meta-learner
    predicted, how it scored and which configuration won; --plots draws the same.
    --sample-weight and --groups name columns of DATA (not features) holding each
    row's weight and group; --class-weight weighs training rows by their class.
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
            fail(str(exc))
    try:
        options = fit_options(**options)
        X, y = read_table(data, target)
        X, rows = take_row_columns(X, options.pop("sample_weight"), options.pop("groups"))
        options["class_weight"] = class_weight_option(options["class_weight"], y)
        _announce_task(y, options.get("kind"), options.get("scoring"))
        verbose = 1 if sys.stderr.isatty() else 0
        model = autometa.fit(X, y, verbose=verbose, **rows, **options)
    except autometa.AllTrialsFailedError as exc:  # a ValueError, but a failed run
        fail(str(exc), EXIT_FAILED)
    except (*BAD_INPUT, TypeError) as exc:
        fail_input(exc)
    click.echo(_as_json(model) if as_json else model.explain())
    if out is not None:
        from autometa.persistence import save_model

        try:
            save_model(model, out)
        except (ValueError, OSError) as exc:
            fail(str(exc), EXIT_FAILED)
        click.echo(f"Model saved to {out}")
    if plots is not None:  # after the save: a plot that fails must not cost the model
        from autometa.plots import write_plots

        try:
            _echo_plots(write_plots(model, plots))
        except (OSError, ValueError) as exc:
            fail(f"the fit worked but the plots could not be written: {exc}", EXIT_FAILED)


@main.command()
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument(
    "data", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
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

    from autometa.knowledge._corpus import read_frame
    from autometa.persistence import load_model

    try:
        model = load_model(model_path, trusted=trusted)
    except (*BAD_INPUT, ImportError) as exc:  # UntrustedTypesError is a ValueError
        fail_input(exc)
    try:
        frame = read_frame(data)
    except BAD_INPUT as exc:
        fail_input(exc)
    if target and target in frame.columns:
        frame = frame.drop(columns=[target])
    try:
        values = model.predict_proba(frame) if proba else model.predict(frame)
    except (ValueError, TypeError, AttributeError) as exc:
        fail(str(exc))
    if proba:  # one column per class, headed by its label
        table = pd.DataFrame(values, columns=[str(c) for c in model.classes_])
    else:
        table = pd.DataFrame({"prediction": values})
    table.to_csv(sys.stdout, index=False)


@main.command()
@click.argument(
    "data", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
@click.option("--target", required=True)
@click.option("--kind", default=None, help=KIND_HELP)
@click.option("-k", "--k", "k", type=int, default=10, show_default=True)
@click.option(
    "--knowledge",
    default=None,
    help="Knowledge base file or URL, only read (default: your own over the shipped one).",
)
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
    from autometa._recommend import recommendation_plan
    from autometa.knowledge._base import KnowledgeBase
    from autometa.knowledge._corpus import read_table

    if plots is not None:
        _check_plots_available()
    if k < 1:
        fail(f"-k must be at least 1, got {k}.")
    try:
        X, y = read_table(data, target)
        # A named knowledge base is only read: recommending must not create or change it.
        base = (
            None
            if knowledge is None
            else KnowledgeBase.open(knowledge, read_only=True, create=False)
        )
        plan = recommendation_plan(X, y, k, kind=kind, knowledge=base)
    except (*BAD_INPUT, TypeError) as exc:
        fail_input(exc)
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
        fail('--plots needs matplotlib: pip install "autometa-ml[plots]"')


def _as_json(model: Any) -> str:
    """What a script reads after a fit: the task, the winner, and every trial."""
    import json

    board = model.leaderboard()
    trials = json.loads(board.to_json(orient="records"))
    return json.dumps(
        {
            "kind": model.task_kind_,
            "scoring": model.scoring_,
            "best_config": {"algorithm": model.best_config_.algorithm, **model.best_config_.params},
            "best_score": model.best_score_,
            "n_trials": len(board),
            "ensemble_members": int((board["ensemble_weight"] > 0).sum()),
            "trials": trials,
        },
        indent=2,
        default=str,
    )


def _announce_task(y: Any, kind: str | None, scoring: str | None) -> None:
    """Say on stderr, before the search, which kind of task and which scoring it runs
    with, and whether each was given or inferred (the fit checks both again)."""
    import warnings

    import numpy as np

    from autometa.contract._task_checks import DEFAULT_SCORING, infer_kind

    if kind is None:
        with warnings.catch_warnings():  # the fit itself warns about a borderline guess
            warnings.simplefilter("ignore")
            try:
                kind = infer_kind(np.asarray(y), scoring)
            except (ValueError, TypeError):
                return  # bad input: the fit names the problem
        kind_source = "inferred from the target" + (" and scoring" if scoring else "")
    else:
        kind_source = "given"
    if kind not in DEFAULT_SCORING:
        return
    scoring_source = "given" if scoring else f"the default for {kind}"
    chosen = scoring or DEFAULT_SCORING[kind]
    click.echo(f"Task: {kind} ({kind_source}), scoring={chosen} ({scoring_source}).", err=True)


def _echo_plots(paths: list[Path]) -> None:
    click.echo("Plots: " + ", ".join(str(p) for p in paths))


@main.command()
def plugins() -> None:
    """List plugins: name, distribution and version, hooks implemented."""
    from autometa._plugins import build_plugin_manager

    for info in build_plugin_manager().info():
        origin = f"{info.distribution} {info.version}" if info.distribution else "passed in"
        click.echo(f"{info.name:<12} {origin:<24} {', '.join(info.hooks)}")


main.add_command(kb)
