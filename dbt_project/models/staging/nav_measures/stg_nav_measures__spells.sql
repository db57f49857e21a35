-- The newest delivered state of a spell wins (highest period, then highest version), as for
-- the NAV decisions: a spell reappears when it changes, for example when it ends.
with

spells as (
    {{ accepted_delivery_rows('nav_measures', newest_per=['spell_id']) }}
),

newest_state as (
    select
        spell_id,
        person_id,
        measure_type,
        start_date,
        end_date,
        _period as delivery_period,
        _delivery as delivery
    from spells
)

select * from newest_state
