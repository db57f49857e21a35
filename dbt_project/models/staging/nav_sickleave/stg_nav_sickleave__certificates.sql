with

certificates as (
    select * from {{ source('raw', 'nav_sickleave') }}
),

accepted_deliveries as (
    select delivery from {{ source('audit', 'deliveries') }}
    where status = 'accepted'
),

accepted as (
    select certificates.*
    from certificates
    inner join accepted_deliveries on certificates._delivery = accepted_deliveries.delivery
),

deduplicated as (
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
    from accepted
    qualify row_number() over (
        partition by certificate_id order by _period desc, _version desc, _row
    ) = 1
)

select * from deduplicated
