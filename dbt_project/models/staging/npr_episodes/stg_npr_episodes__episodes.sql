with

-- episode_id is stable across corrections; should an episode ever arrive in two accepted
-- periods (its end_date moved), the newest delivered row is kept.
newest_delivered as (
    {{ accepted_delivery_rows('npr_episodes', newest_per=['episode_id']) }}
),

renamed as (
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
    from newest_delivered
)

select * from renamed
