// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {ConsentPolicy} from "./libraries/ConsentPolicy.sol";

/// @title ConsentLedger
/// @notice The patient directory (HPKE public keys, delegates) and the patients' consents to member
/// institutions, mirroring FHIR Consent. One consent per (patient, grantee); a new grant replaces the
/// previous one and bumps its version, so logs can name the exact consent version used.
/// @dev Every patient action can be sent by the patient itself, or signed as EIP-712 typed data and relayed
/// by any active member. A delegate (guardian / carer) may grant and revoke for the patient, directly or by
/// signing the same `GrantConsent` / `RevokeConsent` types with its own key and its own nonce.
///
/// Revocation is effective immediately when its transaction executes: transactions ordered after it, in the
/// same block or later, see the consent as revoked; transactions ordered before it in the same block used a
/// consent that was still in force. So from block N+1 on a revocation in block N always holds. We chose this
/// over "still permitted for the rest of block N" because it is stricter and needs no extra storage.
contract ConsentLedger is EIP712, Nonces {
    using ConsentPolicy for ConsentPolicy.Consent;

    /// @notice Upper bound on an HPKE public key (an ML-KEM-768+X25519 hybrid key is 1216 bytes).
    uint256 public constant MAX_PUBLIC_KEY_LENGTH = 1300;

    bytes32 public constant REGISTER_PATIENT_TYPEHASH =
        keccak256("RegisterPatient(address patient,bytes hpkePublicKey,uint256 nonce,uint256 deadline)");
    bytes32 public constant GRANT_CONSENT_TYPEHASH =
        keccak256(
            "GrantConsent(address patient,address grantee,uint16 categories,uint8 purposes,uint40 validFrom,"
            "uint40 validUntil,uint40 dataFrom,uint40 dataUntil,uint256 nonce,uint256 deadline)"
        );
    bytes32 public constant REVOKE_CONSENT_TYPEHASH =
        keccak256("RevokeConsent(address patient,address grantee,uint256 nonce,uint256 deadline)");
    /// @dev `delegate` = address(0) removes the delegate.
    bytes32 public constant SET_DELEGATE_TYPEHASH =
        keccak256("SetDelegate(address patient,address delegate,uint256 nonce,uint256 deadline)");

    IConsortiumRegistry private immutable _registry;

    mapping(address patient => bytes) private _patientKeys;
    mapping(address patient => address) private _delegates;
    // One packed word per pair, see ConsentPolicy.pack.
    mapping(address patient => mapping(address grantee => uint256)) private _consents;

    event PatientRegistered(address indexed patient, bytes hpkePublicKey);
    event ConsentGranted(
        address indexed patient,
        address indexed grantee,
        bytes32 indexed consentId,
        uint32 version,
        uint16 categories,
        uint8 purposes,
        uint40 validFrom,
        uint40 validUntil,
        uint40 dataFrom,
        uint40 dataUntil,
        address actor
    );
    event ConsentRevoked(
        address indexed patient,
        address indexed grantee,
        bytes32 indexed consentId,
        uint32 version,
        address actor
    );
    event DelegateSet(address indexed patient, address indexed delegate);
    event DelegateRemoved(address indexed patient, address indexed previousDelegate);

    error InvalidRegistry();
    error NotActiveMember(address account);
    error UnauthorizedActor(address patient, address actor);
    error ExpiredSignature(uint256 deadline);
    error InvalidPublicKey(uint256 length);
    error InvalidGrantee(address grantee);
    error InvalidCategories(uint16 categories);
    error InvalidPurposes(uint8 purposes);
    error InvalidValidityPeriod(uint40 validFrom, uint40 validUntil);
    error InvalidDataPeriod(uint40 dataFrom, uint40 dataUntil);
    error NoActiveConsent(address patient, address grantee);
    error InvalidDelegate(address delegate);
    error NoDelegate(address patient);

    /// @param registry_ The consortium registry deciding who is an active member.
    constructor(IConsortiumRegistry registry_) EIP712("healthsilk ConsentLedger", "1") {
        if (address(registry_) == address(0)) revert InvalidRegistry();
        _registry = registry_;
    }

    // ---------------------------------------------------------------- patient directory

    /// @notice Registers or replaces the caller's HPKE public key (the caller is the patient).
    /// @param hpkePublicKey The serialized HPKE public key, 1..MAX_PUBLIC_KEY_LENGTH bytes.
    function registerPatient(bytes calldata hpkePublicKey) external {
        _registerPatient(msg.sender, hpkePublicKey);
    }

    /// @notice Relays a patient's signed `RegisterPatient`; the caller must be an active member.
    /// @param patient The patient (signer).
    /// @param hpkePublicKey The serialized HPKE public key.
    /// @param nonce The patient's current nonce.
    /// @param deadline Last valid block timestamp of the signature.
    /// @param signature 65-byte ECDSA signature over the EIP-712 digest.
    function registerPatientBySig(
        address patient,
        bytes calldata hpkePublicKey,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(REGISTER_PATIENT_TYPEHASH, patient, keccak256(hpkePublicKey), nonce, deadline)
        );
        _checkRelayedSignature(patient, false, structHash, nonce, deadline, signature);
        _registerPatient(patient, hpkePublicKey);
    }

    // ---------------------------------------------------------------- consent

    /// @notice Grants (or replaces) the consent of `patient` to `terms.grantee`; caller is the patient or its delegate.
    /// @param patient The patient whose data the consent covers.
    /// @param terms Grantee, category and purpose bitmasks, validity and data periods.
    /// @return consentId The identifier of the new consent version.
    function grantConsent(address patient, ConsentPolicy.Terms calldata terms) external returns (bytes32 consentId) {
        _checkActor(patient, msg.sender, true);
        return _grant(patient, msg.sender, terms);
    }

    /// @notice Relays a `GrantConsent` signed by the patient or its delegate; the caller must be an active member.
    /// @param patient The patient whose data the consent covers.
    /// @param terms The consent terms, as signed.
    /// @param nonce The signer's current nonce.
    /// @param deadline Last valid block timestamp of the signature.
    /// @param signature 65-byte ECDSA signature over the EIP-712 digest.
    /// @return consentId The identifier of the new consent version.
    function grantConsentBySig(
        address patient,
        ConsentPolicy.Terms calldata terms,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (bytes32 consentId) {
        // A static struct ABI-encodes to its fields in order, matching the GrantConsent member list.
        bytes32 structHash = keccak256(abi.encode(GRANT_CONSENT_TYPEHASH, patient, terms, nonce, deadline));
        address signer = _checkRelayedSignature(patient, true, structHash, nonce, deadline, signature);
        return _grant(patient, signer, terms);
    }

    /// @notice Revokes the consent of `patient` to `grantee`; caller is the patient or its delegate.
    /// @param patient The patient.
    /// @param grantee The institution losing access.
    function revokeConsent(address patient, address grantee) external {
        _checkActor(patient, msg.sender, true);
        _revoke(patient, grantee, msg.sender);
    }

    /// @notice Relays a `RevokeConsent` signed by the patient or its delegate; the caller must be an active member.
    /// @param patient The patient.
    /// @param grantee The institution losing access.
    /// @param nonce The signer's current nonce.
    /// @param deadline Last valid block timestamp of the signature.
    /// @param signature 65-byte ECDSA signature over the EIP-712 digest.
    function revokeConsentBySig(
        address patient,
        address grantee,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(REVOKE_CONSENT_TYPEHASH, patient, grantee, nonce, deadline));
        address signer = _checkRelayedSignature(patient, true, structHash, nonce, deadline, signature);
        _revoke(patient, grantee, signer);
    }

    // ---------------------------------------------------------------- delegates

    /// @notice Appoints (or replaces) the caller's delegate, who may then grant and revoke for the caller.
    /// @dev Reverts with `InvalidDelegate(address(0))` for the zero address: removal is {removeDelegate}, so a
    /// zero left in by mistake cannot silently strip a patient of its guardian.
    /// @param delegate The guardian / carer address; not zero, not the caller.
    function setDelegate(address delegate) external {
        if (delegate == address(0)) revert InvalidDelegate(address(0));
        _setDelegate(msg.sender, delegate);
    }

    /// @notice Removes the caller's delegate.
    function removeDelegate() external {
        _setDelegate(msg.sender, address(0));
    }

    /// @notice Relays a patient's signed `SetDelegate` (delegate zero = remove); the caller must be an active member.
    /// @dev Unlike {setDelegate}, zero here means "remove": the `SetDelegate` type has no separate removal message,
    /// and the zero is an explicit field of what the patient signed (wallets show it as a removal).
    /// @param patient The patient (signer); a delegate cannot change delegation.
    /// @param delegate The new delegate, or address(0) to remove the current one.
    /// @param nonce The patient's current nonce.
    /// @param deadline Last valid block timestamp of the signature.
    /// @param signature 65-byte ECDSA signature over the EIP-712 digest.
    function setDelegateBySig(
        address patient,
        address delegate,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(SET_DELEGATE_TYPEHASH, patient, delegate, nonce, deadline));
        _checkRelayedSignature(patient, false, structHash, nonce, deadline, signature);
        _setDelegate(patient, delegate);
    }

    // ---------------------------------------------------------------- views

    /// @notice True when `grantee` is an active member holding a consent of `patient` that is active, in its
    /// validity period now, and covers every bit of `category` (a category bitmask, 1 << code) and of `purpose`.
    /// @dev The data period is not checked here (it depends on the record); RecordRegistry checks it.
    /// @param patient The patient.
    /// @param grantee The institution.
    /// @param category Category bitmask (non-zero).
    /// @param purpose Purpose bitmask (non-zero).
    /// @return True when permitted.
    function isPermitted(address patient, address grantee, uint16 category, uint8 purpose) external view returns (bool) {
        ConsentPolicy.Consent memory c = ConsentPolicy.unpack(_consents[patient][grantee]);
        return c.isInForce(block.timestamp) && c.covers(category, purpose) && _registry.isActiveMember(grantee);
    }

    /// @notice The current consent of `patient` to `grantee` (status None and version 0 when never granted).
    /// @param patient The patient.
    /// @param grantee The institution.
    /// @return The consent, including its status and version.
    function getConsent(address patient, address grantee) external view returns (ConsentPolicy.Consent memory) {
        return ConsentPolicy.unpack(_consents[patient][grantee]);
    }

    /// @notice The current consent of `patient` to `grantee` as its storage word (layout: ConsentPolicy.pack).
    /// @dev For contracts on the hot path (RecordRegistry): one word instead of an 8-field struct to decode.
    /// @param patient The patient.
    /// @param grantee The institution.
    /// @return The packed consent (zero when never granted).
    function packedConsent(address patient, address grantee) external view returns (uint256) {
        return _consents[patient][grantee];
    }

    /// @notice The identifier of the current consent version of `patient` to `grantee`; zero when never granted.
    /// @param patient The patient.
    /// @param grantee The institution.
    /// @return keccak256(abi.encode(patient, grantee, uint32 version)), or zero.
    function currentConsentId(address patient, address grantee) external view returns (bytes32) {
        uint32 version = uint32(_consents[patient][grantee] >> 192);
        return version == 0 ? bytes32(0) : ConsentPolicy.consentId(patient, grantee, version);
    }

    /// @notice The registered HPKE public key of `patient` (empty when not registered).
    /// @param patient The patient.
    /// @return The serialized key.
    function patientKey(address patient) external view returns (bytes memory) {
        return _patientKeys[patient];
    }

    /// @notice True when `patient` registered a key.
    /// @param patient The patient.
    /// @return True when registered.
    function isRegistered(address patient) external view returns (bool) {
        return _patientKeys[patient].length != 0;
    }

    /// @notice The delegate of `patient`, or address(0).
    /// @param patient The patient.
    /// @return The delegate.
    function delegateOf(address patient) external view returns (address) {
        return _delegates[patient];
    }

    /// @notice The consortium registry this ledger consults.
    /// @return The registry address.
    function registry() external view returns (IConsortiumRegistry) {
        return _registry;
    }

    /// @notice The EIP-712 domain separator (also described field by field by `eip712Domain()`, ERC-5267).
    /// @return The domain separator for this chain and contract.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- internals

    function _registerPatient(address patient, bytes calldata hpkePublicKey) private {
        if (hpkePublicKey.length == 0 || hpkePublicKey.length > MAX_PUBLIC_KEY_LENGTH) {
            revert InvalidPublicKey(hpkePublicKey.length);
        }
        _patientKeys[patient] = hpkePublicKey;
        emit PatientRegistered(patient, hpkePublicKey);
    }

    function _grant(
        address patient,
        address actor,
        ConsentPolicy.Terms calldata terms
    ) private returns (bytes32 consentId) {
        address grantee = terms.grantee;
        _checkTerms(terms);
        if (!_registry.isActiveMember(grantee)) revert InvalidGrantee(grantee);

        uint32 version = uint32(_consents[patient][grantee] >> 192) + 1;
        ConsentPolicy.Consent memory c = ConsentPolicy.Consent({
            categories: terms.categories,
            purposes: terms.purposes,
            status: ConsentPolicy.Status.Active,
            validFrom: terms.validFrom,
            validUntil: terms.validUntil,
            dataFrom: terms.dataFrom,
            dataUntil: terms.dataUntil,
            version: version
        });
        _consents[patient][grantee] = ConsentPolicy.pack(c);
        consentId = ConsentPolicy.consentId(patient, grantee, version);
        _emitGranted(patient, grantee, consentId, c, actor);
    }

    function _emitGranted(
        address patient,
        address grantee,
        bytes32 consentId,
        ConsentPolicy.Consent memory c,
        address actor
    ) private {
        emit ConsentGranted(
            patient,
            grantee,
            consentId,
            c.version,
            c.categories,
            c.purposes,
            c.validFrom,
            c.validUntil,
            c.dataFrom,
            c.dataUntil,
            actor
        );
    }

    function _checkTerms(ConsentPolicy.Terms calldata terms) private view {
        if (terms.grantee == address(0)) revert InvalidGrantee(address(0));
        if (terms.categories == 0) revert InvalidCategories(terms.categories);
        if (terms.purposes == 0 || terms.purposes & ~ConsentPolicy.ALL_PURPOSES != 0) {
            revert InvalidPurposes(terms.purposes);
        }
        // An already-expired grant would only churn the version.
        if (terms.validFrom >= terms.validUntil || terms.validUntil <= block.timestamp) {
            revert InvalidValidityPeriod(terms.validFrom, terms.validUntil);
        }
        if (terms.dataUntil != 0 && terms.dataFrom >= terms.dataUntil) {
            revert InvalidDataPeriod(terms.dataFrom, terms.dataUntil);
        }
    }

    function _revoke(address patient, address grantee, address actor) private {
        uint256 word = _consents[patient][grantee];
        if (uint8(word >> 24) != uint8(ConsentPolicy.Status.Active)) revert NoActiveConsent(patient, grantee);
        // Overwrite only the status byte; terms and version stay for the record.
        _consents[patient][grantee] =
            (word & ~(uint256(0xff) << 24)) |
            (uint256(uint8(ConsentPolicy.Status.Revoked)) << 24);
        uint32 version = uint32(word >> 192);
        emit ConsentRevoked(patient, grantee, ConsentPolicy.consentId(patient, grantee, version), version, actor);
    }

    /// @dev `delegate` = address(0) removes the current delegate (reverts when there is none).
    function _setDelegate(address patient, address delegate) private {
        if (delegate == address(0)) {
            address previous = _delegates[patient];
            if (previous == address(0)) revert NoDelegate(patient);
            delete _delegates[patient];
            emit DelegateRemoved(patient, previous);
        } else {
            if (delegate == patient) revert InvalidDelegate(delegate);
            _delegates[patient] = delegate;
            emit DelegateSet(patient, delegate);
        }
    }

    /// @dev Direct calls: the actor must be the patient, or (when allowed) the patient's delegate.
    function _checkActor(address patient, address actor, bool delegateAllowed) private view {
        if (actor == patient && patient != address(0)) return;
        if (delegateAllowed && actor != address(0) && actor == _delegates[patient]) return;
        revert UnauthorizedActor(patient, actor);
    }

    /// @dev Relayed calls: active-member relayer, live deadline, signer = patient (or its delegate when
    /// allowed), then the signer's nonce is consumed. OZ ECDSA refuses malformed and high-s signatures;
    /// the EIP-712 domain binds chain id and this contract.
    function _checkRelayedSignature(
        address patient,
        bool delegateAllowed,
        bytes32 structHash,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) private returns (address signer) {
        if (!_registry.isActiveMember(msg.sender)) revert NotActiveMember(msg.sender);
        if (block.timestamp > deadline) revert ExpiredSignature(deadline);
        signer = ECDSA.recoverCalldata(_hashTypedDataV4(structHash), signature);
        _checkActor(patient, signer, delegateAllowed);
        _useCheckedNonce(signer, nonce);
    }
}
