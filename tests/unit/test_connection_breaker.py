"""The connection breaker: while the database is unreachable, one request at a time knocks with a
connection of its own and asks the pool once that is answered (the probe), and every other fails at
once; the first answer closes it for everyone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from eventsourcing.persistence import OperationalError

from storage.breaker import ConnectionBreaker


class Database:
    """A stand-in for the pool and its server: reachable or not; counts the requests that reached them."""

    def __init__(self) -> None:
        self.up = True
        self.asked = 0
        self.knocked = 0
        self.meanwhile: Callable[[], None] | None = None  # another request, made while this one waits
        self.knock_fails_with: Exception | None = None  # an error other than a refused connection

    @contextmanager
    def get_connection(self) -> Iterator[str]:
        self.asked += 1
        if self.meanwhile is not None:
            another, self.meanwhile = self.meanwhile, None
            another()
        if not self.up:
            raise OperationalError("connection refused")
        yield "connection"

    def knock(self) -> None:
        self.knocked += 1
        if self.knock_fails_with is not None:
            raise self.knock_fails_with
        if not self.up:
            raise OperationalError("connection refused")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def connect(breaker: ConnectionBreaker) -> str:
    with breaker() as conn:
        return str(conn)


def test_after_a_failure_to_connect_requests_fail_at_once_without_asking_the_database_until_the_cooldown_ends() -> None:
    database, clock = Database(), Clock()
    breaker = ConnectionBreaker(database.get_connection, database.knock, cooldown=1.0, clock=clock)
    database.up = False
    with pytest.raises(OperationalError):
        connect(breaker)
    asked = database.asked
    database.up = True
    clock.now += 0.5
    with pytest.raises(OperationalError, match="unreachable moments ago"):
        connect(breaker)
    assert database.asked == asked
    clock.now += 0.6
    assert connect(breaker) == "connection"
    assert database.asked == asked + 1


def test_while_the_probe_waits_for_the_database_every_other_request_fails_at_once() -> None:
    database, clock = Database(), Clock()
    breaker = ConnectionBreaker(database.get_connection, database.knock, cooldown=1.0, clock=clock)
    database.up = False
    with pytest.raises(OperationalError):
        connect(breaker)
    clock.now += 2
    database.up = True
    refused: list[str] = []

    def another_request() -> None:
        with pytest.raises(OperationalError, match="unreachable moments ago") as raised:
            connect(breaker)
        refused.append(str(raised.value))

    database.meanwhile = another_request
    assert connect(breaker) == "connection"  # the probe
    assert len(refused) == 1
    assert connect(breaker) == "connection"


def test_a_probe_that_fails_opens_the_breaker_for_another_cooldown() -> None:
    database, clock = Database(), Clock()
    breaker = ConnectionBreaker(database.get_connection, database.knock, cooldown=1.0, clock=clock)
    database.up = False
    with pytest.raises(OperationalError):
        connect(breaker)
    clock.now += 2
    with pytest.raises(OperationalError, match="connection refused"):
        connect(breaker)
    database.up = True
    clock.now += 0.5
    with pytest.raises(OperationalError, match="unreachable moments ago"):
        connect(breaker)
    clock.now += 0.6
    assert connect(breaker) == "connection"
    assert connect(breaker) == "connection"


def test_a_probe_the_database_refuses_opens_the_breaker_again_without_waiting_for_the_pool() -> None:
    database, clock = Database(), Clock()
    breaker = ConnectionBreaker(database.get_connection, database.knock, cooldown=1.0, clock=clock)
    database.up = False
    with pytest.raises(OperationalError):
        connect(breaker)
    asked = database.asked
    clock.now += 2
    with pytest.raises(OperationalError, match="connection refused"):
        connect(breaker)
    assert database.knocked == 1
    assert database.asked == asked
    with pytest.raises(OperationalError, match="unreachable moments ago"):
        connect(breaker)


def test_only_the_probe_knocks_and_once_the_breaker_is_closed_nobody_does() -> None:
    database, clock = Database(), Clock()
    breaker = ConnectionBreaker(database.get_connection, database.knock, cooldown=1.0, clock=clock)
    assert connect(breaker) == "connection"
    assert database.knocked == 0
    database.up = False
    with pytest.raises(OperationalError):
        connect(breaker)
    database.up = True
    clock.now += 2
    assert connect(breaker) == "connection"
    assert connect(breaker) == "connection"
    assert database.knocked == 1


def test_an_error_of_a_query_does_not_open_the_breaker() -> None:
    database, clock = Database(), Clock()
    breaker = ConnectionBreaker(database.get_connection, database.knock, cooldown=1.0, clock=clock)
    with pytest.raises(OperationalError, match="server closed the connection"), breaker():
        raise OperationalError("server closed the connection unexpectedly")
    assert connect(breaker) == "connection"
    assert database.knocked == 0


def test_a_probe_that_fails_with_another_error_lets_the_next_probe_try_after_the_cooldown() -> None:
    database, clock = Database(), Clock()
    breaker = ConnectionBreaker(database.get_connection, database.knock, cooldown=1.0, clock=clock)
    database.up = False
    with pytest.raises(OperationalError):
        connect(breaker)
    clock.now += 2
    database.knock_fails_with = ValueError("a setting the driver rejects")
    with pytest.raises(ValueError, match="driver rejects"):
        connect(breaker)
    database.knock_fails_with = None
    database.up = True
    clock.now += 2
    assert connect(breaker) == "connection"
