// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {Roles} from "./libraries/Roles.sol";
import {ConsentPolicy} from "./libraries/ConsentPolicy.sol";
import {ConsentLedger} from "./ConsentLedger.sol";
import {RecordRegistry} from "./RecordRegistry.sol";
import {SettlementToken} from "./SettlementToken.sol";

/// @title HealthCardPayments
/// @notice E-card health payments: payer programmes, patient cards with an annual limit, pre-authorisations,
/// claims backed by anchored records and confirmed by the patient, payment from a per-programme escrow of the
/// settlement token, and cash allowances to patients.
/// @dev Invariants enforced here (auditors re-check them from the events alone):
/// - Escrow: per programme, funded - withdrawn - paid - disbursed = escrow >= 0, and the token balance of this
///   contract equals the sum of all escrows (the token is minted only into escrow, by this contract).
/// - Limit: per card and period, `used <= annualLimit`. `reserved` holds amounts promised but not yet paid:
///   approved, unexpired pre-authorisations and submitted, undecided claims. New promises and cash disbursements
///   need `amount <= annualLimit - used - reserved`. A pre-authorisation's reservation moves to the claim that uses
///   it (the claim may not exceed it; the difference is released). An approved pre-authorisation that expires
///   keeps its reservation until someone calls {releaseExpiredPreAuth}: stale promises err on the safe side.
///   Pending (not yet approved) requests reserve nothing, so a provider cannot lock a card by asking.
///   Renewal resets `used` only: outstanding reservations are obligations that carry into the new period.
/// - A claim is paid at most once: one claim per (recordId, packageCode) unless rejected, and Submitted -> Paid
///   happens once. It needs an anchored, unerased record of the card's patient as evidence, authored and submitted
///   by an active PROVIDER empanelled in the programme while the card was eligible, and the patient's EIP-712
///   confirmation, unless the payer sets the explicit override, which the payment event reports.
/// - Evidence access: the claimant must hold the patient's consent to the evidence record, in force, covering its
///   category for TREATMENT or PAYMENT and its anchoring time in the consent's data period (the rule RecordRegistry
///   applies to reads), at submission, and again at approval when the payer overrides the confirmation.
/// - Evidence authorship: the claimant must be the evidence record's author (RecordRegistry stores it), checked at
///   submission after the consent, so the refusal a provider without the patient's consent gets does not name the
///   record's author. A provider holding the patient's consent can neither be paid for a colleague's record nor
///   squat its (record, package) slot. Authorship never changes, so approval does not re-check it. Auditors still
///   flag every claim whose claimant is not the author in the `RecordAnchored` event, as a second line.
/// - Only the programme's payer, while an active PAYER member, administers the programme, its cards and escrow.
/// Amounts are minor units of the programme's ISO 4217 currency (the token has 0 decimals). No personal data is
/// stored or emitted: addresses, codes, ids and amounts only.
contract HealthCardPayments is EIP712, Nonces, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using ConsentPolicy for ConsentPolicy.Consent;

    enum CardStatus {
        None,
        Active,
        Suspended
    }

    enum PreAuthStatus {
        None,
        Requested,
        Approved,
        Rejected,
        Cancelled,
        Expired,
        Used
    }

    enum ClaimStatus {
        None,
        Submitted,
        Paid,
        Rejected
    }

    /// @notice A payer programme (two slots plus the name).
    struct Programme {
        address payer;
        bytes3 currency; // ISO 4217 alphabetic code, e.g. "CNY"
        uint32 preAuthValidity; // seconds an auto-approved pre-authorisation stays valid
        uint40 createdAt;
        uint64 defaultAnnualLimit;
        uint64 autoApprovalThreshold; // requests strictly below this are approved at once; 0 = never
        uint128 escrow;
        string name;
    }

    /// @notice A patient's e-card in one programme (two slots).
    struct Card {
        address patient;
        uint32 programmeId;
        uint40 validUntil; // eligible while block.timestamp < validUntil
        CardStatus status;
        uint64 annualLimit;
        uint64 used; // paid claims and cash disbursements this period
        uint64 reserved; // approved pre-authorisations and submitted claims, not yet settled
        uint40 periodStart;
    }

    /// @notice A provider's pre-authorisation request (three slots).
    struct PreAuth {
        address provider;
        uint64 cardId;
        PreAuthStatus status;
        uint64 amount;
        uint40 expiresAt; // set on approval
        bytes32 packageCode;
    }

    /// @notice A provider's claim (four slots).
    struct Claim {
        address provider;
        uint64 cardId;
        ClaimStatus status;
        bool confirmed; // the patient (or its delegate) signed ConfirmClaim
        uint64 amount;
        uint64 preAuthId; // 0 = none
        uint40 submittedAt;
        bytes32 recordId;
        bytes32 packageCode;
    }

    uint256 public constant MAX_NAME_LENGTH = 64;
    /// @dev Bounds the auto-approval window so an unattended approval cannot hold a reservation for years.
    uint32 public constant MAX_PRE_AUTH_VALIDITY = 365 days;

    bytes32 public constant CONFIRM_CLAIM_TYPEHASH =
        keccak256(
            "ConfirmClaim(uint64 claimId,address patient,address provider,bytes32 recordId,bytes32 packageCode,"
            "uint64 amount,uint256 nonce,uint256 deadline)"
        );

    IConsortiumRegistry private immutable _registry;
    RecordRegistry private immutable _recordRegistry;
    ConsentLedger private immutable _consentLedger;
    SettlementToken private immutable _token;

    // Counters share one slot; ids start at 1 so 0 means "none".
    uint32 private _programmeCount;
    uint64 private _cardCount;
    uint64 private _preAuthCount;
    uint64 private _claimCount;

    mapping(uint32 programmeId => Programme) private _programmes;
    mapping(uint32 programmeId => mapping(address provider => bool)) private _empanelled;
    mapping(uint64 cardId => Card) private _cards;
    mapping(uint32 programmeId => mapping(address patient => uint64 cardId)) private _cardOf;
    mapping(uint64 preAuthId => PreAuth) private _preAuths;
    mapping(uint64 claimId => Claim) private _claims;
    mapping(bytes32 evidenceKey => uint64 claimId) private _claimByEvidence;

    event ProgrammeCreated(
        uint32 indexed programmeId,
        address indexed payer,
        string name,
        bytes3 currency,
        uint64 defaultAnnualLimit,
        uint64 autoApprovalThreshold,
        uint32 preAuthValidity
    );
    event ProgrammeUpdated(
        uint32 indexed programmeId,
        uint64 defaultAnnualLimit,
        uint64 autoApprovalThreshold,
        uint32 preAuthValidity
    );
    event ProviderEmpanelled(uint32 indexed programmeId, address indexed provider);
    event ProviderDelisted(uint32 indexed programmeId, address indexed provider);
    event EscrowFunded(uint32 indexed programmeId, address indexed payer, uint128 amount, uint128 escrowAfter);
    event EscrowWithdrawn(uint32 indexed programmeId, address indexed payer, uint128 amount, uint128 escrowAfter);
    event CardIssued(
        uint64 indexed cardId,
        uint32 indexed programmeId,
        address indexed patient,
        uint64 annualLimit,
        uint40 periodStart,
        uint40 validUntil
    );
    /// @dev `previousUsed` is what the closing period consumed; `reserved` carries over.
    event CardRenewed(
        uint64 indexed cardId,
        uint64 annualLimit,
        uint40 periodStart,
        uint40 validUntil,
        uint64 previousUsed,
        uint64 reserved
    );
    event CardSuspended(uint64 indexed cardId);
    event CardReactivated(uint64 indexed cardId);
    event PreAuthRequested(
        uint64 indexed preAuthId,
        uint64 indexed cardId,
        address indexed provider,
        bytes32 packageCode,
        uint64 amount
    );
    /// @dev `automatic` = approved at request time because the amount was below the programme's threshold.
    event PreAuthApproved(uint64 indexed preAuthId, uint64 indexed cardId, uint40 expiresAt, bool automatic, uint64 reservedAfter);
    event PreAuthRejected(uint64 indexed preAuthId, uint64 indexed cardId, uint16 reasonCode);
    /// @dev `status` is Cancelled or Expired; `released` is the reservation freed (0 if it was never approved).
    event PreAuthReleased(
        uint64 indexed preAuthId,
        uint64 indexed cardId,
        PreAuthStatus status,
        address indexed by,
        uint64 released,
        uint64 reservedAfter
    );
    event ClaimSubmitted(
        uint64 indexed claimId,
        uint64 indexed cardId,
        address indexed provider,
        bytes32 recordId,
        bytes32 packageCode,
        uint64 amount,
        uint64 preAuthId,
        uint64 reservedAfter
    );
    /// @dev `signer` is the patient or its delegate (ConsentLedger); `relayer` the member that sent it.
    event ClaimConfirmed(uint64 indexed claimId, address indexed signer, address indexed relayer, uint256 nonce);
    event ClaimPaid(
        uint64 indexed claimId,
        uint64 indexed cardId,
        uint32 indexed programmeId,
        address provider,
        uint64 amount,
        bool confirmationOverridden,
        uint64 usedAfter,
        uint64 reservedAfter,
        uint128 escrowAfter
    );
    event ClaimRejected(uint64 indexed claimId, uint64 indexed cardId, uint16 reasonCode, uint64 reservedAfter);
    event CashDisbursed(
        uint64 indexed cardId,
        uint32 indexed programmeId,
        address indexed patient,
        bytes32 purposeCode,
        uint64 amount,
        uint64 usedAfter,
        uint128 escrowAfter
    );

    error InvalidAddress();
    error NotActiveMember(address account);
    error NotActivePayer(address account);
    error NotProgrammePayer(uint32 programmeId, address account);
    error NotActiveProvider(address account);
    error NotEmpanelled(uint32 programmeId, address provider);
    error NotPreAuthParty(uint64 preAuthId, address account);
    error UnknownProgramme(uint32 programmeId);
    error UnknownCard(uint64 cardId);
    error UnknownPreAuth(uint64 preAuthId);
    error UnknownClaim(uint64 claimId);
    error InvalidName(uint256 length);
    error InvalidCurrency(bytes3 currency);
    error InvalidAmount();
    error InvalidCode();
    error InvalidPreAuthValidity(uint32 validity);
    error InvalidExpiry(uint40 time);
    error EmpanelmentUnchanged(uint32 programmeId, address provider, bool empanelled);
    error CardAlreadyIssued(uint32 programmeId, address patient, uint64 cardId);
    error InvalidCardStatus(uint64 cardId, CardStatus status);
    error CardExpired(uint64 cardId, uint40 validUntil);
    error LimitExceeded(uint64 cardId, uint64 amount, uint64 remaining);
    error InsufficientEscrow(uint32 programmeId, uint256 amount, uint128 escrow);
    error InvalidPreAuthStatus(uint64 preAuthId, PreAuthStatus status);
    error PreAuthExpired(uint64 preAuthId, uint40 expiresAt);
    error PreAuthNotExpired(uint64 preAuthId, uint40 expiresAt);
    error PreAuthMismatch(uint64 preAuthId);
    error ClaimExceedsPreAuth(uint64 preAuthId, uint64 amount, uint64 authorised);
    error UnknownRecord(bytes32 recordId);
    error RecordPatientMismatch(bytes32 recordId, address patient);
    error RecordIsErased(bytes32 recordId);
    /// @dev `provider` holds no consent of the record's patient, in force, covering the record (its category for
    /// TREATMENT or PAYMENT, its anchoring time in the data period): raised at submission, and at an override approval.
    error EvidenceNotAccessible(bytes32 recordId, address provider);
    /// @dev `claimant` may use the record but did not anchor it: `author` did (raised at submission).
    error EvidenceNotAuthoredByClaimant(bytes32 recordId, address claimant, address author);
    error EvidenceAlreadyClaimed(bytes32 recordId, bytes32 packageCode, uint64 claimId);
    error InvalidClaimStatus(uint64 claimId, ClaimStatus status);
    error ClaimAlreadyConfirmed(uint64 claimId);
    error ClaimNotConfirmed(uint64 claimId);
    error ExpiredSignature(uint256 deadline);
    error UnauthorizedSigner(address patient, address signer);

    /// @notice Deploys the payments contract and its settlement token (this contract is the token's only minter).
    /// @param registry_ The consortium registry deciding who is an active PAYER / PROVIDER / member.
    /// @param recordRegistry_ The record registry holding the anchored records claims point at; its consent
    /// ledger names the patients' delegates, who may confirm claims for them.
    constructor(
        IConsortiumRegistry registry_,
        RecordRegistry recordRegistry_
    ) EIP712("healthsilk HealthCardPayments", "1") {
        if (address(registry_) == address(0) || address(recordRegistry_) == address(0)) revert InvalidAddress();
        _registry = registry_;
        _recordRegistry = recordRegistry_;
        _consentLedger = recordRegistry_.consentLedger();
        _token = new SettlementToken();
    }

    // ---------------------------------------------------------------- programmes

    /// @notice Creates a programme paid by the caller, an active PAYER member.
    /// @param name Programme name, 1..64 bytes (an institution's programme, never a person).
    /// @param currency ISO 4217 alphabetic code (three upper-case ASCII letters).
    /// @param defaultAnnualLimit Limit a new card gets when issued with limit 0.
    /// @param autoApprovalThreshold Pre-authorisation requests strictly below this amount are approved at once
    /// (0 disables auto-approval).
    /// @param preAuthValidity Seconds an auto-approved pre-authorisation stays valid (1 .. 365 days).
    /// @return programmeId The new programme's id (from 1).
    function createProgramme(
        string calldata name,
        bytes3 currency,
        uint64 defaultAnnualLimit,
        uint64 autoApprovalThreshold,
        uint32 preAuthValidity
    ) external returns (uint32 programmeId) {
        if (!_registry.hasActiveRole(Roles.PAYER, msg.sender)) revert NotActivePayer(msg.sender);
        uint256 length = bytes(name).length;
        if (length == 0 || length > MAX_NAME_LENGTH) revert InvalidName(length);
        _checkCurrency(currency);
        _checkPreAuthValidity(preAuthValidity);
        programmeId = ++_programmeCount;
        Programme storage p = _programmes[programmeId];
        p.payer = msg.sender;
        p.currency = currency;
        p.preAuthValidity = preAuthValidity;
        p.createdAt = uint40(block.timestamp);
        p.defaultAnnualLimit = defaultAnnualLimit;
        p.autoApprovalThreshold = autoApprovalThreshold;
        p.name = name;
        emit ProgrammeCreated(
            programmeId,
            msg.sender,
            name,
            currency,
            defaultAnnualLimit,
            autoApprovalThreshold,
            preAuthValidity
        );
    }

    /// @notice Changes a programme's defaults (existing cards and pre-authorisations keep theirs); payer only.
    /// @param programmeId The programme.
    /// @param defaultAnnualLimit New default card limit.
    /// @param autoApprovalThreshold New auto-approval threshold (0 disables).
    /// @param preAuthValidity New auto-approval validity in seconds (1 .. 365 days).
    function updateProgramme(
        uint32 programmeId,
        uint64 defaultAnnualLimit,
        uint64 autoApprovalThreshold,
        uint32 preAuthValidity
    ) external {
        Programme storage p = _requirePayer(programmeId);
        _checkPreAuthValidity(preAuthValidity);
        p.preAuthValidity = preAuthValidity;
        p.defaultAnnualLimit = defaultAnnualLimit;
        p.autoApprovalThreshold = autoApprovalThreshold;
        emit ProgrammeUpdated(programmeId, defaultAnnualLimit, autoApprovalThreshold, preAuthValidity);
    }

    /// @notice Empanels (or delists) a provider for a programme; payer only. Providers of any country qualify.
    /// @dev Empanelling needs an active PROVIDER member; delisting does not (e.g. after a suspension).
    /// Delisting stops new pre-authorisations and claims; already submitted claims stay payable.
    /// @param programmeId The programme.
    /// @param provider The provider member.
    /// @param empanelled True to empanel, false to delist.
    function setProviderEmpanelled(uint32 programmeId, address provider, bool empanelled) external {
        _requirePayer(programmeId);
        if (_empanelled[programmeId][provider] == empanelled) {
            revert EmpanelmentUnchanged(programmeId, provider, empanelled);
        }
        if (empanelled) _requireProvider(provider);
        _empanelled[programmeId][provider] = empanelled;
        if (empanelled) emit ProviderEmpanelled(programmeId, provider);
        else emit ProviderDelisted(programmeId, provider);
    }

    // ---------------------------------------------------------------- escrow

    /// @notice Funds the programme: mints `amount` settlement tokens into this contract's escrow for it; payer only.
    /// @param programmeId The programme.
    /// @param amount Units to mint (non-zero).
    function fundEscrow(uint32 programmeId, uint128 amount) external nonReentrant {
        Programme storage p = _requirePayer(programmeId);
        if (amount == 0) revert InvalidAmount();
        uint128 escrowAfter = p.escrow + amount;
        p.escrow = escrowAfter;
        emit EscrowFunded(programmeId, msg.sender, amount, escrowAfter);
        _token.mint(address(this), amount);
    }

    /// @notice Returns unneeded escrow to the payer's account as tokens; payer only.
    /// @dev Outstanding reservations are limits on cards, not holds on escrow: a claim approval needs enough escrow
    /// at the time it is paid.
    /// @param programmeId The programme.
    /// @param amount Units to withdraw (non-zero, at most the escrow).
    function withdrawEscrow(uint32 programmeId, uint128 amount) external nonReentrant {
        Programme storage p = _requirePayer(programmeId);
        if (amount == 0) revert InvalidAmount();
        uint128 escrowAfter = _debitEscrow(programmeId, p, amount);
        emit EscrowWithdrawn(programmeId, msg.sender, amount, escrowAfter);
        IERC20(address(_token)).safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- cards

    /// @notice Issues a programme card to a patient (one card per patient and programme); payer only.
    /// @param programmeId The programme.
    /// @param patient The patient's wallet address.
    /// @param annualLimit The card's limit per period; 0 = the programme's default.
    /// @param validUntil The card is eligible while block.timestamp < validUntil (must be in the future).
    /// @return cardId The new card's id (from 1).
    function issueCard(
        uint32 programmeId,
        address patient,
        uint64 annualLimit,
        uint40 validUntil
    ) external returns (uint64 cardId) {
        Programme storage p = _requirePayer(programmeId);
        if (patient == address(0)) revert InvalidAddress();
        uint64 existing = _cardOf[programmeId][patient];
        if (existing != 0) revert CardAlreadyIssued(programmeId, patient, existing);
        if (validUntil <= block.timestamp) revert InvalidExpiry(validUntil);
        if (annualLimit == 0) annualLimit = p.defaultAnnualLimit;
        cardId = ++_cardCount;
        _cardOf[programmeId][patient] = cardId;
        uint40 now_ = uint40(block.timestamp);
        _cards[cardId] = Card({
            patient: patient,
            programmeId: programmeId,
            validUntil: validUntil,
            status: CardStatus.Active,
            annualLimit: annualLimit,
            used: 0,
            reserved: 0,
            periodStart: now_
        });
        emit CardIssued(cardId, programmeId, patient, annualLimit, now_, validUntil);
    }

    /// @notice Renews a card: a new period starts now, usage resets to zero, limit and validity are replaced;
    /// payer only. Outstanding reservations carry over (see the contract notes); the status is kept.
    /// @param cardId The card.
    /// @param annualLimit The limit for the new period; 0 = the programme's current default.
    /// @param validUntil New end of validity (must be in the future).
    function renewCard(uint64 cardId, uint64 annualLimit, uint40 validUntil) external {
        Card storage c = _requireCard(cardId);
        Programme storage p = _requirePayer(c.programmeId);
        if (validUntil <= block.timestamp) revert InvalidExpiry(validUntil);
        if (annualLimit == 0) annualLimit = p.defaultAnnualLimit;
        uint64 previousUsed = c.used;
        uint40 now_ = uint40(block.timestamp);
        c.annualLimit = annualLimit;
        c.used = 0;
        c.periodStart = now_;
        c.validUntil = validUntil;
        emit CardRenewed(cardId, annualLimit, now_, validUntil, previousUsed, c.reserved);
    }

    /// @notice Suspends an active card (no new pre-authorisations, claims or disbursements); payer only.
    /// @param cardId The card.
    function suspendCard(uint64 cardId) external {
        Card storage c = _requireCard(cardId);
        _requirePayer(c.programmeId);
        if (c.status != CardStatus.Active) revert InvalidCardStatus(cardId, c.status);
        c.status = CardStatus.Suspended;
        emit CardSuspended(cardId);
    }

    /// @notice Reactivates a suspended card; payer only.
    /// @param cardId The card.
    function reactivateCard(uint64 cardId) external {
        Card storage c = _requireCard(cardId);
        _requirePayer(c.programmeId);
        if (c.status != CardStatus.Suspended) revert InvalidCardStatus(cardId, c.status);
        c.status = CardStatus.Active;
        emit CardReactivated(cardId);
    }

    // ---------------------------------------------------------------- pre-authorisation

    /// @notice Asks the payer to pre-authorise `amount` for package `packageCode` on a card; the caller must be an
    /// active PROVIDER empanelled in the card's programme, the card eligible and `amount` within its remaining limit.
    /// Requests strictly below the programme's threshold are approved (and reserved) in this call.
    /// @param cardId The patient's card.
    /// @param packageCode The treatment package code (non-zero).
    /// @param amount The amount asked for (non-zero).
    /// @return preAuthId The new pre-authorisation's id (from 1).
    /// @return autoApproved True when it was approved at once.
    function requestPreAuth(
        uint64 cardId,
        bytes32 packageCode,
        uint64 amount
    ) external returns (uint64 preAuthId, bool autoApproved) {
        Card storage c = _requireCard(cardId);
        uint32 programmeId = c.programmeId;
        _requireEmpanelledProvider(programmeId, msg.sender);
        if (packageCode == bytes32(0)) revert InvalidCode();
        if (amount == 0) revert InvalidAmount();
        _requireEligible(cardId, c);
        uint64 remaining = _remaining(c);
        if (amount > remaining) revert LimitExceeded(cardId, amount, remaining);

        preAuthId = ++_preAuthCount;
        PreAuth storage a = _preAuths[preAuthId];
        a.provider = msg.sender;
        a.cardId = cardId;
        a.amount = amount;
        a.packageCode = packageCode;
        Programme storage p = _programmes[programmeId];
        autoApproved = amount < p.autoApprovalThreshold;
        if (autoApproved) {
            uint40 expiresAt = uint40(block.timestamp) + p.preAuthValidity;
            a.status = PreAuthStatus.Approved;
            a.expiresAt = expiresAt;
            uint64 reservedAfter = c.reserved + amount;
            c.reserved = reservedAfter;
            emit PreAuthRequested(preAuthId, cardId, msg.sender, packageCode, amount);
            emit PreAuthApproved(preAuthId, cardId, expiresAt, true, reservedAfter);
        } else {
            a.status = PreAuthStatus.Requested;
            emit PreAuthRequested(preAuthId, cardId, msg.sender, packageCode, amount);
        }
    }

    /// @notice Approves a requested pre-authorisation until `expiresAt`, reserving its amount on the card; payer only.
    /// The card must still be eligible and have the amount remaining.
    /// @param preAuthId The pre-authorisation.
    /// @param expiresAt It may be used by claims submitted while block.timestamp < expiresAt (must be in the future).
    function approvePreAuth(uint64 preAuthId, uint40 expiresAt) external {
        PreAuth storage a = _requirePreAuth(preAuthId);
        if (a.status != PreAuthStatus.Requested) revert InvalidPreAuthStatus(preAuthId, a.status);
        uint64 cardId = a.cardId;
        Card storage c = _cards[cardId];
        _requirePayer(c.programmeId);
        if (expiresAt <= block.timestamp) revert InvalidExpiry(expiresAt);
        _requireEligible(cardId, c);
        uint64 amount = a.amount;
        uint64 remaining = _remaining(c);
        if (amount > remaining) revert LimitExceeded(cardId, amount, remaining);
        a.status = PreAuthStatus.Approved;
        a.expiresAt = expiresAt;
        uint64 reservedAfter = c.reserved + amount;
        c.reserved = reservedAfter;
        emit PreAuthApproved(preAuthId, cardId, expiresAt, false, reservedAfter);
    }

    /// @notice Rejects a requested pre-authorisation; payer only.
    /// @param preAuthId The pre-authorisation.
    /// @param reasonCode The payer's reason code (a code, never free text).
    function rejectPreAuth(uint64 preAuthId, uint16 reasonCode) external {
        PreAuth storage a = _requirePreAuth(preAuthId);
        if (a.status != PreAuthStatus.Requested) revert InvalidPreAuthStatus(preAuthId, a.status);
        uint64 cardId = a.cardId;
        _requirePayer(_cards[cardId].programmeId);
        a.status = PreAuthStatus.Rejected;
        emit PreAuthRejected(preAuthId, cardId, reasonCode);
    }

    /// @notice Cancels a requested or approved (unused) pre-authorisation and frees its reservation; the caller
    /// must be its provider or the programme's payer (while active in that role).
    /// @param preAuthId The pre-authorisation.
    function cancelPreAuth(uint64 preAuthId) external {
        PreAuth storage a = _requirePreAuth(preAuthId);
        PreAuthStatus status = a.status;
        if (status != PreAuthStatus.Requested && status != PreAuthStatus.Approved) {
            revert InvalidPreAuthStatus(preAuthId, status);
        }
        uint64 cardId = a.cardId;
        Card storage c = _cards[cardId];
        if (msg.sender == a.provider) {
            _requireProvider(msg.sender);
        } else if (msg.sender == _programmes[c.programmeId].payer) {
            _requirePayer(c.programmeId);
        } else {
            revert NotPreAuthParty(preAuthId, msg.sender);
        }
        _release(preAuthId, a, c, status, PreAuthStatus.Cancelled);
    }

    /// @notice Frees the reservation of an approved pre-authorisation that expired unused; any active member may
    /// call (housekeeping that only ever gives limit back to the patient).
    /// @param preAuthId The pre-authorisation.
    function releaseExpiredPreAuth(uint64 preAuthId) external {
        if (!_registry.isActiveMember(msg.sender)) revert NotActiveMember(msg.sender);
        PreAuth storage a = _requirePreAuth(preAuthId);
        if (a.status != PreAuthStatus.Approved) revert InvalidPreAuthStatus(preAuthId, a.status);
        if (block.timestamp < a.expiresAt) revert PreAuthNotExpired(preAuthId, a.expiresAt);
        _release(preAuthId, a, _cards[a.cardId], PreAuthStatus.Approved, PreAuthStatus.Expired);
    }

    // ---------------------------------------------------------------- claims

    /// @notice Submits a claim for a service to the card's patient, with an anchored record as evidence; the caller
    /// must be an active PROVIDER empanelled in the programme and the card eligible. The amount is reserved on the
    /// card; with a pre-authorisation (same card, provider and package, approved and unexpired) the claim may not
    /// exceed it and takes over its reservation.
    /// @dev The caller must hold the patient's consent to the evidence record (see the contract notes, "Evidence
    /// access"), otherwise {EvidenceNotAccessible}, and must be its author, otherwise {EvidenceNotAuthoredByClaimant}.
    /// @param cardId The patient's card.
    /// @param recordId A record anchored on its own in RecordRegistry by the caller, of the card's patient, not erased,
    /// that the caller's consent from the patient covers for TREATMENT or PAYMENT.
    /// @param packageCode The treatment package code (non-zero); one claim per (record, package) unless rejected.
    /// @param amount The amount claimed (non-zero).
    /// @param preAuthId The pre-authorisation used, or 0.
    /// @return claimId The new claim's id (from 1).
    function submitClaim(
        uint64 cardId,
        bytes32 recordId,
        bytes32 packageCode,
        uint64 amount,
        uint64 preAuthId
    ) external returns (uint64 claimId) {
        Card storage c = _requireCard(cardId);
        _requireEmpanelledProvider(c.programmeId, msg.sender);
        if (packageCode == bytes32(0)) revert InvalidCode();
        if (amount == 0) revert InvalidAmount();
        _requireEligible(cardId, c);
        _checkEvidence(recordId, c.patient, msg.sender);
        bytes32 evidenceKey = _evidenceKey(recordId, packageCode);
        uint64 previous = _claimByEvidence[evidenceKey];
        if (previous != 0) revert EvidenceAlreadyClaimed(recordId, packageCode, previous);

        uint64 reservedAfter;
        if (preAuthId != 0) {
            reservedAfter = _usePreAuth(preAuthId, cardId, c, packageCode, amount);
        } else {
            uint64 remaining = _remaining(c);
            if (amount > remaining) revert LimitExceeded(cardId, amount, remaining);
            reservedAfter = c.reserved + amount;
        }
        c.reserved = reservedAfter;

        claimId = ++_claimCount;
        _claimByEvidence[evidenceKey] = claimId;
        _claims[claimId] = Claim({
            provider: msg.sender,
            cardId: cardId,
            status: ClaimStatus.Submitted,
            confirmed: false,
            amount: amount,
            preAuthId: preAuthId,
            submittedAt: uint40(block.timestamp),
            recordId: recordId,
            packageCode: packageCode
        });
        emit ClaimSubmitted(claimId, cardId, msg.sender, recordId, packageCode, amount, preAuthId, reservedAfter);
    }

    /// @notice Relays the patient's EIP-712 `ConfirmClaim` (the service was received); the caller must be an active
    /// member. The signer is the card's patient or the patient's delegate in ConsentLedger; its nonce is consumed.
    /// @param claimId The claim, still Submitted and unconfirmed.
    /// @param nonce The signer's current nonce in this contract.
    /// @param deadline Last valid block timestamp of the signature.
    /// @param signature 65-byte ECDSA signature over the EIP-712 digest.
    function confirmClaimBySig(uint64 claimId, uint256 nonce, uint256 deadline, bytes calldata signature) external {
        if (!_registry.isActiveMember(msg.sender)) revert NotActiveMember(msg.sender);
        Claim storage cl = _requireClaim(claimId);
        if (cl.status != ClaimStatus.Submitted) revert InvalidClaimStatus(claimId, cl.status);
        if (cl.confirmed) revert ClaimAlreadyConfirmed(claimId);
        if (block.timestamp > deadline) revert ExpiredSignature(deadline);
        address patient = _cards[cl.cardId].patient;
        address signer = ECDSA.recoverCalldata(_confirmClaimDigest(claimId, patient, cl, nonce, deadline), signature);
        if (signer != patient && signer != _consentLedger.delegateOf(patient)) {
            revert UnauthorizedSigner(patient, signer);
        }
        _useCheckedNonce(signer, nonce);
        cl.confirmed = true;
        emit ClaimConfirmed(claimId, signer, msg.sender, nonce);
    }

    /// @notice Approves a submitted claim and pays the provider from the programme's escrow in this transaction;
    /// payer only. Needs the patient's confirmation unless `overrideConfirmation` is set (reported in ClaimPaid),
    /// enough escrow, the provider still an active PROVIDER, and the card's usage staying within its limit.
    /// An override also needs the provider to still hold the patient's consent to the evidence record, as at
    /// submission ({EvidenceNotAccessible} otherwise): without the patient's word, the patient's standing consent is
    /// what ties the payee to the care. A confirmed claim needs no such check: the patient signed for this provider.
    /// @dev The card's status and validity are not re-checked: the service was delivered while it was eligible and
    /// the amount has been reserved since submission; the payer can reject instead. Nor is the evidence's author: it
    /// was the provider at submission and a record's author never changes.
    /// @param claimId The claim.
    /// @param overrideConfirmation Pay without the patient's confirmation (ignored when confirmed).
    function approveClaim(uint64 claimId, bool overrideConfirmation) external nonReentrant {
        Claim storage cl = _requireClaim(claimId);
        if (cl.status != ClaimStatus.Submitted) revert InvalidClaimStatus(claimId, cl.status);
        uint64 cardId = cl.cardId;
        Card storage c = _cards[cardId];
        uint32 programmeId = c.programmeId;
        Programme storage p = _requirePayer(programmeId);
        bool overridden = !cl.confirmed;
        if (overridden && !overrideConfirmation) revert ClaimNotConfirmed(claimId);
        address provider = cl.provider;
        _requireProvider(provider);
        if (overridden) _requireEvidenceStillAccessible(cl.recordId, c.patient, provider);
        uint64 amount = cl.amount;
        // Reserved at submission; the check matters only if a renewal lowered the limit meanwhile.
        uint64 used = c.used;
        if (amount > c.annualLimit || used > c.annualLimit - amount) {
            revert LimitExceeded(cardId, amount, c.annualLimit > used ? c.annualLimit - used : 0);
        }
        uint128 escrowAfter = _debitEscrow(programmeId, p, amount);
        uint64 usedAfter = used + amount;
        uint64 reservedAfter = c.reserved - amount;
        c.used = usedAfter;
        c.reserved = reservedAfter;
        cl.status = ClaimStatus.Paid;
        emit ClaimPaid(claimId, cardId, programmeId, provider, amount, overridden, usedAfter, reservedAfter, escrowAfter);
        IERC20(address(_token)).safeTransfer(provider, amount);
    }

    /// @notice Rejects a submitted claim, freeing its reservation and its (record, package) evidence for a corrected
    /// claim; payer only. A pre-authorisation the claim used stays used.
    /// @param claimId The claim.
    /// @param reasonCode The payer's reason code (a code, never free text).
    function rejectClaim(uint64 claimId, uint16 reasonCode) external {
        Claim storage cl = _requireClaim(claimId);
        if (cl.status != ClaimStatus.Submitted) revert InvalidClaimStatus(claimId, cl.status);
        uint64 cardId = cl.cardId;
        Card storage c = _cards[cardId];
        _requirePayer(c.programmeId);
        uint64 reservedAfter = c.reserved - cl.amount;
        c.reserved = reservedAfter;
        cl.status = ClaimStatus.Rejected;
        delete _claimByEvidence[_evidenceKey(cl.recordId, cl.packageCode)];
        emit ClaimRejected(claimId, cardId, reasonCode, reservedAfter);
    }

    // ---------------------------------------------------------------- cash allowances

    /// @notice Pays a cash allowance (e.g. travel for cross-border care) from the programme's escrow to the card's
    /// patient, counted as usage of the card; payer only. The card must be eligible and have the amount remaining.
    /// @param cardId The card.
    /// @param purposeCode What the allowance is for (non-zero code, e.g. "TRAVEL").
    /// @param amount Units to pay (non-zero).
    function disburseCash(uint64 cardId, bytes32 purposeCode, uint64 amount) external nonReentrant {
        Card storage c = _requireCard(cardId);
        uint32 programmeId = c.programmeId;
        Programme storage p = _requirePayer(programmeId);
        if (purposeCode == bytes32(0)) revert InvalidCode();
        if (amount == 0) revert InvalidAmount();
        _requireEligible(cardId, c);
        uint64 remaining = _remaining(c);
        if (amount > remaining) revert LimitExceeded(cardId, amount, remaining);
        uint128 escrowAfter = _debitEscrow(programmeId, p, amount);
        uint64 usedAfter = c.used + amount;
        c.used = usedAfter;
        address patient = c.patient;
        emit CashDisbursed(cardId, programmeId, patient, purposeCode, amount, usedAfter, escrowAfter);
        IERC20(address(_token)).safeTransfer(patient, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice A programme (payer zero when unknown).
    /// @param programmeId The programme.
    /// @return The programme, including its escrow balance and name.
    function programme(uint32 programmeId) external view returns (Programme memory) {
        return _programmes[programmeId];
    }

    /// @notice Number of programmes created (the highest id).
    function programmeCount() external view returns (uint32) {
        return _programmeCount;
    }

    /// @notice True when `provider` is empanelled in the programme (its membership is checked separately).
    /// @param programmeId The programme.
    /// @param provider The provider.
    function isEmpanelled(uint32 programmeId, address provider) external view returns (bool) {
        return _empanelled[programmeId][provider];
    }

    /// @notice Settlement tokens held in escrow for a programme.
    /// @param programmeId The programme.
    function escrowBalance(uint32 programmeId) external view returns (uint128) {
        return _programmes[programmeId].escrow;
    }

    /// @notice A card (status None when unknown).
    /// @param cardId The card.
    function card(uint64 cardId) external view returns (Card memory) {
        return _cards[cardId];
    }

    /// @notice The card of `patient` in a programme, or 0.
    /// @param programmeId The programme.
    /// @param patient The patient.
    function cardOf(uint32 programmeId, address patient) external view returns (uint64) {
        return _cardOf[programmeId][patient];
    }

    /// @notice Number of cards issued (the highest id).
    function cardCount() external view returns (uint64) {
        return _cardCount;
    }

    /// @notice What a provider checks before treating: the card is active and unexpired, and how much of its
    /// limit is left after usage and reservations.
    /// @param cardId The card.
    /// @return eligible True when active, not expired and `remaining` > 0.
    /// @return remaining annualLimit - used - reserved (0 when unknown or exhausted).
    /// @return validUntil End of validity.
    function eligibility(uint64 cardId) external view returns (bool eligible, uint64 remaining, uint40 validUntil) {
        Card storage c = _cards[cardId];
        remaining = _remaining(c);
        validUntil = c.validUntil;
        eligible = c.status == CardStatus.Active && block.timestamp < validUntil && remaining > 0;
    }

    /// @notice A pre-authorisation (status None when unknown; Approved ones past `expiresAt` are expired).
    /// @param preAuthId The pre-authorisation.
    function preAuth(uint64 preAuthId) external view returns (PreAuth memory) {
        return _preAuths[preAuthId];
    }

    /// @notice Number of pre-authorisations requested (the highest id).
    function preAuthCount() external view returns (uint64) {
        return _preAuthCount;
    }

    /// @notice A claim (status None when unknown).
    /// @param claimId The claim.
    function claim(uint64 claimId) external view returns (Claim memory) {
        return _claims[claimId];
    }

    /// @notice Number of claims submitted (the highest id).
    function claimCount() external view returns (uint64) {
        return _claimCount;
    }

    /// @notice The live (submitted or paid) claim for a (record, package), or 0.
    /// @param recordId The evidence record.
    /// @param packageCode The package.
    function claimForEvidence(bytes32 recordId, bytes32 packageCode) external view returns (uint64) {
        return _claimByEvidence[_evidenceKey(recordId, packageCode)];
    }

    /// @notice The settlement token this contract mints and pays in.
    function settlementToken() external view returns (SettlementToken) {
        return _token;
    }

    /// @notice The consortium registry this contract consults.
    function registry() external view returns (IConsortiumRegistry) {
        return _registry;
    }

    /// @notice The record registry claims point at.
    function recordRegistry() external view returns (RecordRegistry) {
        return _recordRegistry;
    }

    /// @notice The consent ledger naming patients' delegates.
    function consentLedger() external view returns (ConsentLedger) {
        return _consentLedger;
    }

    /// @notice The EIP-712 domain separator (also described by `eip712Domain()`, ERC-5267).
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- internals

    function _requirePayer(uint32 programmeId) private view returns (Programme storage p) {
        p = _programmes[programmeId];
        address payer = p.payer;
        if (payer == address(0)) revert UnknownProgramme(programmeId);
        if (msg.sender != payer) revert NotProgrammePayer(programmeId, msg.sender);
        if (!_registry.hasActiveRole(Roles.PAYER, msg.sender)) revert NotActivePayer(msg.sender);
    }

    function _requireProvider(address account) private view {
        if (!_registry.hasActiveRole(Roles.PROVIDER, account)) revert NotActiveProvider(account);
    }

    function _requireEmpanelledProvider(uint32 programmeId, address account) private view {
        if (!_empanelled[programmeId][account]) revert NotEmpanelled(programmeId, account);
        _requireProvider(account);
    }

    function _requireCard(uint64 cardId) private view returns (Card storage c) {
        c = _cards[cardId];
        if (c.status == CardStatus.None) revert UnknownCard(cardId);
    }

    function _requirePreAuth(uint64 preAuthId) private view returns (PreAuth storage a) {
        a = _preAuths[preAuthId];
        if (a.status == PreAuthStatus.None) revert UnknownPreAuth(preAuthId);
    }

    function _requireClaim(uint64 claimId) private view returns (Claim storage cl) {
        cl = _claims[claimId];
        if (cl.status == ClaimStatus.None) revert UnknownClaim(claimId);
    }

    function _requireEligible(uint64 cardId, Card storage c) private view {
        if (c.status != CardStatus.Active) revert InvalidCardStatus(cardId, c.status);
        if (block.timestamp >= c.validUntil) revert CardExpired(cardId, c.validUntil);
    }

    /// @dev Saturating: a renewal may lower the limit below what is already reserved.
    function _remaining(Card storage c) private view returns (uint64) {
        uint256 committed = uint256(c.used) + c.reserved;
        return c.annualLimit > committed ? uint64(c.annualLimit - committed) : 0;
    }

    function _debitEscrow(uint32 programmeId, Programme storage p, uint128 amount) private returns (uint128 escrowAfter) {
        uint128 escrow = p.escrow;
        if (amount > escrow) revert InsufficientEscrow(programmeId, amount, escrow);
        escrowAfter = escrow - amount;
        p.escrow = escrowAfter;
    }

    /// @dev Consent before authorship: a provider the patient has not let see the record is not told who wrote it
    /// (EvidenceNotAuthoredByClaimant names the author).
    function _checkEvidence(bytes32 recordId, address patient, address provider) private view {
        (address recordPatient, uint8 category, uint40 anchoredAt, bool erased, address author) = _recordRegistry
            .getRecord(recordId);
        if (recordPatient == address(0)) revert UnknownRecord(recordId);
        if (recordPatient != patient) revert RecordPatientMismatch(recordId, patient);
        if (erased) revert RecordIsErased(recordId);
        if (!_mayUseEvidence(patient, provider, category, anchoredAt)) revert EvidenceNotAccessible(recordId, provider);
        if (author != provider) revert EvidenceNotAuthoredByClaimant(recordId, provider, author);
    }

    /// @dev Approval-time re-check for override payments (the record was validated at submission; it stays anchored
    /// and keeps its patient, category, time and author, so only the consent can have changed).
    function _requireEvidenceStillAccessible(bytes32 recordId, address patient, address provider) private view {
        (, uint8 category, uint40 anchoredAt, , ) = _recordRegistry.getRecord(recordId);
        if (!_mayUseEvidence(patient, provider, category, anchoredAt)) revert EvidenceNotAccessible(recordId, provider);
    }

    /// @dev RecordRegistry's read rule for TREATMENT or PAYMENT: the (patient, provider) consent is in force now,
    /// covers the category for either purpose, and its data period holds the record's anchoring time. This is
    /// ConsentLedger.isPermitted for either purpose plus the data period, read as one word (one call instead of two);
    /// isPermitted's active-member condition is already implied by the caller's PROVIDER check.
    function _mayUseEvidence(
        address patient,
        address provider,
        uint8 category,
        uint40 anchoredAt
    ) private view returns (bool) {
        ConsentPolicy.Consent memory c = ConsentPolicy.unpack(_consentLedger.packedConsent(patient, provider));
        uint16 bit = ConsentPolicy.categoryBit(category);
        return
            c.isInForce(block.timestamp) &&
            (c.covers(bit, ConsentPolicy.TREATMENT) || c.covers(bit, ConsentPolicy.PAYMENT)) &&
            c.coversDataAt(anchoredAt);
    }

    /// @dev Marks the pre-authorisation used and returns the card's reservation after moving it to the claim.
    function _usePreAuth(
        uint64 preAuthId,
        uint64 cardId,
        Card storage c,
        bytes32 packageCode,
        uint64 amount
    ) private returns (uint64 reservedAfter) {
        PreAuth storage a = _requirePreAuth(preAuthId);
        if (a.status != PreAuthStatus.Approved) revert InvalidPreAuthStatus(preAuthId, a.status);
        if (block.timestamp >= a.expiresAt) revert PreAuthExpired(preAuthId, a.expiresAt);
        if (a.cardId != cardId || a.provider != msg.sender || a.packageCode != packageCode) {
            revert PreAuthMismatch(preAuthId);
        }
        uint64 authorised = a.amount;
        if (amount > authorised) revert ClaimExceedsPreAuth(preAuthId, amount, authorised);
        a.status = PreAuthStatus.Used;
        reservedAfter = c.reserved - (authorised - amount);
    }

    function _release(
        uint64 preAuthId,
        PreAuth storage a,
        Card storage c,
        PreAuthStatus from,
        PreAuthStatus to
    ) private {
        a.status = to;
        uint64 released = from == PreAuthStatus.Approved ? a.amount : 0;
        uint64 reservedAfter = c.reserved - released;
        c.reserved = reservedAfter;
        emit PreAuthReleased(preAuthId, a.cardId, to, msg.sender, released, reservedAfter);
    }

    function _confirmClaimDigest(
        uint64 claimId,
        address patient,
        Claim storage cl,
        uint256 nonce,
        uint256 deadline
    ) private view returns (bytes32) {
        return
            _hashTypedDataV4(
                keccak256(
                    abi.encode(
                        CONFIRM_CLAIM_TYPEHASH,
                        claimId,
                        patient,
                        cl.provider,
                        cl.recordId,
                        cl.packageCode,
                        cl.amount,
                        nonce,
                        deadline
                    )
                )
            );
    }

    function _evidenceKey(bytes32 recordId, bytes32 packageCode) private pure returns (bytes32) {
        return keccak256(abi.encode(recordId, packageCode));
    }

    function _checkCurrency(bytes3 currency) private pure {
        for (uint256 i = 0; i < 3; ++i) {
            bytes1 ch = currency[i];
            if (ch < 0x41 || ch > 0x5A) revert InvalidCurrency(currency);
        }
    }

    function _checkPreAuthValidity(uint32 validity) private pure {
        if (validity == 0 || validity > MAX_PRE_AUTH_VALIDITY) revert InvalidPreAuthValidity(validity);
    }
}
