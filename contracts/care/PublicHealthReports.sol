// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortiumRegistry} from "../interfaces/IConsortiumRegistry.sol";
import {Roles} from "../libraries/Roles.sol";

/// @title PublicHealthReports
/// @notice Weekly public-health reports (de-identified, small-cell suppressed counts) anchored by every member, and
/// outbreak alerts. A report's payload (a FHIR MeasureReport, encrypted to the PUBLIC_HEALTH members or in clear, as
/// the consortium decided) lives off chain; the chain keeps its hash, its CID (in the event), who sent it for which
/// ISO week, when, and which earlier report it corrects. No personal data is ever on chain.
/// @dev Consortium parameters (the small-cell threshold k and the publication mode) change by a governor's proposal
/// and a second governor's approval. Alerts are raised by hand by a PUBLIC_HEALTH member, or by rule by the member
/// whose report triggered the rule, in the same call as the report (the audit re-checks the rule from the payload).
contract PublicHealthReports {
    /// @notice The small-cell threshold when the consortium has not chosen another.
    uint8 public constant DEFAULT_K = 5;
    /// @notice The most rule alerts one report may raise.
    uint256 public constant MAX_RULE_ALERTS = 32;
    /// @notice A parameter proposal lapses when not approved within this time.
    uint64 public constant PROPOSAL_LIFETIME = 7 days;
    /// @notice A report for week W is late when sent more than this after W ends (DHIS2's usual Wednesday deadline).
    uint64 public constant REPORTING_GRACE = 3 days;

    /// @notice Alert rules: 0 = raised by hand; 1 = a case of an immediately notifiable disease; 2 = a weekly count
    /// above the mean plus two standard deviations of the previous 8 weeks.
    uint8 public constant RULE_MANUAL = 0;
    uint8 public constant RULE_IMMEDIATE = 1;
    uint8 public constant RULE_BASELINE = 2;

    /// @notice Alert levels: 1 info, 2 warning, 3 critical.
    uint8 public constant MAX_LEVEL = 3;

    struct RuleAlert {
        bytes8 disease; // ICD-10 code, ASCII, right-padded ("A00")
        bytes2 country; // ISO 3166-1 alpha-2
        bytes8 division; // ISO 3166-2 subdivision suffix ("MO"), or zero
        uint8 level;
        uint8 rule;
    }

    struct Report {
        address member;
        uint32 week;
        uint64 submittedAt;
        uint64 supersedes;
        uint64 supersededBy;
        bool isCorrection;
        bool encrypted;
        uint8 k;
        bytes32 contentHash;
    }

    struct Alert {
        bytes8 disease;
        bytes2 country;
        bytes8 division;
        uint32 week;
        uint8 level;
        uint8 rule;
        address raisedBy;
        uint64 raisedAt;
        uint64 reportId;
        uint32 acknowledgements;
    }

    struct ParameterProposal {
        address proposer;
        uint64 proposedAt;
        uint8 k;
        bool encrypted;
        bool executed;
    }

    IConsortiumRegistry private immutable _registry;

    uint8 private _k = DEFAULT_K;
    bool private _encrypted = true;

    uint64 private _reportCount;
    uint64 private _alertCount;
    uint64 private _proposalCount;
    mapping(uint64 reportId => Report) private _reports;
    mapping(address member => mapping(uint32 week => uint64 reportId)) private _latest;
    mapping(uint64 alertId => Alert) private _alerts;
    mapping(uint64 alertId => mapping(address member => bool)) private _acknowledged;
    mapping(uint64 proposalId => ParameterProposal) private _proposals;

    event ParametersProposed(uint64 indexed proposalId, address indexed proposer, uint8 k, bool encrypted);
    event ParametersChanged(uint64 indexed proposalId, address indexed approver, uint8 k, bool encrypted);
    event ReportSubmitted(
        uint64 indexed reportId,
        address indexed member,
        uint32 indexed week,
        bytes32 contentHash,
        bytes cid,
        uint64 supersedes,
        bool isCorrection,
        bool encrypted,
        uint8 k,
        bool late
    );
    event AlertRaised(
        uint64 indexed alertId,
        address indexed raisedBy,
        uint32 indexed week,
        bytes8 disease,
        bytes2 country,
        bytes8 division,
        uint8 level,
        uint8 rule,
        uint64 reportId
    );
    event AlertAcknowledged(uint64 indexed alertId, address indexed member);

    error InvalidAddress();
    error NotActiveMember(address account);
    error MissingRole(bytes32 role, address account);
    error InvalidK(uint8 k);
    error UnknownProposal(uint64 proposalId);
    error ProposalClosed(uint64 proposalId);
    error SecondGovernorRequired(uint64 proposalId);
    error InvalidWeek(uint32 week);
    error FutureWeek(uint32 week, uint256 weekStart);
    error EmptyReport();
    error DuplicateReport(uint32 week, uint64 latestReportId);
    error NothingToCorrect(uint32 week);
    error NotLatestReport(uint64 supersedes, uint64 latestReportId);
    error PublicationModeMismatch(bool required);
    error SuppressionBelowK(uint8 used, uint8 required);
    error TooManyAlerts(uint256 count);
    error InvalidAlert(uint8 level, uint8 rule);
    error InvalidPlace(bytes2 country);
    error UnknownAlert(uint64 alertId);
    error AlreadyAcknowledged(uint64 alertId, address member);

    /// @param registry_ The consortium registry (members and roles).
    constructor(IConsortiumRegistry registry_) {
        if (address(registry_) == address(0)) revert InvalidAddress();
        _registry = registry_;
    }

    // ---------------------------------------------------------------- consortium parameters

    /// @notice A governor proposes new parameters; they apply when another governor approves.
    /// @param k The small-cell threshold (2..100): counts 1..k-1 are suppressed.
    /// @param encrypted True: reports are encrypted to the PUBLIC_HEALTH members; false: published in clear.
    /// @return proposalId The proposal's id.
    function proposeParameters(uint8 k, bool encrypted) external returns (uint64 proposalId) {
        _requireRole(Roles.GOVERNOR, msg.sender);
        if (k < 2 || k > 100) revert InvalidK(k);
        proposalId = ++_proposalCount;
        _proposals[proposalId] = ParameterProposal(msg.sender, uint64(block.timestamp), k, encrypted, false);
        emit ParametersProposed(proposalId, msg.sender, k, encrypted);
    }

    /// @notice A second governor approves a proposal, which applies at once.
    /// @param proposalId The proposal.
    function approveParameters(uint64 proposalId) external {
        _requireRole(Roles.GOVERNOR, msg.sender);
        ParameterProposal storage p = _proposals[proposalId];
        if (p.proposer == address(0)) revert UnknownProposal(proposalId);
        if (p.executed || block.timestamp > uint256(p.proposedAt) + PROPOSAL_LIFETIME) revert ProposalClosed(proposalId);
        if (p.proposer == msg.sender) revert SecondGovernorRequired(proposalId);
        p.executed = true;
        _k = p.k;
        _encrypted = p.encrypted;
        emit ParametersChanged(proposalId, msg.sender, p.k, p.encrypted);
    }

    // ---------------------------------------------------------------- reports

    /// @notice An active member anchors its weekly report (or a correction of its latest one for that week), and
    /// raises the alerts the report triggers by rule.
    /// @param week The ISO week, year * 100 + week (202650); it must have started by chain time.
    /// @param contentHash SHA-256 of the payload as stored (the encrypted object, or the clear JSON).
    /// @param cid The payload's IPFS CID (binary).
    /// @param supersedes The report corrected (the member's latest for `week`), or 0.
    /// @param isCorrection True for a correction; a second report for a week must be one.
    /// @param encrypted Whether the payload is encrypted; must match the consortium's setting.
    /// @param k The threshold the payload was suppressed with; at least the consortium's.
    /// @param ruleAlerts Alerts the report raises by rule (immediately notifiable case, count above baseline).
    /// @return reportId The report's id.
    function submitReport(
        uint32 week,
        bytes32 contentHash,
        bytes calldata cid,
        uint64 supersedes,
        bool isCorrection,
        bool encrypted,
        uint8 k,
        RuleAlert[] calldata ruleAlerts
    ) external returns (uint64 reportId) {
        _requireMember(msg.sender);
        if (ruleAlerts.length > MAX_RULE_ALERTS) revert TooManyAlerts(ruleAlerts.length);
        if (contentHash == bytes32(0) || cid.length == 0) revert EmptyReport();
        uint256 start = _checkReport(week, supersedes, isCorrection, encrypted, k);
        reportId = ++_reportCount;
        _reports[reportId] = Report(msg.sender, week, uint64(block.timestamp), supersedes, 0, isCorrection, encrypted, k, contentHash);
        _latest[msg.sender][week] = reportId;
        if (supersedes != 0) _reports[supersedes].supersededBy = reportId;
        _emitReport(reportId, cid, block.timestamp > start + 7 days + REPORTING_GRACE);
        _raiseByRule(ruleAlerts, week, reportId);
    }

    // ---------------------------------------------------------------- alerts

    /// @notice A PUBLIC_HEALTH member raises an alert by hand.
    /// @param disease ICD-10 code (ASCII, right-padded).
    /// @param country ISO 3166-1 alpha-2.
    /// @param division ISO 3166-2 subdivision suffix, or zero.
    /// @param week The ISO week (year * 100 + week); it must have started.
    /// @param level 1 info, 2 warning, 3 critical.
    /// @return alertId The alert's id.
    function raiseAlert(bytes8 disease, bytes2 country, bytes8 division, uint32 week, uint8 level) external returns (uint64 alertId) {
        _requireRole(Roles.PUBLIC_HEALTH, msg.sender);
        uint256 start = weekStart(week);
        if (start > block.timestamp) revert FutureWeek(week, start);
        alertId = _raise(disease, country, division, week, level, RULE_MANUAL, 0);
    }

    /// @notice An active member acknowledges an alert (once).
    /// @param alertId The alert.
    function acknowledge(uint64 alertId) external {
        _requireMember(msg.sender);
        Alert storage a = _alerts[alertId];
        if (a.raisedBy == address(0)) revert UnknownAlert(alertId);
        if (_acknowledged[alertId][msg.sender]) revert AlreadyAcknowledged(alertId, msg.sender);
        _acknowledged[alertId][msg.sender] = true;
        a.acknowledgements += 1;
        emit AlertAcknowledged(alertId, msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @notice The consortium registry this contract consults.
    function registry() external view returns (IConsortiumRegistry) {
        return _registry;
    }

    /// @notice The small-cell threshold k and whether reports are encrypted to the PUBLIC_HEALTH members.
    function parameters() external view returns (uint8 k, bool encrypted) {
        return (_k, _encrypted);
    }

    /// @notice A parameter proposal.
    function parameterProposal(uint64 proposalId) external view returns (ParameterProposal memory) {
        return _proposals[proposalId];
    }

    /// @notice A report (all fields zero for an unknown id).
    function report(uint64 reportId) external view returns (Report memory) {
        return _reports[reportId];
    }

    /// @notice The member's latest report for `week` (0: none yet, i.e. missing).
    function latestReport(address member, uint32 week) external view returns (uint64) {
        return _latest[member][week];
    }

    /// @notice How many reports were anchored.
    function reportCount() external view returns (uint64) {
        return _reportCount;
    }

    /// @notice An alert (all fields zero for an unknown id).
    function alert(uint64 alertId) external view returns (Alert memory) {
        return _alerts[alertId];
    }

    /// @notice How many alerts were raised.
    function alertCount() external view returns (uint64) {
        return _alertCount;
    }

    /// @notice Whether `member` acknowledged the alert.
    function isAcknowledged(uint64 alertId, address member) external view returns (bool) {
        return _acknowledged[alertId][member];
    }

    /// @notice When ISO week `week` (year * 100 + week) starts (Monday 00:00 UTC); reverts for a week that does not exist.
    function weekStart(uint32 week) public pure returns (uint256) {
        uint256 year = week / 100;
        uint256 number = week % 100;
        if (year < 2000 || year > 9999 || number == 0 || number > 53) revert InvalidWeek(week);
        uint256 first = _firstMonday(year);
        if (number == 53 && _firstMonday(year + 1) - first < 53 * 7) revert InvalidWeek(week);
        return (first + (number - 1) * 7) * 1 days;
    }

    // ---------------------------------------------------------------- internals

    /// @dev The report's week has started, the mode and threshold match the consortium's, and a second report for
    /// the week is a marked correction of the latest; returns the week's start.
    function _checkReport(uint32 week, uint64 supersedes, bool isCorrection, bool encrypted, uint8 k) private view returns (uint256 start) {
        start = weekStart(week);
        if (start > block.timestamp) revert FutureWeek(week, start);
        if (encrypted != _encrypted) revert PublicationModeMismatch(_encrypted);
        if (k < _k) revert SuppressionBelowK(k, _k);
        uint64 latest = _latest[msg.sender][week];
        if (isCorrection) {
            if (latest == 0) revert NothingToCorrect(week);
            if (supersedes != latest) revert NotLatestReport(supersedes, latest);
        } else if (latest != 0) {
            revert DuplicateReport(week, latest);
        } else if (supersedes != 0) {
            revert NotLatestReport(supersedes, 0);
        }
    }

    function _raiseByRule(RuleAlert[] calldata ruleAlerts, uint32 week, uint64 reportId) private {
        for (uint256 i = 0; i < ruleAlerts.length; ++i) {
            RuleAlert calldata a = ruleAlerts[i];
            if (a.rule != RULE_IMMEDIATE && a.rule != RULE_BASELINE) revert InvalidAlert(a.level, a.rule);
            _raise(a.disease, a.country, a.division, week, a.level, a.rule, reportId);
        }
    }

    function _emitReport(uint64 reportId, bytes calldata cid, bool late) private {
        Report storage r = _reports[reportId];
        emit ReportSubmitted(reportId, r.member, r.week, r.contentHash, cid, r.supersedes, r.isCorrection, r.encrypted, r.k, late);
    }

    function _raise(
        bytes8 disease,
        bytes2 country,
        bytes8 division,
        uint32 week,
        uint8 level,
        uint8 rule,
        uint64 reportId
    ) private returns (uint64 alertId) {
        if (level == 0 || level > MAX_LEVEL || disease == bytes8(0)) revert InvalidAlert(level, rule);
        if (!_isUpperAlpha(uint8(country[0])) || !_isUpperAlpha(uint8(country[1]))) revert InvalidPlace(country);
        alertId = ++_alertCount;
        _alerts[alertId] = Alert(disease, country, division, week, level, rule, msg.sender, uint64(block.timestamp), reportId, 0);
        emit AlertRaised(alertId, msg.sender, week, disease, country, division, level, rule, reportId);
    }

    /// @dev Days since 1970-01-01 of the Monday of ISO week 1 of `year` (the week holding 4 January).
    function _firstMonday(uint256 year) private pure returns (uint256) {
        uint256 jan4 = _daysFromCivil(year, 1, 4);
        return jan4 - ((jan4 + 3) % 7); // 1970-01-01 was a Thursday: (days + 3) % 7 is 0 on Mondays
    }

    /// @dev Howard Hinnant's days_from_civil for years from 2000 (no negative eras).
    function _daysFromCivil(uint256 y, uint256 m, uint256 d) private pure returns (uint256) {
        if (m <= 2) y -= 1;
        uint256 era = y / 400;
        uint256 yoe = y - era * 400;
        uint256 mp = m > 2 ? m - 3 : m + 9;
        uint256 doy = (153 * mp + 2) / 5 + d - 1;
        uint256 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
    }

    function _isUpperAlpha(uint8 c) private pure returns (bool) {
        return c >= 0x41 && c <= 0x5a;
    }

    function _requireMember(address account) private view {
        if (!_registry.isActiveMember(account)) revert NotActiveMember(account);
    }

    function _requireRole(bytes32 role, address account) private view {
        if (!_registry.hasActiveRole(role, account)) revert MissingRole(role, account);
    }
}
