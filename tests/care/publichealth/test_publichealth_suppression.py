"""Small cells: primary, complementary and correction-safe suppression, and a hostile analyst who differences a
report and its correction with every sum they publish. The analyst succeeds against primary suppression alone
(so the attack is real) and fails against what the reports publish."""

from __future__ import annotations

from fractions import Fraction

import pytest

from care.publichealth.cases import AGE_BANDS, SEXES
from care.publichealth.service import PublicHealthError, check_publishable
from care.publichealth.suppression import Key, full_table, relations, suppress

K = 5
D, R = "B50", "BJ-MO"


def cell(age: str, sex: str) -> Key:
    return (D, R, age, sex)


WEEK_1 = {cell("25-44", "female"): 6, cell("5-14", "male"): 3, cell("0-4", "female"): 7, cell("65+", "male"): 9, cell("15-24", "female"): 5}
# The correction: one late case, a girl of 0-4 years (the cell moves 7 -> 8) and a new 45-64 man (0 -> 1).
WEEK_1_CORRECTED = WEEK_1 | {cell("0-4", "female"): 8, cell("45-64", "male"): 1}


def primary_only(table: dict[Key, int], k: int) -> dict[Key, int | None]:
    full = full_table(table)
    return {key: (None if 0 < v < k else v) for key, v in full.items()}


def attack(reports: list[dict[Key, int | None]]) -> dict[tuple[int, Key], Fraction]:
    """Everything the analyst can work out exactly: per report, each suppressed item's value, from the report's own
    sums and from the other reports under the assumption that what they published did not change."""
    variables: dict[tuple[int, Key], int] = {}
    rows: list[tuple[dict[int, Fraction], Fraction]] = []

    def term(r: int, key: Key) -> tuple[int | None, Fraction]:
        value = reports[r][key]
        if value is not None:
            return None, Fraction(value)
        for other in reports:  # "unchanged" guess from another report that published it
            if other.get(key) is not None:
                return None, Fraction(other[key])  # type: ignore[arg-type]
        shared = variables.setdefault((0, key), len(variables))  # suppressed everywhere: one unknown for all reports
        return shared, Fraction(0)

    for r in range(len(reports)):
        for total, parts in relations((D, R)):
            coeffs: dict[int, Fraction] = {}
            rhs = Fraction(0)
            for sign, key in [(-1, total)] + [(1, p) for p in parts]:
                var, value = term(r, key)
                if var is None:
                    rhs -= sign * value
                else:
                    coeffs[var] = coeffs.get(var, Fraction(0)) + sign
            if any(coeffs.values()):
                rows.append((coeffs, rhs))
    n = len(variables)
    matrix = [[c.get(i, Fraction(0)) for i in range(n)] + [rhs] for c, rhs in rows]
    # Reduced row echelon form over the rationals.
    r = 0
    for col in range(n):
        pivot = next((i for i in range(r, len(matrix)) if matrix[i][col] != 0), None)
        if pivot is None:
            continue
        matrix[r], matrix[pivot] = matrix[pivot], matrix[r]
        matrix[r] = [x / matrix[r][col] for x in matrix[r]]
        for i in range(len(matrix)):
            if i != r and matrix[i][col] != 0:
                matrix[i] = [a - matrix[i][col] * b for a, b in zip(matrix[i], matrix[r])]
        r += 1
    found: dict[tuple[int, Key], Fraction] = {}
    by_index = {i: key for key, i in variables.items()}
    for row in matrix[:r]:
        support = [i for i in range(n) if row[i] != 0]
        if len(support) == 1:
            found[by_index[support[0]]] = row[n]
    return found


def disclosed(found: dict[tuple[int, Key], Fraction], truths: list[dict[Key, int]]) -> list[tuple[Key, int]]:
    """Small true values (1..k-1, in any report) that the analyst worked out exactly."""
    out = []
    for (_, key), value in found.items():
        for truth in truths:
            true = full_table(truth).get(key, 0)
            if 0 < true < K and value == true:
                out.append((key, true))
    return out


def differences(a: dict[Key, int | None], b: dict[Key, int | None]) -> list[tuple[Key, int]]:
    """Items published in both reports whose change is a small number (a late case, in the clear)."""
    return [(key, b[key] - a[key]) for key in a if a[key] is not None and b.get(key) is not None and 0 < abs(b[key] - a[key]) < K]  # type: ignore[operator]


def test_primary_suppression_alone_is_broken() -> None:
    naive = primary_only(WEEK_1, K)
    assert disclosed(attack([naive]), [WEEK_1]), "the margins give the lone small cell away"
    naive_fix = primary_only(WEEK_1_CORRECTED, K)
    assert differences(naive, naive_fix), "the correction's margins show the late case"


def test_a_report_gives_nothing_small_away() -> None:
    published = suppress(WEEK_1, K).values
    check_publishable(published, K)
    assert published[cell("5-14", "male")] is None
    assert len([v for v in published.values() if v is None]) >= 2
    assert disclosed(attack([published]), [WEEK_1]) == []


def test_differencing_a_report_and_its_correction_fails() -> None:
    first = suppress(WEEK_1, K).values
    corrected = suppress(WEEK_1_CORRECTED, K, earlier=[first]).values
    check_publishable(corrected, K)
    assert differences(first, corrected) == [], "no published item moves by 1..k-1"
    assert {key for key, v in first.items() if v is None} <= {key for key, v in corrected.items() if v is None}, "suppressed stays suppressed"
    assert disclosed(attack([first, corrected]), [WEEK_1, WEEK_1_CORRECTED]) == []
    assert disclosed(attack([corrected]), [WEEK_1_CORRECTED]) == []
    # A second correction (the late case retracted again) is judged against both earlier reports.
    again = suppress(WEEK_1, K, earlier=[first, corrected]).values
    assert disclosed(attack([first, corrected, again]), [WEEK_1, WEEK_1_CORRECTED, WEEK_1]) == []
    assert differences(corrected, again) == [] and differences(first, again) == []


@pytest.mark.parametrize("seed", range(25))
def test_random_tables_and_corrections(seed: int) -> None:
    import random

    rng = random.Random(seed)
    keys = [cell(a, s) for a in AGE_BANDS for s in SEXES]
    week = {key: rng.choice([0, 0, 0, 1, 2, 3, 4, 5, 6, 9, 14]) for key in rng.sample(keys, 8)}
    fix = dict(week)
    for key in rng.sample(keys, 3):
        fix[key] = max(0, fix.get(key, 0) + rng.choice([-2, -1, 1, 2, 3]))
    first = suppress(week, K).values
    corrected = suppress(fix, K, earlier=[first]).values
    check_publishable(first, K)
    check_publishable(corrected, K)
    assert differences(first, corrected) == []
    assert disclosed(attack([first, corrected]), [week, fix]) == []


def test_a_payload_with_a_small_cell_is_refused() -> None:
    values = dict(suppress(WEEK_1, K).values)
    values[cell("5-14", "male")] = 3
    with pytest.raises(PublicHealthError):
        check_publishable(values, K)
