with

decisions as (
    select * from {{ source('raw', 'nav_disability') }}
),

accepted_deliveries as (
    select delivery from {{ source('audit', 'deliveries') }}
    where status = 'accepted'
),

accepted as (
    select decisions.*
    from decisions
    inner join accepted_deliveries on decisions._delivery = accepted_deliveries.delivery
),

-- The newest delivered state of a decision wins: highest period, then highest version.
newest_state as (
    select
        decision_id,
        person_id,
        start_date,
        end_date,
        grade,
        _period as delivery_period,
        _delivery as delivery
    from accepted
    qualify row_number() over (
        partition by decision_id order by _period desc, _version desc, _row desc
    ) = 1
)

select * from newest_state
