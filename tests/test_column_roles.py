"""Dates, identifiers and free text are found from X alone and derived alike at predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import autometa
from autometa.contract._column_roles import (
    MIN_ROWS_FOR_ID,
    ColumnRoles,
    derive_columns,
    derived_columns,
    detect_roles,
)

N = 40


def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=N)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, N + 1),
            "year": np.arange(1980, 1980 + N),  # a run of integers, but not named like a key
            "name": [f"customer {i:03d}" for i in range(N)],
            "iso": days.strftime("%Y-%m-%d %H:%M"),
            "eu": days.strftime("%d/%m/%Y"),
            "stamp": days,
            "waited": pd.to_timedelta(np.arange(N), unit="h"),
            "review": [f"the parcel came on day {i} and was in good shape" for i in range(N)],
            "colour": ["red", "blue", "green", "red"] * (N // 4),
            "x": rng.random(N),
        }
    )


def test_each_role_is_found_and_plain_columns_keep_theirs() -> None:
    roles = detect_roles(table())
    assert roles.dates == ("iso", "eu", "stamp")
    assert roles.day_first == ("eu",)
    assert roles.timed == ()  # every time of day is midnight
    assert roles.durations == ("waited",)
    assert roles.ids == ("customer_id", "name")
    assert roles.text == ("review",)


def test_derived_table_has_calendar_numbers_and_drops_identifiers() -> None:
    frame = table()
    roles = detect_roles(frame)
    out = derive_columns(frame, roles)
    assert list(out.columns) == list(derived_columns(frame.columns, roles))
    assert "customer_id" not in out
    assert "name" not in out
    assert {"year", "colour", "x"} <= set(out.columns)
    # 31 January written day first is read as 31 January, not refused or swapped
    row = 30
    assert out.loc[row, "eu__day"] == 31
    assert out.loc[row, "eu__month"] == 1
    assert out.loc[row, "iso__day_of_year"] == 31
    assert out.loc[1, "stamp__days"] - out.loc[0, "stamp__days"] == pytest.approx(1.0)
    assert out.loc[2, "waited__seconds"] == 7200.0
    assert out.loc[0, "review__words"] == 11.0
    assert all(out[c].dtype == float for c in out.columns if "__" in c)


def test_time_of_day_is_kept_when_present() -> None:
    frame = pd.DataFrame({"at": pd.date_range("2024-01-01", periods=N, freq="7h").astype(str)})
    roles = detect_roles(frame)
    assert roles.timed == ("at",)
    assert derive_columns(frame, roles).loc[1, "at__hour"] == 7.0


def test_predict_time_cells_that_do_not_parse_become_missing() -> None:
    frame = table()
    roles = detect_roles(frame)
    later = frame.iloc[:3].copy()
    later["iso"] = ["not a date", None, "2025-02-03 00:00"]
    out = derive_columns(later, roles)
    assert out["iso__year"].isna().tolist() == [True, True, False]
    assert out.loc[2, "iso__month"] == 2.0


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(np.arange(N), name="amount"),  # integers in a run, named like a quantity
        pd.Series(np.random.default_rng(1).random(N), name="row_id"),  # unique floats
        pd.Series([f"c{i}" for i in range(MIN_ROWS_FOR_ID - 1)], name="code"),  # too few rows
        pd.Series(["a", "b"] * (N // 2), name="id"),  # repeats: a category
        pd.Series([str(i) if i else None for i in range(N)], name="ref"),  # a missing cell
        pd.Series(["2024-01-01"] * (N - 5) + ["soon"] * 5, name="when"),  # mostly dates only
        pd.Series([str(v) for v in range(N)], name="plain_numbers_as_text_are_no_dates"),
    ],
)
def test_unclear_evidence_leaves_a_column_alone(column: pd.Series) -> None:
    roles = detect_roles(column.to_frame())
    assert column.name not in (*roles.dates, *roles.text) or not roles
    if column.name == "plain_numbers_as_text_are_no_dates":
        assert roles.ids == (column.name,)  # unique text of one word: an identifier
    else:
        assert roles == ColumnRoles()


def test_short_repeated_strings_are_categories_not_text() -> None:
    frame = pd.DataFrame({"answer": ["yes I agree with this", "no I do not agree"] * (N // 2)})
    assert detect_roles(frame) == ColumnRoles()


def test_describe_names_every_rerolled_column_and_what_happened() -> None:
    lines = detect_roles(table()).describe()
    assert len(lines) == 7
    assert any("'customer_id'" in line and "dropped" in line for line in lines)
    assert any("'review'" in line and "encode the text yourself" in line for line in lines)


def test_a_fit_on_dates_ids_and_text_predicts_new_rows_and_explains_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 120
    days = pd.date_range("2023-01-01", periods=n, freq="3D")
    frame = pd.DataFrame(
        {
            "order_id": np.arange(1000, 1000 + n),
            "when": days.strftime("%Y-%m-%d"),
            "note": [f"order {i} asked for {rng.integers(1, 9)} items by post" for i in range(n)],
            "amount": rng.normal(size=n),
        }
    )
    y = (days.month >= 7).astype(int)  # the date is what tells the classes apart
    with pytest.warns(UserWarning, match="'order_id' is unique in every row"):
        model = autometa.fit(
            frame, y, n_trials=3, random_state=0, algorithms=["linear", "naive_bayes"]
        )
    assert list(model.feature_names_in_) == list(frame.columns)
    assert "order_id" not in model.schema_.features
    assert "when__month" in model.schema_.features
    later = frame.iloc[:5].assign(order_id=np.arange(9000, 9005))  # unseen identifiers
    assert model.predict_proba(later).shape == (5, 2)
    explanation = model.explain()
    assert "column 'when' holds dates" in explanation
    assert "column 'note' holds free text" in explanation
    pytest.importorskip("skops")
    from autometa.persistence import UntrustedTypesError, load_model, save_model

    save_model(model, tmp_path / "model.skops")
    try:
        loaded = load_model(tmp_path / "model.skops")
    except UntrustedTypesError as refused:
        loaded = load_model(tmp_path / "model.skops", trusted=refused.types)
    np.testing.assert_array_equal(loaded.predict_proba(later), model.predict_proba(later))
