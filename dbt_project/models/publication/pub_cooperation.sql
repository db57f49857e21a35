{#- The cooperation table before disclosure control: courses by year of course_start, the
    geography rollup and every combination of the categories (cube), totals as 'all'; per
    cooperation attribute of fct_treatment_courses (boolean, null when missing) the courses where
    it is known and the share of those where it is true (workhealth.publish.indicators
    COOPERATION_ATTRIBUTES lists the same attributes). -#}
{%- set attributes = ['nav_measure_6m', 'ips_12m', 'gp_before_3m', 'gp_after_3m',
                      'municipal_mental_health_after_3m'] -%}

with

courses as (
    select
        {{ publication_course_categories() }},
        course_start,
        {% for a in attributes %}
        {{ a }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ ref('fct_treatment_courses') }}
),

final as (
    select
        {{ publication_course_dimensions('course_start') }},
        count(*) as n_courses,
        {% for a in attributes %}
        count({{ a }}) as n_known_{{ a }},
        {{ publication_ratio(a, 'share_' ~ a) }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from courses
    group by {{ publication_course_grouping('course_start') }}
)

select * from final
