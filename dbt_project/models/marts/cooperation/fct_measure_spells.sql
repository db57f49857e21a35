with

spells as (
    select * from {{ ref('stg_nav_measures__spells') }}
),

measure_types as (
    select * from {{ ref('nav_measure_types') }}
),

-- the type flags of the code list; a measure code outside the list (a coding defect, kept as
-- delivered) is neither work-oriented nor IPS
flagged as (
    select
        spells.spell_id,
        spells.person_id,
        spells.measure_type,
        spells.start_date,
        spells.end_date,
        coalesce(measure_types.work_oriented = 1, false) as work_oriented,
        coalesce(measure_types.ips = 1, false) as ips,
        measure_types.measure_type is not null as is_measure_type_listed,
        spells.delivery_period
    from spells
    left join measure_types on spells.measure_type = measure_types.measure_type
)

select * from flagged
