"""conf.round_trip: the lean Redis round trip of the requests every pod makes (the
key's check, the throttle's count, the lane's wake). Against a real Redis when one
answers on 127.0.0.1:6379, else skipped."""

import os
import threading
import uuid

import pytest
import redis

from promotions.conf import round_trip

URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def client():
    client = redis.Redis.from_url(URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


@pytest.fixture
def key():
    return f"test:{uuid.uuid4().hex}"


def test_replies_come_back_raw_and_in_order(client, key):
    replies = round_trip(client, [("INCR", key), ("EXPIRE", key, 60), ("GET", key), ("GET", f"{key}:none")])
    assert replies == [1, 1, b"1", None]
    assert round_trip(client, [("SET", f"{key}:flag", 1, "NX", "EX", 30)]) == [b"OK"]
    assert round_trip(client, [("SET", f"{key}:flag", 1, "NX", "EX", 30)]) == [None]


def test_an_error_reply_is_raised_after_every_reply_is_read(client, key):
    client.set(key, "text")
    with pytest.raises(redis.ResponseError):
        round_trip(client, [("INCR", key), ("SET", f"{key}:after", 1)])
    assert client.get(f"{key}:after") == b"1"  # the command after the error ran
    assert round_trip(client, [("GET", key)]) == [b"text"]  # and its reply did not linger


def test_a_dropped_connection_is_made_again(client, key):
    [my_id] = round_trip(client, [("CLIENT", "ID")])
    client.client_kill_filter(_id=my_id)
    assert round_trip(client, [("INCR", key)]) == [1]
    [new_id] = round_trip(client, [("CLIENT", "ID")])
    assert new_id != my_id


def test_each_thread_and_process_has_its_own_connection(client):
    [mine] = round_trip(client, [("CLIENT", "ID")])
    theirs = []
    thread = threading.Thread(target=lambda: theirs.extend(round_trip(client, [("CLIENT", "ID")])))
    thread.start()
    thread.join()
    assert theirs and theirs[0] != mine
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's own coverage is not collected)
        os.write(write, str(round_trip(client, [("CLIENT", "ID")])[0]).encode())
        os._exit(0)
    os.waitpid(child, 0)
    assert int(os.read(read, 64)) not in (mine, theirs[0])
    assert round_trip(client, [("CLIENT", "ID")]) == [mine]  # the parent's connection was left alone
