{#- Month ranges in which a person holds a benefit state, clipped to the month spine. The
    priority of the states (DEAD > UFOR > AAP > SYK > WORK) is applied in fct_person_month. -#}
with

disability as (
    select * from {{ ref('stg_nav_disability__decisions') }}
),

aap as (
    select * from {{ ref('stg_nav_aap__decisions') }}
),

certificates as (
    select * from {{ ref('stg_nav_sickleave__certificates') }}
),

horizon as (
    select * from {{ ref('int_data_horizons_computed') }}
    where horizon_month is not null
),

-- An interval covers month m when it covers at least one day of m: start_date <= last day
-- of m and end_date >= first day of m, i.e. m between month(start_date) and month(end_date).
-- A decision without end_date covers every day from start_date on. Rows whose end_date is
-- before their start_date cover no day and are ignored.
benefit_intervals as (
    select person_id, 'UFOR' as state, start_date, end_date from disability
    union all
    select person_id, 'AAP' as state, start_date, end_date from aap
    union all
    select person_id, 'SYK' as state, start_date, end_date from certificates
),

month_ranges as (
    select
        person_id,
        state,
        cast(date_trunc('month', start_date) as date) as from_month,
        cast(date_trunc('month', end_date) as date) as to_month
    from benefit_intervals
    where end_date is null or end_date >= start_date
),

clipped as (
    select
        month_ranges.person_id,
        month_ranges.state,
        greatest(month_ranges.from_month, horizon.first_month) as from_month,
        least(coalesce(month_ranges.to_month, horizon.horizon_month), horizon.horizon_month) as to_month
    from month_ranges
    cross join horizon
)

select * from clipped
where from_month <= to_month
