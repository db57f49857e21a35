{#- Month bit masks: a person's months of one state as a list of UBIGINT words, word w + 1
    holding month_index 64w .. 64w + 63, bit b for month_index 64w + b (int_months_spined
    gives every month its mask_word and mask_bit). -#}

{#- The word with only bit `bit` set. -#}
{% macro month_mask_bit(bit) -%}
    cast(1 as ubigint) << {{ bit }}
{%- endmacro %}


{#- The word with bits `lo`..`hi` set (0 <= lo <= hi <= 63): (hi - lo + 1) ones shifted left
    by lo. -#}
{% macro month_mask_bits(lo, hi) -%}
    (~cast(0 as ubigint) >> (63 - (({{ hi }}) - ({{ lo }})))) << ({{ lo }})
{%- endmacro %}


{#- True when the month of the int_months_spined row `spine` (its mask_word and mask_bit) is
    set in the word list `masks`; null (so not true) when `masks` is null, i.e. the state never
    holds for the person. -#}
{% macro month_mask_has(masks, spine='spine') -%}
    ({{ masks }}[{{ spine }}.mask_word + 1] >> {{ spine }}.mask_bit) & 1 = 1
{%- endmacro %}
