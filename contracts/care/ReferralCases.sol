// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CareFlow} from "./CareFlow.sol";
import {IConsortiumRegistry} from "../interfaces/IConsortiumRegistry.sol";
import {ConsentLedger} from "../ConsentLedger.sol";
import {RecordRegistry} from "../RecordRegistry.sol";

/// @title ReferralCases
/// @notice Cross-border teleconsultation referral cases (FHIR ServiceRequest + Task, IHE 360X closed loop), one
/// consultant or a panel. A case keeps only ids, parties, state and times; clinical content is always an ordinary
/// encrypted record, and the detail (attached ids, consultants, reasons, answers) is emitted in events.
///
/// Lifecycle:
/// 1. {open}: a member (the requester) anchors a ServiceRequest (category REFERRAL) as an ordinary record, then
///    opens the case for that request with the patient's own attached records and the consultants. The case id
///    commits to all of it: `keccak256(abi.encode(requester, requestId, attachedIds, consultants, priority))`.
/// 2. The patient (or its delegate) approves with one EIP-712 `ApproveCase(caseId, until, nonce, deadline)`,
///    sent by itself or relayed by the requester ({approveBySig}); or refuses (`RefuseCase`). The case consent
///    covers exactly the attached records (and the request) for the accepting consultants, until the case closes
///    or `until`, whichever comes first.
/// 3. Each consultant accepts or declines (with a reason code).
/// 4. Answers. An accepting consultant anchors its answer (a DiagnosticReport, or a Communication for a question
///    back) as an ordinary record with `RecordRegistry.anchorRecord`, i.e. under its own TREATMENT consent of the
///    answer's category (a standing one, or the narrow one the patient's wallet grants with the approval), then
///    links it with {answer}: the contract checks that the record is the case patient's, authored by the caller,
///    anchored after the case was opened, and that the caller accepted and the case is live. This is the simplest
///    sound design: RecordRegistry keeps a single rule for who may anchor, and the case adds only the link that
///    makes the answer readable inside the case. The requester may read every answer; a consultant reads its own
///    answers and those the requester {share}s with it. The requester's own conversation messages and its panel
///    conclusion are linked the same way by {share}.
/// 5. The requester closes the case; after that (or after `until`) every read under the case is refused.
///
/// Key release: author institutions ask {mayRead} before they re-wrap a record key to a reader; readers log their
/// reads with {recordsAccessed} (purpose TREATMENT).
contract ReferralCases is CareFlow {
    enum State {
        None,
        Open, // opened, waiting for the patient
        Approved,
        Refused,
        Closed
    }

    enum Priority {
        Routine,
        Urgent,
        Stat
    }

    enum ConsultantStatus {
        None,
        Invited,
        Accepted,
        Declined,
        Answered
    }

    /// @notice A case as stored (two words).
    struct CaseView {
        address patient;
        address requester;
        State state;
        Priority priority;
        uint40 openedAt;
        uint40 deadline;
        uint40 consentUntil;
        uint40 closedAt;
        uint8 consultantCount;
        uint8 attachedCount;
    }

    uint256 public constant MAX_ATTACHED = 32;
    uint256 public constant MAX_CONSULTANTS = 8;
    /// @notice The longest case consent a patient may sign, counted from the approval.
    uint256 public constant MAX_CONSENT_SECONDS = 180 days;
    uint256 public constant ROUTINE_SECONDS = 7 days;
    uint256 public constant URGENT_SECONDS = 1 days;
    uint256 public constant STAT_SECONDS = 2 hours;
    /// @notice Decline reason codes: 1 busy, 2 outside our specialty, 3 insufficient data, 4 other (no free text on
    /// chain: a reason in words is a Communication record).
    uint8 public constant MAX_DECLINE_REASON = 4;

    bytes32 public constant APPROVE_CASE_TYPEHASH =
        keccak256("ApproveCase(bytes32 caseId,uint40 until,uint256 nonce,uint256 deadline)");
    bytes32 public constant REFUSE_CASE_TYPEHASH = keccak256("RefuseCase(bytes32 caseId,uint256 nonce,uint256 deadline)");

    // CareFlow keeps its own copies private; these are the two this contract reads directly.
    ConsentLedger private immutable _delegates;
    RecordRegistry private immutable _anchors;

    // Item kinds (what a record is to a case).
    uint256 private constant _ATTACHED = 1; // the request or an attached record: every accepting consultant reads it
    uint256 private constant _ANSWER = 2; // a consultant's answer: the requester, its author and those shared with
    uint256 private constant _NOTE = 3; // a requester record linked by {share}: the requester and those shared with

    // Case word 0: patient 0-159 | openedAt 160-199 | consentUntil 200-239 | state 240-247 | priority 248-255.
    // Case word 1: requester 0-159 | closedAt 160-199 | consultants 240-247 | attached 248-255.
    // The deadline is openedAt + the priority's time, so it needs no storage; the approval writes word 0 only.
    mapping(bytes32 caseId => uint256[2]) private _cases;
    // Consultant word: status 0-7 | index 8-15 (from 1) | acceptedAt 16-55 | answeredAt 56-95 | answers 96-111.
    mapping(bytes32 caseId => mapping(address consultant => uint256)) private _consultants;
    // Item word: kind 0-7 | author consultant index 8-15 (answers) | shared-with mask 16-23 (bit i-1 = index i).
    mapping(bytes32 caseId => mapping(bytes32 recordId => uint256)) private _items;

    /// @dev `consultants` is `abi.encodePacked(address[])`: one 32-byte word per consultant, in index order (from 1);
    /// bytes rather than address[] so that every reader of the logs decodes it with the common ABI types.
    event CaseOpened(
        bytes32 indexed caseId,
        address indexed patient,
        address indexed requester,
        bytes32 requestId,
        Priority priority,
        uint40 deadline,
        bytes32[] attachedIds,
        bytes consultants
    );
    event CaseApproved(bytes32 indexed caseId, address indexed patient, address signer, uint40 until);
    event CaseRefused(bytes32 indexed caseId, address indexed patient, address signer);
    event CaseAccepted(bytes32 indexed caseId, address indexed consultant);
    event CaseDeclined(bytes32 indexed caseId, address indexed consultant, uint8 reason);
    event CaseAnswered(bytes32 indexed caseId, address indexed consultant, bytes32 recordId, uint8 category);
    /// @dev `sharedWith`: every consultant the record is now shared with, as a mask of their indexes (bit i-1 = index i).
    event CaseShared(bytes32 indexed caseId, bytes32 recordId, uint8 sharedWith);
    event CaseClosed(bytes32 indexed caseId, address indexed requester);

    error CaseExists(bytes32 caseId);
    error UnknownCase(bytes32 caseId);
    error InvalidCaseState(bytes32 caseId, State state);
    error NotRequester(bytes32 caseId, address account);
    error NotPatient(bytes32 caseId, address account);
    error NotConsultant(bytes32 caseId, address account);
    error InvalidConsultantStatus(bytes32 caseId, address consultant, ConsultantStatus status);
    error InvalidConsultant(address consultant);
    error InvalidConsultantCount(uint256 count);
    error InvalidAttachedCount(uint256 count);
    error DuplicateRecord(bytes32 recordId);
    error NotCaseRequest(bytes32 recordId);
    error NotPatientRecord(bytes32 recordId, address patient);
    error NotRecordAuthor(bytes32 recordId, address account);
    error RecordBeforeCase(bytes32 recordId);
    error InvalidConsentEnd(uint256 until);
    error CaseConsentExpired(bytes32 caseId, uint256 until);
    error InvalidReason(uint8 reason);
    error NotShareable(bytes32 caseId, bytes32 recordId);

    /// @param registry_ The consortium registry (members).
    /// @param consentLedger_ The consent ledger (patients' delegates).
    /// @param recordRegistry_ The record registry (records' patient, category, author, erasure).
    constructor(
        IConsortiumRegistry registry_,
        ConsentLedger consentLedger_,
        RecordRegistry recordRegistry_
    ) CareFlow("healthsilk ReferralCases", registry_, consentLedger_, recordRegistry_) {
        _delegates = consentLedger_;
        _anchors = recordRegistry_;
    }

    // ---------------------------------------------------------------- requester

    /// @notice Opens a case for the ServiceRequest `requestId` the caller anchored (category REFERRAL).
    /// @param requestId The ServiceRequest record (the caller's, of the patient, anchored on its own).
    /// @param priority Routine (7 days), urgent (1 day) or stat (2 hours) to the deadline.
    /// @param attachedIds The patient's own records (anchored on their own, not erased), at most {MAX_ATTACHED}.
    /// @param consultants Active members other than the caller, at most {MAX_CONSULTANTS}.
    /// @return caseId The case id (see the contract notes).
    function open(
        bytes32 requestId,
        Priority priority,
        bytes32[] calldata attachedIds,
        address[] calldata consultants
    ) external returns (bytes32 caseId) {
        _requireMember(msg.sender);
        if (attachedIds.length > MAX_ATTACHED) revert InvalidAttachedCount(attachedIds.length);
        if (consultants.length == 0 || consultants.length > MAX_CONSULTANTS) {
            revert InvalidConsultantCount(consultants.length);
        }
        caseId = keccak256(abi.encode(msg.sender, requestId, attachedIds, consultants, priority));
        if (_cases[caseId][0] != 0) revert CaseExists(caseId);

        (address patient, uint8 category, address author) = _record(requestId);
        if (category != 10 || author != msg.sender) revert NotCaseRequest(requestId); // 10 = REFERRAL
        _items[caseId][requestId] = _ATTACHED;
        for (uint256 i = 0; i < attachedIds.length; ++i) {
            bytes32 id = attachedIds[i];
            (address recordPatient, , ) = _record(id);
            if (recordPatient != patient) revert NotPatientRecord(id, patient);
            if (_items[caseId][id] != 0) revert DuplicateRecord(id);
            _items[caseId][id] = _ATTACHED;
        }
        for (uint256 i = 0; i < consultants.length; ++i) {
            address consultant = consultants[i];
            if (consultant == msg.sender || consultant == patient || _consultants[caseId][consultant] != 0) {
                revert InvalidConsultant(consultant);
            }
            _requireMember(consultant);
            _consultants[caseId][consultant] = uint256(ConsultantStatus.Invited) | ((i + 1) << 8);
        }
        uint256 deadline = block.timestamp + _deadlineSeconds(priority);
        _cases[caseId][0] =
            uint256(uint160(patient)) |
            (block.timestamp << 160) |
            (uint256(State.Open) << 240) |
            (uint256(priority) << 248);
        _cases[caseId][1] =
            uint256(uint160(msg.sender)) |
            (consultants.length << 240) |
            (attachedIds.length << 248);
        emit CaseOpened(caseId, patient, msg.sender, requestId, priority, uint40(deadline), attachedIds, abi.encodePacked(consultants));
    }

    /// @notice Shares a consultant's answer (panel), or links one of the requester's own records (a message in the
    /// conversation, a panel conclusion) and shares it, with `consultants` of the case.
    /// @param caseId The case (approved, live).
    /// @param recordId An answer of the case, or a record of the patient the caller authored after the opening.
    /// @param consultants Consultants of the case to share with (may be empty: link only).
    function share(bytes32 caseId, bytes32 recordId, address[] calldata consultants) external {
        (uint256 w0, uint256 w1) = _liveCase(caseId);
        if (address(uint160(w1)) != msg.sender) revert NotRequester(caseId, msg.sender);
        uint256 item = _items[caseId][recordId];
        if (item == 0) {
            (address patient, , address author) = _record(recordId);
            if (patient != address(uint160(w0))) revert NotPatientRecord(recordId, address(uint160(w0)));
            if (author != msg.sender) revert NotRecordAuthor(recordId, msg.sender);
            _requireAnchoredSinceOpening(recordId, w0);
            item = _NOTE;
        } else {
            _record(recordId); // not erased since
            if (item & 0xff == _ATTACHED) revert NotShareable(caseId, recordId);
        }
        for (uint256 i = 0; i < consultants.length; ++i) {
            uint256 word = _consultants[caseId][consultants[i]];
            if (word == 0) revert NotConsultant(caseId, consultants[i]);
            item |= 1 << (15 + ((word >> 8) & 0xff));
        }
        _items[caseId][recordId] = item;
        emit CaseShared(caseId, recordId, uint8(item >> 16));
    }

    /// @notice Closes the case: the case consent ends now. Only the requester; a closed or refused case stays so.
    function close(bytes32 caseId) external {
        uint256[2] storage c = _cases[caseId];
        uint256 w1 = c[1];
        if (w1 == 0) revert UnknownCase(caseId);
        if (address(uint160(w1)) != msg.sender) revert NotRequester(caseId, msg.sender);
        State state = State((c[0] >> 240) & 0xff);
        if (state != State.Open && state != State.Approved) revert InvalidCaseState(caseId, state);
        c[0] = (c[0] & ~(uint256(0xff) << 240)) | (uint256(State.Closed) << 240);
        c[1] = (w1 & ~(uint256(type(uint40).max) << 160)) | (block.timestamp << 160);
        emit CaseClosed(caseId, msg.sender);
    }

    // ---------------------------------------------------------------- patient

    /// @notice The patient (or its delegate) approves the case itself, until `until` (or the closing).
    function approve(bytes32 caseId, uint40 until) external {
        address patient = _openCasePatient(caseId);
        if (msg.sender != patient && msg.sender != _delegates.delegateOf(patient)) revert NotPatient(caseId, msg.sender);
        _approve(caseId, patient, msg.sender, until);
    }

    /// @notice The requester relays the patient's (or delegate's) signed `ApproveCase`.
    function approveBySig(
        bytes32 caseId,
        uint40 until,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        address patient = _openCasePatient(caseId);
        if (address(uint160(_cases[caseId][1])) != msg.sender) revert NotRequester(caseId, msg.sender);
        bytes32 structHash = keccak256(abi.encode(APPROVE_CASE_TYPEHASH, caseId, until, nonce, deadline));
        address signer = _usePatientSignature(patient, structHash, nonce, deadline, signature);
        _approve(caseId, patient, signer, until);
    }

    /// @notice The patient (or its delegate) refuses the case, or withdraws an approval.
    function refuse(bytes32 caseId) external {
        address patient = _livePatient(caseId);
        if (msg.sender != patient && msg.sender != _delegates.delegateOf(patient)) revert NotPatient(caseId, msg.sender);
        _refuse(caseId, patient, msg.sender);
    }

    /// @notice The requester relays the patient's (or delegate's) signed `RefuseCase`.
    function refuseBySig(bytes32 caseId, uint256 nonce, uint256 deadline, bytes calldata signature) external {
        address patient = _livePatient(caseId);
        if (address(uint160(_cases[caseId][1])) != msg.sender) revert NotRequester(caseId, msg.sender);
        bytes32 structHash = keccak256(abi.encode(REFUSE_CASE_TYPEHASH, caseId, nonce, deadline));
        address signer = _usePatientSignature(patient, structHash, nonce, deadline, signature);
        _refuse(caseId, patient, signer);
    }

    // ---------------------------------------------------------------- consultants

    /// @notice An invited consultant (an active member) accepts the case (open or approved).
    function accept(bytes32 caseId) external {
        _requireMember(msg.sender);
        uint256 word = _invitation(caseId);
        _consultants[caseId][msg.sender] =
            (word & ~uint256(0xff)) |
            uint256(ConsultantStatus.Accepted) |
            (block.timestamp << 16);
        emit CaseAccepted(caseId, msg.sender);
    }

    /// @notice An invited consultant declines, with a reason code (1..{MAX_DECLINE_REASON}).
    function decline(bytes32 caseId, uint8 reason) external {
        if (reason == 0 || reason > MAX_DECLINE_REASON) revert InvalidReason(reason);
        uint256 word = _invitation(caseId);
        _consultants[caseId][msg.sender] = (word & ~uint256(0xff)) | uint256(ConsultantStatus.Declined);
        emit CaseDeclined(caseId, msg.sender, reason);
    }

    /// @notice Links the caller's answer record (anchored by the caller, of the case patient, since the opening)
    /// to the case; the caller must have accepted, the case be approved, not closed, its consent running.
    function answer(bytes32 caseId, bytes32 recordId) external {
        _requireMember(msg.sender);
        (uint256 w0, ) = _liveCase(caseId);
        uint256 word = _consultants[caseId][msg.sender];
        ConsultantStatus status = ConsultantStatus(word & 0xff);
        if (status != ConsultantStatus.Accepted && status != ConsultantStatus.Answered) {
            if (word == 0) revert NotConsultant(caseId, msg.sender);
            revert InvalidConsultantStatus(caseId, msg.sender, status);
        }
        (address patient, uint8 category, address author) = _record(recordId);
        if (patient != address(uint160(w0))) revert NotPatientRecord(recordId, address(uint160(w0)));
        if (author != msg.sender) revert NotRecordAuthor(recordId, msg.sender);
        if (_items[caseId][recordId] != 0) revert DuplicateRecord(recordId);
        _requireAnchoredSinceOpening(recordId, w0);
        _items[caseId][recordId] = _ANSWER | (((word >> 8) & 0xff) << 8);
        uint256 answers = ((word >> 96) & 0xffff) + 1;
        _consultants[caseId][msg.sender] =
            (word & ~(uint256(0xff) | (uint256(type(uint40).max) << 56) | (uint256(0xffff) << 96))) |
            uint256(ConsultantStatus.Answered) |
            (block.timestamp << 56) |
            (answers << 96);
        emit CaseAnswered(caseId, msg.sender, recordId, category);
    }

    // ---------------------------------------------------------------- views

    /// @notice The case `caseId` (all zero when unknown).
    function getCase(bytes32 caseId) external view returns (CaseView memory c) {
        uint256 w0 = _cases[caseId][0];
        uint256 w1 = _cases[caseId][1];
        c.patient = address(uint160(w0));
        c.openedAt = uint40(w0 >> 160);
        c.consentUntil = uint40(w0 >> 200);
        c.state = State(uint8(w0 >> 240));
        c.priority = Priority(uint8(w0 >> 248));
        c.requester = address(uint160(w1));
        c.closedAt = uint40(w1 >> 160);
        if (w0 != 0) c.deadline = uint40(c.openedAt + _deadlineSeconds(c.priority));
        c.consultantCount = uint8(w1 >> 240);
        c.attachedCount = uint8(w1 >> 248);
    }

    /// @notice A consultant of the case: its status, index (from 1; 0 = not a consultant), times and answer count.
    function consultantOf(
        bytes32 caseId,
        address consultant
    )
        external
        view
        returns (ConsultantStatus status, uint8 index, uint40 acceptedAt, uint40 answeredAt, uint16 answers)
    {
        uint256 word = _consultants[caseId][consultant];
        return (ConsultantStatus(uint8(word)), uint8(word >> 8), uint40(word >> 16), uint40(word >> 56), uint16(word >> 96));
    }

    /// @notice What `recordId` is to the case: kind (0 none, 1 request/attached, 2 answer, 3 requester note), the
    /// answering consultant's index, and the mask of consultant indexes it is shared with (bit i-1 = index i).
    function itemOf(bytes32 caseId, bytes32 recordId) external view returns (uint8 kind, uint8 author, uint8 sharedWith) {
        uint256 item = _items[caseId][recordId];
        return (uint8(item), uint8(item >> 8), uint8(item >> 16));
    }

    /// @notice The EIP-712 nonce the next signature by `signer` must carry.
    function nonceOf(address signer) external view returns (uint256) {
        return nonces(signer);
    }

    // ---------------------------------------------------------------- CareFlow

    /// @dev Approved, not closed, consent running; then an accepting consultant reads the attached records, its own
    /// answers and what was shared with it, and the requester reads the answers and its notes.
    function _mayRead(address reader, bytes32 caseId, bytes32 recordId) internal view override returns (bool) {
        uint256 w0 = _cases[caseId][0];
        if (State(uint8(w0 >> 240)) != State.Approved || block.timestamp > uint40(w0 >> 200)) return false;
        uint256 item = _items[caseId][recordId];
        uint256 kind = item & 0xff;
        if (kind == 0) return false;
        if (reader == address(uint160(_cases[caseId][1]))) return kind != _ATTACHED;
        uint256 word = _consultants[caseId][reader];
        ConsultantStatus status = ConsultantStatus(word & 0xff);
        if (status != ConsultantStatus.Accepted && status != ConsultantStatus.Answered) return false;
        if (kind == _ATTACHED) return true;
        uint256 index = (word >> 8) & 0xff;
        return (kind == _ANSWER && (item >> 8) & 0xff == index) || (item >> (15 + index)) & 1 == 1;
    }

    function _readPurpose() internal pure override returns (uint8) {
        return 1; // ConsentPolicy.TREATMENT
    }

    // ---------------------------------------------------------------- private

    function _approve(bytes32 caseId, address patient, address signer, uint40 until) private {
        if (until <= block.timestamp || until > block.timestamp + MAX_CONSENT_SECONDS) revert InvalidConsentEnd(until);
        uint256[2] storage c = _cases[caseId];
        c[0] = (c[0] & ~(uint256(type(uint48).max) << 200)) | (uint256(until) << 200) | (uint256(State.Approved) << 240);
        emit CaseApproved(caseId, patient, signer, until);
    }

    function _refuse(bytes32 caseId, address patient, address signer) private {
        uint256[2] storage c = _cases[caseId];
        c[0] = (c[0] & ~(uint256(0xff) << 240)) | (uint256(State.Refused) << 240);
        c[1] = (c[1] & ~(uint256(type(uint40).max) << 160)) | (block.timestamp << 160);
        emit CaseRefused(caseId, patient, signer);
    }

    /// @dev The patient of a case waiting for its approval.
    function _openCasePatient(bytes32 caseId) private view returns (address) {
        uint256 w0 = _cases[caseId][0];
        if (w0 == 0) revert UnknownCase(caseId);
        State state = State(uint8(w0 >> 240));
        if (state != State.Open) revert InvalidCaseState(caseId, state);
        return address(uint160(w0));
    }

    /// @dev The patient of an open or approved case.
    function _livePatient(bytes32 caseId) private view returns (address) {
        uint256 w0 = _cases[caseId][0];
        if (w0 == 0) revert UnknownCase(caseId);
        State state = State(uint8(w0 >> 240));
        if (state != State.Open && state != State.Approved) revert InvalidCaseState(caseId, state);
        return address(uint160(w0));
    }

    /// @dev An approved case whose consent is running.
    function _liveCase(bytes32 caseId) private view returns (uint256 w0, uint256 w1) {
        w0 = _cases[caseId][0];
        w1 = _cases[caseId][1];
        if (w0 == 0) revert UnknownCase(caseId);
        State state = State(uint8(w0 >> 240));
        if (state != State.Approved) revert InvalidCaseState(caseId, state);
        if (block.timestamp > uint40(w0 >> 200)) revert CaseConsentExpired(caseId, uint40(w0 >> 200));
    }

    /// @dev The caller's invitation to an open or approved case, still unanswered.
    function _invitation(bytes32 caseId) private view returns (uint256 word) {
        uint256 w0 = _cases[caseId][0];
        if (w0 == 0) revert UnknownCase(caseId);
        State state = State(uint8(w0 >> 240));
        if (state != State.Open && state != State.Approved) revert InvalidCaseState(caseId, state);
        word = _consultants[caseId][msg.sender];
        if (word == 0) revert NotConsultant(caseId, msg.sender);
        ConsultantStatus status = ConsultantStatus(word & 0xff);
        if (status != ConsultantStatus.Invited) revert InvalidConsultantStatus(caseId, msg.sender, status);
    }

    /// @dev Answers and notes are written for the case: anchored no earlier than its opening.
    function _requireAnchoredSinceOpening(bytes32 recordId, uint256 w0) private view {
        (, , uint40 anchoredAt, , ) = _anchors.getRecord(recordId);
        if (anchoredAt < uint40(w0 >> 160)) revert RecordBeforeCase(recordId);
    }

    function _deadlineSeconds(Priority priority) private pure returns (uint256) {
        if (priority == Priority.Stat) return STAT_SECONDS;
        if (priority == Priority.Urgent) return URGENT_SECONDS;
        return ROUTINE_SECONDS;
    }
}
