{#- Staging of a NAV decision register (nav_aap, nav_disability): one row per decision_id,
    its newest delivered state, with the register's own columns in `extra_columns`. -#}
{% macro stg_newest_decision_states(register, extra_columns=[]) -%}
with

decisions as (
    {{ accepted_delivery_rows(register, newest_per=['decision_id']) }}
),

newest_state as (
    select
        decision_id,
        person_id,
        start_date,
        end_date,
        {%- for column in extra_columns %}
        {{ column }},
        {%- endfor %}
        _period as delivery_period,
        _delivery as delivery
    from decisions
)

select * from newest_state
{%- endmacro %}
