{#- The newest delivered state of a key wins: highest period, then highest version. Ties
    beyond that cannot occur among accepted deliveries (one accepted version per register and
    period, and ingestion quarantines every row whose key repeats within a delivery); file and
    row (last written wins) only make the order total. -#}
{% macro newest_delivered_first() -%}
    _period desc, _version desc, _file desc, _row desc
{%- endmacro %}


{#- Rows of `raw.<register>` that belong to an accepted delivery (superseded and rejected
    versions stay in raw); with `newest_per`, only the newest delivered row of each key. -#}
{% macro accepted_delivery_rows(register, newest_per=none) -%}
    select delivered.*
    from {{ source('raw', register) }} as delivered
    inner join {{ source('audit', 'deliveries') }} as deliveries
        on delivered._delivery = deliveries.delivery
    where deliveries.status = 'accepted'
    {%- if newest_per %}
    qualify row_number() over (
        partition by {{ newest_per | join(', ') }} order by {{ newest_delivered_first() }}
    ) = 1
    {%- endif %}
{%- endmacro %}
