#!/usr/bin/python3
"""An SSH server that breaks, or uses the corners of, SSH's rules, for the worker's tests.

Built on paramiko (Debian's python3-paramiko), whose channels can be driven by hand:
neither our simulator (russh) nor OpenSSH's sshd can be made to send an oversized packet.
Prints "<port> <host key line>" on stdout once it listens on 127.0.0.1, then serves every
connection until killed. Any username and password log in. Every exec request is
answered with 128 KiB of text, by username:

- `oversized`: in one 128 KiB CHANNEL_DATA packet, whatever the client advertised;
  exit status 0;
- `killed`: the first 48 KiB, then `exit-signal` KILL (what OpenSSH's sshd sends when the
  command is killed), then the channel closed;
- any other: in packets of the size the client advertised; exit status 0.
"""

import socket
import sys
import threading

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message

BODY = b"".join(b"line %06d of a configuration that is longer than one packet\n" % i
                for i in range(2200))[:131072]


class Server(paramiko.ServerInterface):
    def __init__(self):
        self.username = None
        self.ready = threading.Event()

    def get_allowed_auths(self, username):
        return "password"

    def check_auth_password(self, username, password):
        self.username = username
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        self.ready.set()
        return True


def send_exit_signal(channel, name, message):
    """RFC 4254 6.10, as paramiko's send_exit_status sends exit-status."""
    m = Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(channel.remote_chanid)
    m.add_string("exit-signal")
    m.add_boolean(False)
    m.add_string(name)
    m.add_boolean(False)
    m.add_string(message)
    m.add_string("")
    channel.transport._send_user_message(m)


def serve(conn, host_key):
    transport = paramiko.Transport(conn)
    transport.add_server_key(host_key)
    server = Server()
    try:
        transport.start_server(server=server)
        channel = transport.accept(20)
        if channel is None or not server.ready.wait(20):
            return
        if server.username == "oversized":
            # paramiko sends at most out_max_packet_size - 64 bytes a packet, and the
            # client's window (russh: 2 MiB) lets all of it through at once.
            channel.out_max_packet_size = len(BODY) + 64
        if server.username == "killed":
            channel.sendall(BODY[:49152])
            send_exit_signal(channel, "KILL", "Killed")
        else:
            channel.sendall(BODY)
            channel.send_exit_status(0)
        channel.close()
        # Wait for the client to end the connection (or to have ended it already).
        transport.join(20)
    except (EOFError, OSError, paramiko.SSHException):
        pass
    finally:
        transport.close()


def main():
    host_key = paramiko.ECDSAKey.generate()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    print(f"{port} {host_key.get_name()} {host_key.get_base64()}", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, host_key), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
