with

-- contact_id is stable across corrections; should a contact ever arrive in two accepted
-- periods (its contact_date moved), the newest delivered row is kept.
newest_delivered as (
    {{ accepted_delivery_rows('kpr_contacts', newest_per=['contact_id']) }}
),

renamed as (
    select
        contact_id,
        person_id,
        contact_date,
        service,
        nullif(diagnosis_system, '') as diagnosis_system,
        nullif(diagnosis_code, '') as diagnosis_code,
        _period as delivery_period,
        _delivery as delivery
    from newest_delivered
)

select * from renamed
