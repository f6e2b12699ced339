"""Fixtures shared by the end-to-end policy modules: one venv per client per module."""

from __future__ import annotations

import pytest

from tests.support.gate import CLIENTS, Client, ClientName, make_clients


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> dict[ClientName, Client]:
    return make_clients(tmp_path_factory.mktemp("clients"))


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest, clients: dict[ClientName, Client]) -> Client:
    return clients[request.param]
