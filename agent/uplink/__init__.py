"""HTTPS uplink to the cloud's V3 API: auth, batched events, files through pre-signed URLs."""
