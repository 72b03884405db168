"""The public API BFF: third-party apps (OAuth2 client credentials) and their users."""
