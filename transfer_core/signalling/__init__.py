"""The client side of signalling: signed envelopes and the WebSocket client."""
