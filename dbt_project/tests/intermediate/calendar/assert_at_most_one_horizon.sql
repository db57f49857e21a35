-- The data horizon is one row (none before the first delivery); the horizon never lies before
-- the first delivered month nor after the last delivered one.
with

horizon as (
    select * from {{ ref('int_data_horizons_computed') }}
)

select 'more than one row' as problem from horizon
having count(*) > 1
union all
select 'horizon outside the delivered months' as problem from horizon
where horizon_month < first_month or horizon_month > last_delivered_month
