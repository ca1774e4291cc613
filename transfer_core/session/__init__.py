"""Sender and receiver sessions: small state machines over the transports."""
