{#- The trajectories table before disclosure control: courses by year of course_start, RHF
    rollup, diagnosis group (cube, 'all') and month offset from the course start (vars
    trajectory_first_offset..trajectory_last_offset); per state the courses in it and the
    courses with a known state, and the share = numerator / units (null without units). -#}
{%- set geo_levels = ['rhf'] -%}
{%- set states = var('person_month_states') -%}

with

courses as (
    select
        course_id,
        year(course_start) as year,
        rhf,
        diagnosis_group
    from {{ ref('fct_treatment_courses') }}
),

trajectories as (
    select * from {{ ref('fct_course_trajectories') }}
),

-- Every course gets every offset of the window, so every combination with a course has all
-- of them; n = the courses with a known state at that offset.
course_offsets as (
    select
        courses.*,
        offsets.range as month_offset,
        trajectories.state
    from courses
    cross join
        range({{ var('trajectory_first_offset') }}, {{ var('trajectory_last_offset') }} + 1) as offsets
    left join trajectories
        on courses.course_id = trajectories.course_id and offsets.range = trajectories.month_offset
),

counts as (
    select
        year,
        {{ publication_geo_columns(geo_levels) }},
        {{ publication_category('diagnosis_group') }},
        month_offset,
        count(state) as n,
        {% for state in states %}
        count(state) filter (where state = '{{ state }}') as _num_share_{{ state }},
        count(state) as _units_share_{{ state }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from course_offsets
    group by
        year,
        month_offset,
        {{ publication_geo_rollup(geo_levels) }},
        cube(diagnosis_group)
),

final as (
    select
        *,
        {% for state in states %}
        case
            when _units_share_{{ state }} > 0 then _num_share_{{ state }} / _units_share_{{ state }}
        end as share_{{ state }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from counts
)

select * from final
