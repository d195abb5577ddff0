"""FHIR R4 (4.0.1) required-strength value sets, and the elements bound to them.  Data only: fhir_bindings.py checks it.

Taken from the R4 specification's ValueSet / StructureDefinition resources.  Only bindings of *required* strength
are listed (extensible / preferred / example bindings allow other codes), for the resources the record service
stores, the resources the care flows add, Bundle, and every data type that can occur inside them.  Value sets that
cannot be enumerated (MimeType of Attachment.contentType, ISO 4217 currencies of Money.currency, all-types of
ParameterDefinition.type) are left out on purpose.

VALUE_SETS: value-set id -> codes in specification order; `system` only where the bound element is a
CodeableConcept (a coding counts only if it is from that system); `url` only where it is not
http://hl7.org/fhir/ValueSet/<id>.
BINDINGS: FHIR type name as fhir.resources names it (resource, backbone element such as CompositionSection, or
data type) -> JSON element name -> value-set id.
"""

from __future__ import annotations

from typing import Any

VALUE_SET_BASE = "http://hl7.org/fhir/ValueSet/"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"

REQUEST_PRIORITY = "request-priority"

VALUE_SETS: dict[str, dict[str, Any]] = {
    # --- resources -------------------------------------------------------------------------------------------------
    "observation-status": {"codes": ["registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"]},
    "diagnostic-report-status": {
        "codes": ["registered", "partial", "preliminary", "final", "amended", "corrected", "appended", "cancelled", "entered-in-error", "unknown"]
    },
    "imagingstudy-status": {"codes": ["registered", "available", "cancelled", "entered-in-error", "unknown"]},
    "medicationrequest-status": {"codes": ["active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"]},
    "medicationrequest-intent": {"codes": ["proposal", "plan", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option"]},
    "medicationdispense-status": {
        "codes": ["preparation", "in-progress", "cancelled", "on-hold", "completed", "entered-in-error", "stopped", "declined", "unknown"]
    },
    "condition-clinical": {"system": TERMINOLOGY + "condition-clinical", "codes": ["active", "recurrence", "relapse", "inactive", "remission", "resolved"]},
    "condition-ver-status": {
        "system": TERMINOLOGY + "condition-ver-status", "codes": ["unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"]
    },
    "document-reference-status": {"codes": ["current", "superseded", "entered-in-error"]},
    "composition-status": {"codes": ["preliminary", "final", "amended", "entered-in-error"]},
    "document-relationship-type": {"codes": ["replaces", "transforms", "signs", "appends"]},
    "composition-attestation-mode": {"codes": ["personal", "professional", "legal", "official"]},
    "list-mode": {"codes": ["working", "snapshot", "changes"]},
    "v3-ConfidentialityClassification": {"url": "http://terminology.hl7.org/ValueSet/v3-ConfidentialityClassification", "codes": ["U", "L", "M", "N", "R", "V"]},
    "consent-state-codes": {"codes": ["draft", "proposed", "active", "rejected", "inactive", "entered-in-error"]},
    "consent-provision-type": {"codes": ["deny", "permit"]},
    "consent-data-meaning": {"codes": ["instance", "related", "dependents", "authoredby"]},
    "request-status": {"codes": ["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"]},
    "request-intent": {"codes": ["proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option"]},
    REQUEST_PRIORITY: {"codes": ["routine", "urgent", "asap", "stat"]},
    "task-status": {
        "codes": ["draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress", "on-hold", "failed", "completed", "entered-in-error"]
    },
    "task-intent": {"codes": ["unknown", "proposal", "plan", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option"]},
    "event-status": {"codes": ["preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown"]},
    "measure-report-status": {"codes": ["complete", "pending", "error"]},
    "measure-report-type": {"codes": ["individual", "subject-list", "summary", "data-collection"]},
    "measure-improvement-notation": {"system": TERMINOLOGY + "measure-improvement-notation", "codes": ["increase", "decrease"]},
    "allergyintolerance-clinical": {"system": TERMINOLOGY + "allergyintolerance-clinical", "codes": ["active", "inactive", "resolved"]},
    "allergyintolerance-verification": {
        "system": TERMINOLOGY + "allergyintolerance-verification", "codes": ["unconfirmed", "confirmed", "refuted", "entered-in-error"]
    },
    "allergy-intolerance-type": {"codes": ["allergy", "intolerance"]},
    "allergy-intolerance-category": {"codes": ["food", "medication", "environment", "biologic"]},
    "allergy-intolerance-criticality": {"codes": ["low", "high", "unable-to-assess"]},
    "reaction-event-severity": {"codes": ["mild", "moderate", "severe"]},
    "immunization-status": {"codes": ["completed", "entered-in-error", "not-done"]},
    "medication-statement-status": {"codes": ["active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"]},
    "bundle-type": {
        "codes": ["document", "message", "transaction", "transaction-response", "batch", "batch-response", "history", "searchset", "collection"]
    },
    "search-entry-mode": {"codes": ["match", "include", "outcome"]},
    "http-verb": {"codes": ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]},
    # --- data types --------------------------------------------------------------------------------------------------
    "narrative-status": {"codes": ["generated", "extensions", "additional", "empty"]},
    "quantity-comparator": {"codes": ["<", "<=", ">=", ">"]},
    "identifier-use": {"codes": ["usual", "official", "temp", "secondary", "old"]},
    "name-use": {"codes": ["usual", "official", "temp", "nickname", "anonymous", "old", "maiden"]},
    "contact-point-system": {"codes": ["phone", "fax", "email", "pager", "url", "sms", "other"]},
    "contact-point-use": {"codes": ["home", "work", "temp", "old", "mobile"]},
    "address-use": {"codes": ["home", "work", "temp", "old", "billing"]},
    "address-type": {"codes": ["postal", "physical", "both"]},
    "units-of-time": {"codes": ["s", "min", "h", "d", "wk", "mo", "a"]},
    "days-of-week": {"codes": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
    "event-timing": {
        "codes": [
            "MORN", "MORN.early", "MORN.late", "NOON", "AFT", "AFT.early", "AFT.late", "EVE", "EVE.early", "EVE.late", "NIGHT",
            "PHS", "HS", "WAKE", "C", "CM", "CD", "CV", "AC", "ACM", "ACD", "ACV", "PC", "PCM", "PCD", "PCV",
        ]
    },
    "related-artifact-type": {
        "codes": ["documentation", "justification", "citation", "predecessor", "successor", "derived-from", "depends-on", "composed-of"]
    },
    "contributor-type": {"codes": ["author", "editor", "reviewer", "endorser"]},
    "sort-direction": {"codes": ["ascending", "descending"]},
    "trigger-type": {
        "codes": ["named-event", "periodic", "data-changed", "data-added", "data-modified", "data-removed", "data-accessed", "data-access-ended"]
    },
    "operation-parameter-use": {"codes": ["in", "out"]},
    "administrative-gender": {"codes": ["male", "female", "other", "unknown"]},
    "link-type": {"codes": ["replaced-by", "replaces", "refer", "seealso"]},
}

_QUANTITY = {"comparator": "quantity-comparator"}

BINDINGS: dict[str, dict[str, str]] = {
    # --- resources the record service stores (records/categories.py) ------------------------------------------
    "Observation": {"status": "observation-status"},
    "DiagnosticReport": {"status": "diagnostic-report-status"},
    "ImagingStudy": {"status": "imagingstudy-status"},
    "MedicationRequest": {"status": "medicationrequest-status", "intent": "medicationrequest-intent", "priority": REQUEST_PRIORITY},
    "DocumentReference": {"status": "document-reference-status", "docStatus": "composition-status"},
    "DocumentReferenceRelatesTo": {"code": "document-relationship-type"},
    "Composition": {"status": "composition-status", "confidentiality": "v3-ConfidentialityClassification"},
    "CompositionAttester": {"mode": "composition-attestation-mode"},
    "CompositionRelatesTo": {"code": "document-relationship-type"},
    "CompositionSection": {"mode": "list-mode"},
    "Condition": {"clinicalStatus": "condition-clinical", "verificationStatus": "condition-ver-status"},
    # --- consents (api/fhir_consent.py) and the care flows ---------------------------------------------------------
    "Consent": {"status": "consent-state-codes"},
    "ConsentProvision": {"type": "consent-provision-type"},
    "ConsentProvisionData": {"meaning": "consent-data-meaning"},
    "ServiceRequest": {"status": "request-status", "intent": "request-intent", "priority": REQUEST_PRIORITY},
    "Task": {"status": "task-status", "intent": "task-intent", "priority": REQUEST_PRIORITY},
    "Communication": {"status": "event-status", "priority": REQUEST_PRIORITY},
    "MedicationDispense": {"status": "medicationdispense-status"},
    "MeasureReport": {"status": "measure-report-status", "type": "measure-report-type", "improvementNotation": "measure-improvement-notation"},
    "AllergyIntolerance": {
        "clinicalStatus": "allergyintolerance-clinical", "verificationStatus": "allergyintolerance-verification",
        "type": "allergy-intolerance-type", "category": "allergy-intolerance-category", "criticality": "allergy-intolerance-criticality",
    },
    "AllergyIntoleranceReaction": {"severity": "reaction-event-severity"},
    "Immunization": {"status": "immunization-status"},
    "MedicationStatement": {"status": "medication-statement-status"},
    # --- Bundle (uploads of several records) ----------------------------------------------------------------------
    "Bundle": {"type": "bundle-type"},
    "BundleEntrySearch": {"mode": "search-entry-mode"},
    "BundleEntryRequest": {"method": "http-verb"},
    # --- data types, wherever they occur --------------------------------------------------------------------------
    "Narrative": {"status": "narrative-status"},
    "Quantity": _QUANTITY, "Age": _QUANTITY, "Count": _QUANTITY, "Distance": _QUANTITY, "Duration": _QUANTITY,
    "Identifier": {"use": "identifier-use"},
    "HumanName": {"use": "name-use"},
    "ContactPoint": {"system": "contact-point-system", "use": "contact-point-use"},
    "Address": {"use": "address-use", "type": "address-type"},
    "TimingRepeat": {"durationUnit": "units-of-time", "periodUnit": "units-of-time", "dayOfWeek": "days-of-week", "when": "event-timing"},
    "RelatedArtifact": {"type": "related-artifact-type"},
    "Contributor": {"type": "contributor-type"},
    "DataRequirementSort": {"direction": "sort-direction"},
    "TriggerDefinition": {"type": "trigger-type"},
    "ParameterDefinition": {"use": "operation-parameter-use"},
    "Procedure": {"status": "event-status"},
    "Patient": {"gender": "administrative-gender"},
    "PatientContact": {"gender": "administrative-gender"},
    "PatientLink": {"type": "link-type"},
}
