{#- Gaps and islands with a running maximum: within each partition, ordered by start date and
    then by `id_column`, a row joins the current chain when its start date is at most
    `gap_days` days after the latest end date seen so far in the partition (not the previous
    row's end date); otherwise it opens a new chain. The running maximum over all earlier rows
    equals the chain's own, since a chain only opens after every earlier end date.
    Adds to every column of `relation`: opens_<chain> (1 for the chain's first row, else 0),
    <chain>_number (1, 2, ... per partition) and <chain>_id (the id_column value of the
    chain's first row). -#}
{% macro chain_by_running_max_end(
    relation, partition_by, id_column, gap_days, chain,
    start_column='start_date', end_column='end_date'
) -%}
{%- set partition = partition_by | join(', ') -%}
    select
        *,
        sum(opens_{{ chain }}) over chain_order as {{ chain }}_number,
        -- the last opener seen so far is the first row of the current chain; same window as
        -- the running sum, so no extra sort
        last_value(
            case when opens_{{ chain }} = 1 then {{ id_column }} end ignore nulls
        ) over chain_order as {{ chain }}_id
    from (
        select
            *,
            case
                when running_max_end_before is null then 1
                when {{ start_column }} > running_max_end_before + {{ gap_days }} then 1
                else 0
            end as opens_{{ chain }}
        from (
            select
                *,
                max({{ end_column }}) over (
                    partition by {{ partition }}
                    order by {{ start_column }}, {{ id_column }}
                    rows between unbounded preceding and 1 preceding
                ) as running_max_end_before
            from {{ relation }}
        ) as running
    ) as flagged
    window chain_order as (
        partition by {{ partition }}
        order by {{ start_column }}, {{ id_column }}
        rows between unbounded preceding and current row
    )
{%- endmacro %}
