"""From a decrypted FHIR resource to a notifiable case: the shipped list, codes, positivity, age band, sex, week."""

from __future__ import annotations

from care.publichealth import synthetic
from care.publichealth.cases import case_of
from care.publichealth.diseases import SNOMED, match_coding, match_lab, notifiable
from ledger.publichealth import iso_week, week_start

WHEN = week_start(202650) + 2 * 86400  # Wednesday of week 50, 2026


def test_the_list_is_data_with_icd10_snomed_and_loinc() -> None:
    codes = {d.code: d for d in notifiable()}
    assert {"A00", "B50", "A15", "B05", "A90", "U07.1"} <= set(codes)
    assert codes["A00"].immediate and not codes["B50"].immediate
    assert match_coding("http://hl7.org/fhir/sid/icd-10", "B54").code == "B50"  # type: ignore[union-attr]
    assert match_coding("http://hl7.org/fhir/sid/icd-10", "A00.1").code == "A00"  # type: ignore[union-attr]
    assert match_coding("http://hl7.org/fhir/sid/icd-10", "A001") is None
    assert match_coding("http://hl7.org/fhir/sid/icd-10", "U07.2") is None
    assert match_coding(SNOMED, "840539006").code == "U07.1"  # type: ignore[union-attr]
    assert match_lab("http://loinc.org", "51587-4").code == "B50"  # type: ignore[union-attr]
    assert match_coding("http://hl7.org/fhir/sid/icd-10", "I10") is None


def test_cases_from_conditions_labs_and_reports() -> None:
    disease, week, age, sex = case_of(synthetic.cholera(WHEN, "female", 1990), 0)  # type: ignore[misc]
    assert (disease.code, week, age, sex) == ("A00", 202650, "25-44", "female")
    assert case_of(synthetic.malaria_smear(WHEN, "male", 2024), 0)[1:] == (202650, "0-4", "male")  # type: ignore[index]
    assert case_of(synthetic.malaria_smear(WHEN, "male", 2024, positive=False), 0) is None
    refuted = synthetic.malaria(WHEN, "male", 1950)
    refuted["verificationStatus"]["coding"][0]["code"] = "refuted"
    assert case_of(refuted, 0) is None
    no_patient = synthetic.condition("B05", "Measles", WHEN, "female", 2000)
    no_patient.pop("contained")
    no_patient["onsetAge"] = {"value": 3, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"}
    no_patient.pop("onsetDateTime")
    assert case_of(no_patient, WHEN + 7 * 86400)[1:] == (iso_week(WHEN + 7 * 86400), "0-4", "unknown")  # type: ignore[index]
    report = {"resourceType": "DiagnosticReport", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2"}]},
              "effectiveDateTime": "2026-12-08T10:00:00Z", "conclusionCode": [{"coding": [{"system": SNOMED, "code": "38362002"}]}]}
    assert case_of(report, 0)[0].code == "A90" and case_of(report, 0)[1:] == (202650, "unknown", "unknown")  # type: ignore[index]
    assert case_of(synthetic.condition("I10", "Hypertension", WHEN, "male", 1950), 0) is None
