-- The newest delivered state of a decision wins: highest period, then highest version.
{{ stg_newest_decision_states('nav_aap') }}
