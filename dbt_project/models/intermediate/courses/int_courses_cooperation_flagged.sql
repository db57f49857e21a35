{#- The cooperation attributes of a course (docs/definitions.md#cooperation): one window of
    days per attribute, the register it reads, and which of the register's rows count. An
    attribute is missing when its window reaches past the horizon month or into a month
    without an accepted delivery of its register. -#}
with

episodes as (
    select * from {{ ref('int_episodes_chained') }}
),

horizon as (
    select * from {{ ref('int_data_horizons_computed') }}
),

deliveries as (
    select * from {{ ref('stg_audit__deliveries') }}
),

spells as (
    select * from {{ ref('stg_nav_measures__spells') }}
),

measure_types as (
    select * from {{ ref('nav_measure_types') }}
),

contacts as (
    select * from {{ ref('stg_kpr_contacts__contacts') }}
),

courses as (
    select
        course_id,
        person_id,
        min(start_date) as course_start,
        max(end_date) as course_end
    from episodes
    group by course_id, person_id
),

-- the windows, both ends inclusive
windows as (
    select
        courses.course_id,
        courses.person_id,
        'nav_measure_6m' as attribute,
        'nav_measures' as register,
        courses.course_start as window_start,
        last_day(cast(date_trunc('month', courses.course_end) + interval 6 month as date)) as window_end
    from courses
    union all
    select
        courses.course_id,
        courses.person_id,
        'ips_12m' as attribute,
        'nav_measures' as register,
        courses.course_start as window_start,
        last_day(cast(date_trunc('month', courses.course_end) + interval 12 month as date)) as window_end
    from courses
    union all
    select
        courses.course_id,
        courses.person_id,
        'gp_before_3m' as attribute,
        'kpr_contacts' as register,
        cast(date_trunc('month', courses.course_start) - interval 3 month as date) as window_start,
        cast(date_trunc('month', courses.course_start) - interval 1 day as date) as window_end
    from courses
    union all
    select
        courses.course_id,
        courses.person_id,
        after_attributes.attribute,
        'kpr_contacts' as register,
        cast(courses.course_end + interval 1 day as date) as window_start,
        last_day(cast(date_trunc('month', courses.course_end) + interval 3 month as date)) as window_end
    from courses
    cross join (values ('gp_after_3m'), ('municipal_mental_health_after_3m')) as after_attributes (attribute)
),

delivered_months as (
    select distinct
        register,
        period_month
    from deliveries
    where is_accepted and register in ('nav_measures', 'kpr_contacts')
),

-- complete: every month of the window has an accepted delivery of the register and the last
-- one is not after the horizon (no horizon: nothing is complete)
window_completeness as (
    select
        windows.course_id,
        windows.attribute,
        coalesce(
            any_value(horizon.horizon_month) >= date_trunc('month', any_value(windows.window_end))
            and count(distinct delivered_months.period_month)
            = datediff('month', any_value(windows.window_start), any_value(windows.window_end)) + 1,
            false
        ) as is_complete
    from windows
    left join horizon on true
    left join delivered_months
        on windows.register = delivered_months.register
        and delivered_months.period_month
        between date_trunc('month', windows.window_start) and windows.window_end
    group by windows.course_id, windows.attribute
),

-- only persons with a course matter: GP contacts are the largest register by far
course_persons as (
    select distinct courses.person_id from courses
),

-- the register rows each attribute counts, by the date that must fall in its window (each
-- register read once: a row counts for every attribute whose kind it is)
events as (
    select
        spells.person_id,
        measure_attributes.attribute,
        spells.start_date as event_date
    from spells
    inner join measure_types on spells.measure_type = measure_types.measure_type
    cross join (values ('nav_measure_6m'), ('ips_12m')) as measure_attributes (attribute)
    semi join course_persons on spells.person_id = course_persons.person_id
    where
        (measure_attributes.attribute = 'nav_measure_6m' and measure_types.work_oriented = 1)
        or (measure_attributes.attribute = 'ips_12m' and measure_types.ips = 1)
    union all
    select
        contacts.person_id,
        service_attributes.attribute,
        contacts.contact_date as event_date
    from contacts
    inner join (
        values
        ('GP', 'gp_before_3m'),
        ('GP', 'gp_after_3m'),
        ('MENTAL_HEALTH', 'municipal_mental_health_after_3m')
    ) as service_attributes (service, attribute)
        on contacts.service = service_attributes.service
    semi join course_persons on contacts.person_id = course_persons.person_id
),

hits as (
    select distinct
        windows.course_id,
        windows.attribute
    from windows
    inner join events
        on windows.person_id = events.person_id
        and windows.attribute = events.attribute
        and events.event_date between windows.window_start and windows.window_end
),

flags as (
    select
        window_completeness.course_id,
        window_completeness.attribute,
        case when window_completeness.is_complete then hits.course_id is not null end as flag
    from window_completeness
    left join hits
        on window_completeness.course_id = hits.course_id
        and window_completeness.attribute = hits.attribute
),

pivoted as (
    select
        course_id,
        bool_or(flag) filter (where attribute = 'nav_measure_6m') as nav_measure_6m,
        bool_or(flag) filter (where attribute = 'ips_12m') as ips_12m,
        bool_or(flag) filter (where attribute = 'gp_before_3m') as gp_before_3m,
        bool_or(flag) filter (where attribute = 'gp_after_3m') as gp_after_3m,
        bool_or(flag) filter (
            where attribute = 'municipal_mental_health_after_3m'
        ) as municipal_mental_health_after_3m
    from flags
    group by course_id
)

select * from pivoted
