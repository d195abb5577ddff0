// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IConsortiumRegistry} from "../interfaces/IConsortiumRegistry.sol";
import {ConsentLedger} from "../ConsentLedger.sol";
import {RecordRegistry} from "../RecordRegistry.sol";

/// @title CareFlow
/// @notice What every care flow contract (referral cases, break-glass, prescriptions) shares, so that a reader who
/// knows one knows all: the contracts it reads, patient signatures (the patient or its delegate, EIP-712 with a
/// nonce and a deadline), and the care access log, i.e. reads that the flow authorises instead of a consent.
/// @dev A flow decides who may read which record under one of its references (a case id, a break-glass id, a
/// prescription id) in {_mayRead}. Readers log their reads through {recordsAccessed}; the author institutions'
/// APIs ask {mayRead} before they re-wrap a record's key to a reader. Care reads cover records anchored on their
/// own (their patient, category and author are in RecordRegistry storage); batch-anchored records are not
/// identifiable by id on chain and are refused.
abstract contract CareFlow is EIP712, Nonces {
    /// @notice The most records one {recordsAccessed} call logs.
    uint256 public constant MAX_READS = 256;

    IConsortiumRegistry private immutable _registry;
    ConsentLedger private immutable _consentLedger;
    RecordRegistry private immutable _recordRegistry;

    /// @dev The care access log: `reader` read `recordIds` of `patient` under the flow's reference `ref`.
    event CareRecordsAccessed(
        address indexed patient,
        address indexed reader,
        bytes32 indexed ref,
        uint8 purpose,
        bytes32[] recordIds
    );

    error InvalidAddress();
    error NotActiveMember(address account);
    error MissingRole(bytes32 role, address account);
    error UnauthorizedSigner(address patient, address signer);
    error ExpiredSignature(uint256 deadline);
    error InvalidReadCount(uint256 count);
    error UnknownRecord(bytes32 recordId);
    error RecordIsErased(bytes32 recordId);
    error ReadNotAuthorised(bytes32 ref, bytes32 recordId, address reader);

    /// @param name The EIP-712 domain name of the flow.
    /// @param registry_ The consortium registry (members and roles).
    /// @param consentLedger_ The consent ledger (patients' delegates and consents).
    /// @param recordRegistry_ The record registry (records' patient, category, author, erasure).
    constructor(
        string memory name,
        IConsortiumRegistry registry_,
        ConsentLedger consentLedger_,
        RecordRegistry recordRegistry_
    ) EIP712(name, "1") {
        if (
            address(registry_) == address(0) ||
            address(consentLedger_) == address(0) ||
            address(recordRegistry_) == address(0)
        ) revert InvalidAddress();
        _registry = registry_;
        _consentLedger = consentLedger_;
        _recordRegistry = recordRegistry_;
    }

    // ---------------------------------------------------------------- care access log

    /// @notice Logs that the caller (an active member) read `recordIds`, all of one patient, under `ref`; all or
    /// nothing. The API calls this before it releases any of the records.
    /// @param ref The flow's reference (case, break-glass or prescription id).
    /// @param recordIds The records read.
    function recordsAccessed(bytes32 ref, bytes32[] calldata recordIds) external {
        _requireMember(msg.sender);
        uint256 n = recordIds.length;
        if (n == 0 || n > MAX_READS) revert InvalidReadCount(n);
        address patient;
        for (uint256 i = 0; i < n; ++i) {
            (address recordPatient, , ) = _record(recordIds[i]);
            if (i == 0) patient = recordPatient;
            if (recordPatient != patient || !_mayRead(msg.sender, ref, recordIds[i])) {
                revert ReadNotAuthorised(ref, recordIds[i], msg.sender);
            }
        }
        emit CareRecordsAccessed(patient, msg.sender, ref, _readPurpose(), recordIds);
    }

    /// @notice Whether `reader` may read `recordId` under `ref` now (false for unknown or erased records).
    /// @param reader A member.
    /// @param ref The flow's reference.
    /// @param recordId A record anchored on its own.
    /// @return True when the flow authorises the read.
    function mayRead(address reader, bytes32 ref, bytes32 recordId) external view returns (bool) {
        (address patient, , , bool erased, ) = _recordRegistry.getRecord(recordId);
        return patient != address(0) && !erased && _registry.isActiveMember(reader) && _mayRead(reader, ref, recordId);
    }

    // ---------------------------------------------------------------- views

    /// @notice The consortium registry this flow consults.
    function registry() external view returns (IConsortiumRegistry) {
        return _registry;
    }

    /// @notice The consent ledger this flow consults.
    function consentLedger() external view returns (ConsentLedger) {
        return _consentLedger;
    }

    /// @notice The record registry this flow consults.
    function recordRegistry() external view returns (RecordRegistry) {
        return _recordRegistry;
    }

    /// @notice The EIP-712 domain separator (also described by `eip712Domain()`, ERC-5267).
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- for the flows

    /// @dev Whether `reader` (an active member) may read the existing, unerased record `recordId` under `ref`.
    function _mayRead(address reader, bytes32 ref, bytes32 recordId) internal view virtual returns (bool);

    /// @dev The purpose code logged with the flow's reads (ConsentPolicy purpose bits).
    function _readPurpose() internal pure virtual returns (uint8);

    /// @dev A record anchored on its own, existing and not erased: its patient, category and author.
    function _record(bytes32 recordId) internal view returns (address patient, uint8 category, address author) {
        bool erased;
        (patient, category, , erased, author) = _recordRegistry.getRecord(recordId);
        if (patient == address(0)) revert UnknownRecord(recordId);
        if (erased) revert RecordIsErased(recordId);
    }

    /// @dev Checks an EIP-712 signature of `structHash` by `patient` or its delegate, and uses the signer's nonce.
    function _usePatientSignature(
        address patient,
        bytes32 structHash,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) internal returns (address signer) {
        if (block.timestamp > deadline) revert ExpiredSignature(deadline);
        signer = ECDSA.recoverCalldata(_hashTypedDataV4(structHash), signature);
        if (signer != patient && signer != _consentLedger.delegateOf(patient)) revert UnauthorizedSigner(patient, signer);
        _useCheckedNonce(signer, nonce);
    }

    function _requireMember(address account) internal view {
        if (!_registry.isActiveMember(account)) revert NotActiveMember(account);
    }

    function _requireRole(bytes32 role, address account) internal view {
        if (!_registry.hasActiveRole(role, account)) revert MissingRole(role, account);
    }

    function _hasRole(bytes32 role, address account) internal view returns (bool) {
        return _registry.hasActiveRole(role, account);
    }
}
