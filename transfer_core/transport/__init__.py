"""One transport interface (`base`), two adapters: `webrtc` (peer to peer) and `s3` (storage)."""
