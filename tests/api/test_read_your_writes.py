"""Read-your-writes: a read with `min_position` is answered at that position or later, never earlier.

The projection runner may see the fact index hold a position while another
thread is still telling its listeners — among them the queries' in-memory
source. A slow listener stands in for a large refresh, which makes that window
wide enough to hit every time: `wait` must not return before the source has the
position.
"""

from __future__ import annotations

import threading
import time

from bootstrap import open_ledger
from tests.api.conftest import STAFF, Api, World, redeem
from tests.api.test_reads import DATAFILE, container
from tests.conftest import CALENDAR, FAST_HASHER, run


def slow_listener(_position: int) -> None:
    time.sleep(0.3)


def test_min_position_is_honoured_even_when_the_query_source_refreshes_late(api: Api, world: World) -> None:
    system = container(api).system
    system.runner.stop()
    system.runner.listeners.insert(0, slow_listener)
    redeemed = redeem(api, STAFF[0], world.code).json()

    catching_up = threading.Thread(target=system.runner.catch_up)
    catching_up.start()
    response = api.check(person_id=STAFF[0], at="2025-07-08", min_position=redeemed["position"], **DATAFILE)
    catching_up.join()

    assert response.status_code == 200, response.text
    assert response.json()["position"] >= redeemed["position"]
    assert response.json()["allowed"] is True


def test_a_position_as_of_is_read_at_that_position_even_when_the_query_source_refreshes_late(
    api: Api, world: World
) -> None:
    system = container(api).system
    system.runner.stop()
    system.runner.listeners.insert(0, slow_listener)
    redeemed = redeem(api, STAFF[0], world.code).json()

    catching_up = threading.Thread(target=system.runner.catch_up)
    catching_up.start()
    response = api.check(person_id=STAFF[0], at="2025-07-08", as_of=redeemed["position"], min_position=None, **DATAFILE)
    catching_up.join()

    assert response.json()["position"] == redeemed["position"]
    assert response.json()["allowed"] is True


def test_runner_wait_returns_only_once_the_queries_can_read_that_position(store_url: str) -> None:
    system = open_ledger(store_url, calendar=CALENDAR, hasher=FAST_HASHER, follow=False)
    try:
        position = run(system, type="register_district", district_id="D-9", name="Nine").position
        system.runner.listeners.insert(0, slow_listener)
        seen: list[int] = []

        def reader() -> None:
            system.runner.wait(position, 5)
            seen.append(system.queries.position(None))

        waiting = threading.Thread(target=reader)
        waiting.start()
        time.sleep(0.05)
        system.runner.catch_up()
        waiting.join()
        assert seen == [position]
    finally:
        system.close()
