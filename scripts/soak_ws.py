#!/usr/bin/env python3
"""Subscribers for the soak test: N WebSocket connections (graphql-transport-ws, standard library only), each
subscribed to a dossier's status and to a unit's indicator report, reading until the time is up.
   soak_ws.py HOST:PORT CONNECTIONS SECONDS DOSSIER_CODE
Prints one line: connections, messages received, errors and unexpected closes."""
import base64, json, os, socket, struct, sys, threading, time

host, port = sys.argv[1].split(":")
n, secs, code = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
stats = {"messages": 0, "errors": 0, "closed": 0}
lock = threading.Lock()


def send(sock, obj):
    data = json.dumps(obj).encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(data))
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def recv_exact(sock, k):
    out = b""
    while len(out) < k:
        chunk = sock.recv(k - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def recv(sock):
    b0, b1 = recv_exact(sock, 2)
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", recv_exact(sock, 8))[0]
    return b0 & 0x0F, recv_exact(sock, length)


def client(i, deadline):
    try:
        sock = socket.create_connection((host, int(port)), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /graphql/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(1)
        if b" 101 " not in response.split(b"\r\n")[0]:
            raise ConnectionError(response.split(b"\r\n")[0].decode())
        send(sock, {"type": "connection_init"})
        recv(sock)
        send(sock, {"id": "s", "type": "subscribe", "payload": {
            "query": "subscription($c: String!) { dossierStatusChanged(code: $c) { code status } }", "variables": {"c": code}}})
        send(sock, {"id": "r", "type": "subscribe", "payload": {
            "query": 'subscription { indicatorReportChanged(unitCode: "49", period: { year: 2024 }) { total } }'}})
        sock.settimeout(1)
        while time.time() < deadline:
            try:
                op, payload = recv(sock)
            except socket.timeout:
                continue
            if op == 8:
                with lock:
                    stats["closed"] += 1
                return
            if op == 1:
                msg = json.loads(payload)
                with lock:
                    if msg.get("type") == "error" or (msg.get("payload") or {}).get("errors"):
                        stats["errors"] += 1
                    else:
                        stats["messages"] += 1
    except Exception as e:  # noqa: BLE001 - a soak counts every failure
        with lock:
            stats["errors"] += 1
        print(f"subscriber {i}: {e}", file=sys.stderr)


deadline = time.time() + secs
threads = [threading.Thread(target=client, args=(i, deadline)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"subscribers: {n} connections, {stats['messages']} messages, {stats['errors']} errors, {stats['closed']} closed early")
