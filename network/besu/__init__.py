"""Scale-out configs for a Hyperledger Besu QBFT consortium network: generator, renderers and a checker."""
