with

episodes as (
    select * from {{ ref('stg_npr_episodes__episodes') }}
),

work_related_procedures as (
    select * from {{ ref('work_related_procedures') }}
),

icd10_categories as (
    select * from {{ ref('icd10_categories') }}
),

work_units as (
    select * from {{ ref('work_units') }}
),

health_trusts as (
    select * from {{ ref('health_trusts') }}
),

care_levels as (
    select * from {{ ref('care_levels') }}
),

procedure_code_list as (
    select list(code) as codes from work_related_procedures
),

-- Work-related: a procedure code (the `|`-separated list, codes compared exactly) in
-- work_related_procedures, or debitor 20 (Raskere tilbake).
classified as (
    select
        episodes.*,
        (
            coalesce(list_has_any(string_split(episodes.procedure_codes, '|'), procedure_code_list.codes), false)
            or coalesce(episodes.debitor = 20, false)
        ) as is_work_related,
        icd10_categories.category is not null as is_main_diagnosis_valid,
        {{ diagnosis_group('episodes.main_diagnosis', 'icd10_categories.category is not null') }} as diagnosis_group,
        -- the unit is a designated work unit on the episode's end_date (the date the
        -- episode is reported under)
        exists(
            select 1 from work_units
            where work_units.unit_id = episodes.unit_id
                and episodes.end_date >= work_units.valid_from
                and (work_units.valid_to is null or episodes.end_date <= work_units.valid_to)
        ) as is_at_work_unit,
        -- Code lists (coding defects are loaded as delivered and measured, never dropped): a
        -- trust outside health_trusts publishes under the RHF and trust UNKNOWN, a care level
        -- outside care_levels has no intensity and is ignored for the course's care level, a
        -- unit_id that is not a unit of the delivering trust (`<TRUST>-...`) is unknown.
        health_trusts.health_trust is not null as is_health_trust_listed,
        coalesce(health_trusts.rhf, 'UNKNOWN') as rhf,
        care_levels.intensity_rank as care_level_intensity_rank,
        coalesce(starts_with(episodes.unit_id, episodes.health_trust || '-'), false) as is_unit_of_trust
    from episodes
    cross join procedure_code_list
    -- valid ICD-10: a capital letter, two digits, at most two further digits or capital
    -- letters, no dot, and the first three characters a category of WHO ICD-10 2019
    left join icd10_categories
        on regexp_full_match(episodes.main_diagnosis, '[A-Z][0-9]{2}[0-9A-Z]{0,2}')
        and icd10_categories.category = left(episodes.main_diagnosis, 3)
    left join health_trusts on episodes.health_trust = health_trusts.health_trust
    left join care_levels on episodes.care_level = care_levels.care_level
)

select * from classified
