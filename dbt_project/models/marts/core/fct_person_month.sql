{#- Representation: states are never expanded to days. Benefit decisions, certificates and
    deaths are month-range intervals (int_state_intervals_unioned) range-joined to the month
    spine; employment is aggregated per person and month; the best (lowest) priority per
    person and month wins, and every other cell of the person x month grid is NONE. -#}
with

persons as (
    select person_id from {{ ref('dim_person') }}
),

spine as (
    select month from {{ ref('int_months_spined') }}
),

intervals as (
    select * from {{ ref('int_state_intervals_unioned') }}
),

employment_months as (
    select * from {{ ref('int_employment_months_aggregated') }}
),

covered as (
    select intervals.person_id, spine.month, intervals.state_priority
    from intervals
    inner join spine
        on spine.month >= intervals.from_month
        and spine.month <= intervals.to_month
    union all
    select person_id, month, 5 as state_priority
    from employment_months
),

best as (
    select person_id, month, min(state_priority) as state_priority
    from covered
    group by person_id, month
),

grid as (
    select persons.person_id, spine.month
    from persons
    cross join spine
),

final as (
    select
        grid.person_id,
        grid.month,
        case best.state_priority
            when 1 then 'DEAD'
            when 2 then 'UFOR'
            when 3 then 'AAP'
            when 4 then 'SYK'
            when 5 then 'WORK'
            else 'NONE'
        end as state
    from grid
    left join best
        on grid.person_id = best.person_id
        and grid.month = best.month
)

select * from final
