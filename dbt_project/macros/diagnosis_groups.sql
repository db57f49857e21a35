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

{#- The joins that decide whether `relation`'s diagnosis_code is valid in its diagnosis_system,
    for diagnosis_group's is_valid ('icpc2_codes.code is not null or icd10_categories.category
    is not null'): to the CTEs icpc2_codes (an exact code) and icd10_categories (a well-formed
    code of a listed category). A code is judged in its delivered system only. -#}
{% macro diagnosis_code_lookups(relation) -%}
    left join icpc2_codes
        on {{ relation }}.diagnosis_system = 'ICPC2'
        and {{ relation }}.diagnosis_code = icpc2_codes.code
    left join icd10_categories
        on {{ relation }}.diagnosis_system = 'ICD10'
        and regexp_full_match({{ relation }}.diagnosis_code, '[A-Z][0-9]{2}[0-9A-Z]{0,2}')
        and icd10_categories.category = left({{ relation }}.diagnosis_code, 3)
{%- endmacro %}
