"""Continuous enforcement by AWS Config, from the same pack config as the pack and the audit: Guard
rules (`guard`), the conformance pack template (`template`), the remediation document (`remediation`)
and the aggregator reader and judge (`aggregator`)."""
