with

episodes as (
    select * from {{ source('raw', 'npr_episodes') }}
),

accepted_deliveries as (
    select delivery from {{ source('audit', 'deliveries') }}
    where status = 'accepted'
),

accepted as (
    select episodes.*
    from episodes
    inner join accepted_deliveries on episodes._delivery = accepted_deliveries.delivery
),

-- episode_id is stable across corrections; should an episode ever arrive in two accepted
-- periods (its end_date moved), the newest delivered row is kept.
deduplicated as (
    select
        episode_id,
        person_id,
        health_trust,
        unit_id,
        care_level,
        referral_date,
        start_date,
        end_date,
        nullif(main_diagnosis, '') as main_diagnosis,
        nullif(secondary_diagnoses, '') as secondary_diagnoses,
        nullif(procedure_codes, '') as procedure_codes,
        debitor,
        _period as delivery_period,
        _delivery as delivery
    from accepted
    qualify row_number() over (
        partition by episode_id order by _period desc, _version desc, _row
    ) = 1
)

select * from deduplicated
