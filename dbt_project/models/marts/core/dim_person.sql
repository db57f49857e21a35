with

persons as (
    select * from {{ ref('stg_population__persons') }}
),

counties as (
    select * from {{ ref('counties') }}
),

enriched as (
    select
        persons.person_id,
        cast(persons.birth_year as integer) as birth_year,
        cast(persons.sex as integer) as sex,
        persons.municipality,
        -- a municipality that is not 4 digits or whose first two digits are not a county of
        -- the counties code list has an UNKNOWN county and RHF, never a made-up one
        coalesce(counties.county, 'UNKNOWN') as county,
        coalesce(counties.rhf, 'UNKNOWN') as rhf_of_residence,
        persons.death_date,
        persons.snapshot_period
    from persons
    left join counties
        on regexp_full_match(persons.municipality, '[0-9]{4}')
        and left(persons.municipality, 2) = counties.county
)

select * from enriched
