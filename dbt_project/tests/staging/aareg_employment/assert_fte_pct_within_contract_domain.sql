-- fte_pct is 0-100 (delivery contract, docs/ingestion.md; ingestion quarantines other
-- values). WORK relies on it: with no negative fte_pct, a person's rows in a month sum to > 0
-- exactly when one row is > 0 (int_state_masks_aggregated). Returns the rows that would
-- break that.
select *
from {{ ref('stg_aareg_employment__employments') }}
where fte_pct < 0 or fte_pct > 100 or fte_pct is null
