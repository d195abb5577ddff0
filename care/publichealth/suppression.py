"""Small-cell suppression for one weekly report: primary (1..k-1), complementary, and correction-safe.

A report's table, per (disease, region), is the full grid of age band x sex cells, the age-band and sex margins and
the grand total; "*" marks a margin. Every margin is a published sum of its cells, so a lone suppressed item in a
sum could be worked out by subtraction. The rules, applied until nothing changes:

1. primary: an item (cell or margin) with a count in 1..k-1 is suppressed;
2. correction-safe: in a correction, every item suppressed in an earlier report for the week stays suppressed, and
   an item whose published value would change by 1..k-1 is suppressed (the change itself would be a small cell);
3. complementary: a sum with exactly one suppressed item gets a second one (its smallest non-zero cell; else a zero
   cell; else its total);
4. linear check: no suppressed item may be determined by the block's sums taken together (exact Gaussian
   elimination over the rationals); a determined one gets a complement in one of its sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from care.publichealth.cases import AGE_BANDS, SEXES

ALL = "*"
Key = tuple[str, str, str, str]  # (disease code, region, age band | "*", sex | "*")
Block = tuple[str, str]  # (disease, region)


@dataclass(frozen=True)
class Suppressed:
    k: int
    values: dict[Key, int | None]  # None: suppressed

    def published(self) -> dict[Key, int]:
        return {key: v for key, v in self.values.items() if v is not None}

    def suppressed(self) -> set[Key]:
        return {key for key, v in self.values.items() if v is None}


def full_table(counts: Mapping[Key, int], blocks: Iterable[Block] = ()) -> dict[Key, int]:
    """Cells (zeros included) and margins for every (disease, region) in `counts` or `blocks`."""
    all_blocks = {(d, r) for d, r, _, _ in counts} | set(blocks)
    table: dict[Key, int] = {}
    for d, r in all_blocks:
        for a in AGE_BANDS:
            for s in SEXES:
                table[(d, r, a, s)] = int(counts.get((d, r, a, s), 0))
        for a in AGE_BANDS:
            table[(d, r, a, ALL)] = sum(table[(d, r, a, s)] for s in SEXES)
        for s in SEXES:
            table[(d, r, ALL, s)] = sum(table[(d, r, a, s)] for a in AGE_BANDS)
        table[(d, r, ALL, ALL)] = sum(table[(d, r, a, ALL)] for a in AGE_BANDS)
    return table


def relations(block: Block) -> list[tuple[Key, list[Key]]]:
    """The block's sums: (total, parts)."""
    d, r = block
    out: list[tuple[Key, list[Key]]] = []
    for a in AGE_BANDS:
        out.append(((d, r, a, ALL), [(d, r, a, s) for s in SEXES]))
    for s in SEXES:
        out.append(((d, r, ALL, s), [(d, r, a, s) for a in AGE_BANDS]))
    out.append(((d, r, ALL, ALL), [(d, r, a, ALL) for a in AGE_BANDS]))
    out.append(((d, r, ALL, ALL), [(d, r, ALL, s) for s in SEXES]))
    return out


def suppress(table: Mapping[Key, int], k: int, earlier: Iterable[Mapping[Key, int | None]] = ()) -> Suppressed:
    """The published form of `table` under threshold `k`; `earlier`: the published values of the earlier reports
    for the same week (for a correction)."""
    if k < 2:
        raise ValueError("k must be at least 2")
    earlier = [dict(e) for e in earlier]
    blocks = {(d, r) for d, r, _, _ in table} | {(d, r) for e in earlier for d, r, _, _ in e}
    full = dict(full_table({key: v for key, v in table.items() if key[2] != ALL and key[3] != ALL}, blocks))
    hidden = {key for key, v in full.items() if 0 < v < k}
    for before in earlier:
        for key, old in before.items():
            if old is None or 0 < abs(full.get(key, 0) - old) < k:
                hidden.add(key)
    for block in sorted(blocks):
        _complete_block(full, hidden, block)
    return Suppressed(k=k, values={key: (None if key in hidden else v) for key, v in full.items()})


def _complete_block(full: Mapping[Key, int], hidden: set[Key], block: Block) -> None:
    rels = relations(block)
    while True:
        changed = False
        for total, parts in rels:
            unknown = [x for x in (total, *parts) if x in hidden]
            if len(unknown) == 1:
                hidden.add(_complement(full, hidden, total, parts))
                changed = True
        if changed:
            continue
        determined = determined_items(rels, hidden)
        if not determined:
            return
        key = sorted(determined)[0]
        total, parts = next((t, p) for t, p in rels if key == t or key in p)
        hidden.add(_complement(full, hidden, total, parts))


def _complement(full: Mapping[Key, int], hidden: set[Key], total: Key, parts: list[Key]) -> Key:
    open_parts = [p for p in parts if p not in hidden]
    positive = sorted((full[p], p) for p in open_parts if full[p] > 0)
    if positive:
        return positive[0][1]
    if open_parts:
        return sorted(open_parts)[0]
    return total


def determined_items(rels: list[tuple[Key, list[Key]]], hidden: set[Key]) -> set[Key]:
    """Suppressed items whose value the sums determine (the unit vector lies in the span of the sums' rows)."""
    unknown = sorted({x for total, parts in rels for x in (total, *parts) if x in hidden})
    if not unknown:
        return set()
    index = {key: i for i, key in enumerate(unknown)}
    rows: list[list[Fraction]] = []
    for total, parts in rels:
        row = [Fraction(0)] * len(unknown)
        if total in index:
            row[index[total]] -= 1
        for p in parts:
            if p in index:
                row[index[p]] += 1
        if any(row):
            rows.append(row)
    pivots = _rref(rows)
    found: set[Key] = set()
    for key, i in index.items():
        v = [Fraction(0)] * len(unknown)
        v[i] = Fraction(1)
        for col, row in pivots:
            if v[col]:
                factor = v[col]
                v = [a - factor * b for a, b in zip(v, row)]
        if not any(v):
            found.add(key)
    return found


def _rref(rows: list[list[Fraction]]) -> list[tuple[int, list[Fraction]]]:
    """Reduced row echelon form: (pivot column, row) pairs."""
    rows = [r[:] for r in rows]
    pivots: list[tuple[int, list[Fraction]]] = []
    width = len(rows[0]) if rows else 0
    r = 0
    for col in range(width):
        pivot = next((i for i in range(r, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        lead = rows[r][col]
        rows[r] = [x / lead for x in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][col] != 0:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r])]
        pivots.append((col, rows[r]))
        r += 1
    return [(col, rows[i]) for i, (col, _) in enumerate(pivots)]
