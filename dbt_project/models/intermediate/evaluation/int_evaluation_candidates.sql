{#- The risk sets of the evaluation (docs/evaluation.md): one row per family, index month m and
    person eligible at m. Representation: each person's states from the first delivered month
    to the horizon as one string, one character per month (W S A U N D for WORK SYK AAP UFOR
    NONE DEAD), so month m is character p = month_index(m) + 1 and every window before or
    after m (history counts, the duration run, the outcomes, sustained return) is a substring
    of it: one aggregate per person instead of windows over every person-month. Employment,
    earnings and GP contacts join on (person, month) for each month of their window. -#}
{%- set min_age = var('evaluation_min_age') -%}
{%- set max_age = var('evaluation_max_age') -%}
{%- set washout = var('evaluation_washout_months') -%}
{%- set ks = var('evaluation_follow_up_months') -%}
{%- set run = var('evaluation_sustained_work_months') -%}
{%- set max_k = ks | max -%}
{%- set state_codes = {'WORK': 'W', 'SYK': 'S', 'AAP': 'A', 'UFOR': 'U', 'NONE': 'N', 'DEAD': 'D'} -%}
with

spine as (
    select * from {{ ref('int_months_spined') }}
),

person_months as (
    select * from {{ ref('fct_person_month') }}
),

persons as (
    select * from {{ ref('dim_person') }}
),

age_groups as (
    select * from {{ ref('age_groups') }}
),

courses as (
    select * from {{ ref('fct_treatment_courses') }}
),

care_levels as (
    select * from {{ ref('care_levels') }}
),

spells as (
    select * from {{ ref('fct_measure_spells') }}
),

sick_leave_cases as (
    select * from {{ ref('fct_sick_leave_cases') }}
),

employments as (
    select * from {{ ref('stg_aareg_employment__employments') }}
),

contacts as (
    select * from {{ ref('fct_primary_care_contacts') }}
),

deliveries as (
    select * from {{ ref('stg_audit__deliveries') }}
),

-- the months from the first delivered month to the horizon
n_months as (
    select count(*) as n from spine
),

gp_months as (
    select distinct
        person_id,
        cast(date_trunc('month', contact_date) as date) as month
    from contacts
    where service = 'GP'
),

-- only persons ever in SYK or AAP can have a candidate month
sick_persons as (
    select distinct person_id from person_months
    where state in ('SYK', 'AAP')
),

-- the state string, in month order
histories as (
    select
        person_months.person_id,
        string_agg(
            case person_months.state
                {%- for state, code in state_codes.items() %}
                when '{{ state }}' then '{{ code }}'
                {%- endfor %}
            end,
            '' order by person_months.month
        ) as states
    from person_months
    semi join sick_persons on person_months.person_id = sick_persons.person_id
    group by person_months.person_id
),

-- the candidate positions: m-{{ washout }} .. m-1 delivered (p > {{ washout }}) and m at or
-- before the horizon (p <= n)
positions as (
    select
        histories.person_id,
        histories.states,
        n_months.n,
        unnest(range({{ washout + 1 }}, n_months.n + 1)) as p
    from histories
    cross join n_months
),

person_months_eligible as (
    select * from positions
    where substr(states, p - 1, 1) in ('S', 'A')
        and substr(states, p, 1) <> 'D'
),

person_month_attributes as (
    select
        eligible.person_id,
        spine.month as index_month,
        eligible.states,
        eligible.p,
        eligible.n,
        year(spine.month) - persons.birth_year as age,
        persons.sex,
        persons.rhf_of_residence as rhf,
        case substr(eligible.states, eligible.p - 1, 1) when 'S' then 'SYK' else 'AAP' end as state_prev,
        -- consecutive SYK/AAP months ending in m-1 (months before the first delivered month
        -- are unknown; a run reaching it is at least {{ washout }} months long anyway)
        eligible.p - 1 - length(rtrim(substr(eligible.states, 1, eligible.p - 1), 'SA')) as duration_months
    from person_months_eligible as eligible
    inner join spine on eligible.p = spine.month_index + 1
    inner join persons on eligible.person_id = persons.person_id
    where year(spine.month) - persons.birth_year between {{ min_age }} and {{ max_age }}
),

-- cases started before m: the latest one's group, and how many started in m-24 .. m-1
sick_leave_history as (
    select
        attributes.person_id,
        attributes.index_month,
        arg_max(
            sick_leave_cases.diagnosis_group, (sick_leave_cases.case_start, sick_leave_cases.case_id)
        ) as diagnosis_group,
        count(*) filter (
            where sick_leave_cases.case_start >= attributes.index_month - interval 24 month
        ) as n_sick_leave_cases_24m
    from person_month_attributes as attributes
    inner join sick_leave_cases
        on attributes.person_id = sick_leave_cases.person_id
        and attributes.index_month > sick_leave_cases.case_start
    group by attributes.person_id, attributes.index_month
),

history_offsets as (
    select unnest(range(1, 13)) as months_before
),

-- the months m-12 .. m-1 of each candidate month, to join on (person, month): equality joins,
-- not range joins over all of a person's rows
history_months as (
    select
        attributes.person_id,
        attributes.index_month,
        offsets.months_before,
        cast(attributes.index_month - to_months(offsets.months_before) as date) as month
    from person_month_attributes as attributes
    cross join history_offsets as offsets
),

-- employment in m-1 (fte_pct > 0) and mean monthly earnings over m-12 .. m-1 (a month without
-- employment rows earns 0)
employment_history as (
    select
        history_months.person_id,
        history_months.index_month,
        coalesce(sum(employments.fte_pct) filter (where history_months.months_before = 1), 0) > 0
            as employed_prev,
        sum(coalesce(employments.earnings_nok, 0)) / 12.0 as mean_earnings_12m
    from history_months
    inner join employments
        on history_months.person_id = employments.person_id
        and history_months.month = employments.employment_month
    group by history_months.person_id, history_months.index_month
),

-- a GP contact in m-3 .. m-1
gp_history as (
    select distinct
        history_months.person_id,
        history_months.index_month
    from history_months
    inner join gp_months
        on history_months.person_id = gp_months.person_id
        and history_months.month = gp_months.month
    where history_months.months_before <= 3
),

-- a treatment course ending in m-24 .. m-1
course_history as (
    select distinct
        attributes.person_id,
        attributes.index_month
    from person_month_attributes as attributes
    inner join courses
        on attributes.person_id = courses.person_id
        and attributes.index_month - interval 24 month <= courses.course_end
        and attributes.index_month > courses.course_end
),

-- a GP contact in m-3 .. m-1 is known only when KPR is delivered for all three months
kpr_delivered_months as (
    select distinct period_month from deliveries
    where is_accepted and register = 'kpr_contacts'
),

kpr_known as (
    select spine.month as index_month
    from spine
    inner join kpr_delivered_months
        on spine.month - interval 3 month <= kpr_delivered_months.period_month
        and spine.month > kpr_delivered_months.period_month
    group by spine.month
    having count(*) = 3
),

-- the interventions of each family: when they start (month) and run (month of the last day;
-- null while running). A course's care level is the course's; IPS outranks another measure
-- starting in the same month (intervention_rank).
family_events as (
    select
        'course' as family,
        courses.person_id,
        'HA_COURSE' as intervention,
        1 as intervention_rank,
        courses.care_level,
        care_levels.intensity_rank,
        cast(date_trunc('month', courses.course_start) as date) as start_month,
        cast(date_trunc('month', courses.course_end) as date) as end_month
    from courses
    left join care_levels on courses.care_level = care_levels.care_level
    union all
    select
        'nav_measure' as family,
        spells.person_id,
        case when spells.ips then 'IPS' else 'NAV_MEASURE' end as intervention,
        case when spells.ips then 1 else 2 end as intervention_rank,
        null as care_level,
        null as intensity_rank,
        cast(date_trunc('month', spells.start_date) as date) as start_month,
        cast(date_trunc('month', spells.end_date) as date) as end_month
    from spells
    where spells.work_oriented
),

-- an event blocks index months s+1 .. s+{{ washout }} (washout) and s+1 .. e+1 (running in
-- m-1); a spell still running blocks every later month
blocked as (
    select
        family,
        person_id,
        cast(start_month + interval 1 month as date) as blocked_from,
        cast(greatest(
            start_month + interval {{ washout }} month,
            coalesce(end_month, date '9999-12-01') + interval 1 month
        ) as date) as blocked_to
    from family_events
),

starts as (
    select
        family,
        person_id,
        start_month,
        arg_min(intervention, intervention_rank) as intervention,
        -- the most intensive care level of the courses starting in the month
        arg_min(care_level, intensity_rank) filter (where intensity_rank is not null) as care_level
    from family_events
    group by family, person_id, start_month
),

-- outcomes: the state character at p + k ('' past the horizon); sustained return: the first
-- start of {{ run }} WORK months in a row at or after m, known for starts up to
-- last_start = least(p + {{ max_k }}, n - {{ run - 1 }}); DEAD and UFOR compete
follow_up as (
    select
        attributes.*,
        least(attributes.p + {{ max_k }}, attributes.n - {{ run - 1 }}) as last_start
    from person_month_attributes as attributes
),

windows as (
    select
        follow_up.*,
        substr(follow_up.states, follow_up.p - 12, 12) as history_12m,
        substr(follow_up.states, follow_up.p - 24, 12) as history_24_13m,
        -- the months whose state is followed, and those whose return can be known
        substr(follow_up.states, follow_up.p, greatest(follow_up.last_start - follow_up.p + 1, 0)) as followed,
        substr(follow_up.states, follow_up.p, greatest(follow_up.last_start - follow_up.p + {{ run }}, 0))
            as return_window
    from follow_up
),

events as (
    select
        windows.*,
        nullif(strpos(windows.return_window, '{{ "W" * run }}'), 0) - 1 as sustained_offset,
        least(nullif(strpos(windows.followed, 'D'), 0), nullif(strpos(windows.followed, 'U'), 0)) - 1
            as competing_offset
    from windows
),

-- everything about a person and index month that does not depend on the family: computed once
-- for both families
person_month_facts as (
    select
        events.index_month,
        events.person_id,
        cast(events.sex as integer) as sex,
        age_groups.age_group,
        events.state_prev,
        case
            when events.duration_months <= 2 then '1-2'
            when events.duration_months <= 5 then '3-5'
            when events.duration_months <= 11 then '6-11'
            else '12+'
        end as duration_band,
        coalesce(sick_leave_history.diagnosis_group, 'UNKNOWN') as diagnosis_group,
        events.rhf,
        case
            when events.index_month < date '{{ var("era_change_date") }}' then 'RASKERE_TILBAKE'
            else 'HELSE_OG_ARBEID'
        end as era,
        cast(events.age as integer) as age,
        cast(events.duration_months as integer) as duration_months,
        {%- for state, code in state_codes.items() if state in ('WORK', 'SYK', 'AAP', 'NONE') %}
        cast(12 - length(replace(events.history_12m, '{{ code }}', '')) as integer) as months_{{ state | lower }}_12m,
        {%- endfor %}
        -- SYK/AAP over m-24 .. m-13, missing unless all twelve months are delivered
        case
            when events.p > 24
                then cast(12 - length(replace(replace(events.history_24_13m, 'S', ''), 'A', '')) as integer)
        end as months_hrb_24_13m,
        events.p <= 24 as months_hrb_24_13m_missing,
        cast(coalesce(sick_leave_history.n_sick_leave_cases_24m, 0) as integer) as n_sick_leave_cases_24m,
        coalesce(employment_history.employed_prev, false) as employed_prev,
        cast(coalesce(employment_history.mean_earnings_12m, 0) as double) as mean_earnings_12m,
        course_history.person_id is not null as course_ended_24m,
        case when kpr_known.index_month is not null then gp_history.person_id is not null end as gp_contact_3m,
        kpr_known.index_month is null as gp_contact_3m_missing,
        {%- for k in ks %}
        case substr(events.states, events.p + {{ k }}, 1)
            when '' then null when 'W' then true else false
        end as rtw_{{ k }},
        {%- endfor %}
        {%- for k in ks %}
        case substr(events.states, events.p + {{ k }}, 1)
            when '' then null when 'S' then true when 'A' then true when 'U' then true else false
        end as hrb_{{ k }},
        {%- endfor %}
        case
            when events.sustained_offset is not null
                and (events.competing_offset is null or events.sustained_offset < events.competing_offset)
                then 'sustained_rtw'
            when substr(events.followed, events.competing_offset + 1, 1) = 'D' then 'dead'
            when substr(events.followed, events.competing_offset + 1, 1) = 'U' then 'ufor'
            else 'censored'
        end as event_type,
        -- months after m of the event, or the last month followed when censored (null: not
        -- followed at all, m within {{ run - 1 }} months of the horizon)
        case
            when events.sustained_offset is not null or events.competing_offset is not null
                then cast(least(events.sustained_offset, events.competing_offset) as integer)
            when events.last_start >= events.p then cast(events.last_start - events.p as integer)
        end as event_month
    from events
    left join age_groups
        on events.age >= age_groups.min_age
        and (age_groups.max_age is null or events.age <= age_groups.max_age)
    left join sick_leave_history
        on events.person_id = sick_leave_history.person_id
        and events.index_month = sick_leave_history.index_month
    left join course_history
        on events.person_id = course_history.person_id
        and events.index_month = course_history.index_month
    left join employment_history
        on events.person_id = employment_history.person_id
        and events.index_month = employment_history.index_month
    left join gp_history
        on events.person_id = gp_history.person_id
        and events.index_month = gp_history.index_month
    left join kpr_known on events.index_month = kpr_known.index_month
),

family_candidates as (
    select
        families.family,
        facts.*
    from person_month_facts as facts
    cross join (values ('course'), ('nav_measure')) as families (family)
    anti join blocked
        on families.family = blocked.family
        and facts.person_id = blocked.person_id
        and facts.index_month between blocked.blocked_from and blocked.blocked_to
),

final as (
    select
        family_candidates.*,
        starts.intervention,
        cast(starts.care_level as integer) as care_level
    from family_candidates
    left join starts
        on family_candidates.family = starts.family
        and family_candidates.person_id = starts.person_id
        and family_candidates.index_month = starts.start_month
)

select * from final
