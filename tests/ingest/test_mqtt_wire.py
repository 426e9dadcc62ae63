"""The workers' MQTT 5 subscriber against a scripted peer: packets split across reads,
properties skipped, PUBACKs batched and sent only on the connection a message came on."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

from beffroi.ingest.mqtt_wire import Delivery, WireSubscriber, _packet, _utf8, _varint


def publish(topic: str, payload: bytes, packet_id: int, props: bytes = b"") -> bytes:
    body = _utf8(topic) + struct.pack("!H", packet_id) + _varint(len(props)) + props + payload
    return _packet(0x32, body)  # PUBLISH, QoS 1


def test_split_packets_skipped_properties_and_batched_acks() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received: list[Delivery] = []
    acks = bytearray()

    def peer() -> None:
        conn, _ = server.accept()
        connect = conn.recv(4096)
        assert connect[0] == 0x10 and b"MQTT\x05" in connect and b"w-1" in connect
        conn.sendall(b"\x20\x03\x00\x00\x00")  # CONNACK, success, no properties
        subscribe = conn.recv(4096)
        assert subscribe[0] == 0x82 and b"$share/g/beffroi/+/readings" in subscribe
        conn.sendall(b"\x90\x04\x00\x01\x00\x01")  # SUBACK: granted QoS 1
        big = b"x" * 300  # a remaining length over 127: two bytes
        stream = (publish("beffroi/t/readings", b'{"a":1}', 7, props=b"\x01\x01")  # format ind.
                  + publish("beffroi/t/readings", big, 8)
                  + publish("beffroi/t/assets/u/m", b"21.5", 9))
        for i in range(0, len(stream), 5):  # five bytes at a time
            conn.sendall(stream[i:i + 5])
            time.sleep(0.001)
        deadline = time.monotonic() + 5
        conn.settimeout(0.2)
        while len(acks) < 12 and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                acks.extend(conn.recv(100))
        conn.close()

    thread = threading.Thread(target=peer, daemon=True)
    thread.start()
    client = WireSubscriber("127.0.0.1", port, "w-1", ["$share/g/beffroi/+/readings"],
                            on_batch=received.extend)
    reader = threading.Thread(target=client.run, daemon=True)
    reader.start()
    deadline = time.monotonic() + 5
    while len(received) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(d.topic, d.payload, d.packet_id) for d in received] == [
        ("beffroi/t/readings", b'{"a":1}', 7), ("beffroi/t/readings", b"x" * 300, 8),
        ("beffroi/t/assets/u/m", b"21.5", 9)]
    stale = Delivery("beffroi/t/readings", b"", 99, received[0].generation - 1)
    assert client.ack([*received, stale]) == 3  # one write; the stale one is not acknowledged
    thread.join(5)
    assert bytes(acks) == b"\x40\x02\x00\x07\x40\x02\x00\x08\x40\x02\x00\x09"
    client.stop()
    reader.join(5)
    server.close()


def test_a_refused_connection_is_retried_not_fatal() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    attempts = []

    def peer() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            conn.recv(4096)
            attempts.append(1)
            conn.sendall(b"\x20\x03\x00\x86\x00")  # CONNACK: bad user name or password
            conn.close()

    threading.Thread(target=peer, daemon=True).start()
    client = WireSubscriber("127.0.0.1", port, "w-2", ["beffroi/+/readings"],
                            on_batch=lambda _d: None)
    reader = threading.Thread(target=client.run, daemon=True)
    reader.start()
    deadline = time.monotonic() + 5
    while len(attempts) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(attempts) == 2 and not client.connected.is_set()
    client.stop()
    reader.join(5)
    server.close()
