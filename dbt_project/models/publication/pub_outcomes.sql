{#- The outcomes table before disclosure control: courses by year of course_end, the
    geography rollup and every combination of the categories (cube), totals as 'all'; per
    follow-up month k (var follow_up_months) the followed courses and the return-to-work rate,
    and the health-related-benefit rate at var hrb_follow_up_month. -#}
{%- set follow_up_months = var('follow_up_months') -%}
{%- set hrb_k = var('hrb_follow_up_month') -%}

with

courses as (
    select
        {{ publication_course_categories() }},
        course_end,
        {% for k in follow_up_months %}
        state_{{ k }}m,
        rtw_{{ k }}m,
        {% endfor %}
        hrb_{{ hrb_k }}m
    from {{ ref('fct_treatment_courses') }}
),

final as (
    select
        {{ publication_course_dimensions('course_end') }},
        {% for k in follow_up_months %}
        count(state_{{ k }}m) as n_followed_{{ k }}m,
        {{ publication_ratio('rtw_' ~ k ~ 'm', 'rtw_rate_' ~ k ~ 'm') }},
        {% endfor %}
        {{ publication_ratio('hrb_' ~ hrb_k ~ 'm', 'hrb_rate_' ~ hrb_k ~ 'm') }}
    from courses
    group by {{ publication_course_grouping('course_end') }}
)

select * from final
