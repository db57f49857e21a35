-- Counts and rates: macros/coding_quality.sql and var('coding_quality_rates'); the
-- per-episode conditions: the flags of int_episodes_coding_flagged.
with

episodes as (
    select * from {{ ref('int_episodes_coding_flagged') }}
),

counts as (
    select
        health_trust,
        cast(date_trunc('month', end_date) as date) as month,
        {{ coding_quality_count_columns() }}
    from episodes
    group by all
),

rated as (
    select
        *,
        {{ coding_quality_rate_columns() }}
    from counts
),

-- change against the previous calendar month of the same health trust (null when that
-- month has no episodes at the trust or its rate is undefined)
final as (
    select
        current_month.health_trust,
        current_month.month,
        {% for column, flag in coding_quality_counts() %}
        cast(current_month.{{ column }} as bigint) as {{ column }},
        {% endfor %}
        {% for rate in var('coding_quality_rates') %}
        current_month.{{ rate.name }},
        (current_month.{{ rate.name }} - previous_month.{{ rate.name }}) as {{ rate.name }}_change,
        {% endfor %}
        -- the measures under their names in the definitions (docs/definitions.md#coding-quality):
        -- each count without its n_ prefix (n_episodes and n_work_related already are), and the
        -- unit-based coding gap rate by its frame name; the n_ names stay (public contract)
        {% for column, flag in coding_quality_counts() if column not in ['n_episodes', 'n_work_related'] %}
        cast(current_month.{{ column }} as bigint) as {{ column[2:] }},
        {% endfor %}
        {% for rate in var('coding_quality_rates') if rate.frame_name %}
        current_month.{{ rate.name }} as {{ rate.frame_name }},
        (current_month.{{ rate.name }} - previous_month.{{ rate.name }})
            as {{ rate.frame_name }}_change{% if not loop.last %},{% endif %}
        {% endfor %}
    from rated as current_month
    left join rated as previous_month
        on current_month.health_trust = previous_month.health_trust
        and previous_month.month = cast(current_month.month - interval 1 month as date)
)

select * from final
