with

snapshots as (
    select * from {{ source('raw', 'population') }}
),

accepted_deliveries as (
    select delivery from {{ source('audit', 'deliveries') }}
    where status = 'accepted'
),

accepted as (
    select snapshots.*
    from snapshots
    inner join accepted_deliveries on snapshots._delivery = accepted_deliveries.delivery
),

-- A later snapshot supersedes earlier ones person by person; persons absent from the newest
-- snapshot keep the row of the latest snapshot that holds them.
newest_per_person as (
    select
        person_id,
        birth_year,
        sex,
        municipality,
        death_date,
        _period as snapshot_period,
        _delivery as delivery
    from accepted
    qualify row_number() over (
        partition by person_id order by _period desc, _version desc, _row
    ) = 1
)

select * from newest_per_person
