with

-- A later snapshot supersedes earlier ones person by person; persons absent from the newest
-- snapshot keep the row of the latest snapshot that holds them.
newest_delivered as (
    {{ accepted_delivery_rows('population', newest_per=['person_id']) }}
),

renamed as (
    select
        person_id,
        birth_year,
        sex,
        municipality,
        death_date,
        _period as snapshot_period,
        _delivery as delivery
    from newest_delivered
)

select * from renamed
