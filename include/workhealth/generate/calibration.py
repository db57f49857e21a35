"""Parameters of the synthetic registers: volumes at scale 1, code lists, per-trust coding defect rates.

Everything that shapes the generated data and is documented in docs/synthetic_data.md lives here,
so the docs and the code can be compared line by line.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Volumes at --scale 1 (national volumes for Norway); everything scales linearly.
# ---------------------------------------------------------------------------------------------
COHORT = 3_500_000            #: residents aged 18-66 at the start month
NEW_18_PER_YEAR = 65_000      #: 18-year-olds entering the population each January
NPR_BACKGROUND_PER_MONTH = 1_000_000  #: non-work-related specialist care episodes per month
COURSES_PER_MONTH = 1_250     #: work-related treatment courses started per month
COURSES_MIN_PER_MONTH = 3     #: floor, so that tiny scales still have courses every month
EMPLOYERS = 220_000           #: employers reporting to A-ordningen

# Initial stocks (share of the cohort; age-weighted where noted in the simulation)
INIT_AAP_SHARE = 0.032        #: ~112 k on AAP
INIT_DISABILITY_SHARE = 0.10  #: ~350 k on uføretrygd (strongly age-dependent)
INIT_SICK_SHARE = 0.045       #: of the employed, on an ongoing sick-leave case at the start

# Monthly hazards
SICK_NEW_CASE = 0.018         #: new sick-leave case per employed man per month (women x1.35)
SICK_WOMEN_FACTOR = 1.35
#: (share, min days, max days) of sick-leave case durations: the target of the earlier model, which drew
#: them directly. Not read any more: SICK_END_HAZARD gives ≈ 44 / 37 / 13 %, 2.5 % 251-363 days, ≈ 4 % at the limit
SICK_DURATION_CLASSES = ((0.55, 3, 14), (0.28, 15, 56), (0.13, 57, 250), (0.04, 364, 364))
SICK_LONG_TO_AAP = 0.70       #: cases reaching the 52-week limit that continue on AAP
SICK_CERT_GAP = 0.15          #: share of continuation certificates starting 1-16 days after the previous end
SICK_RELAPSE = 0.08           #: share of ended cases followed by a new case 17-90 days later
SICK_GRADED = 0.20            #: share of certificates with a grade below 100
SICK_ICD10_SHARE = 0.15       #: certificates from specialists (ICD-10); GPs use ICPC-2
#: MSK, MENTAL, OTHER share of new cases. With the hazard factors below (mental cases last longer)
#: the certificates come out about 37 / 27 / 36 %: MSK the largest group, mental disorders well below it, as in NAV's
#: doctor-certified sickness absence days by diagnosis (3rd quarter 2013: MSK 41 %, mental 19 %;
#: mental disorders about one in five of those on sick leave beyond 16 days)
SICK_GROUP_SHARES = (0.40, 0.17, 0.43)
SICK_MISSING_DIAGNOSIS = 0.01

AAP_DIRECT = 0.004            #: monthly AAP inflow among the non-employed without benefits
AAP_REASSESS = 0.06           #: share of ongoing AAP decisions changed (re-delivered unchanged) per month
AAP_LOSES_JOB = 0.70

DIS_DIRECT = 0.006            #: monthly disability inflow among non-employed aged 35+ without benefits
DIS_FULL = 0.75               #: share of disability decisions with grade 100
DIS_GRADE_CHANGE = 0.003      #: monthly share of disability decisions whose grade changes

JOB_LOSS = 0.007
JOB_HIRE = 0.035              #: monthly hire hazard for the non-employed aged 25-61 without benefits
JOB_CHANGE = 0.01
SECOND_JOB_ADD = 0.01
SECOND_JOB_DROP = 0.045
FTE_CHANGE = 0.01
WAGE_2016 = 46_000            #: median full-time monthly pay, NOK, in 2016
WAGE_GROWTH = 0.028           #: per year
MORTALITY_A, MORTALITY_B = 0.0003, 0.075  #: annual mortality = A * exp(B * (age - 18))
MOVE_PER_YEAR = 0.02          #: moves to another municipality in the same county, per year

# ---------------------------------------------------------------------------------------------
# Work-related treatment courses
# ---------------------------------------------------------------------------------------------
COURSE_ON_SICK_LEAVE = 0.85   #: share of course patients on sick leave at course start
COURSE_PRIVATE = 0.20         #: share of courses at private work-rehabilitation institutions (PRIV_*)
COURSE_EPISODES = (0.15, 0.25, 0.22, 0.18, 0.12, 0.08)  #: P(1..6 episodes)
#: (share, min, max) days between one episode's end and the next start
COURSE_GAPS = ((0.80, 7, 45), (0.12, 46, 90), (0.08, 91, 180))
COURSE_GROUP_SHARES = (0.55, 0.35, 0.10)  #: MSK, MENTAL, OTHER for patients not on sick leave
#: median sick-leave days at course start: SICK_DAYS_2016 * growth^(year-2016), capped
SICK_DAYS_2016, SICK_DAYS_GROWTH, SICK_DAYS_CAP = 45.0, 1.45, 240.0
RT_ERA_END = "2018-01-01"     #: Raskere tilbake (debitor 20) before, Helse og arbeid procedure codes from

# ---------------------------------------------------------------------------------------------
# Code lists
# ---------------------------------------------------------------------------------------------
COUNTY_WEIGHTS = {
    "03": 0.130, "32": 0.130, "46": 0.120, "50": 0.090, "11": 0.090, "34": 0.070, "42": 0.060,
    "31": 0.055, "33": 0.050, "39": 0.045, "15": 0.050, "18": 0.045, "40": 0.030, "55": 0.030,
    "56": 0.014,
}
#: number of (synthetic) municipalities per county: codes <county>01 .. <county><n>
MUNICIPALITIES = {
    "03": 1, "32": 21, "31": 12, "33": 18, "34": 46, "39": 6, "40": 17, "42": 25, "11": 23,
    "46": 43, "15": 26, "50": 38, "18": 41, "55": 21, "56": 18,
}
#: the health trusts serving each county (first = main), for background episodes
COUNTY_TRUSTS = {
    "03": ("OUS", "LDS", "DIAK"), "32": ("AHUS",), "31": ("SOF",), "33": ("VVHF",), "34": ("SI",),
    "39": ("SIV",), "40": ("STHF",), "42": ("SSHF",), "11": ("HST", "HFO"), "46": ("HBE", "HFO", "HFD"),
    "15": ("HMR",), "50": ("STO", "HNT"), "18": ("NLSH", "HSYK"), "55": ("UNN",), "56": ("FIN",),
}
#: the public trust with a work unit that serves each county's work-related courses
COUNTY_COURSE_TRUST = {
    "03": "OUS", "32": "AHUS", "31": "SOF", "33": "VVHF", "34": "SI", "39": "SIV", "40": "STHF",
    "42": "SSHF", "11": "HST", "46": "HBE", "15": "HMR", "50": "STO", "18": "NLSH", "55": "UNN", "56": "FIN",
}
#: background units: <trust>-<department><n>
DEPARTMENTS = ("MED", "KIR", "ORT", "NEV", "FYS", "PSY", "REV", "GYN", "ONK", "HJE", "LUN", "ONH")
UNKNOWN_UNITS = ("UKJENT", "0000")
BACKGROUND_CARE_LEVELS = ((1, 0.13), (2, 0.09), (3, 0.78))
BACKGROUND_DEBITORS = ((None, 0.55), (1, 0.35), (10, 0.05), (11, 0.03), (22, 0.02))
BACKGROUND_PROCEDURES = ("ZXC00", "NGA11", "AAF00", "MAAE00", "WBGC00", "ZXA10", "TPX40", "SPA00")
#: chapter weights for background main diagnoses (other chapters weight 1)
ICD10_CHAPTER_WEIGHTS = {"XIII": 6, "V": 5, "XIX": 3, "IX": 3, "II": 3, "XI": 2, "VI": 2, "X": 2, "XXI": 3,
                         "XVIII": 3, "XIV": 2, "XV": 0.5, "XVI": 0, "XVII": 0.2, "XX": 0, "XXII": 0}
ICPC2_CODES = (  # by group MSK, MENTAL, OTHER
    ("L01", "L02", "L03", "L08", "L18", "L84", "L86", "L87", "L92", "L96"),
    ("P01", "P02", "P03", "P06", "P29", "P74", "P76", "P78"),
    ("A04", "R05", "R74", "R80", "D73", "K86", "N01", "N89", "T90", "W78", "H82"),
)
ICD10_SICK_CODES = (
    ("M545", "M544", "M511", "M751", "M796", "M255", "M779", "M170", "M542", "M797"),
    ("F321", "F329", "F410", "F412", "F431", "F432", "F480", "F338"),
    ("J069", "J110", "G430", "R53", "K297", "S934", "S832", "I10", "O269", "Z730"),
)
ICD10_COURSE_CODES = (
    ("M545", "M544", "M542", "M511", "M751", "M796", "M797", "M255", "M4796", "M5416"),
    ("F321", "F329", "F332", "F410", "F411", "F412", "F431", "F432", "F480", "F453"),
    ("G439", "R53", "G473", "E669", "I10", "G35", "J450", "R522"),
)
INVALID_DIAGNOSES = ("XYZ1", "M5A4", "M54.5", "F32.1")

# ---------------------------------------------------------------------------------------------
# Coding defects per health trust (fractions of that trust's episodes; missing_work_code is a
# fraction of its work-unit episodes). Loaded as delivered; measured by coding_quality_monthly.
# ---------------------------------------------------------------------------------------------
CODING_DEFECTS = ("missing_work_code", "invalid_diagnosis", "missing_diagnosis", "missing_referral",
                  "referral_after_start", "end_before_start", "unknown_unit")
TRUST_DEFECT_RATES: dict[str, tuple[float, ...]] = {
    #            work_code invalid missing  no_ref  ref>start end<start unknown_unit
    "AHUS":     (0.03, 0.003, 0.002, 0.010, 0.003, 0.001, 0.001),
    "OUS":      (0.02, 0.002, 0.002, 0.008, 0.002, 0.001, 0.001),
    "SI":       (0.25, 0.040, 0.015, 0.120, 0.025, 0.010, 0.015),
    "SOF":      (0.08, 0.010, 0.005, 0.030, 0.006, 0.002, 0.003),
    "SIV":      (0.06, 0.008, 0.004, 0.025, 0.005, 0.002, 0.002),
    "STHF":     (0.10, 0.012, 0.006, 0.040, 0.008, 0.003, 0.004),
    "SSHF":     (0.07, 0.009, 0.005, 0.030, 0.006, 0.002, 0.002),
    "VVHF":     (0.05, 0.007, 0.004, 0.020, 0.005, 0.002, 0.002),
    "SUN":      (0.02, 0.002, 0.001, 0.005, 0.002, 0.001, 0.000),
    "LDS":      (0.04, 0.005, 0.003, 0.015, 0.004, 0.001, 0.002),
    "DIAK":     (0.03, 0.003, 0.002, 0.012, 0.003, 0.001, 0.001),
    "HST":      (0.06, 0.008, 0.004, 0.025, 0.005, 0.002, 0.002),
    "HFO":      (0.12, 0.015, 0.008, 0.050, 0.010, 0.004, 0.005),
    "HBE":      (0.02, 0.002, 0.002, 0.008, 0.002, 0.001, 0.001),
    "HFD":      (0.18, 0.030, 0.012, 0.090, 0.018, 0.007, 0.010),
    "HMR":      (0.08, 0.010, 0.005, 0.035, 0.007, 0.003, 0.003),
    "STO":      (0.03, 0.003, 0.002, 0.010, 0.003, 0.001, 0.001),
    "HNT":      (0.09, 0.011, 0.006, 0.040, 0.008, 0.003, 0.003),
    "HSYK":     (0.20, 0.035, 0.012, 0.100, 0.020, 0.008, 0.012),
    "NLSH":     (0.10, 0.012, 0.006, 0.045, 0.009, 0.003, 0.004),
    "UNN":      (0.06, 0.008, 0.004, 0.025, 0.005, 0.002, 0.002),
    "FIN":      (0.30, 0.050, 0.020, 0.150, 0.030, 0.012, 0.020),
    "PRIV_HSO": (0.05, 0.010, 0.005, 0.040, 0.008, 0.003, 0.003),
    "PRIV_HV":  (0.08, 0.012, 0.006, 0.050, 0.010, 0.004, 0.004),
    "PRIV_HMN": (0.12, 0.020, 0.008, 0.070, 0.012, 0.005, 0.006),
    "PRIV_HN":  (0.22, 0.040, 0.015, 0.120, 0.025, 0.010, 0.012),
}

# ---------------------------------------------------------------------------------------------
# Cross-sector registers: KPR primary-care contacts and NAV measure spells (crosssector.py).
# Drawn from their own random stream, so the five original registers are unchanged by them.
# ---------------------------------------------------------------------------------------------
#: GP contact at a sickness certificate (the certificate is written there): P(contact) by the
#: certificate's diagnosis system (ICPC-2 = written by a GP; ICD-10 = by a specialist)
GP_AT_CERTIFICATE = (0.92, 0.30)
#: days from that contact to the certificate's start (0 = same day), clipped to the month's first day
GP_CERT_LAG = ((0, 0.70), (1, 0.15), (2, 0.08), (3, 0.07))
#: background contacts per month at scale 1 (persons aged 18-66, drawn by weight, see the docs)
KPR_BACKGROUND_PER_MONTH = {"GP": 850_000, "EMERGENCY": 90_000, "PHYSIO": 150_000,
                            "MENTAL_HEALTH": 15_000, "HEALTHY_LIFE": 8_000}
#: monthly probability of municipal mental-health contacts (1-3 in the month) for persons with a
#: mental disorder: (on sick leave, AAP, a measure or in/within 6 months after a course; disability only)
MENTAL_HEALTH_P = (0.15, 0.05)
MENTAL_AFTER_COURSE_P = 0.35  #: ... in the 6 months after a course for a mental disorder
#: latent diagnosis group (MSK, MENTAL, OTHER) of AAP/disability recipients and young measure
#: participants whose group no case or course has shown
LATENT_GROUP_SHARES = {"benefit": (0.30, 0.40, 0.30), "young": (0.20, 0.45, 0.35)}
KPR_ICD10_SHARE = {"GP": 0.02, "EMERGENCY": 0.10, "PHYSIO": 0.0, "MENTAL_HEALTH": 0.30, "HEALTHY_LIFE": 0.0}
KPR_MISSING_DIAGNOSIS = {"GP": 0.01, "EMERGENCY": 0.03, "PHYSIO": 0.05, "MENTAL_HEALTH": 0.60,
                         "HEALTHY_LIFE": 0.80}
#: ICPC-2 chapters of background GP/emergency contacts: (codes, weight); L and P first
ICPC2_BACKGROUND = (
    (("L01", "L02", "L03", "L08", "L15", "L18", "L84", "L86", "L87", "L90", "L92"), 17),
    (("P01", "P02", "P03", "P06", "P15", "P74", "P76", "P78", "P82"), 10),
    (("R05", "R74", "R75", "R78", "R80", "R96"), 12),
    (("A03", "A04", "A11", "A97", "A98"), 10),
    (("K77", "K78", "K86", "K87", "K95"), 9),
    (("T82", "T86", "T90"), 6),
    (("D01", "D06", "D73", "D84", "D93"), 7),
    (("S03", "S87", "S88", "S91"), 7),
    (("N01", "N02", "N17", "N89"), 5),
    (("U71",), 3), (("H71", "H81", "H82"), 3), (("F70", "F71"), 2), (("W78",), 3),
    (("X11",), 2), (("B80", "B82"), 2), (("Z05",), 2),
)
#: ICD-10 codes on KPR contacts coded in ICD-10, by group MSK, MENTAL, OTHER
KPR_ICD10_CODES = (("M545", "M542", "M751", "M796"), ("F321", "F329", "F410", "F432"), ("J069", "I10", "E119", "K297"))
HEALTHY_LIFE_CODES = ("T82", "K86", "T90", "L03", "P03")
#: coding defects (loaded as delivered, flagged downstream)
KPR_UNKNOWN_SERVICE = 0.002   #: share of contacts with a service outside kpr_services.csv
UNKNOWN_SERVICES = ("LEGE", "FYSIO", "UKJENT")
KPR_INVALID_ICPC2 = 0.008     #: share of ICPC-2 coded contacts with an invalid code
INVALID_ICPC2 = ("Q01", "L8", "P7X", "L84.1")

MEASURES_PER_MONTH = 4_000    #: new NAV measure spells per month at scale 1
#: where participants come from (by the state of m-1): on AAP, a treatment course ended in the
#: last 24 months, young (18-29) outside work without benefits, others outside work without benefits
MEASURE_SOURCES = (("aap", 0.60), ("course", 0.10), ("young", 0.18), ("other", 0.12))
MEASURE_IPS_P = (0.015, 0.20)  #: P(an IPS measure) for persons without / with a mental disorder
IPS_UNG_SHARE = 0.70          #: IPS for participants aged 16-29 (year - birth_year): IPSUNG, else INDJOBSTOT
#: non-IPS measure types: (code, weight, min months, max months)
MEASURE_TYPES = (("AVKLARAG", 20, 1, 3), ("INDOPPFAG", 25, 2, 12), ("ARBTREN", 20, 1, 6),
                 ("ARBFORB", 12, 3, 12), ("MIDLONTIL", 8, 3, 12), ("GRUPPEAMO", 8, 1, 6),
                 ("ARBRRHDAG", 4, 1, 3), ("ARBRRDOGN", 1, 1, 2), ("VASV", 2, 12, 60))
IPS_MONTHS = {"INDJOBSTOT": (3, 18), "IPSUNG": (3, 24)}
MEASURE_CHANGED = 0.02        #: monthly share of open spells re-delivered (changed, values as they stand)
MEASURE_UNKNOWN_TYPE = 0.004  #: share of new spells with a measure code outside nav_measure_types.csv
UNKNOWN_MEASURE_TYPES = ("TILTAK99", "UKJENT")

# ---------------------------------------------------------------------------------------------
# Hazards, selection and planted effects (docs/synthetic_data.md, "Planted effects and the truth
# file"). Every transition that decides a person's monthly state draws a counter-based uniform
# keyed by (seed, person, month, purpose), so an untreated "shadow" twin draws the same numbers.
# ---------------------------------------------------------------------------------------------
#: monthly hazard that a sick-leave case ends (return to work), by month of the case (0 = the
#: month it starts; the last value holds from then on). Months 0-1 set the short cases and the
#: certificate volume (≈ 185-190 k a month at scale 1): with the group, age and history factors
#: below the population's cases are longer than with the bare hazard, so months 0-1 are raised
#: above the bare fit to the duration classes (0.465, 0.558). Month 2 on sets the long cases.
SICK_END_HAZARD = (0.57, 0.63, 0.345, 0.16, 0.155, 0.15, 0.14, 0.135, 0.13, 0.13, 0.125, 0.125)
#: x by diagnosis group MSK, MENTAL, OTHER: mental disorders end less often in every month of the
#: case, so after a course too MSK patients return to work more often (about 10 points 6 months
#: after its end: tests/unit/test_generate.py::test_return_to_work_better_for_msk_than_mental)
SICK_HAZARD_GROUP = (1.0, 0.6, 1.15)
HAZARD_AGE_BANDS = (30, 50)              #: age bands <30, 30-49, 50+ for the factors below
SICK_HAZARD_AGE = (1.15, 1.0, 0.85)
#: x exp(-HAZARD_HISTORY * months on SYK/AAP in the last 24 months outside the current spell)
HAZARD_HISTORY = 0.05
HAZARD_CAP = 0.95
#: AAP: monthly exit hazards (to work, to disability, neither) from month AAP_MIN_MONTHS of the
#: decision on; at AAP_MAX_MONTHS it ends with these relative odds
AAP_EXIT_HAZARD = (0.015, 0.013, 0.005)
AAP_WORK_AGE = (1.3, 1.0, 0.7)
AAP_DISABILITY_AGE = (0.5, 1.0, 1.5)
AAP_MIN_MONTHS, AAP_MAX_MONTHS = 3, 60

#: selection into a course on sick leave: weight x (1 + this x months on SYK/AAP in the last 24
#: months outside the current spell); into a NAV measure on AAP: x (1 + MEASURE_HISTORY_WEIGHT x
#: months on SYK/AAP in the last 24 months)
COURSE_HISTORY_WEIGHT = 0.10
MEASURE_HISTORY_WEIGHT = 0.05
COURSE_WASHOUT_MONTHS = 12    #: no new course within 12 months of a course start

#: hazard multipliers (return to work from SYK and from AAP to work) while the intervention
#: runs and EFFECT_AFTER_MONTHS months after its end month; by care level, then diagnosis group
#: (MSK, MENTAL, OTHER) of the course
COURSE_EFFECT = {1: (2.2, 1.6, 1.3), 2: (1.4, 1.25, 1.1), 3: (1.0, 1.0, 1.0)}
IPS_EFFECT = (1.5, 2.8, 1.5)  #: IPS (INDJOBSTOT, IPSUNG) by the participant's diagnosis group
MEASURE_EFFECT = {"AVKLARAG": 1.0, "INDOPPFAG": 1.15, "ARBTREN": 1.25, "ARBFORB": 1.1, "MIDLONTIL": 1.5,
                  "GRUPPEAMO": 1.1, "ARBRRHDAG": 1.2, "ARBRRDOGN": 1.2, "VASV": 1.0}
EFFECT_AFTER_MONTHS = 6
TRUTH_FOLLOW_UP = (3, 6, 12, 24)  #: k of the truth file (evaluation outcomes rtw_k, hrb_k)

#: share (%) of residents aged 18-67 on disability benefit per county: NAV, mottakere av
#: uføretrygd som andel av befolkningen. Østfold, Akershus, Oslo, Hedmark and Aust-Agder are
#: NAV's figures for March 2019; the others are NAV's 31.12.2018 figures (the nearest published
#: per county); merged counties are the population-weighted mean of their parts (Innlandet =
#: Hedmark 13.7 + Oppland 12.4, Agder = Aust-Agder 14.3 + Vest-Agder 12.6, Vestland = Hordaland
#: 8.4 + Sogn og Fjordane 8.4). Used relative to their population-weighted mean, so the
#: national level stays as calibrated (disability entries and the start stock scale with it).
COUNTY_DISABILITY_PCT = {
    "03": 5.7, "32": 7.3, "46": 8.4, "50": 10.6, "11": 8.5, "34": 13.1, "42": 13.2, "31": 14.8,
    "33": 9.4, "39": 12.5, "15": 9.5, "18": 13.1, "40": 13.3, "55": 10.6, "56": 11.1,
}
