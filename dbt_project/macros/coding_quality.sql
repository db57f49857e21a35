{#- Coding quality (docs/definitions.md#coding-quality): the per-episode counts and the rates
    over them, written once here and in var('coding_quality_rates'); coding_quality_monthly and
    every rollup of it (quality.coding_quality_*, marts.coding_quality_yearly) go through these. -#}

{#- (count column, flag column of int_episodes_coding_flagged or none for every episode), in
    the column order of the marts and frames. -#}
{% macro coding_quality_counts() -%}
    {{ return([
        ('n_episodes', none),
        ('n_work_related', 'is_work_related'),
        ('n_invalid_main_diagnosis', 'is_main_diagnosis_invalid'),
        ('n_missing_referral', 'is_referral_missing'),
        ('n_referral_after_start', 'is_referral_after_start'),
        ('n_end_before_start', 'is_end_before_start'),
        ('n_work_unit_episodes', 'is_at_work_unit'),
        ('n_work_unit_not_work_related', 'is_work_unit_not_work_related'),
        ('n_unknown_health_trust', 'is_health_trust_unknown'),
        ('n_unknown_care_level', 'is_care_level_unknown'),
        ('n_unknown_unit', 'is_unit_unknown'),
    ]) }}
{%- endmacro %}


{#- The count columns over flagged episodes (one row per group). -#}
{% macro coding_quality_count_columns() -%}
    {%- for count, flag in coding_quality_counts() %}
    count(*){% if flag %} filter (where {{ flag }}){% endif %} as {{ count }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{#- The count columns summed over rows of a finer grain (months, trusts), as bigint. -#}
{% macro coding_quality_sum_columns() -%}
    {%- for count, flag in coding_quality_counts() %}
    cast(sum({{ count }}) as bigint) as {{ count }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{#- The rate columns (numerator / denominator, missing when the denominator is 0). With
    frame_names, a rate takes its frame_name when it has one (the name the expectations
    catalogue checks). -#}
{% macro coding_quality_rate_columns(frame_names=false) -%}
    {%- for rate in var('coding_quality_rates') %}
    cast({{ rate.numerator }} as double) / nullif({{ rate.denominator }}, 0)
        as {{ rate.frame_name if frame_names and rate.frame_name else rate.name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
