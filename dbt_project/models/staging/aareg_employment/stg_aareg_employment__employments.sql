with

employments as (
    select * from {{ source('raw', 'aareg_employment') }}
),

accepted_deliveries as (
    select delivery from {{ source('audit', 'deliveries') }}
    where status = 'accepted'
),

accepted as (
    select
        employments.person_id,
        employments.employer_id,
        employments.month as employment_month,
        employments.fte_pct,
        employments.earnings_nok,
        employments._period as delivery_period,
        employments._delivery as delivery
    from employments
    inner join accepted_deliveries on employments._delivery = accepted_deliveries.delivery
)

select * from accepted
