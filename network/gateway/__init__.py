"""The RPC permissioning gateway: the only door from clients to the chain node."""
