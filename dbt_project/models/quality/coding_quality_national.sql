-- The frame of the expectations suite coding_quality_national (expectations/).
with

monthly as (
    select * from {{ ref('coding_quality_monthly') }}
),

months as (
    select
        month,
        {{ coding_quality_sum_columns() }}
    from monthly
    group by month
),

rated as (
    select
        *,
        {{ coding_quality_rate_columns(frame_names=true) }}
    from months
),

-- the change is only against the calendar month before (none after a gap in the months)
final as (
    select
        strftime(month, '%Y-%m') as period,
        * exclude (month),
        case
            when lag(month) over w = month - interval 1 month
                then abs(invalid_main_diagnosis_rate - lag(invalid_main_diagnosis_rate) over w)
        end as invalid_main_diagnosis_rate_abs_change
    from rated
    window w as (order by month)
)

select * from final
