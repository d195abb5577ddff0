// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {Roles} from "./libraries/Roles.sol";
import {ConsentPolicy} from "./libraries/ConsentPolicy.sol";
import {ConsentLedger} from "./ConsentLedger.sol";

/// @title RecordRegistry
/// @notice Anchors encrypted health records (sha256 of the ciphertext + IPFS CID), singly or in Merkle batches,
/// marks patient-requested erasures, and keeps the on-chain access log.
/// @dev Storage holds only what the contracts check (one word per record, one word per batch); everything an
/// auditor needs is in the events.
///
/// Authors: every record's author is on chain, so HealthCardPayments can require a claim's evidence to be the
/// claimant's own. A batch word holds its author's address; a record anchored on its own holds a 32-bit author
/// index in the spare high bits of its word (a second slot per record would cost ~22,100 gas; looking the index
/// up is one cold read, ~2,200 gas per anchor). An author gets the next index (from 1) when it first anchors a
/// record on its own; those writes are paid once per author. The index is implied by the order of the authors' first
/// `RecordAnchored` events, so it has no event of its own; {getRecord} returns the author's address.
///
/// Batches: the contract rebuilds the OpenZeppelin StandardMerkleTree of the entries itself, so the root is
/// bound to the (patient, category) pairs whose consents it checked. Leaves are
/// `keccak256(bytes.concat(keccak256(abi.encode(recordDigest, patient, category))))` with
/// `recordDigest = keccak256(abi.encode(recordId, contentHash, keccak256(cid)))`, i.e.
/// `StandardMerkleTree.of(values, ["bytes32", "address", "uint8"], { sortLeaves: false })` over the entries in
/// calldata order. Batch-anchored records are not stored one by one, so their recordIds are not checked for
/// uniqueness on chain (that would cost a fresh storage slot, ~22,100 gas, per record). Because a recordId is
/// therefore not an identity for batched records, their erasure markers are keyed by leaf, which binds the
/// patient, category, content hash and CID: only the leaf's own patient can set one, and it never touches a
/// record anchored on its own or another patient's batched record that happens to reuse the same id.
contract RecordRegistry is EIP712, Nonces {
    using ConsentPolicy for ConsentPolicy.Consent;

    /// @notice One record of a batch, as anchored: the digest binds recordId, contentHash and CID.
    struct BatchEntry {
        bytes32 recordDigest;
        address patient;
        uint8 category;
    }

    /// @notice A new record anchored on its own.
    struct NewRecord {
        bytes32 recordId;
        address patient;
        uint8 category;
        bytes32 contentHash; // sha256 of the ciphertext
        bytes cid; // binary CID of the ciphertext in IPFS
        bytes32 supersedes; // previous version (same patient, anchored on its own), or zero
    }

    /// @notice A batch-anchored record in full, as needed to prove it against its batch root.
    struct BatchedRecord {
        bytes32 recordId;
        address patient;
        uint8 category;
        bytes32 contentHash;
        bytes cid;
    }

    uint256 public constant MAX_CID_LENGTH = 128;
    uint256 public constant MAX_BATCH_SIZE = 1024;
    /// @notice Bytes per entry of {logAccessBatch}: the recordId (32) then the purpose (1).
    uint256 public constant ACCESS_ENTRY_SIZE = 33;

    bytes32 public constant UPLOAD_AUTHORIZATION_TYPEHASH =
        keccak256(
            "UploadAuthorization(address patient,address author,bytes32 recordId,uint8 category,"
            "bytes32 contentHash,bytes cid,bytes32 supersedes,uint256 nonce,uint256 deadline)"
        );
    bytes32 public constant REQUEST_ERASURE_TYPEHASH =
        keccak256("RequestErasure(address patient,bytes32 recordId,uint256 nonce,uint256 deadline)");

    // Record word (records anchored on their own): patient 0-159 | category 160-167 | anchoredAt 168-207 |
    // flags 208-215 | author index 216-247 (see {_authorAt}; never 0 once anchored) | 248-255 unused.
    uint256 private constant _ANCHORED = 1;
    uint256 private constant _ERASED = 4;
    uint256 private constant _AUTHOR_SHIFT = 216;
    // Batch word: author 0-159 | anchoredAt 160-199 | count 200-231.

    IConsortiumRegistry private immutable _registry;
    ConsentLedger private immutable _consentLedger;

    mapping(bytes32 recordId => uint256) private _records;
    mapping(bytes32 root => uint256) private _batches;
    // Erasure markers of batch-anchored records, by StandardMerkleTree leaf (see the contract notes).
    mapping(bytes32 leaf => bool) private _erasedLeaves;
    // Authors of records anchored on their own, by index from 1 (a mapping, not an array: an index the table
    // does not hold reads as the zero address instead of reverting, and no length slot is read per lookup).
    mapping(address author => uint32 index) private _authorIndex;
    mapping(uint256 index => address author) private _authorAt;
    uint32 private _authorCount;

    event RecordAnchored(
        bytes32 indexed recordId,
        address indexed patient,
        address indexed author,
        uint8 category,
        bytes32 contentHash,
        bytes cid,
        bytes32 supersedes,
        bytes32 consentId
    );
    /// @dev Emitted next to RecordAnchored when a patient-signed upload authorisation replaced the consent.
    event UploadAuthorizationUsed(bytes32 indexed recordId, address indexed signer, uint256 nonce);
    /// @dev `manifestCid` names the IPFS manifest listing every record in full (recordId, patient, category,
    /// contentHash, CID), in tree order; the root commits to all of it, so auditors recompute the root from the
    /// manifest (the transaction's calldata also carries each (recordDigest, patient, category)). The consent
    /// used for each record is the (patient, author) consent in force in this block.
    event RecordBatchAnchored(bytes32 indexed root, address indexed author, uint32 count, bytes manifestCid);
    /// @dev `batchRoot` is zero for a record anchored on its own; for a batched record it is the batch the patient
    /// proved it against (the marker itself covers the record's leaf in every batch, see {isBatchedRecordErased}).
    event RecordErased(bytes32 indexed recordId, address indexed patient, bytes32 batchRoot);
    /// @dev One event per run of consecutive logged entries with the same patient, authorisation and purpose
    /// (whichever of {recordAccessed}, {recordsAccessed}, {logAccessBatch} or {batchedRecordAccessed} logged
    /// them). Every run is under a consent; EMERGENCY reads without one go through the BreakGlass flow
    /// (its `CareRecordsAccessed`), never through here.
    event RecordsAccessed(
        address indexed patient,
        address indexed reader,
        bytes32 indexed consentId,
        uint8 purpose,
        bytes32[] recordIds
    );

    error InvalidAddress();
    error NotActiveMember(address account);
    error NotActiveProvider(address account);
    error InvalidRecord(bytes32 recordId);
    error InvalidCategory(uint8 category);
    error InvalidCid(uint256 length);
    error InvalidPurpose(uint8 purpose);
    error InvalidBatchSize(uint256 size);
    error InvalidBatchEntry(uint256 index);
    error RecordAlreadyAnchored(bytes32 recordId);
    error BatchAlreadyAnchored(bytes32 root);
    error UnknownRecord(bytes32 recordId);
    error UnknownBatch(bytes32 root);
    error InvalidProof(bytes32 root, bytes32 recordId);
    error SupersededRecordMismatch(bytes32 supersedes, address patient);
    error RecordIsErased(bytes32 recordId);
    error NotRecordPatient(bytes32 recordId, address account);
    error UnauthorizedSigner(address patient, address signer);
    error ExpiredSignature(uint256 deadline);
    error NoConsent(address patient, address grantee, uint8 category, uint8 purpose);

    /// @param registry_ The consortium registry deciding who is an active member / provider.
    /// @param consentLedger_ The ledger holding the patients' consents and delegates.
    constructor(
        IConsortiumRegistry registry_,
        ConsentLedger consentLedger_
    ) EIP712("healthsilk RecordRegistry", "1") {
        if (address(registry_) == address(0) || address(consentLedger_) == address(0)) revert InvalidAddress();
        _registry = registry_;
        _consentLedger = consentLedger_;
    }

    // ---------------------------------------------------------------- anchoring

    /// @notice Anchors one record; the caller (author) must be an active PROVIDER holding a consent of the
    /// patient, in force now, covering the record's category for TREATMENT and now in its data period.
    /// @param record The record anchor.
    /// @return consentId The consent version used.
    function anchorRecord(NewRecord calldata record) external returns (bytes32 consentId) {
        _checkProvider(msg.sender);
        uint16 bit = _checkNewRecord(record);
        ConsentPolicy.Consent memory c = ConsentPolicy.unpack(_consentLedger.packedConsent(record.patient, msg.sender));
        if (!(c.isInForce(block.timestamp) && c.covers(bit, ConsentPolicy.TREATMENT) && c.coversDataAt(block.timestamp))) {
            revert NoConsent(record.patient, msg.sender, record.category, ConsentPolicy.TREATMENT);
        }
        consentId = ConsentPolicy.consentId(record.patient, msg.sender, c.version);
        _storeRecord(record, consentId);
    }

    /// @notice Anchors one record under a patient-signed `UploadAuthorization` instead of a consent; the caller
    /// must be an active PROVIDER and the `author` the patient (or its delegate) signed for.
    /// @param record The record anchor; every field is signed (the CID as keccak256, per EIP-712 `bytes`).
    /// @param nonce The signer's current nonce in this contract.
    /// @param deadline Last valid block timestamp of the signature.
    /// @param signature 65-byte ECDSA signature by the patient or its delegate.
    function anchorRecordWithAuthorization(
        NewRecord calldata record,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        _checkProvider(msg.sender);
        _checkNewRecord(record);
        if (block.timestamp > deadline) revert ExpiredSignature(deadline);
        address signer = ECDSA.recoverCalldata(_uploadAuthorizationDigest(record, nonce, deadline), signature);
        if (signer != record.patient && signer != _consentLedger.delegateOf(record.patient)) {
            revert UnauthorizedSigner(record.patient, signer);
        }
        _useCheckedNonce(signer, nonce);
        _storeRecord(record, bytes32(0));
        emit UploadAuthorizationUsed(record.recordId, signer, nonce);
    }

    /// @notice Anchors many records under one Merkle root (see the contract notes for the leaf format).
    /// Every entry needs the same consent as {anchorRecord}; grouping entries by patient saves gas.
    /// @param entries The records; calldata order is leaf order (StandardMerkleTree `sortLeaves: false`;
    /// submit them sorted by leaf hash to get the library's default sorted tree). Batch records supersede nothing.
    /// @param manifestCid Binary CID of the batch manifest in IPFS (every record in full, in the same order).
    /// @return root The StandardMerkleTree root, the batch identifier.
    function anchorBatch(BatchEntry[] calldata entries, bytes calldata manifestCid) external returns (bytes32 root) {
        _checkProvider(msg.sender);
        uint256 n = entries.length;
        if (n == 0 || n > MAX_BATCH_SIZE) revert InvalidBatchSize(n);
        if (manifestCid.length == 0 || manifestCid.length > MAX_CID_LENGTH) revert InvalidCid(manifestCid.length);

        // StandardMerkleTree array layout: leaves at the end in reverse order, node i = hash(2i+1, 2i+2).
        bytes32[] memory tree = new bytes32[](2 * n - 1);
        address runPatient;
        uint16 granted; // categories the current patient's consent allows for TREATMENT now
        for (uint256 i = 0; i < n; ++i) {
            (bytes32 digest, address patient, uint8 category) = _batchEntryAt(entries, i);
            // Here rather than in the consent lookup: runPatient starts at zero, so a zero patient in the first
            // entry would skip that lookup and surface as NoConsent instead.
            if (patient == address(0)) revert InvalidAddress();
            if (patient != runPatient) {
                runPatient = patient;
                granted = _treatmentCategoriesNow(patient);
            }
            uint16 bit = ConsentPolicy.categoryBit(category);
            if (bit == 0) revert InvalidCategory(category);
            if (granted & bit == 0) revert NoConsent(patient, msg.sender, category, ConsentPolicy.TREATMENT);
            if (digest == bytes32(0)) revert InvalidRecord(bytes32(0));
            unchecked {
                tree[2 * n - 2 - i] = _leaf(digest, patient, category);
            }
        }
        root = _buildTree(tree, n);
        if (_batches[root] != 0) revert BatchAlreadyAnchored(root);
        _batches[root] = uint256(uint160(msg.sender)) | (block.timestamp << 160) | (n << 200);
        emit RecordBatchAnchored(root, msg.sender, uint32(n), manifestCid);
    }

    // ---------------------------------------------------------------- erasure

    /// @notice Marks a record anchored on its own as erased; the caller must be its patient.
    /// @param recordId The record.
    function requestErasure(bytes32 recordId) external {
        _eraseRecord(recordId, msg.sender);
    }

    /// @notice Relays a patient-signed `RequestErasure` for a record anchored on its own (caller: active member).
    /// @param recordId The record.
    /// @param nonce The patient's current nonce in this contract.
    /// @param deadline Last valid block timestamp of the signature.
    /// @param signature 65-byte ECDSA signature by the record's patient.
    function requestErasureBySig(bytes32 recordId, uint256 nonce, uint256 deadline, bytes calldata signature) external {
        // Membership first, so a non-member cannot use the refusals to learn which records exist.
        _checkRelayer(msg.sender);
        uint256 word = _records[recordId];
        if (word & (_ANCHORED << 208) == 0) revert UnknownRecord(recordId);
        address patient = address(uint160(word));
        _checkErasureSignature(patient, recordId, nonce, deadline, signature);
        _eraseRecord(recordId, patient);
    }

    /// @notice Marks a batch-anchored record as erased (keyed by its leaf); the caller must be its patient.
    /// @param root The batch root.
    /// @param record The record, as in the batch manifest.
    /// @param proof Its Merkle path.
    function requestBatchedErasure(
        bytes32 root,
        BatchedRecord calldata record,
        bytes32[] calldata proof
    ) external {
        if (msg.sender != record.patient) revert NotRecordPatient(record.recordId, msg.sender);
        _eraseBatchedRecord(root, record, proof);
    }

    /// @notice Relays a patient-signed `RequestErasure` for a batch-anchored record (caller: active member).
    /// @param root The batch root.
    /// @param record The record, as in the batch manifest.
    /// @param proof Its Merkle path.
    /// @param nonce The patient's current nonce in this contract.
    /// @param deadline Last valid block timestamp of the signature.
    /// @param signature 65-byte ECDSA signature by the record's patient.
    function requestBatchedErasureBySig(
        bytes32 root,
        BatchedRecord calldata record,
        bytes32[] calldata proof,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        _checkRelayer(msg.sender);
        _checkErasureSignature(record.patient, record.recordId, nonce, deadline, signature);
        _eraseBatchedRecord(root, record, proof);
    }

    // ---------------------------------------------------------------- access log

    /// @notice Logs that the caller (an active member) read a record anchored on its own for `purpose`.
    /// @param recordId The record.
    /// @param purpose Exactly one purpose bit.
    function recordAccessed(bytes32 recordId, uint8 purpose) external {
        _checkReader(msg.sender, purpose);
        ReaderGrant memory grant;
        (address patient, bytes32 auth) = _authorise(grant, recordId, _records[recordId], purpose);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = recordId;
        emit RecordsAccessed(patient, msg.sender, auth, purpose, ids);
    }

    /// @notice Logs many reads by the caller for one `purpose`; all or nothing. Consecutive entries of the same
    /// patient share one consent lookup and one event, so group entries by patient.
    /// @param recordIds The records (anchored on their own).
    /// @param purpose Exactly one purpose bit.
    function recordsAccessed(bytes32[] calldata recordIds, uint8 purpose) external {
        _checkReader(msg.sender, purpose);
        uint256 n = recordIds.length;
        if (n == 0) revert InvalidBatchSize(0);
        ReaderGrant memory grant;
        uint256 runStart;
        address runPatient;
        bytes32 runAuth;
        for (uint256 i = 0; i < n; ++i) {
            bytes32 recordId = recordIds[i];
            (address patient, bytes32 auth) = _authorise(grant, recordId, _records[recordId], purpose);
            if (i != 0 && (patient != runPatient || auth != runAuth)) {
                _emitAccessRun(runPatient, runAuth, purpose, recordIds[runStart:i]);
                runStart = i;
            }
            runPatient = patient;
            runAuth = auth;
        }
        _emitAccessRun(runPatient, runAuth, purpose, recordIds[runStart:n]);
    }

    /// @notice Logs a group of reads by the caller (an active member), each for its own purpose, as one
    /// transaction (the API's group commit). Unlike {recordsAccessed}, an entry the contract refuses (unknown
    /// or erased record, invalid purpose, no covering consent) does not revert the
    /// batch: it is skipped and nothing is logged for it, so only that read fails. Accepted entries are logged
    /// exactly as {recordsAccessed} logs them, in entry order; the caller learns each entry's fate from the
    /// `RecordsAccessed` events of the receipt.
    /// @dev Entries are packed, not ABI-encoded, to save calldata. Sort them by purpose and patient: each run
    /// of one patient costs one consent lookup and one event.
    /// @param entries `recordId ‖ purpose` per read, {ACCESS_ENTRY_SIZE} bytes each, at most {MAX_BATCH_SIZE}.
    /// @return logged The number of entries logged.
    function logAccessBatch(bytes calldata entries) external returns (uint256 logged) {
        if (!_registry.isActiveMember(msg.sender)) revert NotActiveMember(msg.sender);
        uint256 n = entries.length / ACCESS_ENTRY_SIZE;
        if (n == 0 || n > MAX_BATCH_SIZE || entries.length != n * ACCESS_ENTRY_SIZE) {
            revert InvalidBatchSize(entries.length);
        }
        ReaderGrant memory grant;
        AccessRun memory run;
        run.data = new bytes(0x60 + n * 0x20);
        assembly ("memory-safe") {
            mstore(add(mload(add(run, 0xa0)), 0x40), 0x40) // the event data's offset word, written once
        }
        uint256 i = 0;
        while ((i = _scanAccesses(grant, run, entries, i)) < n) {
            // Entry i needs what only Solidity answers: its patient's consent.
            _loadGrant(grant, address(uint160(_records[_accessEntryAt(entries, i)])));
        }
        return run.logged;
    }

    /// @notice Logs a read of a batch-anchored record, proven against its batch root.
    /// @param root The batch root.
    /// @param record The record, as in the batch manifest.
    /// @param proof Its Merkle path.
    /// @param purpose Exactly one purpose bit.
    function batchedRecordAccessed(
        bytes32 root,
        BatchedRecord calldata record,
        bytes32[] calldata proof,
        uint8 purpose
    ) external {
        _checkReader(msg.sender, purpose);
        (uint40 anchoredAt, bytes32 leaf) = _proveBatched(root, record, proof);
        if (_erasedLeaves[leaf]) revert RecordIsErased(record.recordId);
        // Authorise as if stored: same word layout, time = the batch's anchoring time.
        uint256 word = uint256(uint160(record.patient)) |
            (uint256(record.category) << 160) |
            (uint256(anchoredAt) << 168) |
            (_ANCHORED << 208);
        ReaderGrant memory grant;
        (address patient, bytes32 auth) = _authorise(grant, record.recordId, word, purpose);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = record.recordId;
        emit RecordsAccessed(patient, msg.sender, auth, purpose, ids);
    }

    // ---------------------------------------------------------------- views

    /// @notice The stored state of a record anchored on its own (zero values when unknown).
    /// @dev A batch-anchored record's author is its batch's, see {getBatch}.
    /// @param recordId The record.
    /// @return patient The patient.
    /// @return category The category code.
    /// @return anchoredAt The anchoring block timestamp.
    /// @return erased True once the patient requested erasure.
    /// @return author The provider that anchored it (the `author` of its `RecordAnchored` event).
    function getRecord(
        bytes32 recordId
    ) external view returns (address patient, uint8 category, uint40 anchoredAt, bool erased, address author) {
        uint256 word = _records[recordId];
        if (word & (_ANCHORED << 208) == 0) return (address(0), 0, 0, false, address(0));
        return (
            address(uint160(word)),
            uint8(word >> 160),
            uint40(word >> 168),
            word & (_ERASED << 208) != 0,
            _authorAt[uint32(word >> _AUTHOR_SHIFT)]
        );
    }

    /// @notice The index records anchored on their own store for `author` (see the contract notes).
    /// @param author A provider.
    /// @return The index, from 1; 0 until `author` anchors its first record on its own.
    function authorIndexOf(address author) external view returns (uint32) {
        return _authorIndex[author];
    }

    /// @notice True when the record `recordId` anchored on its own is marked erased.
    /// @dev Batch-anchored records are not identified by their id alone: use {isBatchedRecordErased}.
    /// @param recordId The record.
    /// @return True when erased.
    function isErased(bytes32 recordId) external view returns (bool) {
        return _records[recordId] & (_ERASED << 208) != 0;
    }

    /// @notice True when the batch-anchored `record` is marked erased (in whichever batch its patient proved it).
    /// @param record The record, as in the batch manifest.
    /// @return True when erased.
    function isBatchedRecordErased(BatchedRecord calldata record) external view returns (bool) {
        return _erasedLeaves[_leaf(_digest(record), record.patient, record.category)];
    }

    /// @notice True when the batch entry with StandardMerkleTree leaf `leaf` is marked erased.
    /// @dev For auditors holding the leaves (from `anchorBatch` calldata) rather than the full records.
    /// @param leaf The leaf, as returned by {batchLeaf}.
    /// @return True when erased.
    function isBatchedLeafErased(bytes32 leaf) external view returns (bool) {
        return _erasedLeaves[leaf];
    }

    /// @notice The stored state of a batch (zero values when unknown).
    /// @param root The batch root.
    /// @return author The provider that anchored it.
    /// @return anchoredAt The anchoring block timestamp.
    /// @return count The number of records.
    function getBatch(bytes32 root) external view returns (address author, uint40 anchoredAt, uint32 count) {
        uint256 word = _batches[root];
        return (address(uint160(word)), uint40(word >> 160), uint32(word >> 200));
    }

    /// @notice True when `record` is in the anchored batch `root`, proven by `proof`.
    /// @param root The batch root.
    /// @param record The record, as in the batch manifest.
    /// @param proof Its Merkle path (from StandardMerkleTree.getProof).
    /// @return True when proven.
    function verifyBatchedRecord(
        bytes32 root,
        BatchedRecord calldata record,
        bytes32[] calldata proof
    ) external view returns (bool) {
        return
            _batches[root] != 0 &&
            MerkleProof.verifyCalldata(proof, root, _leaf(_digest(record), record.patient, record.category));
    }

    /// @notice The digest a batch entry carries: keccak256(abi.encode(recordId, contentHash, keccak256(cid))).
    /// @param recordId The record id.
    /// @param contentHash The sha256 of the ciphertext.
    /// @param cid The binary CID.
    /// @return The record digest.
    function recordDigest(bytes32 recordId, bytes32 contentHash, bytes calldata cid) external pure returns (bytes32) {
        return keccak256(abi.encode(recordId, contentHash, keccak256(cid)));
    }

    /// @notice The StandardMerkleTree leaf of a batch entry.
    /// @param entry The entry.
    /// @return keccak256(bytes.concat(keccak256(abi.encode(recordDigest, patient, category)))).
    function batchLeaf(BatchEntry calldata entry) external pure returns (bytes32) {
        return _leaf(entry.recordDigest, entry.patient, entry.category);
    }

    /// @notice The consortium registry this contract consults.
    /// @return The registry.
    function registry() external view returns (IConsortiumRegistry) {
        return _registry;
    }

    /// @notice The consent ledger this contract consults.
    /// @return The ledger.
    function consentLedger() external view returns (ConsentLedger) {
        return _consentLedger;
    }

    /// @notice The EIP-712 domain separator (also described by `eip712Domain()`, ERC-5267).
    /// @return The domain separator for this chain and contract.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- internals

    /// @dev The reader's authorisation for one patient, resolved once per run of entries of that patient.
    /// Field order matters: {_scanAccesses} reads the fields by offset (0x00 patient ... 0xa0 consentId).
    struct ReaderGrant {
        address patient;
        uint16 categories; // categories the consent covers now; 0 when not in force
        uint8 purposes; // purposes the consent covers now; 0 when not in force
        uint40 dataFrom;
        uint40 dataUntil; // 0 = open
        bytes32 consentId;
    }

    /// @dev The run of logged entries {logAccessBatch} is collecting for one `RecordsAccessed` event.
    /// Field order matters: {_scanAccesses} reads the fields by offset (0x00 patient ... 0xa0 data).
    struct AccessRun {
        address patient;
        bytes32 auth;
        uint256 key; // the purpose
        uint256 length; // ids collected for the current run
        uint256 logged; // ids emitted so far
        bytes data; // the event's data: purpose, offset, length, then room for every entry's id
    }

    function _checkProvider(address account) private view {
        if (!_registry.hasActiveRole(Roles.PROVIDER, account)) revert NotActiveProvider(account);
    }

    function _checkRelayer(address relayer) private view {
        if (!_registry.isActiveMember(relayer)) revert NotActiveMember(relayer);
    }

    function _checkReader(address reader, uint8 purpose) private view {
        if (!_isSinglePurpose(purpose)) revert InvalidPurpose(purpose);
        if (!_registry.isActiveMember(reader)) revert NotActiveMember(reader);
    }

    /// @dev Exactly one known purpose bit.
    function _isSinglePurpose(uint8 purpose) private pure returns (bool) {
        return purpose != 0 && purpose <= ConsentPolicy.EMERGENCY && purpose & (purpose - 1) == 0;
    }

    function _checkNewRecord(NewRecord calldata record) private view returns (uint16 bit) {
        if (record.recordId == bytes32(0) || record.contentHash == bytes32(0)) revert InvalidRecord(record.recordId);
        if (record.patient == address(0)) revert InvalidAddress();
        bit = ConsentPolicy.categoryBit(record.category);
        if (bit == 0) revert InvalidCategory(record.category);
        if (record.cid.length == 0 || record.cid.length > MAX_CID_LENGTH) revert InvalidCid(record.cid.length);
        if (_records[record.recordId] != 0) revert RecordAlreadyAnchored(record.recordId);
        if (record.supersedes != bytes32(0)) {
            uint256 previous = _records[record.supersedes];
            if (previous & (_ANCHORED << 208) == 0) revert UnknownRecord(record.supersedes);
            if (address(uint160(previous)) != record.patient) {
                revert SupersededRecordMismatch(record.supersedes, record.patient);
            }
            if (previous & (_ERASED << 208) != 0) revert RecordIsErased(record.supersedes);
        }
    }

    function _storeRecord(NewRecord calldata record, bytes32 consentId) private {
        uint256 author = _authorIndex[msg.sender];
        if (author == 0) author = _indexAuthor(msg.sender);
        _records[record.recordId] =
            uint256(uint160(record.patient)) |
            (uint256(record.category) << 160) |
            (block.timestamp << 168) |
            (_ANCHORED << 208) |
            (author << _AUTHOR_SHIFT);
        emit RecordAnchored(
            record.recordId,
            record.patient,
            msg.sender,
            record.category,
            record.contentHash,
            record.cid,
            record.supersedes,
            consentId
        );
    }

    /// @dev Gives `author` the next author index, once: the first record it anchors on its own pays for it.
    /// Only active PROVIDERs, admitted by governance vote, get here, so 2^32 - 1 indexes cannot run out; the
    /// cast is checked all the same.
    function _indexAuthor(address author) private returns (uint256 index) {
        uint32 next = SafeCast.toUint32(uint256(_authorCount) + 1);
        _authorCount = next;
        _authorIndex[author] = next;
        _authorAt[next] = author;
        return next;
    }

    /// @dev Categories the patient's consent to the caller covers for TREATMENT right now (0 when none).
    function _treatmentCategoriesNow(address patient) private view returns (uint16) {
        ConsentPolicy.Consent memory c = ConsentPolicy.unpack(_consentLedger.packedConsent(patient, msg.sender));
        if (
            c.isInForce(block.timestamp) &&
            c.purposes & ConsentPolicy.TREATMENT != 0 &&
            c.coversDataAt(block.timestamp)
        ) {
            return c.categories;
        }
        return 0;
    }

    /// @dev The EIP-712 digest of an `UploadAuthorization` for `record`, with the caller as author.
    function _uploadAuthorizationDigest(
        NewRecord calldata record,
        uint256 nonce,
        uint256 deadline
    ) private view returns (bytes32) {
        bytes memory fields = abi.encode(
            record.patient,
            msg.sender,
            record.recordId,
            record.category,
            record.contentHash,
            keccak256(record.cid),
            record.supersedes
        );
        return _hashTypedDataV4(keccak256(abi.encodePacked(UPLOAD_AUTHORIZATION_TYPEHASH, fields, nonce, deadline)));
    }

    /// @dev keccak256(bytes.concat(keccak256(abi.encode(digest, patient, category)))), hashed in scratch memory
    /// past the free-memory pointer so a 256-entry batch does not allocate 256 throw-away buffers.
    function _leaf(bytes32 digest, address patient, uint8 category) private pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, digest)
            mstore(add(ptr, 0x20), patient)
            mstore(add(ptr, 0x40), category)
            mstore(0x00, keccak256(ptr, 0x60))
            leaf := keccak256(0x00, 0x20)
        }
    }

    /// @dev Reads entry `i` straight from calldata (the ABI decoder already bounds-checked the array); the
    /// generic struct accessor costs several hundred gas per entry. Dirty high bits are refused, not masked.
    function _batchEntryAt(
        BatchEntry[] calldata entries,
        uint256 i
    ) private pure returns (bytes32 digest, address patient, uint8 category) {
        uint256 rawPatient;
        uint256 rawCategory;
        assembly ("memory-safe") {
            let e := add(entries.offset, mul(i, 0x60))
            digest := calldataload(e)
            rawPatient := calldataload(add(e, 0x20))
            rawCategory := calldataload(add(e, 0x40))
        }
        if (rawPatient >> 160 != 0 || rawCategory > type(uint8).max) revert InvalidBatchEntry(i);
        return (digest, address(uint160(rawPatient)), uint8(rawCategory));
    }

    /// @dev Fills the inner nodes of a StandardMerkleTree array whose last `n` slots hold the leaves
    /// (node j = commutativeKeccak256(node 2j+1, node 2j+2), j from n-2 down to 0) and returns node 0.
    /// Same result as Hashes.commutativeKeccak256 in a Solidity loop, without per-access bounds checks.
    function _buildTree(bytes32[] memory tree, uint256 n) private pure returns (bytes32 root) {
        assembly ("memory-safe") {
            let base := add(tree, 0x20)
            for {
                let j := sub(n, 1)
            } gt(j, 0) {
                j := sub(j, 1)
            } {
                // inner node j-1 has children 2j-1 and 2j
                let a := mload(add(base, shl(5, sub(shl(1, j), 1))))
                let b := mload(add(base, shl(5, shl(1, j))))
                if gt(a, b) {
                    let t := a
                    a := b
                    b := t
                }
                mstore(0x00, a)
                mstore(0x20, b)
                mstore(add(base, shl(5, sub(j, 1))), keccak256(0x00, 0x40))
            }
            root := mload(base)
        }
    }

    function _digest(BatchedRecord calldata record) private pure returns (bytes32) {
        return keccak256(abi.encode(record.recordId, record.contentHash, keccak256(record.cid)));
    }

    function _proveBatched(
        bytes32 root,
        BatchedRecord calldata record,
        bytes32[] calldata proof
    ) private view returns (uint40 anchoredAt, bytes32 leaf) {
        uint256 batch = _batches[root];
        if (batch == 0) revert UnknownBatch(root);
        leaf = _leaf(_digest(record), record.patient, record.category);
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof(root, record.recordId);
        anchoredAt = uint40(batch >> 160);
    }

    function _eraseRecord(bytes32 recordId, address patient) private {
        uint256 word = _records[recordId];
        if (word & (_ANCHORED << 208) == 0) revert UnknownRecord(recordId);
        if (address(uint160(word)) != patient) revert NotRecordPatient(recordId, patient);
        if (word & (_ERASED << 208) != 0) revert RecordIsErased(recordId);
        _records[recordId] = word | (_ERASED << 208);
        emit RecordErased(recordId, patient, bytes32(0));
    }

    /// @dev The marker covers the leaf, so an identical copy of the record in another batch is erased with it.
    function _eraseBatchedRecord(bytes32 root, BatchedRecord calldata record, bytes32[] calldata proof) private {
        (, bytes32 leaf) = _proveBatched(root, record, proof);
        if (_erasedLeaves[leaf]) revert RecordIsErased(record.recordId);
        _erasedLeaves[leaf] = true;
        emit RecordErased(record.recordId, record.patient, root);
    }

    function _checkErasureSignature(
        address patient,
        bytes32 recordId,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) private {
        if (block.timestamp > deadline) revert ExpiredSignature(deadline);
        bytes32 structHash = keccak256(abi.encode(REQUEST_ERASURE_TYPEHASH, patient, recordId, nonce, deadline));
        address signer = ECDSA.recoverCalldata(_hashTypedDataV4(structHash), signature);
        if (signer != patient) revert UnauthorizedSigner(patient, signer);
        _useCheckedNonce(signer, nonce);
    }

    function _emitAccessRun(address patient, bytes32 auth, uint8 purpose, bytes32[] calldata recordIds) private {
        emit RecordsAccessed(patient, msg.sender, auth, purpose, recordIds);
    }

    /// @dev The record id of entry `i` of a packed {logAccessBatch} array (`i` < the number of entries).
    function _accessEntryAt(bytes calldata entries, uint256 i) private pure returns (bytes32 recordId) {
        assembly ("memory-safe") {
            recordId := calldataload(add(entries.offset, mul(i, ACCESS_ENTRY_SIZE)))
        }
    }

    /// @dev The hot loop of {logAccessBatch}, from entry `i` on: skips refused entries, collects accepted ones
    /// into `run` and emits a `RecordsAccessed` per run (the last one once every entry is done). Stops at the
    /// first entry whose patient is not `grant.patient` and returns its index for the caller to resolve and resume; returns the number of
    /// entries when done. Checks as {_authorise} does, reading `grant` and `run` by their fields' memory offsets
    /// (see the structs). Assembly because the same loop in Solidity costs ~1,200 gas per entry on top of the
    /// record's storage read (2,100), against ~600 here.
    function _scanAccesses(
        ReaderGrant memory grant,
        AccessRun memory run,
        bytes calldata entries,
        uint256 i
    ) private returns (uint256) {
        bytes32 topic = RecordsAccessed.selector;
        assembly ("memory-safe") {
            // Emits the run in `r` and empties it. run.data is the event's data: purpose | 0x40 | length | ids.
            function emitRun(r, t) {
                let head := add(mload(add(r, 0xa0)), 0x20)
                let length := mload(add(r, 0x60))
                mstore(head, and(mload(add(r, 0x40)), 0xff))
                mstore(add(head, 0x40), length)
                log4(head, add(0x60, shl(5, length)), t, mload(r), caller(), mload(add(r, 0x20)))
                mstore(add(r, 0x80), add(mload(add(r, 0x80)), length))
                mstore(add(r, 0x60), 0)
            }
            function scan(g, r, t, from, end) -> at {
                for {
                    at := from
                } lt(at, end) {
                    at := add(at, ACCESS_ENTRY_SIZE)
                } {
                    mstore(0x00, calldataload(at))
                    mstore(0x20, _records.slot)
                    let word := sload(keccak256(0x00, 0x40))
                    let key := byte(0, calldataload(add(at, 0x20))) // the purpose
                    // Refused: unknown or erased record (flags other than _ANCHORED), not exactly one known
                    // purpose bit (0x10116 has bits 1, 2, 4, 8 and 16 set).
                    if iszero(eq(and(shr(208, word), or(_ANCHORED, _ERASED)), _ANCHORED)) {
                        continue
                    }
                    if iszero(and(shr(key, 0x10116), 1)) {
                        continue
                    }
                    if iszero(eq(and(word, 0xffffffffffffffffffffffffffffffffffffffff), mload(g))) {
                        break // load this patient's consent
                    }
                    // As {_grantCovers}: purpose and category granted, the record's time in the data period.
                    let covered := and(iszero(iszero(and(mload(add(g, 0x40)), key))), shr(and(shr(160, word), 0xff), mload(add(g, 0x20))))
                    word := and(shr(168, word), 0xffffffffff) // from here on: the record's time
                    covered := and(and(covered, iszero(gt(mload(add(g, 0x60)), word))), or(iszero(mload(add(g, 0x80))), lt(word, mload(add(g, 0x80)))))
                    if iszero(covered) {
                        continue // no covering consent (EMERGENCY included: only break-glass widens)
                    }
                    // Append, first closing the current run if the entry does not continue it.
                    let length := mload(add(r, 0x60))
                    if and(iszero(iszero(length)), or(iszero(eq(mload(g), mload(r))), iszero(eq(key, mload(add(r, 0x40)))))) {
                        emitRun(r, t)
                        length := 0
                    }
                    if iszero(length) {
                        mstore(r, mload(g))
                        mstore(add(r, 0x20), mload(add(g, 0xa0)))
                        mstore(add(r, 0x40), key)
                    }
                    mstore(add(add(mload(add(r, 0xa0)), 0x80), shl(5, length)), calldataload(at))
                    mstore(add(r, 0x60), add(length, 1))
                }
                if and(eq(at, end), iszero(iszero(mload(add(r, 0x60))))) {
                    emitRun(r, t)
                }
            }
            let start := add(entries.offset, mul(i, ACCESS_ENTRY_SIZE))
            let stopped := scan(grant, run, topic, start, add(entries.offset, entries.length))
            i := div(sub(stopped, entries.offset), ACCESS_ENTRY_SIZE)
        }
        return i;
    }

    /// @dev Checks one access against the record word and returns its patient and the authorisation used:
    /// the consent id (a consent must cover the purpose, EMERGENCY included).
    function _authorise(
        ReaderGrant memory grant,
        bytes32 recordId,
        uint256 word,
        uint8 purpose
    ) private view returns (address patient, bytes32 auth) {
        if (word & (_ANCHORED << 208) == 0) revert UnknownRecord(recordId);
        if (word & (_ERASED << 208) != 0) revert RecordIsErased(recordId);
        patient = address(uint160(word));
        if (patient != grant.patient) _loadGrant(grant, patient);
        if (!_grantCovers(grant, word, purpose)) revert NoConsent(patient, msg.sender, uint8(word >> 160), purpose);
        return (patient, grant.consentId);
    }

    /// @dev Whether the loaded grant covers the record (`word`) for `purpose`: consent in force for that purpose
    /// and the record's category, and the record's time in the data period.
    function _grantCovers(ReaderGrant memory grant, uint256 word, uint8 purpose) private pure returns (bool) {
        uint256 dataTime = uint40(word >> 168);
        return
            grant.purposes & purpose != 0 &&
            (grant.categories >> uint8(word >> 160)) & 1 != 0 &&
            grant.dataFrom <= dataTime &&
            (grant.dataUntil == 0 || dataTime < grant.dataUntil);
    }

    function _loadGrant(ReaderGrant memory grant, address patient) private view {
        ConsentPolicy.Consent memory c = ConsentPolicy.unpack(_consentLedger.packedConsent(patient, msg.sender));
        bool inForce = c.isInForce(block.timestamp);
        grant.patient = patient;
        grant.categories = inForce ? c.categories : 0;
        grant.purposes = inForce ? c.purposes : 0;
        grant.dataFrom = c.dataFrom;
        grant.dataUntil = c.dataUntil;
        grant.consentId = ConsentPolicy.consentId(patient, msg.sender, c.version);
    }
}
