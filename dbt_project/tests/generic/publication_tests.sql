{#- Generic tests of the publication models. -#}

{#- No two rows share the values of these columns (the table's grain). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#- The column is never below another column of the same row (e.g. a unit count below its
    numerator); nulls pass. -#}
{% test not_less_than(model, column_name, other_column) %}
select *
from {{ model }}
where {{ column_name }} < {{ other_column }}
{% endtest %}
