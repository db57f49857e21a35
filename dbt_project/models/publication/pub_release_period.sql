{#- The period a release covers, from the data horizon computed once in
    int_data_horizons_computed (one row; none before any delivery). -#}
with

horizons as (
    select * from {{ ref('int_data_horizons_computed') }}
),

final as (
    select
        first_month,
        horizon_month
    from horizons
)

select * from final
