// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title SettlementToken
/// @notice The ERC-20 in which e-card programmes are funded and claims / cash allowances are paid.
/// @dev The deployer is the only minter, for ever: HealthCardPayments creates this token in its own constructor,
/// and mints only when an active PAYER funds its own programme, straight into the payments contract's escrow.
/// So every token in existence was once escrowed for a named programme, and the total supply equals the sum of
/// all `EscrowFunded` amounts. One token unit is one minor unit of the paying programme's ISO 4217 currency
/// (hence 0 decimals); tokens are settled against the payer off chain per programme, as named in the payment
/// events, so tokens from programmes in different currencies must not be pooled blindly.
contract SettlementToken is ERC20 {
    address private immutable _minter;

    error UnauthorizedMinter(address account);

    /// @notice Deploys the token; the deploying contract becomes its only minter.
    constructor() ERC20("healthsilk Settlement Token", "HSST") {
        _minter = msg.sender;
    }

    /// @notice Mints `amount` units to `to`; only the minter (the HealthCardPayments contract) may call.
    /// @param to The recipient (the payments contract's escrow).
    /// @param amount Units to mint (minor units of the funded programme's currency).
    function mint(address to, uint256 amount) external {
        if (msg.sender != _minter) revert UnauthorizedMinter(msg.sender);
        _mint(to, amount);
    }

    /// @notice The only account allowed to mint.
    /// @return The HealthCardPayments contract that deployed this token.
    function minter() external view returns (address) {
        return _minter;
    }

    /// @notice Units are minor currency units (cents, fen, ...), so the token has no fractional digits.
    /// @return 0.
    function decimals() public pure override returns (uint8) {
        return 0;
    }
}
