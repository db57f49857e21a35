{#- What the published tables (models/publication) share: the geography rollup, the
    `all` total of a category and the ratio triple disclosure control needs. -#}

{#- geo_level and geo_code of a row grouped by `rollup(<levels>)`, levels from the top
    (e.g. ['rhf', 'health_trust']): grouping() = 1 on a level means the row is its parent's
    total; the rollup's grand total is the country (NO). -#}
{% macro publication_geo_columns(levels) -%}
    case
        when grouping({{ levels[0] }}) = 1 then 'country'
        {%- for level in levels[1:] %}
        when grouping({{ level }}) = 1 then '{{ levels[loop.index0] }}'
        {%- endfor %}
        else '{{ levels[-1] }}'
    end as geo_level,
    case
        when grouping({{ levels[0] }}) = 1 then 'NO'
        {%- for level in levels[1:] %}
        when grouping({{ level }}) = 1 then {{ levels[loop.index0] }}
        {%- endfor %}
        else {{ levels[-1] }}
    end as geo_code
{%- endmacro %}

{#- The group-by term matching publication_geo_columns. -#}
{% macro publication_geo_rollup(levels) -%}
    rollup({{ levels | join(', ') }})
{%- endmacro %}

{#- A category of a `cube(...)`: its value, or 'all' on the rows that total over it. -#}
{% macro publication_category(column) -%}
    case when grouping({{ column }}) = 1 then 'all' else {{ column }} end as {{ column }}
{%- endmacro %}

{#- A share of a boolean column with the unit count (non-null values) and the additive
    numerator (true values) that disclosure control needs: <name>, _units_<name>, _num_<name>.
    The numerator stays DuckDB's sum of integers (hugeint, null without units), as published. -#}
{% macro publication_ratio(flag, name) -%}
    avg(cast({{ flag }} as integer)) as {{ name }},
    count({{ flag }}) as _units_{{ name }},
    sum(cast({{ flag }} as integer)) as _num_{{ name }}
{%- endmacro %}


{#- What courses, outcomes and cooperation share: courses grouped by the year of `year_of`
    (course_start or course_end), the geography rollup RHF > health trust and every combination
    of the four categories (care_level, diagnosis_group, era, age_group). course_categories() are
    the columns the course rows need, course_dimensions() the grouped dimension columns,
    course_grouping() the matching group-by. -#}
{% macro publication_course_categories() -%}
    rhf,
    -- a trust outside the health_trusts code list (rhf UNKNOWN in fct_treatment_courses)
    -- publishes as the trust UNKNOWN under the RHF UNKNOWN, never under its delivered code
    -- (workhealth.publish.indicators.geo_parents maps it the same way)
    case when rhf = 'UNKNOWN' then 'UNKNOWN' else health_trust end as health_trust,
    coalesce(cast(care_level as varchar), 'UNKNOWN') as care_level,
    diagnosis_group,
    era,
    -- an age outside every band of codelists/age_groups.csv (missing in the mart) publishes
    -- as UNKNOWN, like a missing care level: every course is in one category of each margin
    coalesce(age_group, 'UNKNOWN') as age_group
{%- endmacro %}

{% macro publication_course_dimensions(year_of) -%}
    year({{ year_of }}) as year,
    {{ publication_geo_columns(['rhf', 'health_trust']) }},
    {{ publication_category('care_level') }},
    {{ publication_category('diagnosis_group') }},
    {{ publication_category('era') }},
    {{ publication_category('age_group') }}
{%- endmacro %}

{% macro publication_course_grouping(year_of) -%}
    year({{ year_of }}),
    {{ publication_geo_rollup(['rhf', 'health_trust']) }},
    cube(care_level, diagnosis_group, era, age_group)
{%- endmacro %}
