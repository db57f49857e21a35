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
        left(persons.municipality, 2) as county,
        counties.rhf as rhf_of_residence,
        persons.death_date,
        persons.snapshot_period
    from persons
    left join counties on left(persons.municipality, 2) = counties.county
)

select * from enriched
