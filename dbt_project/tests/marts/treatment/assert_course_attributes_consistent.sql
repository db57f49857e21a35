-- Row-level consistency of fct_treatment_courses: waiting_days is never negative and known
-- only with a referral; sick_leave_days_at_start and sick_leave_case_id are known exactly when
-- the course starts on sick leave, and the days are never negative; the era follows
-- course_start; a course has at least one episode. Returns the offending courses.
select *
from {{ ref('fct_treatment_courses') }}
where waiting_days < 0
    or (waiting_days is not null and referral_date is null)
    or (sick_leave_days_at_start is not null) <> on_sick_leave_at_start
    or (sick_leave_case_id is not null) <> on_sick_leave_at_start
    or sick_leave_days_at_start < 0
    or (era = 'RASKERE_TILBAKE') <> (course_start < date '{{ var("era_change_date") }}')
    or n_episodes < 1
