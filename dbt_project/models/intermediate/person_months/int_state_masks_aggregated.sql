{#- Per person and state, the months of the spine in which the state's condition holds, as a
    bit mask: month_masks[w + 1] holds months 64w .. 64w + 63 (month_index of
    int_months_spined), bit b (value 2^b) for month_index 64w + b. Any number of months fits.
    This is what keeps fct_person_month small and fast: aggregation is per person (3.5 M
    groups), never per person and month, and nothing is expanded to days or months. -#}
with

intervals as (
    select * from {{ ref('int_state_intervals_unioned') }}
),

employments as (
    select * from {{ ref('stg_aareg_employment__employments') }}
),

spine as (
    select * from {{ ref('int_months_spined') }}
),

bounds as (
    select
        min(month) as first_month,
        max(month) as last_month,
        max(mask_word) + 1 as n_words
    from spine
),

-- UFOR, AAP, SYK: a month range [f, t] (as month indexes) sets bits f..t; split per word
interval_indexes as (
    select
        intervals.person_id,
        intervals.state,
        cast(datediff('month', bounds.first_month, intervals.from_month) as integer) as f,
        cast(datediff('month', bounds.first_month, intervals.to_month) as integer) as t
    from intervals
    cross join bounds
),

interval_words as (
    select person_id, state, f, t, unnest(range(f // 64, t // 64 + 1)) as mask_word
    from interval_indexes
),

interval_masks as (
    select
        person_id,
        state,
        mask_word,
        -- bits lo..hi of the word: lo = max(f, 64w) - 64w, hi = min(t, 64w + 63) - 64w
        {{ month_mask_bits(
            lo='greatest(f, mask_word * 64) - mask_word * 64',
            hi='least(t, mask_word * 64 + 63) - mask_word * 64'
        ) }} as mask
    from interval_words
),

-- WORK: the person's employment rows in the month sum to fte_pct > 0. fte_pct is 0-100 by
-- contract (ingestion quarantines other values; a singular test guards it), so the sum is
-- > 0 exactly when some row has fte_pct > 0: one bit per such row, no per-month aggregate.
employment_masks as (
    select
        employments.person_id,
        'WORK' as state,
        cast(datediff('month', bounds.first_month, employments.employment_month) // 64 as integer) as mask_word,
        {{ month_mask_bit(
            "cast(datediff('month', bounds.first_month, employments.employment_month) % 64 as integer)"
        ) }} as mask
    from employments
    cross join bounds
    where employments.fte_pct > 0
        and employments.employment_month between bounds.first_month and bounds.last_month
),

words as (
    select person_id, state, mask_word, bit_or(mask) as mask
    from (
        select * from interval_masks
        union all
        select * from employment_masks
    ) as masks
    group by person_id, state, mask_word
),

-- one complete list of words per person and state (words without any bit are 0)
person_states as (
    select distinct person_id, state from words
),

word_spine as (
    select cast(generate_series as integer) as mask_word
    from bounds, generate_series(0, bounds.n_words - 1)
),

complete as (
    select
        person_states.person_id,
        person_states.state,
        word_spine.mask_word,
        coalesce(words.mask, cast(0 as ubigint)) as mask
    from person_states
    cross join word_spine
    left join words
        on person_states.person_id = words.person_id
        and person_states.state = words.state
        and word_spine.mask_word = words.mask_word
),

final as (
    select
        person_id,
        state,
        list(mask order by mask_word) as month_masks
    from complete
    group by person_id, state
)

select * from final
