// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortiumRegistry} from "../interfaces/IConsortiumRegistry.sol";
import {ConsortiumRegistry} from "../ConsortiumRegistry.sol";
import {ConsentLedger} from "../ConsentLedger.sol";
import {RecordRegistry} from "../RecordRegistry.sol";
import {ConsentPolicy} from "../libraries/ConsentPolicy.sol";
import {Roles} from "../libraries/Roles.sol";
import {CareFlow} from "./CareFlow.sol";

/// @title Prescriptions
/// @notice E-prescriptions (issue 14): a PROVIDER prescribes, the patient presents the prescription to a pharmacy
/// (an EIP-712 signature relayed by any member, or a one-time token printed by the prescriber), the pharmacy
/// dispenses as often as the prescription allows, and the ledger is the single source of truth for how many
/// dispenses are left.
/// @dev Clinical content stays in ordinary encrypted records: the MedicationRequest (category PRESCRIPTION, anchored
/// by the prescriber) and one MedicationDispense per dispense (category DISPENSE, anchored by the pharmacy). The
/// pharmacy anchors its dispense record through RecordRegistry like any author, i.e. as an active PROVIDER under the
/// patient's consent covering DISPENSE for TREATMENT (the wallet grants it when presenting: data period from the
/// presentation on, so it opens none of the patient's older records); the same consent and authorship let it claim
/// on the patient's e-card with the dispense record as evidence.
///
/// Storage is two words per prescription plus, when needed, the named pharmacy and the token hash, so a dispense
/// reads two warm-after-first words and writes one. A dispense record is not stored (a fresh slot costs ~22,100
/// gas): it must be the pharmacy's own DISPENSE record of the patient, anchored no earlier than the issue or the
/// previous dispense of this prescription; auditors flag a record used twice.
contract Prescriptions is CareFlow {
    using ConsentPolicy for ConsentPolicy.Consent;

    /// @notice Where a prescription may be dispensed.
    enum Scope {
        AnyPharmacy,
        Country,
        NamedPharmacy
    }

    /// @notice Why a pharmacy may not dispense now ({dispenseStatus}); Allowed when it may.
    enum DispenseStatus {
        Allowed,
        Unknown,
        Cancelled,
        NotYetValid,
        Expired,
        UsedUp,
        TooEarly,
        NotPharmacy,
        OutOfScope,
        NotPresented
    }

    /// @notice What the prescriber issues.
    struct NewPrescription {
        bytes32 prescriptionId;
        address patient;
        bytes32 recordId; // the MedicationRequest (PRESCRIPTION), anchored by the prescriber
        uint40 validFrom;
        uint40 validUntil;
        uint8 dispensesAllowed; // 1 + numberOfRepeatsAllowed
        uint32 minInterval; // seconds between dispenses (FHIR dispenseInterval)
        Scope scope;
        bytes2 country; // Scope.Country only
        address pharmacy; // Scope.NamedPharmacy only
        bool singleDispense; // controlled medicine: exactly one dispense
        bytes32 tokenHash; // keccak256(abi.encode(prescriptionId, secret)) of the printed token, or zero
    }

    /// @notice A prescription as stored and returned by {getPrescription}.
    struct Prescription {
        // word 0
        address patient;
        uint40 validFrom;
        uint40 validUntil;
        uint8 dispensesAllowed;
        uint8 flags; // scope 0-1 | single dispense 2 | cancelled 3
        // word 1
        address prescriber;
        uint40 lastDispensedAt; // the issue time until the first dispense
        uint8 dispensed;
        uint32 minInterval;
        bytes2 country;
    }

    bytes32 public constant PRESENT_PRESCRIPTION_TYPEHASH =
        keccak256("PresentPrescription(bytes32 prescriptionId,address pharmacy,uint256 nonce,uint256 deadline)");

    uint8 private constant _SCOPE_MASK = 3;
    uint8 private constant _SINGLE = 4;
    uint8 private constant _CANCELLED = 8;
    uint8 private constant _PRESCRIPTION_CATEGORY = 3; // ledger/vocabulary.py Category.PRESCRIPTION
    uint8 private constant _DISPENSE_CATEGORY = 11; // Category.DISPENSE
    // A used token's hash: no keccak256 output is expected to equal it.
    bytes32 private constant _USED_TOKEN = bytes32(uint256(1));

    // Copies of CareFlow's contracts (its getters are external).
    ConsentLedger private immutable _consents;
    RecordRegistry private immutable _records;
    ConsortiumRegistry private immutable _directory;

    mapping(bytes32 prescriptionId => Prescription) private _prescriptions;
    mapping(bytes32 prescriptionId => bytes32) private _recordOf;
    mapping(bytes32 prescriptionId => address) private _namedPharmacy;
    mapping(bytes32 prescriptionId => bytes32) private _tokenHash;
    mapping(bytes32 prescriptionId => mapping(address pharmacy => bool)) private _presented;

    event PrescriptionIssued(
        bytes32 indexed prescriptionId,
        address indexed patient,
        address indexed prescriber,
        bytes32 recordId,
        uint40 validFrom,
        uint40 validUntil,
        uint8 dispensesAllowed,
        uint32 minInterval,
        Scope scope,
        bytes2 country,
        address pharmacy,
        bool singleDispense,
        bool hasToken
    );
    event PrescriptionCancelled(bytes32 indexed prescriptionId, address indexed prescriber);
    /// @dev `signer` is the patient or its delegate; zero when a pharmacy presented the printed token.
    event PrescriptionPresented(
        bytes32 indexed prescriptionId,
        address indexed patient,
        address indexed pharmacy,
        address signer
    );
    event PrescriptionDispensed(
        bytes32 indexed prescriptionId,
        address indexed patient,
        address indexed pharmacy,
        bytes32 dispenseRecordId,
        uint8 dispensed,
        uint8 dispensesAllowed
    );

    error InvalidPrescription(bytes32 prescriptionId);
    error PrescriptionExists(bytes32 prescriptionId);
    error UnknownPrescription(bytes32 prescriptionId);
    error InvalidValidity(uint40 validFrom, uint40 validUntil);
    error InvalidDispenseCount(uint8 dispensesAllowed);
    error InvalidScope(Scope scope);
    error NotPrescriptionRecord(bytes32 recordId);
    error NoPrescribingConsent(address patient, address prescriber);
    error NotPrescriber(bytes32 prescriptionId, address account);
    error PrescriptionIsCancelled(bytes32 prescriptionId);
    error PrescriptionNotYetValid(bytes32 prescriptionId, uint40 validFrom);
    error PrescriptionExpired(bytes32 prescriptionId, uint40 validUntil);
    error PrescriptionUsedUp(bytes32 prescriptionId, uint8 dispensesAllowed);
    error DispenseTooEarly(bytes32 prescriptionId, uint256 nextAt);
    error PharmacyOutOfScope(bytes32 prescriptionId, address pharmacy);
    error NotPresented(bytes32 prescriptionId, address pharmacy);
    error InvalidToken(bytes32 prescriptionId);
    error TokenAlreadyUsed(bytes32 prescriptionId);
    error NotDispenseRecord(bytes32 recordId);

    constructor(
        IConsortiumRegistry registry_,
        ConsentLedger consentLedger_,
        RecordRegistry recordRegistry_
    ) CareFlow("healthsilk Prescriptions", registry_, consentLedger_, recordRegistry_) {
        _consents = consentLedger_;
        _records = recordRegistry_;
        _directory = ConsortiumRegistry(address(registry_));
    }

    // ---------------------------------------------------------------- prescriber

    /// @notice Issues a prescription; the caller must be an active PROVIDER holding the patient's consent, in force,
    /// covering PRESCRIPTION for TREATMENT, and the author of `p.recordId`, the patient's PRESCRIPTION record.
    /// @param p The prescription.
    function issue(NewPrescription calldata p) external {
        _requireRole(Roles.PROVIDER, msg.sender);
        bytes32 id = p.prescriptionId;
        if (id == bytes32(0)) revert InvalidPrescription(id);
        if (_prescriptions[id].patient != address(0)) revert PrescriptionExists(id);
        if (p.patient == address(0)) revert InvalidAddress();
        (address patient, uint8 category, address author) = _record(p.recordId);
        if (patient != p.patient || category != _PRESCRIPTION_CATEGORY || author != msg.sender) {
            revert NotPrescriptionRecord(p.recordId);
        }
        ConsentPolicy.Consent memory c = ConsentPolicy.unpack(_consents.packedConsent(p.patient, msg.sender));
        if (
            !(c.isInForce(block.timestamp) &&
                c.covers(ConsentPolicy.PRESCRIPTION, ConsentPolicy.TREATMENT) &&
                c.coversDataAt(block.timestamp))
        ) revert NoPrescribingConsent(p.patient, msg.sender);
        if (p.validUntil <= p.validFrom || p.validUntil <= block.timestamp) {
            revert InvalidValidity(p.validFrom, p.validUntil);
        }
        if (p.dispensesAllowed == 0 || (p.singleDispense && p.dispensesAllowed != 1)) {
            revert InvalidDispenseCount(p.dispensesAllowed);
        }
        _checkScope(p);
        if (p.tokenHash == _USED_TOKEN) revert InvalidToken(id);

        _prescriptions[id] = Prescription({
            patient: p.patient,
            validFrom: p.validFrom,
            validUntil: p.validUntil,
            dispensesAllowed: p.dispensesAllowed,
            flags: uint8(p.scope) | (p.singleDispense ? _SINGLE : 0),
            prescriber: msg.sender,
            lastDispensedAt: uint40(block.timestamp),
            dispensed: 0,
            minInterval: p.minInterval,
            country: p.scope == Scope.Country ? p.country : bytes2(0)
        });
        _recordOf[id] = p.recordId;
        if (p.scope == Scope.NamedPharmacy) _namedPharmacy[id] = p.pharmacy;
        if (p.tokenHash != bytes32(0)) _tokenHash[id] = p.tokenHash;
        _emitIssued(p);
    }

    /// @notice Cancels a prescription (no further presentations or dispenses); the caller must be its prescriber.
    /// @param prescriptionId The prescription.
    function cancel(bytes32 prescriptionId) external {
        Prescription storage p = _requirePrescription(prescriptionId);
        if (p.prescriber != msg.sender) revert NotPrescriber(prescriptionId, msg.sender);
        if (p.flags & _CANCELLED != 0) revert PrescriptionIsCancelled(prescriptionId);
        p.flags |= _CANCELLED;
        emit PrescriptionCancelled(prescriptionId, msg.sender);
    }

    // ---------------------------------------------------------------- patient / pharmacy

    /// @notice Relays the patient's (or delegate's) signed `PresentPrescription`; the caller must be an active
    /// member (usually the pharmacy). The pharmacy must be an active PHARMACY in the prescription's scope, and the
    /// prescription current (not cancelled, not expired, not used up).
    /// @param prescriptionId The prescription.
    /// @param pharmacy The pharmacy the patient presents it to.
    /// @param nonce The signer's current nonce in this contract.
    /// @param deadline Last valid block timestamp of the signature.
    /// @param signature 65-byte ECDSA signature by the patient or its delegate.
    function present(
        bytes32 prescriptionId,
        address pharmacy,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        _requireMember(msg.sender);
        Prescription storage p = _requirePrescription(prescriptionId);
        _checkPresentable(prescriptionId, p, pharmacy);
        address patient = p.patient;
        address signer = _usePatientSignature(
            patient,
            keccak256(abi.encode(PRESENT_PRESCRIPTION_TYPEHASH, prescriptionId, pharmacy, nonce, deadline)),
            nonce,
            deadline,
            signature
        );
        _presented[prescriptionId][pharmacy] = true;
        emit PrescriptionPresented(prescriptionId, patient, pharmacy, signer);
    }

    /// @notice Presents the printed token: the caller (an active PHARMACY in scope) shows the one-time secret whose
    /// hash the prescriber put on chain. The token works once; a replay or a forged secret is refused.
    /// @param prescriptionId The prescription.
    /// @param secret The token's secret.
    function presentToken(bytes32 prescriptionId, bytes32 secret) external {
        Prescription storage p = _requirePrescription(prescriptionId);
        _checkPresentable(prescriptionId, p, msg.sender);
        bytes32 stored = _tokenHash[prescriptionId];
        if (stored == _USED_TOKEN) revert TokenAlreadyUsed(prescriptionId);
        if (stored == bytes32(0) || stored != keccak256(abi.encode(prescriptionId, secret))) {
            revert InvalidToken(prescriptionId);
        }
        _tokenHash[prescriptionId] = _USED_TOKEN;
        _presented[prescriptionId][msg.sender] = true;
        emit PrescriptionPresented(prescriptionId, p.patient, msg.sender, address(0));
    }

    /// @notice Records a dispense by the caller, a pharmacy the prescription was presented to, with its own
    /// MedicationDispense record (category DISPENSE, of the patient, anchored since the issue or the previous
    /// dispense). Of two pharmacies racing for the last dispense, the first transaction mined wins.
    /// @param prescriptionId The prescription.
    /// @param dispenseRecordId The pharmacy's MedicationDispense record, anchored on its own.
    function dispense(bytes32 prescriptionId, bytes32 dispenseRecordId) external {
        Prescription storage p = _prescriptions[prescriptionId];
        Prescription memory m = p;
        DispenseStatus status = _dispenseStatus(prescriptionId, m, msg.sender);
        if (status != DispenseStatus.Allowed) _revertFor(prescriptionId, m, status, msg.sender);
        (address patient, uint8 category, uint40 anchoredAt, bool erased, address author) = _records.getRecord(
            dispenseRecordId
        );
        if (
            patient != m.patient ||
            erased ||
            category != _DISPENSE_CATEGORY ||
            author != msg.sender ||
            anchoredAt < m.lastDispensedAt
        ) revert NotDispenseRecord(dispenseRecordId);
        uint8 dispensed = m.dispensed + 1;
        p.dispensed = dispensed;
        p.lastDispensedAt = uint40(block.timestamp);
        emit PrescriptionDispensed(prescriptionId, m.patient, msg.sender, dispenseRecordId, dispensed, m.dispensesAllowed);
    }

    // ---------------------------------------------------------------- views

    /// @notice A prescription (all zero when unknown).
    function getPrescription(bytes32 prescriptionId) external view returns (Prescription memory) {
        return _prescriptions[prescriptionId];
    }

    /// @notice The MedicationRequest record, the named pharmacy (Scope.NamedPharmacy) and whether an unused token
    /// exists.
    function prescriptionDetails(
        bytes32 prescriptionId
    ) external view returns (bytes32 recordId, address pharmacy, bool tokenUnused) {
        bytes32 token = _tokenHash[prescriptionId];
        return (_recordOf[prescriptionId], _namedPharmacy[prescriptionId], token != bytes32(0) && token != _USED_TOKEN);
    }

    /// @notice Whether the prescription was presented to `pharmacy`.
    function isPresented(bytes32 prescriptionId, address pharmacy) external view returns (bool) {
        return _presented[prescriptionId][pharmacy];
    }

    /// @notice Whether `pharmacy` may dispense the prescription now (its dispense record aside), and why not.
    function dispenseStatus(bytes32 prescriptionId, address pharmacy) external view returns (DispenseStatus) {
        return _dispenseStatus(prescriptionId, _prescriptions[prescriptionId], pharmacy);
    }

    // ---------------------------------------------------------------- care reads

    /// @dev The prescriber and every pharmacy the prescription was presented to may read its MedicationRequest;
    /// the prescriber may also read the dispense records of the pharmacies it was presented to.
    function _mayRead(address reader, bytes32 ref, bytes32 recordId) internal view override returns (bool) {
        Prescription storage p = _prescriptions[ref];
        address prescriber = p.prescriber;
        if (prescriber == address(0)) return false;
        if (recordId == _recordOf[ref]) return reader == prescriber || _presented[ref][reader];
        if (reader != prescriber) return false;
        (address patient, uint8 category, , , address author) = _records.getRecord(recordId);
        return patient == p.patient && category == _DISPENSE_CATEGORY && _presented[ref][author];
    }

    function _readPurpose() internal pure override returns (uint8) {
        return ConsentPolicy.TREATMENT;
    }

    // ---------------------------------------------------------------- private

    function _requirePrescription(bytes32 prescriptionId) private view returns (Prescription storage p) {
        p = _prescriptions[prescriptionId];
        if (p.patient == address(0)) revert UnknownPrescription(prescriptionId);
    }

    function _emitIssued(NewPrescription calldata p) private {
        emit PrescriptionIssued(
            p.prescriptionId,
            p.patient,
            msg.sender,
            p.recordId,
            p.validFrom,
            p.validUntil,
            p.dispensesAllowed,
            p.minInterval,
            p.scope,
            p.scope == Scope.Country ? p.country : bytes2(0),
            p.scope == Scope.NamedPharmacy ? p.pharmacy : address(0),
            p.singleDispense,
            p.tokenHash != bytes32(0)
        );
    }

    function _checkScope(NewPrescription calldata p) private view {
        if (p.scope == Scope.Country && p.country == bytes2(0)) revert InvalidScope(p.scope);
        if (p.scope == Scope.NamedPharmacy && !_hasRole(Roles.PHARMACY, p.pharmacy)) revert InvalidScope(p.scope);
    }

    /// @dev Presentation needs what a dispense needs, except the interval and a previous presentation.
    function _checkPresentable(bytes32 prescriptionId, Prescription storage p, address pharmacy) private view {
        Prescription memory m = p;
        DispenseStatus status = _dispenseStatus(prescriptionId, m, pharmacy);
        if (status != DispenseStatus.Allowed && status != DispenseStatus.TooEarly && status != DispenseStatus.NotPresented) {
            _revertFor(prescriptionId, m, status, pharmacy);
        }
    }

    function _dispenseStatus(
        bytes32 prescriptionId,
        Prescription memory m,
        address pharmacy
    ) private view returns (DispenseStatus) {
        if (m.patient == address(0)) return DispenseStatus.Unknown;
        if (m.flags & _CANCELLED != 0) return DispenseStatus.Cancelled;
        if (block.timestamp < m.validFrom) return DispenseStatus.NotYetValid;
        if (block.timestamp >= m.validUntil) return DispenseStatus.Expired;
        if (m.dispensed >= m.dispensesAllowed) return DispenseStatus.UsedUp;
        if (!_hasRole(Roles.PHARMACY, pharmacy)) return DispenseStatus.NotPharmacy;
        Scope scope = Scope(m.flags & _SCOPE_MASK);
        if (scope == Scope.NamedPharmacy && _namedPharmacy[prescriptionId] != pharmacy) return DispenseStatus.OutOfScope;
        if (scope == Scope.Country && _directory.member(pharmacy).country != m.country) {
            return DispenseStatus.OutOfScope;
        }
        if (!_presented[prescriptionId][pharmacy]) return DispenseStatus.NotPresented;
        if (m.dispensed != 0 && block.timestamp < uint256(m.lastDispensedAt) + m.minInterval) {
            return DispenseStatus.TooEarly;
        }
        return DispenseStatus.Allowed;
    }

    function _revertFor(bytes32 id, Prescription memory m, DispenseStatus status, address pharmacy) private pure {
        if (status == DispenseStatus.Unknown) revert UnknownPrescription(id);
        if (status == DispenseStatus.Cancelled) revert PrescriptionIsCancelled(id);
        if (status == DispenseStatus.NotYetValid) revert PrescriptionNotYetValid(id, m.validFrom);
        if (status == DispenseStatus.Expired) revert PrescriptionExpired(id, m.validUntil);
        if (status == DispenseStatus.UsedUp) revert PrescriptionUsedUp(id, m.dispensesAllowed);
        if (status == DispenseStatus.NotPharmacy) revert MissingRole(Roles.PHARMACY, pharmacy);
        if (status == DispenseStatus.OutOfScope) revert PharmacyOutOfScope(id, pharmacy);
        if (status == DispenseStatus.NotPresented) revert NotPresented(id, pharmacy);
        revert DispenseTooEarly(id, uint256(m.lastDispensedAt) + m.minInterval);
    }
}
