"""Container networking: bridge networks with IPAM, veth pairs in network namespaces,
NAT and published ports in dockyard's own nftables table, embedded DNS for user networks.

Kept import-free: `python -m dockyard.network.dns` (the per-network DNS process) must not pay
for the rest of the engine.
"""
