-- The frame of the expectations suite coding_quality_by_trust (expectations/). The lower ends
-- of the rates' Wilson score intervals are added when the frame is read
-- (workhealth.quality.frames): their z is a threshold of expectations/thresholds.yml and
-- stays there, so a reviewed change of it applies without rebuilding the warehouse.
with

monthly as (
    select * from {{ ref('coding_quality_monthly') }}
),

final as (
    select
        strftime(month, '%Y-%m') as period,
        health_trust,
        {%- for count, flag in coding_quality_counts() %}
        {{ count }},
        {%- endfor %}
        {{ coding_quality_rate_columns(frame_names=true) }}
    from monthly
)

select * from final
