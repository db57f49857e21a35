with

horizon as (
    select * from {{ ref('int_data_horizons_computed') }}
),

spine as (
    select cast(generate_series as date) as month
    from horizon, generate_series(horizon.first_month, horizon.horizon_month, interval 1 month)
    where horizon.horizon_month is not null
),

-- month_index counts months from first_month (0-based); the person-month masks store month
-- month_index in bit mask_bit of the 64-month word mask_word
indexed as (
    select
        spine.month,
        cast(spine.month + interval 1 month - interval 1 day as date) as month_end,
        cast(datediff('month', horizon.first_month, spine.month) as integer) as month_index,
        cast(datediff('month', horizon.first_month, spine.month) // 64 as integer) as mask_word,
        cast(datediff('month', horizon.first_month, spine.month) % 64 as integer) as mask_bit
    from spine
    cross join horizon
)

select * from indexed
