-- The yearly rates of the published report's coding-quality chart (workhealth.publish.report),
-- summed from coding_quality_monthly; disclosure masking (rates over fewer than MIN_UNITS
-- units) stays in the report.
with

monthly as (
    select * from {{ ref('coding_quality_monthly') }}
),

years as (
    select
        health_trust,
        cast(year(month) as integer) as year,
        {{ coding_quality_sum_columns() }}
    from monthly
    group by all
),

final as (
    select
        *,
        {{ coding_quality_rate_columns() }}
    from years
)

select * from final
