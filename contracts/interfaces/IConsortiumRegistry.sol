// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IConsortiumRegistry
/// @notice What the other healthsilk contracts need to know about consortium members.
interface IConsortiumRegistry {
    /// @notice True when `account` is an admitted member that is not suspended.
    function isActiveMember(address account) external view returns (bool);

    /// @notice True when `account` is an active member holding `role`.
    function hasActiveRole(bytes32 role, address account) external view returns (bool);
}
