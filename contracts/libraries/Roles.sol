// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Roles
/// @notice Consortium role identifiers shared by every healthsilk contract.
library Roles {
    bytes32 internal constant GOVERNOR = keccak256("GOVERNOR_ROLE");
    bytes32 internal constant PROVIDER = keccak256("PROVIDER_ROLE");
    bytes32 internal constant PAYER = keccak256("PAYER_ROLE");
    bytes32 internal constant PHARMACY = keccak256("PHARMACY_ROLE");
    bytes32 internal constant AUDITOR = keccak256("AUDITOR_ROLE");
    bytes32 internal constant EMERGENCY = keccak256("EMERGENCY_ROLE");
    bytes32 internal constant PRIVACY_OFFICER = keccak256("PRIVACY_OFFICER_ROLE");
    bytes32 internal constant PUBLIC_HEALTH = keccak256("PUBLIC_HEALTH_ROLE");
}
