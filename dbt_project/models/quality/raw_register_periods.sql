-- The frame of the expectations suite raw_registers (expectations/): per register and
-- delivered period, the accepted rows as loaded against the delivery contract.
--
-- The contract (each register's key and value-set condition, the person_id format) is
-- defined once, in workhealth.core.registers, which ingestion checks row by row; the dbt run
-- (workhealth.transform) hands it over as var('raw_register_contract'), and the quality
-- gate's sample rows use the same conditions.
-- depends_on: {{ ref('counties') }}
-- depends_on: {{ ref('nav_measure_types') }}
-- depends_on: {{ ref('kpr_services') }}
-- depends_on: {{ ref('icpc2_codes') }}
{%- set contract = var('raw_register_contract', none) %}
{%- if contract is none %}
    {{ exceptions.raise_compiler_error(
        "var('raw_register_contract') is missing: run dbt through workhealth (workhealth.transform), "
        "which passes the delivery contract of workhealth.core.registers") }}
{%- endif %}
{#- NAV registers where end_date before start_date is a contract breach (NPR's is a coding measure). #}
{%- set date_order_registers = ['nav_sickleave', 'nav_aap', 'nav_disability'] %}
{#- Registers whose keys must also be unique across periods (an episode or certificate is
    delivered once; decisions reappear by design, employment keys carry the month, population
    is a snapshot). #}
{%- set keys_unique_across_periods = ['npr_episodes', 'nav_sickleave', 'kpr_contacts'] %}
{#- Registers whose first delivered period is an opening balance (the whole stock), not a month's flow. #}
{%- set opening_balance_registers = ['nav_aap', 'nav_disability'] %}
{#- Volumes are compared with the median of this many previous periods (robust to one odd month). #}
{%- set volume_base_periods = 3 %}

with

accepted_deliveries as (
    select deliveries.delivery
    from {{ source('audit', 'deliveries') }} as deliveries
    where deliveries.status = 'accepted'
),

delivery_log as (
    select
        deliveries.register,
        deliveries.period,
        sum(deliveries.rows_loaded) as rows_loaded
    from {{ source('audit', 'deliveries') }} as deliveries
    where deliveries.status = 'accepted'
    group by deliveries.register, deliveries.period
),
{% for register, c in contract.registers.items() %}
{%- set key = c.key %}
{#- the key as one comparable value (the columns joined; within a period the month is fixed) #}
{%- if key | length == 1 %}
{%- set key_value = '"' ~ key[0] ~ '"' %}
{%- else %}
{%- set parts = [] %}
{%- for k in key %}{%- do parts.append('cast("' ~ k ~ '" as varchar)') %}{%- endfor %}
{%- set key_value = parts | join(" || '|' || ") %}
{%- endif %}
{%- set null_parts = [] %}
{%- for k in key %}{%- do null_parts.append('"' ~ k ~ '" is null') %}{%- endfor %}
{%- set key_null = null_parts | join(' or ') %}
{%- if register in date_order_registers %}
{%- set date_order_violations = 'count(*) filter (where end_date < start_date)' %}
{%- else %}
{%- set date_order_violations = '0' %}
{%- endif %}
{#- NPR: rows whose unit_id is not a unit of the delivering trust (`<TRUST>-...`) #}
{%- if register == 'npr_episodes' %}
{%- set n_unknown_units = "count(*) filter (where unit_id is null or not starts_with(unit_id, health_trust || '-'))" %}
{%- else %}
{%- set n_unknown_units = 'null' %}
{%- endif %}
{#- population: municipalities that are not 4 digits or whose county is not in the counties
    code list (a coding defect, loaded; dim_person shows county and RHF UNKNOWN) #}
{%- if register == 'population' %}
{%- set n_unknown_municipalities = "count(*) filter (where municipality is null"
    ~ " or not regexp_full_match(municipality, '[0-9]{4}')"
    ~ " or left(municipality, 2) not in (select county from " ~ ref('counties') ~ "))" %}
{%- else %}
{%- set n_unknown_municipalities = 'null' %}
{%- endif %}
{#- cross-sector registers: codes outside their code lists (coding defects, loaded) and, for
    KPR, ICPC-2 diagnosis codes that are not in the icpc2_codes seed (share of ICPC-2 coded rows) #}
{%- if register == 'nav_measures' %}
{%- set n_unknown_codes = "count(*) filter (where measure_type is null"
    ~ " or measure_type not in (select measure_type from " ~ ref('nav_measure_types') ~ "))" %}
{%- elif register == 'kpr_contacts' %}
{%- set n_unknown_codes = "count(*) filter (where service is null"
    ~ " or service not in (select service from " ~ ref('kpr_services') ~ "))" %}
{%- else %}
{%- set n_unknown_codes = 'null' %}
{%- endif %}
{%- if register == 'kpr_contacts' %}
{%- set icpc2_coded = "diagnosis_system = 'ICPC2' and diagnosis_code is not null" %}
{%- set n_invalid_icpc2 = "count(*) filter (where " ~ icpc2_coded
    ~ " and diagnosis_code not in (select code from " ~ ref('icpc2_codes') ~ "))" %}
{%- set n_icpc2 = "nullif(count(*) filter (where " ~ icpc2_coded ~ "), 0)" %}
{%- else %}
{%- set n_invalid_icpc2 = 'null' %}
{%- set n_icpc2 = '1' %}
{%- endif %}

{{ register }}__rows as not materialized (
    select * from {{ source('raw', register) }}
    where _delivery in (select accepted_deliveries.delivery from accepted_deliveries)
),

{{ register }}__counts as (
    select
        _period as period,
        count(*) as n_rows,
        count(*) filter (
            where person_id is null or not regexp_full_match(person_id, '{{ contract.person_id_regex }}')
        ) as n_invalid_person_ids,
        count(*) filter (where {{ key_null }}) as n_key_null,
        count(*) filter (where {{ c.outside_value_set }}) as n_outside_value_set,
        {{ date_order_violations }} as n_date_order_violations,
        cast(
            {{ n_unknown_units }}
            / count(*) as double
        ) as unknown_unit_rate,
        cast(
            {{ n_unknown_municipalities }}
            / count(*) as double
        ) as unknown_municipality_rate,
        cast(
            {{ n_unknown_codes }}
            / count(*) as double
        ) as unknown_code_rate,
        cast(
            {{ n_invalid_icpc2 }}
            / {{ n_icpc2 }} as double
        ) as invalid_icpc2_rate
    from {{ register }}__rows
    group by _period
),

{#- rows whose key also occurs in another accepted period (one grouping over the register) #}
{{ register }}__across_periods as (
    {% if register in keys_unique_across_periods %}
    select
        _period as period,
        count(*) as n
    from {{ register }}__rows
    where "{{ key[0] }}" in (
            select repeated."{{ key[0] }}"
            from {{ register }}__rows as repeated
            group by repeated."{{ key[0] }}"
            having min(repeated._period) <> max(repeated._period)
        )
    group by _period
    {% else %}
    select
        cast(null as varchar) as period,
        0 as n
    where false
    {% endif %}
),

{{ register }}__logged as (
    select
        '{{ register }}' as register,
        counts.period,
        counts.n_rows,
        abs(counts.n_rows - coalesce(delivery_log.rows_loaded, 0)) as n_rows_differing_from_log,
        counts.n_invalid_person_ids,
        counts.n_key_null + coalesce(across_periods.n, 0) as n_keys_null_or_across_periods,
        counts.n_outside_value_set,
        counts.n_date_order_violations,
        counts.unknown_unit_rate,
        counts.unknown_municipality_rate,
        counts.unknown_code_rate,
        counts.invalid_icpc2_rate
    from {{ register }}__counts as counts
    left join {{ register }}__across_periods as across_periods on counts.period = across_periods.period
    left join delivery_log on delivery_log.register = '{{ register }}' and counts.period = delivery_log.period
),

{#- Ingestion checks every delivery's keys before commit, and a period has one accepted
    delivery, so keys repeated within a period are counted exactly (the costly part: 3 M
    employment rows a month) only where the rows differ from the delivery log. #}

{{ register }}__repeated_within as (
    select
        _period as period,
        count(*) - count(distinct {{ key_value }}) as n
    from {{ register }}__rows
    where _period in (
            select logged.period
            from {{ register }}__logged as logged
            where logged.n_rows_differing_from_log > 0
        )
    group by _period
),
{% endfor %}

unioned as (
    {% for register in contract.registers %}
    select
        logged.register,
        logged.period,
        logged.n_rows,
        logged.n_rows_differing_from_log,
        logged.n_invalid_person_ids,
        logged.n_outside_value_set,
        logged.n_date_order_violations,
        logged.unknown_unit_rate,
        logged.unknown_municipality_rate,
        logged.unknown_code_rate,
        logged.invalid_icpc2_rate,
        logged.n_keys_null_or_across_periods + coalesce(repeated_within.n, 0) as n_invalid_keys
    from {{ register }}__logged as logged
    left join {{ register }}__repeated_within as repeated_within on logged.period = repeated_within.period
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- the volume base is the median of the (up to) volume_base_periods previous delivered
-- periods, leaving out an opening balance; the first period of a register has no base
based as (
    select
        *,
        case
            when
                register in (
                    {% for r in opening_balance_registers %}
                    '{{ r }}'{% if not loop.last %},{% endif %}
                    {% endfor %}
                )
                and period = min(period) over (partition by register)
                then null
            else cast(n_rows as double)
        end as counted_rows
    from unioned
),

final as (
    select
        register,
        period,
        n_rows,
        n_rows_differing_from_log,
        n_invalid_person_ids,
        n_invalid_keys,
        n_outside_value_set,
        n_date_order_violations,
        unknown_unit_rate,
        unknown_municipality_rate,
        -- one column per register's code list, so each gets its own thresholds
        case when register = 'nav_measures' then unknown_code_rate end as unknown_measure_type_rate,
        case when register = 'kpr_contacts' then unknown_code_rate end as unknown_service_rate,
        invalid_icpc2_rate,
        n_rows / median(counted_rows) over (
            partition by register order by period
            rows between {{ volume_base_periods }} preceding and 1 preceding
        ) as volume_ratio
    from based
)

select * from final
