{#- Month ranges in which a person holds a non-default state, clipped to the month spine.
    Priority: 1 DEAD > 2 UFOR > 3 AAP > 4 SYK (5 WORK comes from employment months). -#}
with

persons as (
    select * from {{ ref('stg_population__persons') }}
),

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

-- DEAD when death_date is before the first day of the month: from the month after the
-- month of death on (a person dying mid-month, or on its first day, is not DEAD that month).
deaths as (
    select
        person_id,
        'DEAD' as state,
        1 as state_priority,
        cast(date_trunc('month', death_date) + interval 1 month as date) as from_month,
        cast(null as date) as to_month
    from persons
    where death_date is not null
),

-- An interval covers month m when it covers at least one day of m: start_date <= last day
-- of m and end_date >= first day of m, i.e. m between month(start_date) and month(end_date).
-- A decision without end_date covers every day from start_date on. Rows whose end_date is
-- before their start_date cover no day and are ignored.
benefit_intervals as (
    select person_id, 'UFOR' as state, 2 as state_priority, start_date, end_date from disability
    union all
    select person_id, 'AAP' as state, 3 as state_priority, start_date, end_date from aap
    union all
    select person_id, 'SYK' as state, 4 as state_priority, start_date, end_date from certificates
),

benefit_month_ranges as (
    select
        person_id,
        state,
        state_priority,
        cast(date_trunc('month', start_date) as date) as from_month,
        cast(date_trunc('month', end_date) as date) as to_month
    from benefit_intervals
    where end_date is null or end_date >= start_date
),

unioned as (
    select * from deaths
    union all
    select * from benefit_month_ranges
),

clipped as (
    select
        unioned.person_id,
        unioned.state,
        unioned.state_priority,
        greatest(unioned.from_month, horizon.first_month) as from_month,
        least(coalesce(unioned.to_month, horizon.horizon_month), horizon.horizon_month) as to_month
    from unioned
    cross join horizon
)

select * from clipped
where from_month <= to_month
