with

contacts as (
    select * from {{ ref('stg_kpr_contacts__contacts') }}
),

icd10_categories as (
    select * from {{ ref('icd10_categories') }}
),

icpc2_codes as (
    select * from {{ ref('icpc2_codes') }}
),

kpr_services as (
    select * from {{ ref('kpr_services') }}
),

classified as (
    select
        contacts.contact_id,
        contacts.person_id,
        contacts.contact_date,
        contacts.service,
        contacts.diagnosis_system,
        contacts.diagnosis_code,
        -- valid ICPC-2: a row of icpc2_codes (chapter letter and two digits 01-99); valid
        -- ICD-10: as for NPR main diagnoses; a code is judged in its own system only
        {{ diagnosis_group(
            'contacts.diagnosis_code',
            'icpc2_codes.code is not null or icd10_categories.category is not null',
            'contacts.diagnosis_system'
        ) }} as diagnosis_group,
        kpr_services.service is not null as is_service_listed,
        contacts.delivery_period
    from contacts
    {{ diagnosis_code_lookups('contacts') }}
    left join kpr_services on contacts.service = kpr_services.service
)

select * from classified
