// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {Roles} from "./libraries/Roles.sol";

/// @title ConsortiumRegistry
/// @notice The directory of healthsilk member institutions and their k-of-n governance.
/// @dev Every change after genesis goes through a governor proposal that executes automatically once
/// `quorum` active governors approved it. Nobody holds DEFAULT_ADMIN_ROLE, so the AccessControl
/// grant/revoke entry points are unusable and role renunciation is disabled: AccessControl membership
/// always mirrors the roles of *active* members (roles are revoked on suspension and re-granted on
/// reinstatement), while the member record keeps the assigned role flags. Events carry everything an
/// auditor needs to rebuild the directory without reading storage.
///
/// Vote validity: an approval counts only while its caster has held an active GOVERNOR role without
/// interruption since casting it. Suspension or losing GOVERNOR makes the vote lapse for good; if the
/// governor is later reinstated or re-promoted it starts a new *governor term* and may vote again, but the
/// lapsed vote never counts again (so a proposal's tally never depends on when votes are re-counted).
/// Each pending proposal keeps its approvers (with the term they voted in); every approval drops lapsed
/// entries and counts the rest, so at most `quorum - 1` are ever stored and every loop is bounded by quorum.
contract ConsortiumRegistry is AccessControl, IConsortiumRegistry {
    // Role bit flags used in proposals and views; AccessControl holds the bytes32 role membership.
    uint8 public constant GOVERNOR_FLAG = 1;
    uint8 public constant PROVIDER_FLAG = 2;
    uint8 public constant PAYER_FLAG = 4;
    uint8 public constant PHARMACY_FLAG = 8;
    uint8 public constant AUDITOR_FLAG = 16;
    uint8 public constant EMERGENCY_FLAG = 32;
    uint8 public constant PRIVACY_OFFICER_FLAG = 64;
    uint8 public constant PUBLIC_HEALTH_FLAG = 128;
    uint8 public constant ALL_ROLE_FLAGS = 255;

    uint256 public constant MAX_NAME_LENGTH = 64;
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;
    uint256 public constant MAX_REASON_LENGTH = 256;
    /// @dev Room for an ML-KEM-768 + X25519 hybrid key (1216 bytes) plus a suite prefix.
    uint256 public constant MAX_PUBLIC_KEY_LENGTH = 1300;
    /// @dev Bounded so `createdAt + lifetime` can never overflow and stale votes cannot linger for years.
    uint64 public constant MAX_PROPOSAL_LIFETIME = 365 days;

    enum MemberStatus {
        None,
        Active,
        Suspended
    }

    enum ProposalKind {
        Admit,
        Suspend,
        Reinstate,
        ChangeRoles,
        RotateKeys
    }

    /// @dev Expiry is not a stored status: a Pending proposal is expired once `block.timestamp >= expiresAt`.
    enum ProposalStatus {
        None,
        Pending,
        Executed
    }

    struct MemberInput {
        address account;
        string name;
        bytes2 country;
        uint8 roles;
        bytes hpkePublicKey;
        string endpoint;
    }

    struct Member {
        string name;
        bytes2 country;
        uint8 roles;
        bytes hpkePublicKey;
        string endpoint;
        MemberStatus status;
        uint64 admittedAt;
        uint64 updatedAt;
    }

    // Storage layouts differ from the view structs only to pack the fixed-size fields into one slot.
    struct MemberRecord {
        bytes2 country;
        uint8 roles;
        MemberStatus status;
        uint64 admittedAt;
        uint64 updatedAt;
        // Bumped each time the member becomes an active governor; 0 while it never was one.
        uint32 governorTerm;
        string name;
        bytes hpkePublicKey;
        string endpoint;
    }

    // One slot: who approved and in which of their governor terms.
    struct Approval {
        address governor;
        uint32 governorTerm;
    }

    struct ProposalRecord {
        address subject;
        uint64 createdAt;
        ProposalKind kind;
        ProposalStatus status;
        // Pending: entries in `approvals` (valid at the last vote, < quorum); Executed: the approvals it passed with.
        uint8 approvalCount;
        address proposer;
        uint64 expiresAt;
        // Payload, kept so execution applies exactly what was voted on.
        bytes2 country;
        uint8 roles;
        string name;
        string reason;
        bytes hpkePublicKey;
        string endpoint;
        // Indexed 0 .. approvalCount - 1 while pending; a mapping, not an array, so no length slot is written.
        mapping(uint256 index => Approval) approvals;
    }

    uint8 private immutable _quorum;
    uint64 private immutable _proposalLifetime;

    mapping(address account => MemberRecord) private _members;
    address[] private _memberList;
    uint256 private _activeGovernorCount;

    mapping(uint256 proposalId => ProposalRecord) private _proposals;
    /// @dev The governor term a recorded approval was cast in (0 = none): O(1) double-vote checks.
    mapping(uint256 proposalId => mapping(address governor => uint32 governorTerm)) private _approvalTerms;
    uint256 private _proposalCount;

    event MemberAdmitted(
        address indexed account,
        string name,
        bytes2 country,
        uint8 roles,
        bytes hpkePublicKey,
        string endpoint,
        uint256 indexed proposalId
    );
    event MemberSuspended(address indexed account, string reason, uint256 indexed proposalId);
    event MemberReinstated(address indexed account, uint256 indexed proposalId);
    event MemberRolesChanged(address indexed account, uint8 previousRoles, uint8 roles, uint256 indexed proposalId);
    event MemberKeysRotated(address indexed account, bytes hpkePublicKey, string endpoint, uint256 indexed proposalId);
    event ProposalCreated(
        uint256 indexed proposalId,
        ProposalKind kind,
        address indexed subject,
        address indexed proposer,
        uint64 expiresAt
    );
    event ProposalApproved(uint256 indexed proposalId, address indexed governor, uint8 approvals);
    event ProposalExecuted(uint256 indexed proposalId);

    error NotActiveGovernor(address account);
    error AlreadyApproved(uint256 proposalId, address governor);
    error ProposalExpired(uint256 proposalId, uint64 expiresAt);
    error ProposalAlreadyExecuted(uint256 proposalId);
    error UnknownProposal(uint256 proposalId);
    error AlreadyMember(address account);
    error NotMember(address account);
    error InvalidMemberStatus(address account, MemberStatus status);
    error InvalidCountryCode(bytes2 country);
    error InvalidName(uint256 length);
    error InvalidEndpoint(uint256 length);
    error InvalidRoles(uint8 roles);
    error RolesUnchanged(address account, uint8 roles);
    error InvalidPublicKey(uint256 length);
    error InvalidReason(uint256 length);
    error ZeroAddress();
    error QuorumUnreachable(uint256 activeGovernors, uint8 quorum);
    error InvalidQuorum(uint8 quorum);
    error InvalidProposalLifetime(uint64 lifetime);
    error IndexOutOfBounds(uint256 index, uint256 count);
    error RoleChangeRequiresVote();

    /// @notice Deploys the registry with its founding members.
    /// @param genesisMembers Admitted directly (proposal id 0); together they must hold at least `quorum` governors.
    /// @param quorum_ Approvals (k of n active governors) a proposal needs to execute; at least 1.
    /// @param proposalLifetime_ Seconds a proposal stays open for votes; 1 second to 365 days.
    constructor(MemberInput[] memory genesisMembers, uint8 quorum_, uint64 proposalLifetime_) {
        if (quorum_ == 0) revert InvalidQuorum(quorum_);
        if (proposalLifetime_ == 0 || proposalLifetime_ > MAX_PROPOSAL_LIFETIME) {
            revert InvalidProposalLifetime(proposalLifetime_);
        }
        _quorum = quorum_;
        _proposalLifetime = proposalLifetime_;
        for (uint256 i = 0; i < genesisMembers.length; ++i) {
            MemberInput memory input = genesisMembers[i];
            _checkAdmissible(input.account, input.name, input.country, input.roles, input.hpkePublicKey, input.endpoint);
            _admit(input.account, input.name, input.country, input.roles, input.hpkePublicKey, input.endpoint, 0);
        }
        if (_activeGovernorCount < quorum_) revert QuorumUnreachable(_activeGovernorCount, quorum_);
    }

    // ----------------------------------------------------------------------------------------------
    // Proposals
    // ----------------------------------------------------------------------------------------------

    /// @notice Proposes admitting a new member institution.
    /// @dev The caller's proposal counts as its first approval.
    /// @param input The new member's account, name, country, role flags, HPKE public key and API endpoint.
    /// @return proposalId The id of the new proposal (ids start at 1).
    function proposeAdmission(MemberInput calldata input) external returns (uint256 proposalId) {
        _checkAdmissible(input.account, input.name, input.country, input.roles, input.hpkePublicKey, input.endpoint);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.Admit, input.account);
        p.name = input.name;
        p.country = input.country;
        p.roles = input.roles;
        p.hpkePublicKey = input.hpkePublicKey;
        p.endpoint = input.endpoint;
        _approve(proposalId, p);
    }

    /// @notice Proposes suspending an active member (its roles stop counting until reinstated).
    /// @param account The member to suspend.
    /// @param reason Why, for auditors (1 to 256 bytes; no personal data).
    /// @return proposalId The id of the new proposal.
    function proposeSuspension(address account, string calldata reason) external returns (uint256 proposalId) {
        _checkReason(reason);
        _checkSuspendable(account);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.Suspend, account);
        p.reason = reason;
        _approve(proposalId, p);
    }

    /// @notice Proposes reinstating a suspended member with the roles it held.
    /// @param account The suspended member.
    /// @return proposalId The id of the new proposal.
    function proposeReinstatement(address account) external returns (uint256 proposalId) {
        _checkReinstatable(account);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.Reinstate, account);
        _approve(proposalId, p);
    }

    /// @notice Proposes replacing a member's role flags.
    /// @param account The member (active or suspended).
    /// @param roles The complete new role bitmask (GOVERNOR=1 ... EMERGENCY=32, PRIVACY_OFFICER=64, PUBLIC_HEALTH=128), non-zero.
    /// @return proposalId The id of the new proposal.
    function proposeRoleChange(address account, uint8 roles) external returns (uint256 proposalId) {
        _checkRoleChange(account, roles);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.ChangeRoles, account);
        p.roles = roles;
        _approve(proposalId, p);
    }

    /// @notice Proposes replacing a member's HPKE public key and API endpoint.
    /// @param account The member (active or suspended).
    /// @param hpkePublicKey The new HPKE public key (1 to 1300 bytes).
    /// @param endpoint The new API endpoint (at most 256 bytes; may be empty).
    /// @return proposalId The id of the new proposal.
    function proposeKeyRotation(
        address account,
        bytes calldata hpkePublicKey,
        string calldata endpoint
    ) external returns (uint256 proposalId) {
        _checkPublicKey(hpkePublicKey);
        _checkEndpoint(endpoint);
        _requireMember(account);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.RotateKeys, account);
        p.hpkePublicKey = hpkePublicKey;
        p.endpoint = endpoint;
        _approve(proposalId, p);
    }

    /// @notice Records the caller's approval; the proposal executes in this call once the approvals that
    /// still count (see the contract's vote-validity rule) reach quorum.
    /// @dev If the subject's state changed since the proposal (e.g. already suspended), execution reverts
    /// with the relevant error and the vote is not recorded. A governor whose earlier vote lapsed
    /// (suspended or demoted, then reinstated or re-promoted) may approve again.
    /// @param proposalId The proposal to approve.
    function approve(uint256 proposalId) external {
        address governor = _msgSender();
        _requireActiveGovernor(governor);
        ProposalRecord storage p = _proposals[proposalId];
        if (p.status == ProposalStatus.None) revert UnknownProposal(proposalId);
        if (p.status == ProposalStatus.Executed) revert ProposalAlreadyExecuted(proposalId);
        if (block.timestamp >= p.expiresAt) revert ProposalExpired(proposalId, p.expiresAt);
        // The caller is an active governor, so its term is >= 1 and an unrecorded vote (0) never matches.
        if (_approvalTerms[proposalId][governor] == _members[governor].governorTerm) {
            revert AlreadyApproved(proposalId, governor);
        }
        _approve(proposalId, p);
    }

    // ----------------------------------------------------------------------------------------------
    // Disabled AccessControl entry points
    // ----------------------------------------------------------------------------------------------

    /// @notice Disabled: roles change only through executed proposals.
    function grantRole(bytes32, address) public pure override {
        revert RoleChangeRequiresVote();
    }

    /// @notice Disabled: roles change only through executed proposals.
    function revokeRole(bytes32, address) public pure override {
        revert RoleChangeRequiresVote();
    }

    /// @notice Disabled: a member giving up a role would desynchronise the directory and could drop
    /// the governors below quorum; propose a role change instead.
    function renounceRole(bytes32, address) public pure override {
        revert RoleChangeRequiresVote();
    }

    // ----------------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------------

    /// @inheritdoc IConsortiumRegistry
    function isActiveMember(address account) public view returns (bool) {
        return _members[account].status == MemberStatus.Active;
    }

    /// @inheritdoc IConsortiumRegistry
    function hasActiveRole(bytes32 role, address account) public view returns (bool) {
        return isActiveMember(account) && hasRole(role, account);
    }

    /// @notice Besu AccountRules permissioning: a transaction is allowed when its sender is an active member.
    /// @param sender The recovered transaction sender.
    /// @return True when `sender` may transact; the other parameters are part of the Besu interface.
    function transactionAllowed(
        address sender,
        address,
        uint256,
        uint256,
        uint256,
        bytes calldata
    ) external view returns (bool) {
        return isActiveMember(sender);
    }

    /// @notice A member's directory entry; all fields zero and status None for a non-member.
    /// @param account The member's account.
    /// @return The member's name, country, role flags, HPKE key, endpoint, status and timestamps.
    function member(address account) external view returns (Member memory) {
        MemberRecord storage m = _members[account];
        return
            Member({
                name: m.name,
                country: m.country,
                roles: m.roles,
                hpkePublicKey: m.hpkePublicKey,
                endpoint: m.endpoint,
                status: m.status,
                admittedAt: m.admittedAt,
                updatedAt: m.updatedAt
            });
    }

    /// @notice Number of members ever admitted (suspended members stay listed).
    function memberCount() external view returns (uint256) {
        return _memberList.length;
    }

    /// @notice The member admitted at position `index` (admission order).
    /// @param index Zero-based position, below {memberCount}.
    function memberAt(uint256 index) external view returns (address) {
        if (index >= _memberList.length) revert IndexOutOfBounds(index, _memberList.length);
        return _memberList[index];
    }

    /// @notice A page of the member directory in admission order.
    /// @param offset First position to return; past the end yields an empty page.
    /// @param limit Maximum number of addresses to return.
    /// @return page Up to `limit` member addresses.
    function members(uint256 offset, uint256 limit) external view returns (address[] memory page) {
        uint256 count = _memberList.length;
        if (offset >= count) return new address[](0);
        uint256 end = count - offset > limit ? offset + limit : count;
        page = new address[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            page[i - offset] = _memberList[i];
        }
    }

    /// @notice A proposal's header. `status` stays Pending after expiry; compare `expiresAt` with the clock.
    /// @dev `approvals`: for a Pending proposal, the recorded approvals that still count now (casters still
    /// active governors in the term they voted in); for an Executed one, the approvals it executed with.
    /// @param id The proposal id.
    function proposal(
        uint256 id
    )
        external
        view
        returns (
            ProposalKind kind,
            address subject,
            address proposer,
            uint64 createdAt,
            uint64 expiresAt,
            uint8 approvals,
            ProposalStatus status
        )
    {
        ProposalRecord storage p = _proposals[id];
        if (p.status == ProposalStatus.None) revert UnknownProposal(id);
        approvals = p.status == ProposalStatus.Executed ? p.approvalCount : _validApprovals(p);
        return (p.kind, p.subject, p.proposer, p.createdAt, p.expiresAt, approvals, p.status);
    }

    /// @notice What a proposal would apply, so governors can check it before voting.
    /// @dev Admit: every field of `input`; Suspend: `reason`; ChangeRoles: `input.roles`;
    /// RotateKeys: `input.hpkePublicKey` and `input.endpoint`; `input.account` is always the subject.
    /// @param id The proposal id.
    function proposalPayload(uint256 id) external view returns (MemberInput memory input, string memory reason) {
        ProposalRecord storage p = _proposals[id];
        if (p.status == ProposalStatus.None) revert UnknownProposal(id);
        input = MemberInput({
            account: p.subject,
            name: p.name,
            country: p.country,
            roles: p.roles,
            hpkePublicKey: p.hpkePublicKey,
            endpoint: p.endpoint
        });
        reason = p.reason;
    }

    /// @notice True when the proposal is pending and still open for votes.
    /// @param id The proposal id.
    function isProposalOpen(uint256 id) external view returns (bool) {
        ProposalRecord storage p = _proposals[id];
        return p.status == ProposalStatus.Pending && block.timestamp < p.expiresAt;
    }

    /// @notice Whether `governor` holds an approval of proposal `id` that counts (the proposer's counts from the start).
    /// @dev Pending: recorded and its caster still an active governor in the same term. Executed: among the
    /// approvals the proposal executed with.
    /// @param id The proposal id.
    /// @param governor The account to check.
    function hasApproved(uint256 id, address governor) external view returns (bool) {
        uint32 term = _approvalTerms[id][governor];
        if (term == 0) return false;
        if (_proposals[id].status == ProposalStatus.Executed) return true;
        return _counts(Approval({governor: governor, governorTerm: term}));
    }

    /// @notice Number of proposals created so far (the highest id).
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @notice Approvals a proposal needs to execute.
    function quorum() external view returns (uint8) {
        return _quorum;
    }

    /// @notice Active members currently holding the GOVERNOR role (never below {quorum}).
    function activeGovernorCount() external view returns (uint256) {
        return _activeGovernorCount;
    }

    /// @notice Seconds a proposal stays open for votes.
    function proposalLifetime() external view returns (uint64) {
        return _proposalLifetime;
    }

    /// @notice Role flags (GOVERNOR=1 ... EMERGENCY=32, PRIVACY_OFFICER=64, PUBLIC_HEALTH=128) to the AccessControl role ids they stand for.
    /// @param roles A role bitmask.
    /// @return ids The bytes32 role ids (from Roles) of the set bits, in flag order.
    function roleIds(uint8 roles) external pure returns (bytes32[] memory ids) {
        uint256 n = 0;
        for (uint8 bit = 0; bit < 8; ++bit) {
            if (roles & (uint8(1) << bit) != 0) ++n;
        }
        ids = new bytes32[](n);
        n = 0;
        for (uint8 bit = 0; bit < 8; ++bit) {
            if (roles & (uint8(1) << bit) != 0) ids[n++] = _roleId(uint8(1) << bit);
        }
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IConsortiumRegistry).interfaceId || super.supportsInterface(interfaceId);
    }

    // ----------------------------------------------------------------------------------------------
    // Proposal machinery
    // ----------------------------------------------------------------------------------------------

    function _createProposal(
        ProposalKind kind,
        address subject
    ) private returns (uint256 proposalId, ProposalRecord storage p) {
        address proposer = _msgSender();
        _requireActiveGovernor(proposer);
        proposalId = ++_proposalCount;
        p = _proposals[proposalId];
        uint64 createdAt = uint64(block.timestamp);
        uint64 expiresAt = createdAt + _proposalLifetime;
        p.subject = subject;
        p.createdAt = createdAt;
        p.kind = kind;
        p.status = ProposalStatus.Pending;
        p.proposer = proposer;
        p.expiresAt = expiresAt;
        emit ProposalCreated(proposalId, kind, subject, proposer, expiresAt);
    }

    /// @dev Drops lapsed approvals, records the caller's vote and executes at quorum; callers have checked
    /// eligibility. The executing vote is not stored as an entry: nothing re-counts an executed proposal.
    function _approve(uint256 proposalId, ProposalRecord storage p) private {
        address governor = _msgSender();
        uint32 term = _members[governor].governorTerm;
        uint8 approvals = _dropLapsedApprovals(proposalId, p) + 1;
        bool executes = approvals >= _quorum;
        if (!executes) p.approvals[approvals - 1] = Approval({governor: governor, governorTerm: term});
        p.approvalCount = approvals;
        _approvalTerms[proposalId][governor] = term;
        emit ProposalApproved(proposalId, governor, approvals);
        if (executes) _execute(proposalId, p);
    }

    /// @dev Removes (swap with the last entry) the approvals that no longer count; returns how many remain,
    /// which is below quorum (the proposal would have executed otherwise). Order is irrelevant, and a lapsed
    /// vote can never count again, so forgetting it changes no future tally.
    function _dropLapsedApprovals(uint256 proposalId, ProposalRecord storage p) private returns (uint8 count) {
        count = p.approvalCount;
        uint8 i = 0;
        while (i < count) {
            Approval memory approval = p.approvals[i];
            if (_counts(approval)) {
                ++i;
                continue;
            }
            --count;
            if (i != count) p.approvals[i] = p.approvals[count];
            delete p.approvals[count];
            delete _approvalTerms[proposalId][approval.governor];
        }
    }

    function _validApprovals(ProposalRecord storage p) private view returns (uint8 count) {
        uint8 stored = p.approvalCount;
        for (uint8 i = 0; i < stored; ++i) {
            if (_counts(p.approvals[i])) ++count;
        }
    }

    /// @dev A vote counts while its caster is an active governor in the term it voted in: every lapse
    /// (suspension, losing GOVERNOR) is followed by a new term before the account can govern again.
    function _counts(Approval memory approval) private view returns (bool) {
        MemberRecord storage m = _members[approval.governor];
        return
            m.status == MemberStatus.Active &&
            m.roles & GOVERNOR_FLAG != 0 &&
            m.governorTerm == approval.governorTerm;
    }

    /// @dev Re-checks the subject's current state (it may have changed since the proposal) and applies
    /// exactly the stored payload; any failed check reverts the approving vote with the relevant error.
    function _execute(uint256 proposalId, ProposalRecord storage p) private {
        p.status = ProposalStatus.Executed;
        address account = p.subject;
        ProposalKind kind = p.kind;
        if (kind == ProposalKind.Admit) {
            // Field validity was checked at proposal time and the payload is immutable: only the
            // subject's status can have changed.
            if (_members[account].status != MemberStatus.None) revert AlreadyMember(account);
            _admit(account, p.name, p.country, p.roles, p.hpkePublicKey, p.endpoint, proposalId);
        } else if (kind == ProposalKind.Suspend) {
            _checkSuspendable(account);
            _suspend(account, p.reason, proposalId);
        } else if (kind == ProposalKind.Reinstate) {
            _checkReinstatable(account);
            _reinstate(account, proposalId);
        } else if (kind == ProposalKind.ChangeRoles) {
            _checkRoleChange(account, p.roles);
            _changeRoles(account, p.roles, proposalId);
        } else {
            _requireMember(account);
            _rotateKeys(account, p.hpkePublicKey, p.endpoint, proposalId);
        }
        emit ProposalExecuted(proposalId);
    }

    // ----------------------------------------------------------------------------------------------
    // Directory changes (callers have validated)
    // ----------------------------------------------------------------------------------------------

    function _admit(
        address account,
        string memory name,
        bytes2 country,
        uint8 roles,
        bytes memory hpkePublicKey,
        string memory endpoint,
        uint256 proposalId
    ) private {
        MemberRecord storage m = _members[account];
        uint64 now_ = uint64(block.timestamp);
        m.country = country;
        m.roles = roles;
        m.status = MemberStatus.Active;
        m.admittedAt = now_;
        m.updatedAt = now_;
        m.name = name;
        m.hpkePublicKey = hpkePublicKey;
        m.endpoint = endpoint;
        _memberList.push(account);
        _grantRoleFlags(account, roles);
        if (roles & GOVERNOR_FLAG != 0) _beginGovernorTerm(m);
        emit MemberAdmitted(account, name, country, roles, hpkePublicKey, endpoint, proposalId);
    }

    function _suspend(address account, string memory reason, uint256 proposalId) private {
        MemberRecord storage m = _members[account];
        m.status = MemberStatus.Suspended;
        m.updatedAt = uint64(block.timestamp);
        _revokeRoleFlags(account, m.roles);
        if (m.roles & GOVERNOR_FLAG != 0) _endGovernorTerm();
        emit MemberSuspended(account, reason, proposalId);
    }

    function _reinstate(address account, uint256 proposalId) private {
        MemberRecord storage m = _members[account];
        m.status = MemberStatus.Active;
        m.updatedAt = uint64(block.timestamp);
        _grantRoleFlags(account, m.roles);
        if (m.roles & GOVERNOR_FLAG != 0) _beginGovernorTerm(m);
        emit MemberReinstated(account, proposalId);
    }

    function _changeRoles(address account, uint8 roles, uint256 proposalId) private {
        MemberRecord storage m = _members[account];
        uint8 previousRoles = m.roles;
        m.roles = roles;
        m.updatedAt = uint64(block.timestamp);
        // A suspended member holds no AccessControl roles; its flags take effect on reinstatement.
        if (m.status == MemberStatus.Active) {
            _revokeRoleFlags(account, previousRoles & ~roles);
            _grantRoleFlags(account, roles & ~previousRoles);
            bool wasGovernor = previousRoles & GOVERNOR_FLAG != 0;
            bool isGovernor = roles & GOVERNOR_FLAG != 0;
            if (wasGovernor && !isGovernor) _endGovernorTerm();
            else if (!wasGovernor && isGovernor) _beginGovernorTerm(m);
        }
        emit MemberRolesChanged(account, previousRoles, roles, proposalId);
    }

    function _rotateKeys(address account, bytes memory hpkePublicKey, string memory endpoint, uint256 proposalId) private {
        MemberRecord storage m = _members[account];
        m.hpkePublicKey = hpkePublicKey;
        m.endpoint = endpoint;
        m.updatedAt = uint64(block.timestamp);
        emit MemberKeysRotated(account, hpkePublicKey, endpoint, proposalId);
    }

    /// @dev A new term invalidates any vote the member cast before its last lapse.
    function _beginGovernorTerm(MemberRecord storage m) private {
        ++m.governorTerm;
        ++_activeGovernorCount;
    }

    /// @dev The member's votes lapse because `_counts` requires an active governor; the term stays until the next begins.
    function _endGovernorTerm() private {
        --_activeGovernorCount;
    }

    function _grantRoleFlags(address account, uint8 roles) private {
        for (uint8 bit = 0; bit < 8; ++bit) {
            uint8 flag = uint8(1) << bit;
            if (roles & flag != 0) _grantRole(_roleId(flag), account);
        }
    }

    function _revokeRoleFlags(address account, uint8 roles) private {
        for (uint8 bit = 0; bit < 8; ++bit) {
            uint8 flag = uint8(1) << bit;
            if (roles & flag != 0) _revokeRole(_roleId(flag), account);
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Checks
    // ----------------------------------------------------------------------------------------------

    function _requireActiveGovernor(address account) private view {
        if (!hasActiveRole(Roles.GOVERNOR, account)) revert NotActiveGovernor(account);
    }

    function _requireMember(address account) private view returns (MemberRecord storage m) {
        m = _members[account];
        if (m.status == MemberStatus.None) revert NotMember(account);
    }

    function _checkSuspendable(address account) private view {
        MemberRecord storage m = _requireMember(account);
        if (m.status != MemberStatus.Active) revert InvalidMemberStatus(account, m.status);
        if (m.roles & GOVERNOR_FLAG != 0) _requireQuorumAfterLosingGovernor();
    }

    function _checkReinstatable(address account) private view {
        MemberRecord storage m = _requireMember(account);
        if (m.status != MemberStatus.Suspended) revert InvalidMemberStatus(account, m.status);
    }

    function _checkRoleChange(address account, uint8 roles) private view {
        _checkRoles(roles);
        MemberRecord storage m = _requireMember(account);
        if (m.roles == roles) revert RolesUnchanged(account, roles);
        bool dropsGovernor = m.roles & GOVERNOR_FLAG != 0 && roles & GOVERNOR_FLAG == 0;
        if (dropsGovernor && m.status == MemberStatus.Active) _requireQuorumAfterLosingGovernor();
    }

    function _requireQuorumAfterLosingGovernor() private view {
        if (_activeGovernorCount - 1 < _quorum) revert QuorumUnreachable(_activeGovernorCount - 1, _quorum);
    }

    function _checkAdmissible(
        address account,
        string memory name,
        bytes2 country,
        uint8 roles,
        bytes memory hpkePublicKey,
        string memory endpoint
    ) private view {
        if (account == address(0)) revert ZeroAddress();
        if (_members[account].status != MemberStatus.None) revert AlreadyMember(account);
        uint256 nameLength = bytes(name).length;
        if (nameLength == 0 || nameLength > MAX_NAME_LENGTH) revert InvalidName(nameLength);
        _checkCountry(country);
        _checkRoles(roles);
        _checkPublicKey(hpkePublicKey);
        _checkEndpoint(endpoint);
    }

    function _checkCountry(bytes2 country) private pure {
        if (!_isUpperAsciiLetter(country[0]) || !_isUpperAsciiLetter(country[1])) revert InvalidCountryCode(country);
    }

    function _checkRoles(uint8 roles) private pure {
        if (roles == 0 || roles & ~ALL_ROLE_FLAGS != 0) revert InvalidRoles(roles);
    }

    function _checkPublicKey(bytes memory hpkePublicKey) private pure {
        uint256 length = hpkePublicKey.length;
        if (length == 0 || length > MAX_PUBLIC_KEY_LENGTH) revert InvalidPublicKey(length);
    }

    function _checkEndpoint(string memory endpoint) private pure {
        uint256 length = bytes(endpoint).length;
        if (length > MAX_ENDPOINT_LENGTH) revert InvalidEndpoint(length);
    }

    function _checkReason(string memory reason) private pure {
        uint256 length = bytes(reason).length;
        if (length == 0 || length > MAX_REASON_LENGTH) revert InvalidReason(length);
    }

    function _isUpperAsciiLetter(bytes1 char) private pure returns (bool) {
        return char >= 0x41 && char <= 0x5A;
    }

    function _roleId(uint8 flag) private pure returns (bytes32) {
        if (flag == GOVERNOR_FLAG) return Roles.GOVERNOR;
        if (flag == PROVIDER_FLAG) return Roles.PROVIDER;
        if (flag == PAYER_FLAG) return Roles.PAYER;
        if (flag == PHARMACY_FLAG) return Roles.PHARMACY;
        if (flag == AUDITOR_FLAG) return Roles.AUDITOR;
        if (flag == EMERGENCY_FLAG) return Roles.EMERGENCY;
        if (flag == PRIVACY_OFFICER_FLAG) return Roles.PRIVACY_OFFICER;
        return Roles.PUBLIC_HEALTH;
    }
}
