{{ config(severity='warn') }}
-- Warns when monthly deliveries exist but the first delivered month lacks one of the five
-- registers: then there is no data horizon and the person-month, course and trajectory marts
-- are empty until the missing delivery arrives (or a stray early delivery is withdrawn).
select first_month, last_delivered_month
from {{ ref('int_data_horizons_computed') }}
where horizon_month is null
