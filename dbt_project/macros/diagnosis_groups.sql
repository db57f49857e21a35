{#- The diagnosis group of a code (codelists diagnosis_groups): MSK for ICD-10 chapter M or
    ICPC-2 chapter L, MENTAL for ICD-10 F or ICPC-2 P, OTHER for any other valid code, UNKNOWN
    when the code is missing or invalid. `is_valid` is a SQL boolean (null counts as invalid);
    `system` a SQL expression 'ICD10' or 'ICPC2' (default ICD-10). -#}
{% macro diagnosis_group(code, is_valid, system="'ICD10'") -%}
    case
        when not coalesce({{ is_valid }}, false) then 'UNKNOWN'
        when left({{ code }}, 1) = case when {{ system }} = 'ICPC2' then 'L' else 'M' end then 'MSK'
        when left({{ code }}, 1) = case when {{ system }} = 'ICPC2' then 'P' else 'F' end then 'MENTAL'
        else 'OTHER'
    end
{%- endmacro %}
