-- fct_person_month has exactly one row per person in dim_person and month of the spine.
-- The model left-joins a per-(person, month) aggregate onto the persons x months grid, and
-- dim_person.person_id and int_months_spined.month are tested unique, so a row count equal
-- to persons x months proves there is neither a missing nor a repeated pair. This avoids a
-- unique test on a composite key over hundreds of millions of rows.
with

counts as (
    select
        (select count(*) from {{ ref('fct_person_month') }}) as n_rows,
        (select count(*) from {{ ref('dim_person') }})
        * (select count(*) from {{ ref('int_months_spined') }}) as n_expected
)

select * from counts
where n_rows <> n_expected
