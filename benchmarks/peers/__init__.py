"""The same ``GET /v1/home`` written without tailor, the way a user typically would."""
