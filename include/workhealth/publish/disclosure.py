"""Disclosure control of the indicator tables (docs/definitions.md#disclosure-control), as
documented in docs/publishing.md.

- primary: a published count of 1-4; a rate, share or median over 1-9 units;
- no_units: a rate, share or median over 0 units does not exist: empty with flag ``no_units``
  (not a suppression), except where its unit count is itself hidden (then it follows the count,
  flag ``secondary``: ``no_units`` would give the hidden count away as 0);
- a rate or share follows its unit count: suppressed whenever that count is (else
  ``count * rate`` or ``count`` alone would give it away); ``n_patients`` follows ``n_courses``;
- secondary: every count, and every ratio's additive numerator (``rate * units``), is protected
  in every margin equation of its table, ``total = sum(parts)``: geography (country = its RHFs,
  RHF = its trusts) and each category dimension (``all`` = its categories), with every other
  dimension fixed. Complements are chosen smallest first and are never zero cells (zeros are
  always published). First a fast pass removes every
  equation with exactly one unknown cell; then an exact audit (linear algebra over all margin
  equations of a year at once) finds suppressed cells that are still determined by a
  *combination* of equations, and adds complements until none is. A hidden cell determined
  by a combination whose published cells are all zero is itself 0 (the equations hold for the
  true values) and is left so: breaking it would take a zero complement. A hidden non-zero
  cell is never left determined (see :func:`protect`).
- trajectories: the six shares of a row sum to one, so they are suppressed together; ``n`` is
  linked to ``courses.n_courses`` of the same year, geography and diagnosis group (see
  :func:`suppress_release`).
- cooperation: ``n_courses`` is ``courses.n_courses`` of the same row (same courses), so both are
  suppressed alike; within a row, counts that are equal (``n_known_<attribute>`` = ``n_courses``
  where the attribute is known for every course, or two attributes with the same window and
  register) are suppressed together, since a reader may know they are equal.

Limits (also in docs/publishing.md): protection is against exact recovery by linear
equations (subtraction), not against interval bounds (a suppressed cell is still known to lie
between 0 and its total) nor against links between tables other than the one above.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import defaultdict

import numpy as np
import pandas as pd

from workhealth.publish.indicators import TableSpec

MAX_SUPPRESSED_COUNT = 4  # counts 1..4 are primary-suppressed (0 is published)
MIN_UNITS = 10  # rates, shares and medians need at least this many units

#: Written into every release's metadata.json.
RULES = {
    "primary_counts": f"counts from 1 to {MAX_SUPPRESSED_COUNT} are suppressed; zeros are published",
    "primary_ratios": f"rates, shares and medians over 1 to {MIN_UNITS - 1} units are suppressed",
    "no_units": "a rate, share or median over 0 units does not exist: empty with flag no_units (not a "
                "suppression); where its unit count is itself suppressed it follows the count instead",
    "follow": "a rate or share is suppressed when its unit count is; n_patients when n_courses is; "
              "the six trajectory shares of a row together",
    "secondary": "counts and rate numerators: complementary suppression, smallest non-zero cell first (zeros "
                 "are never chosen), in every margin (country = sum of RHFs, RHF = sum of its trusts, all = "
                 "sum of the categories of each category dimension) until no suppressed non-zero cell is "
                 "determined by the margin equations (checked exactly, by linear algebra over all equations "
                 "of a year); a suppressed zero stays determined only where published zeros alone give it",
    "cross_table": "trajectories.n follows courses.n_courses of the same year, geography and diagnosis "
                   "group (except where n is 0), and the other way round where they are equal; "
                   "cooperation.n_courses and courses.n_courses (the same courses) are suppressed alike",
    "equal_counts": "counts of one cooperation row that are equal and non-zero (n_courses and the "
                    "n_known_<attribute> counts) are suppressed together",
    "zeros": "a count of 0 is always published; a median whose units are a share's numerator tells, by "
             "no_units, that the numerator is 0, which secondary suppression then treats as published",
}

Equation = np.ndarray  # row indices: [total, part, part, ...]


def _one_blas_thread():
    """Run the audit's QR factorisations on one BLAS thread. Its matrices are small (a few
    hundred to a few thousand rows) and many; OpenBLAS' threads busy-wait, and on a machine
    whose cores are busy with other work (dbt, Airflow tasks) that made the audit 10-20 times
    slower than on one thread (measured: 14.9 s against 0.8 s on the test warehouse)."""
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, so the limit reaches it too)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def margin_equations(df: pd.DataFrame, spec: TableSpec, geo_parent: dict) -> list[Equation]:
    """Every ``total = sum(parts)`` of the table: one per total row and margin dimension."""
    dims = list(spec.dims)
    keys = list(df[dims].itertuples(index=False, name=None))
    index = {k: i for i, k in enumerate(keys)}
    gl, gc = dims.index("geo_level"), dims.index("geo_code")
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        parent = geo_parent.get((k[gl], k[gc]))
        if parent is not None and parent[0] in spec.geo_levels:
            pk = list(k)
            pk[gl], pk[gc] = parent
            groups[("geo", tuple(pk))].append(i)
        for dim in spec.categories:
            d = dims.index(dim)
            if k[d] != "all":
                pk = list(k)
                pk[d] = "all"
                groups[(dim, tuple(pk))].append(i)
    eqs = []
    for (_, pk), parts in groups.items():
        if pk not in index:
            raise ValueError(f"{spec.name}: total row {pk} missing for parts {[keys[p] for p in parts]}")
        eqs.append(np.array([index[pk], *parts]))
    return eqs


class _Margins:
    """The equations of one table with a cell -> equations index and independent blocks."""

    def __init__(self, df: pd.DataFrame, spec: TableSpec, geo_parent: dict):
        # Equations never cross the dimensions without a total (year, month_offset): one block each.
        fixed = np.array(["|".join(map(str, k)) for k in df[list(spec.fixed)].itertuples(index=False, name=None)],
                         dtype=object)
        self._index(margin_equations(df, spec, geo_parent), fixed)

    @classmethod
    def of_equations(cls, eqs: list[Equation], block_of: np.ndarray) -> _Margins:
        """Margins given as equations ([total, part, ...] row indices) and each row's block."""
        m = cls.__new__(cls)
        m._index(eqs, np.asarray(block_of, dtype=object))
        return m

    def _index(self, eqs: list[Equation], fixed: np.ndarray) -> None:
        self.eqs = eqs
        self.by_cell: dict[int, list[int]] = defaultdict(list)
        for e, eq in enumerate(self.eqs):
            for i in eq:
                self.by_cell[int(i)].append(e)
        self.block_of = fixed
        self.block_cells = {b: np.flatnonzero(fixed == b) for b in np.unique(fixed)}
        #: (quantity, block) -> the unknown cells last audited safe there.
        self.safe: dict[tuple[str, str], frozenset] = {}
        #: (block, unknown cells) found free of determined cells: the audit depends on the unknown
        #: cells only, and many quantities share a pattern (n_patients follows n_courses,
        #: cooperation.n_courses is courses.n_courses, equal counts are hidden together).
        self.clean: set[tuple[str, frozenset]] = set()
        self.blocks: dict[str, list[int]] = defaultdict(list)
        for e, eq in enumerate(self.eqs):
            self.blocks[fixed[eq[0]]].append(e)


def _complement(eq: Equation, values: np.ndarray, unknown: np.ndarray, eligible: np.ndarray) -> int | None:
    """The cell to suppress next in ``eq``: the smallest published non-zero part, else the total
    when it is non-zero. Zeros are never complements. None when nothing in ``eq`` can be
    suppressed: then every published cell of ``eq`` is 0, so its one unknown cell is 0 too."""
    parts = [int(i) for i in eq[1:] if not unknown[i] and eligible[i] and values[i] != 0]
    if parts:
        return min(parts, key=lambda i: (values[i], i))
    total = int(eq[0])
    return total if not unknown[total] and eligible[total] and values[total] != 0 else None


def _singletons(m: _Margins, values, unknown, eligible, added: set[int]) -> None:
    """Suppress complements until no equation has exactly one unknown cell (in place)."""
    queue = list(range(len(m.eqs)))
    queued = set(queue)
    while queue:
        e = queue.pop()
        queued.discard(e)
        eq = m.eqs[e]
        if int(unknown[eq].sum()) != 1:
            continue
        c = _complement(eq, values, unknown, eligible)
        if c is None:
            continue
        unknown[c] = True
        added.add(c)
        for e2 in m.by_cell[c]:
            if e2 not in queued:
                queue.append(e2)
                queued.add(e2)


def determined_cells(m: _Margins, unknown: np.ndarray, blocks=None) -> dict[str, list[tuple[int, list[int]]]]:
    """Unknown cells whose value follows from the margin equations and the published cells.

    Cell j is determined iff its unit vector lies in the row space of the equations restricted
    to the unknown cells (iff every null-space vector of that matrix is 0 at j). For each such
    cell also the equations of one combination that determines it (a published cell in one of
    them must be hidden to break it). Returns {block: [(cell, [equation ids]), ...]}.
    """
    found: dict[str, list[tuple[int, list[int]]]] = {}
    for b in (m.blocks if blocks is None else blocks):
        eq_ids = [e for e in m.blocks[b] if unknown[m.eqs[e]].any()]
        hits = []
        for component in _components(m, eq_ids, unknown):
            hits += _determined_in(m, component, unknown)
        if hits:
            found[b] = hits
    return found


def _components(m: _Margins, eq_ids: list[int], unknown: np.ndarray) -> list[list[int]]:
    """Split equations into groups that share no unknown cell (solved independently, and small)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for e in eq_ids:
        cells = [int(i) for i in m.eqs[e] if unknown[i]]
        for c in cells[1:]:
            parent[find(c)] = find(cells[0])
        find(cells[0])
    groups: dict[int, list[int]] = defaultdict(list)
    for e in eq_ids:
        groups[find(next(int(i) for i in m.eqs[e] if unknown[i]))].append(e)
    return list(groups.values())


def _determined_in(m: _Margins, eq_ids: list[int], unknown: np.ndarray) -> list[tuple[int, list[int]]]:
    """Determined cells of one connected group of equations, each with the equations of a
    combination that determines it. Rank-revealing QR of the transposed system: Q's columns
    span the row space, so cell j is determined iff ||Q[j]|| = 1; the combination is then
    R11^-1 Q[j]^T over the pivot equations."""
    from scipy.linalg import qr, solve_triangular

    cells = sorted({int(i) for e in eq_ids for i in m.eqs[e] if unknown[i]})
    col = {c: j for j, c in enumerate(cells)}
    a = np.zeros((len(eq_ids), len(cells)))
    for r, e in enumerate(eq_ids):
        for pos, i in enumerate(m.eqs[e]):
            if unknown[i]:
                a[r, col[int(i)]] += 1.0 if pos == 0 else -1.0
    q, rr, piv = qr(a.T, mode="economic", pivoting=True)
    diag = np.abs(np.diag(rr))
    rank = int((diag > 1e-9 * max(1.0, diag[0] if len(diag) else 1.0)).sum())
    q = q[:, :rank]
    leverage = (q ** 2).sum(axis=1)
    hits = [c for c, j in col.items() if leverage[j] > 1 - 1e-9]
    out = []
    for c in hits:
        lam = solve_triangular(rr[:rank, :rank], q[col[c]])
        out.append((c, [eq_ids[piv[k]] for k in np.flatnonzero(np.abs(lam) > 1e-9)]))
    return out


class _IncrementalAudit:
    """The exact audit of one block, kept current while complements are hidden one at a time.

    One pivoted QR of the block's equations restricted to its unknown cells (A, equations x
    cells) gives an orthonormal basis ``B`` of A's column space with ``B = A T``, and the cells
    that are determined (zero in every null-space vector of A). Hiding a published cell c adds
    the column a_c: when a_c lies in the column space (a_c = A y, y = T B'a_c), the null space
    gains (-y, 1), so exactly the determined cells j with y_j != 0 become free and nothing new is
    determined; otherwise B and T gain a column and c itself is determined. Cell j is freed by
    hiding c iff c's column lies in the column space and y_j != 0: the complement chosen is the
    smallest such published non-zero cell, so every step frees the cell it is for and no
    re-audit is needed (before: a full QR after every round of complements).

    Per step only vectors are computed: a cell's distance from the column space is kept as
    ``resid`` (``|a_c|^2 - |B'a_c|^2``, lowered as B grows), and the weights of every cell in a
    combination ``B T[j]`` are one sparse product with that vector, so nothing of size cells x
    rank is kept (the same output and about the same time as keeping B'a_c for every cell, with
    less memory: measured on 2018 at national scale)."""

    TOL = 1e-8

    def __init__(self, m: "_Margins", block: str, unknown: np.ndarray):
        from scipy.linalg import qr, solve_triangular
        from scipy.sparse import csr_matrix

        self.cells = m.block_cells[block]
        eq_ids = m.blocks[block]
        pos = {int(c): j for j, c in enumerate(self.cells)}
        rows, cols, vals = [], [], []
        for r, e in enumerate(eq_ids):
            eq = m.eqs[e]
            rows += [r] * len(eq)
            cols += [pos[int(i)] for i in eq]
            vals += [1.0] + [-1.0] * (len(eq) - 1)
        #: equations x block cells (+1 the total, -1 the parts); its transpose, cells x equations.
        e_mat = csr_matrix((vals, (rows, cols)), shape=(len(eq_ids), len(self.cells)))
        self.cols = e_mat.T.tocsr()
        self.sqnorm = np.asarray(self.cols.multiply(self.cols).sum(axis=1)).ravel()
        u = np.flatnonzero(unknown[self.cells])  # block positions of the unknown cells
        a = e_mat[:, u].toarray()
        live = np.flatnonzero(a.any(axis=1))
        n_eq = len(eq_ids)
        #: T's row of each unknown block position, and the block position of each T row
        self.row_of = {int(p): k for k, p in enumerate(u)}
        self.pos_of_row = list(int(p) for p in u)
        if len(live) and len(u):
            q, rr, piv = qr(a[live], mode="economic", pivoting=True)
            diag = np.abs(np.diag(rr))
            rank = int((diag > 1e-9 * max(1.0, diag[0])).sum())
        else:
            rank, piv = 0, np.arange(len(u))
        self.b = np.zeros((n_eq, rank))
        self.t = np.zeros((len(u), rank))
        self.det = np.zeros(len(u), bool)
        if rank:
            self.b[live] = q[:, :rank]
            r11_inv = solve_triangular(rr[:rank, :rank], np.eye(rank))
            self.t[piv[:rank]] = r11_inv
            # null space: pivot cells are -R11^-1 R12 against the free (non-pivot) cells
            x = r11_inv @ rr[:rank, rank:]
            self.det[piv[:rank]] = np.abs(x).max(axis=1, initial=0.0) <= self.TOL
        #: |a_c|^2 - |B'a_c|^2 for every block cell: 0 (to rounding) iff its column is in the span
        self.resid = self.sqnorm - np.square(np.asarray(self.cols @ self.b)).sum(axis=1)

    def determined(self) -> list[int]:
        """Table indices of the unknown cells the equations determine, in order."""
        positions = np.asarray(self.pos_of_row, dtype=np.int64)[np.flatnonzero(self.det)]
        return self.cells[np.sort(positions)].tolist()

    def freeing(self, cell: int, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of ``candidates`` (block positions of published cells): those whose hiding frees
        ``cell``, and those the cell's value depends on in the combination B T[cell] of the
        equations (its weight a_c' B T[cell]; for a cell in the column space the weight is y_j,
        the same for every combination)."""
        combination = self.b @ self.t[self.row_of[self._pos(cell)]]  # equations' weights
        weighted = np.abs((self.cols @ combination)[candidates]) > self.TOL
        in_span = self.resid[candidates] <= self.TOL
        return candidates[in_span & weighted], candidates[weighted]

    def is_determined(self, cell: int) -> bool:
        return bool(self.det[self.row_of[self._pos(cell)]])

    def _pos(self, cell: int) -> int:
        return int(np.searchsorted(self.cells, cell))

    def hide(self, cell: int) -> None:
        j = self._pos(cell)
        lo, hi = self.cols.indptr[j], self.cols.indptr[j + 1]
        eqs, vals = self.cols.indices[lo:hi], self.cols.data[lo:hi]
        p = vals @ self.b[eqs]  # B'a_c: the cell is in a few equations only
        rho = float(np.sqrt(max(self.sqnorm[j] - p @ p, 0.0)))
        y = self.t @ p
        k = len(self.row_of)
        self.row_of[j] = k
        self.pos_of_row.append(j)
        self.t = _grown(self.t, rows=1)
        if rho <= np.sqrt(self.TOL):  # in the column space: free every cell y touches
            self.det[np.abs(y) > self.TOL] = False
            self.det = np.append(self.det, False)
            return
        b = -(self.b @ p)
        b[eqs] += vals
        b /= rho
        self.t = _grown(self.t, cols=1)
        self.t[:, -1] = np.append(-y, 1.0) / rho
        self.b = _grown(self.b, cols=1)
        self.b[:, -1] = b
        self.resid -= np.square(self.cols @ b)
        self.det = np.append(self.det, True)


def _grown(a: np.ndarray, rows: int = 0, cols: int = 0) -> np.ndarray:
    """``a`` with ``rows`` more zero rows and ``cols`` more zero columns, as a view into spare
    capacity (doubled when full): hiding n cells copies each matrix log(n) times, not n times."""
    r, c = a.shape[0] + rows, a.shape[1] + cols
    base = a.base if a.base is not None and a.base.ndim == 2 else None
    if base is None or base.shape[0] < r or base.shape[1] < c or a.strides != base.strides:
        base = np.zeros((r + r // 2 + 16, c + c // 2 + 16))
        base[:a.shape[0], :a.shape[1]] = a
    else:
        base[a.shape[0]:r, :c] = 0.0
        base[:r, a.shape[1]:c] = 0.0
    return base[:r, :c]


def protect(m: _Margins, values: np.ndarray, unknown: np.ndarray, eligible: np.ndarray | None = None,
            key: str = "") -> set[int]:
    """Add complementary suppressions to ``unknown`` (in place) until no unknown non-zero cell is
    determined by the margins. ``eligible``: cells that may be chosen as complements (cells the
    reader knows anyway are not; zero cells never are). ``key`` names the quantity (the audit
    cache). Returns the cells added.

    First the singletons (:func:`_singletons`), then per block the exact, incremental audit
    (:class:`_IncrementalAudit`): each determined cell, in turn, gets as complement the smallest
    published non-zero cell whose hiding frees it (exact: the audit is updated, not redone).
    When no single published cell frees it, the complement is the smallest published non-zero
    cell its value depends on in one combination of equations that determines it (that cell's
    column lies outside the column space, so hiding it grows the space, and the loop goes on).
    When its value depends on no published non-zero cell, it is a combination of zeros: 0, as the
    equations hold for the true values. Such a hidden zero is left determined (only a zero
    complement could hide it, and zeros are published anyway). A non-zero cell always has a
    complement: its combination sums known cells to a non-zero value, so one of them is non-zero,
    and every ineligible cell is a known
    zero. (``n_patients`` is not additive, but it is never 0 and its equations are those of
    ``n_courses``, which is.) So the RuntimeError below cannot happen."""
    eligible = np.ones(len(values), bool) if eligible is None else eligible
    values = np.nan_to_num(np.asarray(values, dtype="float64"))  # a numerator over 0 units is NULL: 0
    added: set[int] = set()
    _singletons(m, values, unknown, eligible, added)
    for b, cells in m.block_cells.items():
        # Only blocks whose unknown cells changed since they were last audited safe (for this
        # quantity), or found free of determined cells (for any), need the audit again:
        # suppression is re-run as other measures add cells, and many quantities share a pattern.
        state = frozenset(np.flatnonzero(unknown[cells]).tolist())
        if m.safe.get((key, b)) == state or (b, state) in m.clean or b not in m.blocks:
            continue
        audit = _IncrementalAudit(m, b, unknown)
        settled: set[int] = set()  # hidden zeros given by published zeros alone
        while todo := [c for c in audit.determined() if c not in settled]:
            cell = todo[0]
            published = np.flatnonzero(~unknown[cells] & eligible[cells] & (values[cells] != 0))
            free, weighted = audit.freeing(cell, published)
            if not len(weighted):
                if values[cell] != 0:
                    raise RuntimeError(f"disclosure: non-zero cell {cell} stays determined and no "
                                       "complement is left")
                settled.add(cell)  # (docstring)
                continue
            # A cell that frees it at once; else one its value depends on (outside the column
            # space: hiding it grows the space, and the loop goes on).
            pool = free if len(free) else weighted
            c = int(cells[pool[np.lexsort((cells[pool], values[cells[pool]]))[0]]])
            unknown[c] = True
            added.add(c)
            audit.hide(c)
        state = frozenset(np.flatnonzero(unknown[cells]).tolist())
        m.safe[(key, b)] = state
        if not audit.det.any():
            m.clean.add((b, state))
    return added


class TableSuppression:
    """Suppression state of one table: a flag per measure and row ('' | primary | secondary |
    no_units)."""

    def __init__(self, df: pd.DataFrame, spec: TableSpec, geo_parent: dict, margins: _Margins | None = None):
        self.df = df.reset_index(drop=True)
        self.spec = spec
        #: ``margins``: those of a table with the same rows (shared, with their audit cache).
        self.margins = margins or _Margins(self.df, spec, geo_parent)
        self.flags = {m.name: np.full(len(self.df), "", dtype=object) for m in spec.measures}
        for m in spec.measures:
            if m.kind == "count":
                v = self.df[m.name].to_numpy()
                self.flags[m.name][(v >= 1) & (v <= MAX_SUPPRESSED_COUNT)] = "primary"
            else:
                units = self.df[f"_units_{m.name}"].to_numpy()
                self.flags[m.name][(units >= 1) & (units < MIN_UNITS)] = "primary"
                self.flags[m.name][units == 0] = "no_units"

    def suppressed(self, name: str) -> np.ndarray:
        """Cells published empty (a suppression or ``no_units``)."""
        return self.flags[name] != ""

    def mark(self, name: str, cells, reason: str = "secondary") -> bool:
        """Suppress ``cells`` (indices or mask) of measure ``name``; True when something changed."""
        flags = self.flags[name]
        mask = np.zeros(len(flags), bool)
        mask[cells] = True
        new = mask & (flags == "")
        flags[new] = reason
        return bool(new.any())

    def run_counts(self) -> None:
        for m in self.spec.measures:
            if m.kind != "count":
                continue
            if m.follows:
                self.mark(m.name, self.suppressed(m.follows))
            unknown = self.suppressed(m.name)
            added = protect(self.margins, self.df[m.name].to_numpy(), unknown, key=f"{self.spec.name}.{m.name}")
            self.mark(m.name, sorted(added))

    def run_ratios(self) -> None:
        ratios = [m for m in self.spec.measures if m.kind == "ratio"]
        for m in ratios:
            # no_units next to a hidden unit count would give that count away as 0: follow it.
            flags = self.flags[m.name]
            flags[(flags == "no_units") & self.suppressed(m.follows)] = "secondary"
            self.mark(m.name, self.suppressed(m.follows))
        # A median whose units are a ratio's numerator: its no_units tells that numerator is 0.
        told_zero = {m.units_are_numerator_of: self.flags[m.name] == "no_units"
                     for m in self.spec.measures if m.units_are_numerator_of}
        while True:
            changed = False
            for m in ratios:
                num = self.df[f"_num_{m.name}"].to_numpy()
                units = self.df[f"_units_{m.name}"].to_numpy()
                # A numerator over 0 published units is known (0) even when the ratio is empty.
                known_zero = (units == 0) & ~self.suppressed(m.follows)
                if m.name in told_zero:
                    known_zero |= told_zero[m.name]
                unknown = self.suppressed(m.name) & ~known_zero
                added = protect(self.margins, num, unknown, eligible=~known_zero,
                                key=f"{self.spec.name}._num_{m.name}")
                changed |= self.mark(m.name, sorted(added))
            if self.spec.name == "trajectories":
                # The six shares of a row sum to 1: one hidden share is recoverable from the others.
                row = np.any([self.suppressed(m.name) for m in ratios], axis=0)
                for m in ratios:
                    changed |= self.mark(m.name, row)
            if not changed:
                return

    def result(self) -> pd.DataFrame:
        """The published table: dimension columns, then each measure and its flag."""
        out = self.df[list(self.spec.dims)].copy()
        for m in self.spec.measures:
            values = self.df[m.name]
            hidden = self.suppressed(m.name)
            if m.kind == "count":
                out[m.name] = pd.array(np.where(hidden, 0, values), dtype="Int64")
                out.loc[hidden, m.name] = pd.NA
            else:
                v = values.astype("float64").round(m.decimals)
                out[m.name] = v.where(~hidden & values.notna())
            out[f"{m.name}_flag"] = pd.array(np.where(self.flags[m.name] == "", None, self.flags[m.name]),
                                             dtype="string")
        return out[self.spec.columns]


#: Below this many rows in all the tables, the years are suppressed in this process (starting
#: worker processes costs more than it saves on small releases).
PARALLEL_MIN_ROWS = 10_000


def suppress_release(tables: dict[str, pd.DataFrame], specs: dict[str, TableSpec],
                     geo_parent: dict, workers: int | None = None) -> dict[str, pd.DataFrame]:
    """Suppress the tables of a release together; returns the published tables.

    Nothing links one year to another (every margin equation and every cross-table link is
    within a year: ``year`` is a fixed dimension of every table), so the years are suppressed
    independently, in ``workers`` processes (default: one per core, for releases of at least
    ``PARALLEL_MIN_ROWS`` rows), with the same result as all at once."""
    years = sorted({y for df in tables.values() for y in df["year"].unique()})
    if workers is None:
        big = sum(len(df) for df in tables.values()) >= PARALLEL_MIN_ROWS
        workers = min(len(years), os.cpu_count() or 1) if big else 1
    # a daemonic process (a worker of some pool) may not start processes of its own
    if workers <= 1 or len(years) < 2 or multiprocessing.current_process().daemon:
        return _suppress_in_process(tables, specs, geo_parent)
    from concurrent.futures import ProcessPoolExecutor

    parts = [{name: df[df["year"] == year] for name, df in tables.items()} for year in years]
    # spawn, not fork: the caller may be an Airflow task with threads of its own
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(_suppress_in_process, parts, [specs] * len(parts), [geo_parent] * len(parts)))
    out = {}
    for name in tables:
        # back into the input's row order (each result has the rows of its part, in order)
        pieces = [result[name].set_axis(part[name].index) for part, result in zip(parts, done, strict=True)]
        out[name] = pd.concat(pieces).loc[tables[name].index].reset_index(drop=True)
    return out


def _suppress_in_process(tables: dict[str, pd.DataFrame], specs: dict[str, TableSpec],
                         geo_parent: dict) -> dict[str, pd.DataFrame]:
    with _one_blas_thread():
        return _suppress_release(tables, specs, geo_parent)


def _suppress_release(tables: dict[str, pd.DataFrame], specs: dict[str, TableSpec],
                      geo_parent: dict) -> dict[str, pd.DataFrame]:
    state: dict[str, TableSuppression] = {}
    for name in sorted(tables, key=lambda n: n != "courses"):  # courses first: cooperation shares its margins
        df, courses = tables[name], state.get("courses")
        same_rows = (name == "cooperation" and courses is not None and specs[name].dims == courses.spec.dims
                     and df[list(courses.spec.dims)].reset_index(drop=True).equals(courses.df[list(courses.spec.dims)]))
        state[name] = TableSuppression(df, specs[name], geo_parent, courses.margins if same_rows else None)
    state = {name: state[name] for name in tables}
    courses, trajectories, cooperation = (state.get(n) for n in ("courses", "trajectories", "cooperation"))
    linked: set = set()
    if courses is not None and (trajectories is not None or cooperation is not None):
        _link_course_counts(courses, trajectories, cooperation)
        linked = {courses, trajectories, cooperation}
    for st in state.values():
        if st not in linked:
            st.run_counts()
    for st in state.values():
        st.run_ratios()
    return {name: st.result() for name, st in state.items()}


def _link_course_counts(courses: TableSuppression, trajectories: TableSuppression | None,
                        cooperation: TableSuppression | None) -> None:
    """Run the counts of the three tables whose counts are linked to ``courses.n_courses``, until
    no link gives a hidden count away:

    - ``trajectories.n`` at an offset where every course has a known state equals
      ``courses.n_courses`` (care_level = era = age_group = all): each must be hidden where the
      other is (a zero ``n`` excepted: it never equals a course count, and zeros are published);
    - ``cooperation.n_courses`` is ``courses.n_courses`` of the same row: hidden alike; and the
      equal counts of a cooperation row are hidden together (:func:`_hide_equal_counts`)."""
    c = courses.df
    if trajectories is not None:
        key = ["year", "geo_level", "geo_code", "diagnosis_group"]
        sel = ((c["care_level"] == "all") & (c["era"] == "all") & (c["age_group"] == "all")
               & c["geo_level"].isin(["country", "rhf"]))
        c_index = {k: i for k, i in zip(c.loc[sel, key].itertuples(index=False, name=None), c.index[sel])}
        t = trajectories.df
        t_course = np.array([c_index[k] for k in t[key].itertuples(index=False, name=None)], dtype=np.int64)
        t_n = t["n"].to_numpy()
    if cooperation is not None:
        dims = list(courses.spec.dims)
        c_index = {k: i for i, k in enumerate(c[dims].itertuples(index=False, name=None))}
        o = cooperation.df
        o_course = np.array([c_index[k] for k in o[dims].itertuples(index=False, name=None)], dtype=np.int64)
        if not (o["n_courses"].to_numpy() == c["n_courses"].to_numpy()[o_course]).all():
            raise ValueError("cooperation.n_courses differs from courses.n_courses: the tables are not of the "
                             "same courses")
    while True:
        courses.run_counts()
        hidden = courses.suppressed("n_courses")
        leaks = []
        if trajectories is not None:
            # A zero n (no course with a known state at that offset) cannot equal n_courses (>= 1):
            # it is published, like every zero.
            trajectories.mark("n", hidden[t_course] & (t_n != 0))
            trajectories.run_counts()
            c_n = c["n_courses"].to_numpy()[t_course]
            leaks.append(t_course[trajectories.suppressed("n") & (t_n == c_n) & ~hidden[t_course]])
        if cooperation is not None:
            cooperation.mark("n_courses", hidden[o_course])
            while True:
                cooperation.run_counts()
                if not _hide_equal_counts(cooperation):
                    break
            leaks.append(o_course[cooperation.suppressed("n_courses") & ~hidden[o_course]])
        if not courses.mark("n_courses", np.unique(np.concatenate(leaks))):
            return


def _hide_equal_counts(st: TableSuppression) -> bool:
    """Hide every non-zero count of a row that equals a hidden count of the same row (a reader may
    know two counts are equal: an attribute known for every course, or two attributes with the
    same window). True when something changed."""
    counts = [m.name for m in st.spec.measures if m.kind == "count"]
    changed = False
    for a in counts:
        va = st.df[a].to_numpy()
        for b in counts:
            if a != b:
                vb = st.df[b].to_numpy()
                changed |= st.mark(b, st.suppressed(a) & (va == vb) & (vb != 0))
    return changed


# -- the evaluation's effects table (evaluation.md section 7; docs/evaluation.md) -------------------

EFFECT_DIMS = ("intervention", "subgroup_dim", "subgroup_value", "outcome", "k")
#: additive over the values of a subgroup dimension (the treated entries, and those left unmatched,
#: fall in exactly one value): protected in the margins; n_comparison counts distinct persons, who
#: can serve in sets of several subgroups, so it has no margin and is protected by the primary rule.
EFFECT_COUNTS = ("n_treated", "n_comparison", "n_unmatched")
EFFECT_ADDITIVE = ("n_treated", "n_unmatched")
#: computed over the row's treated entries (n_treated units): suppressed together.
EFFECT_RATIOS = ("rate_treated", "rate_comparison", "risk_difference", "ci_low", "ci_high", "naive_difference",
                 "e_value", "max_abs_smd")
EFFECT_COLUMNS = [*EFFECT_DIMS, *(c for m in (*EFFECT_COUNTS, *EFFECT_RATIOS) for c in (m, f"{m}_flag")), "flags"]
EFFECT_DECIMALS = 4
RULES["effects"] = (
    f"counts 1 to {MAX_SUPPRESSED_COUNT} suppressed; every rate, difference, interval, E-value and SMD of a row "
    f"over fewer than {MIN_UNITS} treated entries suppressed (all of the row's together, following a hidden "
    "n_treated); n_treated and n_unmatched protected, and the row pattern of the rates (whose treated and "
    "comparison numerators add up over subgroups) too, in the margin 'all = sum of the values' of every "
    "subgroup dimension of each intervention, outcome and k; the counts of one intervention and subgroup "
    "that are equal across outcomes and k are suppressed together; a rate that does not exist (no comparison "
    "followed, an E-value over a zero comparison rate) is empty with flag no_units")


def _effect_margins(df: pd.DataFrame, values: np.ndarray) -> _Margins:
    """all = sum(values of the dimension) for each subgroup dimension of each intervention, outcome
    and k; only equations that hold for ``values`` (they all should: a reader may know them)."""
    block = df["intervention"].astype(str) + "|" + df["outcome"].astype(str) + "|" + df["k"].astype(str)
    eqs = []
    for _, rows in df.groupby([block, df["subgroup_dim"]], sort=True):
        if (rows["subgroup_dim"] == "all").all():
            continue
        b = block[rows.index[0]]
        total = np.flatnonzero((block == b) & (df["subgroup_dim"] == "all"))
        parts = rows.index.to_numpy()
        if len(total) == 1 and values[total[0]] == values[parts].sum():
            eqs.append(np.array([total[0], *parts]))
    return _Margins.of_equations(eqs, block.to_numpy())


def suppress_effects(effects: pd.DataFrame) -> pd.DataFrame:
    """The published ``effects`` table from the evaluation's pre-suppression effects (one row per
    intervention, subgroup_dim, subgroup_value, outcome and k; the §7 counts and rates, and the
    booleans ``imbalanced`` and ``imprecise`` or a ready ``flags`` column). Columns: the
    dimensions, each count and rate followed by its ``_flag`` ('' | primary | secondary |
    no_units), then ``flags`` (the row's ``imbalanced``/``imprecise``, comma-separated)."""
    df = effects.reset_index(drop=True)
    n = len(df)
    flags = {m: np.full(n, "", dtype=object) for m in (*EFFECT_COUNTS, *EFFECT_RATIOS)}
    counts = {m: df[m].fillna(0).to_numpy(dtype="int64") for m in EFFECT_COUNTS}
    for m in EFFECT_COUNTS:
        flags[m][(counts[m] >= 1) & (counts[m] <= MAX_SUPPRESSED_COUNT)] = "primary"
    treated = counts["n_treated"]
    # The counts of one intervention and subgroup at several outcomes and k: a reader may see they
    # are equal (the same entries followed), so one hidden is all hidden.
    same = df.groupby(["intervention", "subgroup_dim", "subgroup_value"], sort=False).ngroup().to_numpy()
    with _one_blas_thread():
        margins = {m: _effect_margins(df, counts[m]) for m in EFFECT_ADDITIVE}
        while True:
            changed = False
            for m in EFFECT_ADDITIVE:
                unknown = flags[m] != ""
                added = protect(margins[m], counts[m], unknown, key=m)
                flags[m][sorted(added)] = "secondary"
                hidden = flags[m] != ""
                key = pd.Series(list(zip(same, counts[m])))
                link = ~hidden & (counts[m] != 0) & key.isin(set(key[hidden])).to_numpy()
                flags[m][link] = "secondary"
                changed |= bool(link.any())
            if not changed:
                break
        hidden = flags["n_treated"] != ""
        # Every ratio of a row is over its n_treated entries.
        row = np.full(n, "", dtype=object)
        row[treated == 0] = "no_units"
        row[(treated >= 1) & (treated < MIN_UNITS)] = "primary"
        row[(row != "primary") & hidden & (treated != 0)] = "secondary"
        # The treated and comparison numerators add up over subgroups: protect the row pattern in
        # the margins of n_treated. Rows without treated entries are known zeros.
        known_zero = treated == 0
        unknown = (row != "") & ~known_zero
        added = protect(margins["n_treated"], treated, unknown, eligible=~known_zero, key="ratios")
        row[sorted(added)] = "secondary"
    for m in EFFECT_RATIOS:
        flags[m][:] = row
        # published rows where the value does not exist (no comparison followed; an E-value of a
        # zero comparison rate): empty, flag no_units
        missing = ~np.isfinite(pd.to_numeric(df[m], errors="coerce").astype("float64").to_numpy())
        flags[m][(row == "") & missing] = "no_units"
    out = df[list(EFFECT_DIMS)].copy()
    for m in EFFECT_COUNTS:
        hidden = flags[m] != ""
        out[m] = pd.array(np.where(hidden, 0, counts[m]), dtype="Int64")
        out.loc[hidden, m] = pd.NA
        out[f"{m}_flag"] = pd.array(np.where(hidden, flags[m], None), dtype="string")
    for m in EFFECT_RATIOS:
        v = pd.to_numeric(df[m], errors="coerce").astype("float64").round(EFFECT_DECIMALS)
        out[m] = v.where(flags[m] == "")
        out[f"{m}_flag"] = pd.array(np.where(flags[m] == "", None, flags[m]), dtype="string")
    if "flags" in df.columns:
        out["flags"] = df["flags"].astype("string")
    else:
        names = [c for c in ("imbalanced", "imprecise") if c in df.columns]
        out["flags"] = pd.array([",".join(c for c in names if bool(r[c])) or None for _, r in df[names].iterrows()]
                                if names else [None] * n, dtype="string")
    return out[EFFECT_COLUMNS]
