"""The gateway fixtures (mock upstream, stores, gateways) for the budget tests."""

from gateway.conftest import (  # noqa: F401
    configure,
    credentials,
    mock,
    mock_server,
    policy_dir,
    start_gateway,
    store,
)
