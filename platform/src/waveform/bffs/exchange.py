"""How a reference BFF speaks inward as itself: every call to a service carries an internal
token exchanged as ``bff-<name>`` (docs/services.md), never the client's credential. The
client secret comes from the environment (the supervisor sets it), so a BFF started without
one stops at startup naming the key.
"""

from __future__ import annotations

#: The environment variable holding a BFF's token-exchange secret.
SECRET_ENV = "WAVEFORM_TOKEN_EXCHANGE_SECRET"


def token_exchange(bff: str) -> dict[str, str]:
    """The ``token_exchange`` section of the profile of the BFF ``bff``.

    >>> token_exchange("tv")
    {'client_id': 'bff-tv', 'client_secret_env': 'WAVEFORM_TOKEN_EXCHANGE_SECRET'}
    """
    return {"client_id": f"bff-{bff}", "client_secret_env": SECRET_ENV}
