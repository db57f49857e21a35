with

-- a certificate_id delivered in two accepted periods keeps its newest delivered row
newest_delivered as (
    {{ accepted_delivery_rows('nav_sickleave', newest_per=['certificate_id']) }}
),

renamed as (
    select
        certificate_id,
        person_id,
        start_date,
        end_date,
        grade,
        diagnosis_system,
        nullif(diagnosis_code, '') as diagnosis_code,
        _period as delivery_period,
        _delivery as delivery
    from newest_delivered
)

select * from renamed
