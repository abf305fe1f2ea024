"""The daily_metrics rows of a computed range, kept as Arrow tables in day order for the writer.

From the post-day rows (:mod:`postpulse.analytics.post_days`) and the posts' dimensions this
builds

* ``post_rollup_input``: one row per (post, day) tracked or published, with the post's platform,
  author, account, workspace and follower count: what the rollups group (in DuckDB);
* :class:`DailyRows`: the post-level rows plus the rollup rows, every day's rows in primary-key
  order (grain, entity_id), so that a day's table is loaded presorted (its key builds ~2x
  faster) without sorting all rows of the range at once.

Arrow instead of DuckDB temp tables: materializing the 8 M post rows of a 30-day range (26
columns) as DuckDB tables and sorting them cost ~13 s at 10 M snapshots; the same in numpy and
Arrow is a few gathers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from postpulse.analytics.post_days import MEASURES, TOTALS, as_floats

EPOCH = date(1970, 1, 1)
SCHEMA = pa.schema(
    [
        ("metric_date", pa.date32()),
        ("grain", pa.string()),
        ("entity_id", pa.string()),
        ("platform", pa.string()),
    ]
    + [(f"{m}_total", pa.int64()) for m in TOTALS]
    + [(f"{m}_new", pa.float64()) for m in MEASURES]
    + [("engagement_rate", pa.float64())]
    + [(c, pa.int32()) for c in ("posts_published", "posts_tracked", "posts_settled", "snapshots")]
    + [("is_estimated", pa.bool_()), ("is_settled", pa.bool_())]
    + [(c, pa.int32()) for c in ("actions_completed", "actions_failed")]
    + [("is_rounded", pa.bool_())]
)
COLUMNS = tuple(SCHEMA.names)
DIMENSIONS = ("platform", "author_profile_id", "account_id", "workspace_id", "followers")


def _ints(col, fill: int) -> np.ndarray:
    return pc.fill_null(col, fill).to_numpy(zero_copy_only=False).astype(np.int64)


class _Dimensions:
    """The posts' dimension columns, strings dictionary-encoded (a few distinct values)."""

    def __init__(self, dims: pa.Table):
        self.post_id = dims["post_id"].combine_chunks()
        self.posted = _ints(dims["posted_dn"], np.iinfo(np.int64).min)
        self.columns = {}
        for c in DIMENSIONS:
            values = dims[c].combine_chunks()
            if pa.types.is_string(values.type) and values.null_count < len(values):
                # (not for a column of NULLs only: DuckDB 1.4.4 crashes on an empty dictionary)
                values = values.dictionary_encode()
            self.columns[c] = values

    def rows_of(self, parts: list[pa.Table]) -> list[np.ndarray]:
        """Each row's post's row in the dimensions (-1 if not there), per part (one lookup for
        all: the hash of the post ids is built once)."""
        ids = pa.chunked_array([c for part in parts for c in part["post_id"].chunks], type=pa.string())
        rows = _ints(pc.index_in(ids, value_set=self.post_id), -1)
        return np.split(rows, np.cumsum([part.num_rows for part in parts])[:-1])

    def taken(self, rows: np.ndarray) -> dict[str, pa.Array]:
        return {
            "dim_row": pa.array(rows.astype(np.int32)),
            **{c: v.take(pa.array(rows)) for c, v in self.columns.items()},
        }


def post_rollup_input(parts: list[pa.Table], dims: pa.Table, start_dn: int, end_dn: int) -> pa.Table:
    """The (post, day) rows to roll up, from the post-day rows (:func:`post_days` tables, each
    sorted by day and post) of the posts that are in ``dims`` (post_id, platform,
    author_profile_id, account_id, workspace_id, posted_dn, followers), plus one row for each
    post published in [start_dn, end_dn) on a day it was not tracked; ``dim_row`` is the post's
    row in ``dims``. The rows of one day are one slice per part; the published-only rows come
    last, sorted by day too."""
    dimensions = _Dimensions(dims)
    has_row = np.zeros(len(dimensions.post_id), dtype=bool)
    tables = []
    # not strict: with no parts, np.split still hands out one (empty) piece
    for part, dim_row in zip(parts, dimensions.rows_of(parts), strict=False):
        if (dim_row < 0).any():  # a post deleted since its snapshots were read: like an inner join
            keep = dim_row >= 0
            part, dim_row = part.filter(pa.array(keep)), dim_row[keep]
        if part.num_rows == 0:
            continue
        dn = part["dn"].to_numpy(zero_copy_only=False).astype(np.int64)
        published = dimensions.posted[dim_row] == dn
        has_row[dim_row[published]] = True
        cols = {"post_id": part["post_id"], "dn": part["dn"], **dimensions.taken(dim_row)}
        for m in TOTALS:
            cols[f"{m}_total"] = part[m]
        for m in MEASURES:
            cols[f"{m}_new"] = part[f"{m}_new"]
        cols["posts_published"] = pa.array(published.astype(np.int32))
        cols["posts_tracked"] = pa.array(np.ones(part.num_rows, np.int32))
        cols["posts_settled"] = pc.cast(pc.fill_null(part["is_settled"], False), pa.int32())
        for c in ("snapshots", "is_estimated", "is_settled", "is_rounded"):
            cols[c] = part[c]
        tables.append(pa.table(cols))
    pub = np.flatnonzero((dimensions.posted >= start_dn) & (dimensions.posted < end_dn) & ~has_row)
    pub = pub[np.argsort(dimensions.posted[pub], kind="stable")]
    k = len(pub)
    cols = {
        "post_id": dimensions.post_id.take(pa.array(pub)),
        "dn": pa.array(dimensions.posted[pub], type=pa.int32()),
        **dimensions.taken(pub),
    }
    for m in TOTALS:
        cols[f"{m}_total"] = pa.nulls(k, pa.int64())
    for m in MEASURES:
        cols[f"{m}_new"] = pa.nulls(k, pa.float64())
    cols["posts_published"] = pa.array(np.ones(k, np.int32))
    cols["posts_tracked"] = cols["posts_settled"] = cols["snapshots"] = pa.array(np.zeros(k, np.int32))
    cols["is_estimated"] = pa.array(np.zeros(k, dtype=bool))
    cols["is_settled"] = pa.nulls(k, pa.bool_())
    cols["is_rounded"] = pa.array(np.zeros(k, dtype=bool))
    published_only = pa.table(cols)
    return pa.concat_tables([t.cast(published_only.schema) for t in tables] + [published_only])


def tags_by_dim_row(tags: pa.Table, dims: pa.Table) -> pa.Table:
    """post_tags (post_id, tag_id) keyed by the post's row in ``dims`` (``dim_row``, as in
    post_rollup_input): the tag rollup joins on an integer instead of the post id."""
    found = pc.index_in(tags["post_id"], value_set=dims["post_id"])
    keep = pc.is_valid(found)
    return pa.table(
        {"dim_row": pc.cast(found.filter(keep), pa.int32()), "tag_id": tags["tag_id"].filter(keep)}
    )


def post_level(rows: pa.Table) -> pa.Table:
    """The ``grain = 'post'`` rows (SCHEMA) of :func:`post_rollup_input`'s rows, in its order."""
    n = rows.num_rows
    views, eng, followers = (
        as_floats(rows["views_new"]),
        as_floats(rows["engagement_new"]),
        as_floats(rows["followers"]),
    )
    tracked = rows["posts_tracked"].to_numpy(zero_copy_only=False) == 1
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(views > 0, eng / views, np.where(tracked & (followers > 0), eng / followers, np.nan))
    cols = {
        "metric_date": pc.cast(rows["dn"], pa.date32()),
        "grain": pa.repeat(pa.scalar("post"), n),
        "entity_id": rows["post_id"],
        "platform": pc.cast(rows["platform"], pa.string()),
    }
    for m in TOTALS:
        cols[f"{m}_total"] = rows[f"{m}_total"]
    for m in MEASURES:
        cols[f"{m}_new"] = rows[f"{m}_new"]
    cols["engagement_rate"] = pa.array(rate, from_pandas=True)
    for c in ("posts_published", "posts_tracked", "posts_settled", "snapshots"):
        cols[c] = rows[c]
    cols["is_estimated"], cols["is_settled"] = rows["is_estimated"], rows["is_settled"]
    zeros = pa.array(np.zeros(n, np.int32))
    cols["actions_completed"] = cols["actions_failed"] = zeros
    cols["is_rounded"] = rows["is_rounded"]
    return pa.table(cols, schema=SCHEMA)


@dataclass
class DailyRows:
    """The rows of the days [start, end): the post rows (runs of rows sorted by day, as
    post_rollup_input makes them) and the rollup rows (sorted by metric_date, grain, entity_id)."""

    start: date
    end: date
    posts: pa.Table
    rollups: pa.Table

    def __post_init__(self) -> None:
        dn = (
            self.posts["metric_date"].cast(pa.int32()).to_numpy(zero_copy_only=False)
            - (self.start - EPOCH).days
        )
        # the posts come as runs sorted by day (post_rollup_input): the day bounds within each run
        run_starts = np.concatenate([[0], np.flatnonzero(np.diff(dn) < 0) + 1, [len(dn)]])
        days = np.arange((self.end - self.start).days + 1)
        self._bounds = [
            lo + np.searchsorted(dn[lo:hi], days)
            for lo, hi in zip(run_starts[:-1], run_starts[1:], strict=True)
        ]
        self.rollups = self.rollups.cast(SCHEMA).combine_chunks()

    @property
    def rows(self) -> int:
        return self.posts.num_rows + self.rollups.num_rows

    def rows_by_grain(self) -> dict[str, int]:
        counts = dict(
            zip(
                *np.unique(self.rollups["grain"].to_numpy(zero_copy_only=False), return_counts=True),
                strict=True,
            )
        )
        if self.posts.num_rows:
            counts["post"] = self.posts.num_rows
        return {str(grain): int(n) for grain, n in counts.items()}

    def table(self) -> pa.Table:
        """Every row (not in key order): what DuckDB shows as ``dm_final``."""
        return pa.concat_tables([self.posts, self.rollups])

    def days(self) -> list[date]:
        with_posts = np.zeros((self.end - self.start).days, dtype=bool)
        for bounds in self._bounds:
            with_posts |= np.diff(bounds) > 0
        days = {self.start + timedelta(days=int(i)) for i in np.flatnonzero(with_posts)}
        days.update(self.rollups["metric_date"].unique().to_pylist())
        return sorted(days)

    def day_batches(self, day: date, size: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The rows of ``day`` in primary-key order: the rollups of the grains before 'post'
        (account, platform), the post rows by post_id, then the other rollups."""
        rollups = self.rollups.filter(pc.equal(self.rollups["metric_date"], pa.scalar(day, pa.date32())))
        before = pc.less(rollups["grain"], "post")
        yield from rollups.filter(before).to_batches(size)
        i = (day - self.start).days
        for bounds in self._bounds:
            if bounds[i + 1] > bounds[i]:
                yield from self.posts.slice(bounds[i], bounds[i + 1] - bounds[i]).to_batches(size)
        yield from rollups.filter(pc.invert(before)).to_batches(size)
