{#- Generic tests of the quality models. -#}

{#- A share or rate is a fraction: between 0 and 1 (nulls pass). -#}
{% test fraction(model, column_name) %}
select *
from {{ model }}
where {{ column_name }} < 0 or {{ column_name }} > 1
{% endtest %}
