"""Offline preview: run a Pulumi Python program under the mock runtime the way the engine previews
it, and drive policy packs over the analyzer protocol."""
