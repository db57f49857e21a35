with

employments as (
    select * from {{ ref('stg_aareg_employment__employments') }}
),

spine as (
    select * from {{ ref('int_months_spined') }}
),

per_person_month as (
    select
        employments.person_id,
        employments.employment_month as month,
        sum(employments.fte_pct) as total_fte_pct,
        count(*) as n_employments
    from employments
    inner join spine on employments.employment_month = spine.month
    group by employments.person_id, employments.employment_month
)

select * from per_person_month
where total_fte_pct > 0
