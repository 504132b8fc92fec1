"""The tutorial's final server (part3/webserver3g.py) for benchmarks: fork per connection, a
SIGCHLD handler looping waitpid(-1, WNOHANG), the canned 31-byte response. Quiet (no printing) so
that it is compared with `concurrent-final.js --quiet`. Prints the serving line like forkserve.

    python3 bench/python/tutorial_fork_server.py [port]
"""
import errno
import os
import signal
import socket
import sys

SERVER_ADDRESS = (HOST, PORT) = '127.0.0.1', int(sys.argv[1]) if len(sys.argv) > 1 else 8888
REQUEST_QUEUE_SIZE = 1024
RESPONSE = b"HTTP/1.1 200 OK\n\nHello, World!\n"


def grim_reaper(signum, frame):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except OSError:
            return
        if pid == 0:
            return


def handle_request(client_connection):
    client_connection.recv(1024)
    client_connection.sendall(RESPONSE)


def serve_forever():
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen_socket.bind(SERVER_ADDRESS)
    listen_socket.listen(REQUEST_QUEUE_SIZE)
    print('Serving HTTP on port {port} ...'.format(port=listen_socket.getsockname()[1]), flush=True)
    signal.signal(signal.SIGCHLD, grim_reaper)
    while True:
        try:
            client_connection, client_address = listen_socket.accept()
        except IOError as e:
            if e.args[0] == errno.EINTR:
                continue
            raise
        pid = os.fork()
        if pid == 0:
            listen_socket.close()
            handle_request(client_connection)
            client_connection.close()
            os._exit(0)
        else:
            client_connection.close()


if __name__ == '__main__':
    serve_forever()
