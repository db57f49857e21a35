with

-- No newest-row step: the key (person_id, employer_id, month) lies in one period (the month
-- is the delivery period), and one accepted version per period has no repeated keys.
employments as (
    {{ accepted_delivery_rows('aareg_employment') }}
),

renamed as (
    select
        person_id,
        employer_id,
        month as employment_month,
        fte_pct,
        earnings_nok,
        _period as delivery_period,
        _delivery as delivery
    from employments
)

select * from renamed
