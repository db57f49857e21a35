with

horizon as (
    select * from {{ ref('int_data_horizons_computed') }}
),

spine as (
    select cast(generate_series as date) as month
    from horizon, generate_series(horizon.first_month, horizon.horizon_month, interval 1 month)
    where horizon.horizon_month is not null
),

with_bounds as (
    select
        month,
        cast(month + interval 1 month - interval 1 day as date) as month_end
    from spine
)

select * from with_bounds
