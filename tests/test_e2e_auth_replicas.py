"""Two ``pipgate serve`` processes with ``auth = "required"`` on one shared state share
their tokens: a token made by ``pipgate token create`` while both run is accepted by both,
and ``pipgate token revoke`` reaches both within seconds.

Embedded state: both processes use one data dir (its state directory is the shared state,
as for ``--workers N``). Redis: each replica has its own data dir and the tokens live in
Redis only (marked ``redis``; needs the shared test server).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import probe, publish
from tests.support.pipgate_server import PipgateProcess
from tests.support.scaleout import SHARED_REDIS_URL, delete_pipgate_keys, redis_unreachable_reason
from tests.support.token_cli import create_token, revoke_token

PROJECT = "shared-auth"
CONFIG = '[[policy]]\nuse = "denylist"\nprojects = ["nothing-here"]\n'


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        publish(up, tmp_path_factory.mktemp("wheels"), PROJECT, "1.0")
        yield up


@contextmanager
def replicas(
    data_dirs: list[Path], upstream: FakeUpstream, config: Path, env: dict[str, str]
) -> Iterator[list[PipgateProcess]]:
    made = [
        PipgateProcess(data_dir, upstream.url, "--config", str(config), env=env)
        for data_dir in data_dirs
    ]
    with ExitStack() as stack:
        for process in made:
            stack.callback(process.stop)
        with concurrent.futures.ThreadPoolExecutor(len(made)) as pool:
            list(pool.map(PipgateProcess.start, made))
        yield made


def status(replica: PipgateProcess, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return probe(f"{replica.index_url}{PROJECT}/", headers=headers).status


def wait_for_status(replica: PipgateProcess, token: str, wanted: int) -> None:
    """Revocations are polled once a second; the bound only keeps a broken build short."""
    deadline = time.monotonic() + 30
    while (found := status(replica, token)) != wanted:
        assert time.monotonic() < deadline, f"{replica.url} still answers {found}"
        time.sleep(0.1)


def check_shared_tokens(
    pair: list[PipgateProcess], where: list[str], env: dict[str, str] | None = None
) -> None:
    assert [status(r, None) for r in pair] == [401, 401]
    token_id, token = create_token(where, "shared-user", env=env)
    assert [status(r, token) for r in pair] == [200, 200]

    revoke_token(where, token_id, env=env)
    for replica in pair:
        wait_for_status(replica, token, 401)
        refused = probe(
            f"{replica.index_url}{PROJECT}/", headers={"Authorization": f"Bearer {token}"}
        )
        assert refused.body == "this token was revoked\n"
    _, other = create_token(where, "shared-user", env=env)
    assert [status(r, other) for r in pair] == [200, 200]


def test_two_processes_on_one_data_dir_share_tokens_and_revocations(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "pipgate.toml"
    config.write_text(CONFIG)
    data = tmp_path / "data"
    env = {"PIPGATE_AUTH": "required"}
    with replicas([data, data], upstream, config, env) as pair:
        check_shared_tokens(pair, ["--data-dir", str(data)])


@pytest.mark.redis
def test_two_replicas_on_redis_share_tokens_and_revocations(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    reason = redis_unreachable_reason(SHARED_REDIS_URL)
    if reason is not None:
        pytest.skip(reason)
    config = tmp_path / "pipgate.toml"
    config.write_text(CONFIG)
    env = {"PIPGATE_AUTH": "required", "PIPGATE_CACHE_URL": SHARED_REDIS_URL}
    try:
        with replicas([tmp_path / "a", tmp_path / "b"], upstream, config, env) as pair:
            # The command runs with a data dir of its own: tokens can only come from Redis.
            where = ["--data-dir", str(tmp_path / "operator")]
            check_shared_tokens(pair, where, env={"PIPGATE_CACHE_URL": SHARED_REDIS_URL})
    finally:
        delete_pipgate_keys(SHARED_REDIS_URL)
