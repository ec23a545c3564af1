"""amps, the Accessible Media Player Service."""
