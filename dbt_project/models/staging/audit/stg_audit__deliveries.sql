with

deliveries as (
    select * from {{ source('audit', 'deliveries') }}
),

renamed as (
    select
        delivery,
        register,
        period,
        cast(strptime(period, '%Y-%m') as date) as period_month,
        version,
        status,
        status = 'accepted' as is_accepted,
        reason,
        rows_manifest,
        rows_loaded,
        rows_quarantined,
        privacy_breach,
        superseded_by,
        received_at,
        processed_at
    from deliveries
)

select * from renamed
