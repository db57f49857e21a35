{#- The five monthly registers whose accepted deliveries define the data horizon
    (workhealth.core.registers.MONTHLY_REGISTERS). -#}
{%- set monthly_registers = ['npr_episodes', 'nav_sickleave', 'nav_aap', 'nav_disability', 'aareg_employment'] -%}

with

deliveries as (
    select * from {{ ref('stg_audit__deliveries') }}
),

accepted_monthly as (
    select distinct register, period_month
    from deliveries
    where is_accepted
        and register in (
            {%- for register in monthly_registers %}
            '{{ register }}'{{ "," if not loop.last }}
            {%- endfor %}
        )
),

bounds as (
    select min(period_month) as first_month, max(period_month) as last_delivered_month
    from accepted_monthly
),

months as (
    select cast(generate_series as date) as month
    from bounds, generate_series(bounds.first_month, bounds.last_delivered_month, interval 1 month)
),

completeness as (
    select
        months.month,
        count(distinct accepted_monthly.register) = {{ monthly_registers | length }} as is_complete
    from months
    left join accepted_monthly on months.month = accepted_monthly.period_month
    group by months.month
),

first_gap as (
    select min(month) as first_incomplete_month from completeness
    where not is_complete
),

horizon as (
    select
        bounds.first_month,
        case
            when first_gap.first_incomplete_month is null then bounds.last_delivered_month
            when first_gap.first_incomplete_month > bounds.first_month
                then cast(first_gap.first_incomplete_month - interval 1 month as date)
        end as horizon_month,
        bounds.last_delivered_month
    from bounds
    cross join first_gap
    where bounds.first_month is not null
)

select * from horizon
