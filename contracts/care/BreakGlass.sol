// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortiumRegistry} from "../interfaces/IConsortiumRegistry.sol";
import {ConsentLedger} from "../ConsentLedger.sol";
import {RecordRegistry} from "../RecordRegistry.sol";
import {ConsentPolicy} from "../libraries/ConsentPolicy.sol";
import {Roles} from "../libraries/Roles.sol";
import {CareFlow} from "./CareFlow.sol";

/// @title BreakGlass
/// @notice Emergency access without a consent: a member holding the EMERGENCY role opens a time-boxed, reasoned
/// break-glass on a patient's records, within the patient's emergency policy; reads under it are logged with
/// purpose EMERGENCY and the break-glass id; the patient (or a delegate) or a PRIVACY_OFFICER member reviews it.
/// @dev The free-text reason is never on chain: only its salted hash, and the IPFS CID of the reason sealed to the
/// patient's HPKE key. Author institutions release keys to the reader while {mayRead} says so.
contract BreakGlass is CareFlow {
    /// @notice The patient's emergency policy mode. `Default` = never signed: the default categories apply.
    enum PolicyMode {
        Default,
        Categories,
        All,
        Never
    }

    /// @notice A break-glass's review state.
    enum Review {
        Pending,
        Justified,
        Unjustified
    }

    /// @notice FHIR v3 ActReason codes accepted as the reason for a break-glass (0 is invalid).
    enum ReasonCode {
        None,
        ETREAT, // emergency treatment
        BTG, // break the glass
        ERTREAT // emergency room treatment
    }

    /// @notice A break-glass as {getBreakGlass} returns it.
    struct Access {
        address patient;
        uint16 categories;
        uint40 openedAt;
        uint40 expiresAt;
        address reader;
        ReasonCode reasonCode;
        Review review;
        uint40 reviewedAt;
        address reviewer;
    }

    /// @notice Allergies, medications, problems (SUMMARY), immunisations and ECG: what a patient who never set a
    /// policy allows (category codes 7, 8, 6, 9 and 2).
    uint16 public constant DEFAULT_CATEGORIES = uint16((1 << 7) | (1 << 8) | ConsentPolicy.SUMMARY | (1 << 9) | ConsentPolicy.ECG);
    uint40 public constant DEFAULT_DURATION = 4 hours;
    uint40 public constant MAX_DURATION = 24 hours;
    uint40 public constant REVIEW_PERIOD = 72 hours;
    uint256 public constant MAX_CID_LENGTH = 64;

    bytes32 public constant SET_EMERGENCY_POLICY_TYPEHASH =
        keccak256("SetEmergencyPolicy(address patient,uint8 mode,uint16 categories,uint256 nonce,uint256 deadline)");
    bytes32 public constant REVIEW_BREAK_GLASS_TYPEHASH =
        keccak256("ReviewBreakGlass(bytes32 id,bool justified,bytes32 noteHash,uint256 nonce,uint256 deadline)");

    // patient -> mode (bits 16..17) | categories (bits 0..15); zero = never set (Default).
    mapping(address patient => uint24) private _policies;
    // slot 0: patient | categories | openedAt | expiresAt ; slot 1: reader | reasonCode | review | reviewedAt ;
    // slot 2: reviewer.
    mapping(bytes32 id => Access) private _accesses;
    uint256 private _count;
    ConsentLedger private immutable _delegates; // the consent ledger again: CareFlow's getter is external

    event EmergencyPolicySet(address indexed patient, address indexed signer, PolicyMode mode, uint16 categories);
    event BreakGlassOpened(
        bytes32 indexed id,
        address indexed patient,
        address indexed reader,
        ReasonCode reasonCode,
        bytes32 reasonHash,
        uint16 categories,
        uint40 openedAt,
        uint40 expiresAt,
        bytes reasonCid
    );
    event BreakGlassReviewed(
        bytes32 indexed id,
        address indexed patient,
        address indexed reviewer,
        bool justified,
        bytes32 noteHash,
        bool late
    );

    error InvalidPolicy(PolicyMode mode, uint16 categories);
    error BreakGlassNotAllowed(address patient);
    error CategoriesOutsidePolicy(uint16 requested, uint16 allowed);
    error DurationTooLong(uint256 duration, uint256 maximum);
    error InvalidReason();
    error InvalidCid(uint256 length);
    error UnknownBreakGlass(bytes32 id);
    error AlreadyReviewed(bytes32 id);
    error NotAllowedToReview(bytes32 id, address account);

    constructor(
        IConsortiumRegistry registry_,
        ConsentLedger consentLedger_,
        RecordRegistry recordRegistry_
    ) CareFlow("healthsilk BreakGlass", registry_, consentLedger_, recordRegistry_) {
        _delegates = consentLedger_;
    }

    // ---------------------------------------------------------------- the patient's policy

    /// @notice Sets `patient`'s emergency policy, signed by the patient or its delegate (EIP-712
    /// `SetEmergencyPolicy`); sent by the patient itself or relayed by any active member.
    /// @param patient The patient.
    /// @param mode Categories (then `categories` is the allowed set), All or Never (then `categories` is 0).
    /// @param categories The allowed categories' bitmask, for mode Categories.
    /// @param nonce The signer's next nonce.
    /// @param deadline The signature's last valid timestamp.
    /// @param signature The signature.
    function setEmergencyPolicy(
        address patient,
        PolicyMode mode,
        uint16 categories,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        if (msg.sender != patient) _requireMember(msg.sender);
        if (
            mode == PolicyMode.Default ||
            (mode == PolicyMode.Categories && categories == 0) ||
            (mode != PolicyMode.Categories && categories != 0)
        ) revert InvalidPolicy(mode, categories);
        bytes32 structHash = keccak256(
            abi.encode(SET_EMERGENCY_POLICY_TYPEHASH, patient, uint8(mode), categories, nonce, deadline)
        );
        address signer = _usePatientSignature(patient, structHash, nonce, deadline, signature);
        _policies[patient] = (uint24(uint8(mode)) << 16) | categories;
        emit EmergencyPolicySet(patient, signer, mode, categories);
    }

    /// @notice The patient's emergency policy and the categories a break-glass may cover (0 for Never).
    function emergencyPolicy(address patient) public view returns (PolicyMode mode, uint16 allowed) {
        uint24 word = _policies[patient];
        mode = PolicyMode(uint8(word >> 16));
        if (mode == PolicyMode.Default) allowed = DEFAULT_CATEGORIES;
        else if (mode == PolicyMode.Categories) allowed = uint16(word);
        else if (mode == PolicyMode.All) allowed = type(uint16).max;
    }

    // ---------------------------------------------------------------- breaking the glass

    /// @notice Opens a break-glass on `patient`'s records for the caller, an active EMERGENCY member.
    /// @param patient The patient.
    /// @param reasonCode The FHIR v3 ActReason code.
    /// @param reasonHash The salted hash of the free-text reason (sealed to the patient at `reasonCid`).
    /// @param categories The categories requested, within the patient's policy.
    /// @param duration Seconds; 0 = {DEFAULT_DURATION}; at most {MAX_DURATION}.
    /// @param reasonCid The IPFS CID of the reason sealed to the patient's key (may be empty).
    /// @return id The break-glass id (the `ref` of reads under it).
    function breakGlass(
        address patient,
        ReasonCode reasonCode,
        bytes32 reasonHash,
        uint16 categories,
        uint40 duration,
        bytes calldata reasonCid
    ) external returns (bytes32 id) {
        _requireRole(Roles.EMERGENCY, msg.sender);
        if (patient == address(0) || patient == msg.sender) revert InvalidAddress();
        if (reasonCode == ReasonCode.None || reasonHash == bytes32(0)) revert InvalidReason();
        if (reasonCid.length > MAX_CID_LENGTH) revert InvalidCid(reasonCid.length);
        (PolicyMode mode, uint16 allowed) = emergencyPolicy(patient);
        if (mode == PolicyMode.Never) revert BreakGlassNotAllowed(patient);
        if (categories == 0 || categories & ~allowed != 0) revert CategoriesOutsidePolicy(categories, allowed);
        if (duration == 0) duration = DEFAULT_DURATION;
        if (duration > MAX_DURATION) revert DurationTooLong(duration, MAX_DURATION);
        id = keccak256(abi.encode(block.chainid, address(this), ++_count));
        uint40 openedAt = uint40(block.timestamp);
        _accesses[id] = Access({
            patient: patient,
            categories: categories,
            openedAt: openedAt,
            expiresAt: openedAt + duration,
            reader: msg.sender,
            reasonCode: reasonCode,
            review: Review.Pending,
            reviewedAt: 0,
            reviewer: address(0)
        });
        emit BreakGlassOpened(id, patient, msg.sender, reasonCode, reasonHash, categories, openedAt, openedAt + duration, reasonCid);
    }

    // ---------------------------------------------------------------- review

    /// @notice Reviews a break-glass as the caller: the patient, its delegate, or an active PRIVACY_OFFICER member
    /// other than the reader.
    /// @param id The break-glass.
    /// @param justified The verdict.
    /// @param noteHash The hash of the reviewer's note (kept off chain).
    function review(bytes32 id, bool justified, bytes32 noteHash) external {
        Access storage access = _existing(id);
        address patient = access.patient;
        bool mayReview = msg.sender == patient ||
            msg.sender == _delegates.delegateOf(patient) ||
            (msg.sender != access.reader && _hasRole(Roles.PRIVACY_OFFICER, msg.sender));
        if (!mayReview) revert NotAllowedToReview(id, msg.sender);
        _review(access, id, msg.sender, justified, noteHash);
    }

    /// @notice Reviews a break-glass by the patient's (or its delegate's) EIP-712 `ReviewBreakGlass` signature,
    /// relayed by any active member.
    function reviewBySig(
        bytes32 id,
        bool justified,
        bytes32 noteHash,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        _requireMember(msg.sender);
        Access storage access = _existing(id);
        bytes32 structHash = keccak256(abi.encode(REVIEW_BREAK_GLASS_TYPEHASH, id, justified, noteHash, nonce, deadline));
        address signer = _usePatientSignature(access.patient, structHash, nonce, deadline, signature);
        _review(access, id, signer, justified, noteHash);
    }

    // ---------------------------------------------------------------- views

    /// @notice A break-glass (reverts for an unknown id).
    function getBreakGlass(bytes32 id) external view returns (Access memory) {
        return _existing(id);
    }

    /// @notice The number of break-glasses opened so far.
    function breakGlassCount() external view returns (uint256) {
        return _count;
    }

    // ---------------------------------------------------------------- CareFlow

    /// @dev The break-glass's own reader, before expiry, while it holds the EMERGENCY role; a record of that
    /// patient in one of the break-glass's categories.
    function _mayRead(address reader, bytes32 ref, bytes32 recordId) internal view override returns (bool) {
        Access storage access = _accesses[ref];
        if (access.reader != reader || reader == address(0) || block.timestamp >= access.expiresAt) return false;
        (address patient, uint8 category, ) = _record(recordId);
        return
            patient == access.patient &&
            (uint256(access.categories) >> category) & 1 != 0 &&
            _hasRole(Roles.EMERGENCY, reader);
    }

    function _readPurpose() internal pure override returns (uint8) {
        return ConsentPolicy.EMERGENCY;
    }

    // ---------------------------------------------------------------- internals

    function _existing(bytes32 id) private view returns (Access storage access) {
        access = _accesses[id];
        if (access.patient == address(0)) revert UnknownBreakGlass(id);
    }

    function _review(Access storage access, bytes32 id, address reviewer, bool justified, bytes32 noteHash) private {
        if (access.review != Review.Pending) revert AlreadyReviewed(id);
        access.review = justified ? Review.Justified : Review.Unjustified;
        access.reviewer = reviewer;
        access.reviewedAt = uint40(block.timestamp);
        emit BreakGlassReviewed(id, access.patient, reviewer, justified, noteHash, block.timestamp > access.openedAt + REVIEW_PERIOD);
    }
}
