{%- set rates = [
    ('work_related', 'n_work_related', 'n_episodes'),
    ('invalid_main_diagnosis', 'n_invalid_main_diagnosis', 'n_episodes'),
    ('missing_referral', 'n_missing_referral', 'n_episodes'),
    ('referral_after_start', 'n_referral_after_start', 'n_episodes'),
    ('end_before_start', 'n_end_before_start', 'n_episodes'),
    ('work_unit_not_work_related', 'n_work_unit_not_work_related', 'n_work_unit_episodes'),
] -%}

with

episodes as (
    select * from {{ ref('int_episodes_classified') }}
),

counts as (
    select
        health_trust,
        cast(date_trunc('month', end_date) as date) as month,
        count(*) as n_episodes,
        count(*) filter (where is_work_related) as n_work_related,
        count(*) filter (where not is_main_diagnosis_valid) as n_invalid_main_diagnosis,
        count(*) filter (where referral_date is null) as n_missing_referral,
        count(*) filter (where referral_date > start_date) as n_referral_after_start,
        count(*) filter (where end_date < start_date) as n_end_before_start,
        count(*) filter (where is_at_work_unit) as n_work_unit_episodes,
        count(*) filter (where is_at_work_unit and not is_work_related) as n_work_unit_not_work_related
    from episodes
    group by all
),

rated as (
    select
        *,
        {%- for name, numerator, denominator in rates %}
        {{ numerator }} / nullif({{ denominator }}, 0) as {{ name }}_rate{{ ',' if not loop.last }}
        {%- endfor %}
    from counts
),

-- change against the previous calendar month of the same health trust (null when that
-- month has no episodes at the trust or its rate is undefined)
final as (
    select
        current_month.health_trust,
        current_month.month,
        {%- for column in ['n_episodes', 'n_work_related', 'n_invalid_main_diagnosis', 'n_missing_referral',
                           'n_referral_after_start', 'n_end_before_start', 'n_work_unit_episodes',
                           'n_work_unit_not_work_related'] %}
        cast(current_month.{{ column }} as bigint) as {{ column }},
        {%- endfor %}
        {%- for name, numerator, denominator in rates %}
        current_month.{{ name }}_rate,
        current_month.{{ name }}_rate - previous_month.{{ name }}_rate as {{ name }}_rate_change{{ ',' if not loop.last }}
        {%- endfor %}
    from rated as current_month
    left join rated as previous_month
        on current_month.health_trust = previous_month.health_trust
        and previous_month.month = cast(current_month.month - interval 1 month as date)
)

select * from final
