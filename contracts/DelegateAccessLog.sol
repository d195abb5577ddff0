// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {ConsentLedger} from "./ConsentLedger.sol";
import {RecordRegistry} from "./RecordRegistry.sol";
import {ConsentPolicy} from "./libraries/ConsentPolicy.sol";

/// @title DelegateAccessLog
/// @notice The access log of patients' delegates (guardians, carers): before an institution re-wraps a record key to
/// the patient's current delegate (ConsentLedger `delegateOf`), it logs the read here, so every read of a record is
/// on chain before its key leaves, and an auditor replaying the chain sees it.
/// @dev The contract has no storage of its own: a log call checks the chain's state and emits one event. The
/// institution calls it, the delegate is named: the delegate never sends a transaction. Only records anchored on
/// their own (their patient, category and author are in RecordRegistry storage) can be named; batch-anchored
/// records are not identifiable by id on chain and are refused as unknown.
contract DelegateAccessLog {
    using ConsentPolicy for ConsentPolicy.Consent;

    /// @notice The most records one {logDelegateReads} call logs.
    uint256 public constant MAX_READS = 256;

    IConsortiumRegistry private immutable _registry;
    ConsentLedger private immutable _consentLedger;
    RecordRegistry private immutable _recordRegistry;

    /// @dev `institution` released the keys of `recordIds` of `patient` to `delegate`, the patient's delegate then.
    event DelegateRecordsAccessed(
        address indexed patient,
        address indexed delegate,
        address indexed institution,
        bytes32[] recordIds
    );

    error InvalidAddress();
    error NotActiveMember(address account);
    error InvalidReadCount(uint256 count);
    error UnknownRecord(bytes32 recordId);
    error RecordIsErased(bytes32 recordId);
    error MixedPatients(bytes32 recordId, address patient);
    error NotCurrentDelegate(address patient, address delegate);
    error KeyNotHeld(bytes32 recordId, address institution);

    /// @param registry_ The consortium registry (members).
    /// @param consentLedger_ The consent ledger (patients' delegates and consents).
    /// @param recordRegistry_ The record registry (records' patient, category, author, erasure).
    constructor(IConsortiumRegistry registry_, ConsentLedger consentLedger_, RecordRegistry recordRegistry_) {
        if (
            address(registry_) == address(0) ||
            address(consentLedger_) == address(0) ||
            address(recordRegistry_) == address(0)
        ) revert InvalidAddress();
        _registry = registry_;
        _consentLedger = consentLedger_;
        _recordRegistry = recordRegistry_;
    }

    /// @notice Logs that the caller, an active member, releases the keys of `recordIds` to `delegate`; all or
    /// nothing. The API calls this, and waits for it to be mined, before it returns any key.
    /// @dev Refused unless every record exists, is anchored on its own, is not erased and is of one patient,
    /// `delegate` is that patient's delegate now, and the caller may hold each record's key: it is the record's
    /// author, or it holds a consent of the patient in force now whose categories cover the record's category
    /// (any purpose: the patient shares keys to a grantee on a grant). The data period of the consent is not checked.
    /// @param delegate The patient's current delegate, to whose key the record keys are re-wrapped.
    /// @param recordIds The records read, at most {MAX_READS}.
    function logDelegateReads(address delegate, bytes32[] calldata recordIds) external {
        if (!_registry.isActiveMember(msg.sender)) revert NotActiveMember(msg.sender);
        uint256 n = recordIds.length;
        if (n == 0 || n > MAX_READS) revert InvalidReadCount(n);
        (address patient, , ) = _record(recordIds[0]);
        if (delegate == address(0) || _consentLedger.delegateOf(patient) != delegate) {
            revert NotCurrentDelegate(patient, delegate);
        }
        ConsentPolicy.Consent memory consent = ConsentPolicy.unpack(_consentLedger.packedConsent(patient, msg.sender));
        uint16 consented = consent.isInForce(block.timestamp) ? consent.categories : 0;
        for (uint256 i = 0; i < n; ++i) {
            (address recordPatient, uint8 category, address author) = _record(recordIds[i]);
            if (recordPatient != patient) revert MixedPatients(recordIds[i], patient);
            if (author != msg.sender && (uint256(consented) >> category) & 1 == 0) {
                revert KeyNotHeld(recordIds[i], msg.sender);
            }
        }
        emit DelegateRecordsAccessed(patient, delegate, msg.sender, recordIds);
    }

    /// @notice The consortium registry this log consults.
    function registry() external view returns (IConsortiumRegistry) {
        return _registry;
    }

    /// @notice The consent ledger this log consults.
    function consentLedger() external view returns (ConsentLedger) {
        return _consentLedger;
    }

    /// @notice The record registry this log consults.
    function recordRegistry() external view returns (RecordRegistry) {
        return _recordRegistry;
    }

    /// @dev A record anchored on its own, existing and not erased: its patient, category and author.
    function _record(bytes32 recordId) private view returns (address patient, uint8 category, address author) {
        bool erased;
        (patient, category, , erased, author) = _recordRegistry.getRecord(recordId);
        if (patient == address(0)) revert UnknownRecord(recordId);
        if (erased) revert RecordIsErased(recordId);
    }
}
