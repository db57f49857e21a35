{#- Representation: nothing is expanded to days or aggregated per person and month.
    int_state_masks_aggregated holds, per person and state, a bit mask of the spine months in
    which the state's condition holds (from month-range intervals and employment rows); here
    every person of dim_person is crossed with the month spine and the first rule that holds
    is read from death_date and the masks. The only join is per person (3.5 M rows). -#}
with

persons as (
    select person_id, death_date from {{ ref('dim_person') }}
),

spine as (
    select * from {{ ref('int_months_spined') }}
),

state_masks as (
    select * from {{ ref('int_state_masks_aggregated') }}
),

person_masks as (
    select
        person_id,
        max(month_masks) filter (where state = 'UFOR') as ufor_masks,
        max(month_masks) filter (where state = 'AAP') as aap_masks,
        max(month_masks) filter (where state = 'SYK') as syk_masks,
        max(month_masks) filter (where state = 'WORK') as work_masks
    from state_masks
    group by person_id
),

final as (
    select
        persons.person_id,
        spine.month,
        case
            -- DEAD: death_date before the first day of the month (a death during the month,
            -- even on its first day, is not DEAD that month)
            when persons.death_date < spine.month then 'DEAD'
            when {{ month_mask_has('person_masks.ufor_masks') }} then 'UFOR'
            when {{ month_mask_has('person_masks.aap_masks') }} then 'AAP'
            when {{ month_mask_has('person_masks.syk_masks') }} then 'SYK'
            when {{ month_mask_has('person_masks.work_masks') }} then 'WORK'
            else 'NONE'
        end as state
    from persons
    left join person_masks on persons.person_id = person_masks.person_id
    cross join spine
)

select * from final
