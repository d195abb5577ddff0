// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ConsentPolicy
/// @notice The consent model shared by ConsentLedger and RecordRegistry: codes, the consent terms, their
/// one-slot storage packing and the rules that decide whether a consent covers an access.
/// @dev Mirrors FHIR R4 Consent: grantee = provision.actor, categories = provision.class,
/// purposes = provision.purpose, valid period = provision.period, data period = provision.dataPeriod.
library ConsentPolicy {
    // Record categories: a record's category code is the bit index, a consent holds a bitmask.
    uint16 internal constant LAB = 1;
    uint16 internal constant IMAGING = 2;
    uint16 internal constant ECG = 4;
    uint16 internal constant PRESCRIPTION = 8;
    uint16 internal constant NOTES = 16;
    uint16 internal constant DISCHARGE = 32;
    uint16 internal constant SUMMARY = 64;
    /// @dev Bits 7..15 are reserved for categories added later; consents may already carry them.
    uint8 internal constant MAX_CATEGORY_CODE = 15;

    // Purposes of use (bitmask in a consent; a single bit when logging an access).
    uint8 internal constant TREATMENT = 1;
    uint8 internal constant PAYMENT = 2;
    uint8 internal constant RESEARCH = 4;
    uint8 internal constant PUBLIC_HEALTH = 8;
    uint8 internal constant EMERGENCY = 16;
    uint8 internal constant ALL_PURPOSES = 31;

    /// @dev None = never granted for this (patient, grantee) pair.
    enum Status {
        None,
        Active,
        Revoked
    }

    /// @notice The terms a patient signs when granting (everything except status and version).
    struct Terms {
        address grantee;
        uint16 categories;
        uint8 purposes;
        uint40 validFrom;
        uint40 validUntil;
        uint40 dataFrom;
        uint40 dataUntil; // 0 = open-ended
    }

    /// @notice A stored consent. `version` counts grants for the (patient, grantee) pair, starting at 1.
    struct Consent {
        uint16 categories;
        uint8 purposes;
        Status status;
        uint40 validFrom;
        uint40 validUntil;
        uint40 dataFrom;
        uint40 dataUntil;
        uint32 version;
    }

    // One-slot layout (low bit first): categories 0-15 | purposes 16-23 | status 24-31 | validFrom 32-71 |
    // validUntil 72-111 | dataFrom 112-151 | dataUntil 152-191 | version 192-223.

    /// @notice Packs a consent into its storage word.
    function pack(Consent memory c) internal pure returns (uint256 word) {
        word =
            uint256(c.categories) |
            (uint256(c.purposes) << 16) |
            (uint256(uint8(c.status)) << 24) |
            (uint256(c.validFrom) << 32) |
            (uint256(c.validUntil) << 72) |
            (uint256(c.dataFrom) << 112) |
            (uint256(c.dataUntil) << 152) |
            (uint256(c.version) << 192);
    }

    /// @notice Unpacks a storage word written by {pack}.
    function unpack(uint256 word) internal pure returns (Consent memory c) {
        c.categories = uint16(word);
        c.purposes = uint8(word >> 16);
        c.status = Status(uint8(word >> 24));
        c.validFrom = uint40(word >> 32);
        c.validUntil = uint40(word >> 72);
        c.dataFrom = uint40(word >> 112);
        c.dataUntil = uint40(word >> 152);
        c.version = uint32(word >> 192);
    }

    /// @notice True when the consent is active and `time` lies in [validFrom, validUntil).
    function isInForce(Consent memory c, uint256 time) internal pure returns (bool) {
        return c.status == Status.Active && c.validFrom <= time && time < c.validUntil;
    }

    /// @notice True when every bit of `categoryMask` and of `purposeMask` is granted (both non-zero).
    function covers(Consent memory c, uint16 categoryMask, uint8 purposeMask) internal pure returns (bool) {
        return
            categoryMask != 0 &&
            purposeMask != 0 &&
            c.categories & categoryMask == categoryMask &&
            c.purposes & purposeMask == purposeMask;
    }

    /// @notice True when data dated `time` lies in the consent's data period [dataFrom, dataUntil or open).
    function coversDataAt(Consent memory c, uint256 time) internal pure returns (bool) {
        return c.dataFrom <= time && (c.dataUntil == 0 || time < c.dataUntil);
    }

    /// @notice The identifier logs use for one version of the consent of `patient` to `grantee`.
    function consentId(address patient, address grantee, uint32 version) internal pure returns (bytes32) {
        return keccak256(abi.encode(patient, grantee, version));
    }

    /// @notice The consent bitmask bit of a record category code; 0 when the code is out of range.
    function categoryBit(uint8 categoryCode) internal pure returns (uint16) {
        return categoryCode > MAX_CATEGORY_CODE ? 0 : uint16(1) << categoryCode;
    }
}
