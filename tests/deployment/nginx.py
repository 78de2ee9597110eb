"""nginx with the shipped template and TLS, on ports bound here and handed over: for the deployment tests
and the bench.

The config is rendered from deploy/nginx/templates/default.conf.template the way
the nginx image does it (every ``${KIRBY_...}`` replaced from the environment),
so what is tested and measured is the file docker-compose ships. No Django here:
bench/ imports this module too.
"""

import errno
import http.client
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "default.conf.template"
MAKE_CERTS = ROOT / "deploy" / "make-certs.sh"
NGINX = os.environ.get("KIRBY_NGINX_BIN", "/usr/sbin/nginx")
VARIABLE = re.compile(r"\$\{(KIRBY_\w+)\}")


def render_template(values, text=None):
    """The template with its ``${KIRBY_...}`` variables filled in (envsubst with the image's KIRBY_ filter)."""
    text = TEMPLATE.read_text() if text is None else text
    missing = sorted(set(VARIABLE.findall(text)) - values.keys())
    assert not missing, f"the nginx template needs {missing}"
    return VARIABLE.sub(lambda match: str(values[match.group(1)]), text)


def make_certs(directory):
    """The test CA and a certificate for localhost/127.0.0.1, made by the script behind `make certs`."""
    subprocess.run(["sh", str(MAKE_CERTS), str(directory), "localhost", "127.0.0.1"], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    return Path(directory) / "ca.crt"


def listen(port=0, timeout=10):
    """A listening socket on ``port`` (0: any free one), to hand to a server: no other process can take the
    port between choosing and binding it. The same port again (a restart) may be held a moment longer by a
    connection that used it as its local port: wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_server(("127.0.0.1", port), backlog=128)
        except OSError as error:
            if error.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def answers(port):
    """Whether an HTTP server on ``port`` answers a request (any status)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/livez")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


class Process:
    """A server in its own process group, serving sockets bound here and handed over (inherited file
    descriptors); ``kill()`` ends it and its workers at once, as a dying container, and so closes them.

    ``command(fds)`` gives the server's argv and extra environment for the listening sockets ``fds``
    (``len(ports)`` of them, ``port`` the first); ``restart()`` binds the same ports again.
    """

    def __init__(self, command, log_path, env=None, sockets=1):
        self.command, self.env = command, env
        self.ports = [0] * sockets
        self.log_path = Path(log_path)
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self._start()

    @property
    def port(self):
        return self.ports[0]

    def _start(self):
        listeners = [listen(port) for port in self.ports]
        self.ports = [listener.getsockname()[1] for listener in listeners]
        fds = [listener.fileno() for listener in listeners]
        try:
            argv, env = self.command(fds)
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env={**(self.env or os.environ), **env}, stdout=self._log, stderr=subprocess.STDOUT,
                pass_fds=fds, start_new_session=True,
            )  # fmt: skip
        finally:
            for listener in listeners:
                listener.close()  # the server holds its own copies: they close when it dies

    def restart(self):
        """After ``kill()``: the same server on the same port again."""
        self.kill()
        self._start()
        return self.ready()

    def ready(self, timeout=60):
        """Once the server answers HTTP (a bound socket accepts connections before anyone serves them).
        Django starting in every worker takes seconds, more on a busy machine."""
        deadline = time.monotonic() + timeout
        while not answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {self.process.returncode}" if self.process.poll() is not None else "silent"
                raise AssertionError(f"server on {self.port} {state}:\n{self.log_path.read_text()[-5000:]}")
            time.sleep(0.1)
        return self

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def terminate(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self):
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class Nginx(Process):
    """nginx with the shipped template, on ports bound here, its logs and state under ``root``.

    nginx takes listening sockets from its parent through the ``NGINX`` environment variable (as in its
    binary upgrade) and serves a ``listen`` address from the inherited socket bound to it.
    """

    def __init__(self, root, web_ports, ws_ports, cert_dir):
        root = Path(root)
        self.root, self.web_ports, self.ws_ports, self.cert_dir = root, web_ports, ws_ports, Path(cert_dir)
        self.access_log, self.error_log = root / "access.log", root / "error.log"
        (root / "static").mkdir(exist_ok=True)
        super().__init__(self._command, root / "nginx.out", sockets=2)

    @property
    def http_port(self):
        return self.ports[0]

    @property
    def https_port(self):
        return self.ports[1]

    def _command(self, fds):
        root = self.root
        site = render_template(
            {
                "KIRBY_NGINX_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
                "KIRBY_NGINX_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
                "KIRBY_HTTPS_PORT": self.https_port,
                "KIRBY_TLS_CERT_FILE": self.cert_dir / "tls.crt",
                "KIRBY_TLS_KEY_FILE": self.cert_dir / "tls.key",
                "KIRBY_NGINX_WEB_SERVERS": "".join(f"server 127.0.0.1:{port};" for port in self.web_ports),
                "KIRBY_NGINX_WS_SERVERS": "".join(f"server 127.0.0.1:{port};" for port in self.ws_ports),
                "KIRBY_NGINX_LOG_DIR": root,
                "KIRBY_NGINX_STATIC_ROOT": f"{root}/static/",
            }
        )
        (root / "kirby.conf").write_text(site)
        # What the nginx image's own nginx.conf provides around conf.d, with every path under root.
        temp = "".join(
            f"{name}_temp_path {root}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (root / "nginx.conf").write_text(
            f"worker_processes 1; pid {root}/nginx.pid; error_log {self.error_log} warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{ {temp} include {root}/kirby.conf; }}\n"
        )
        argv = [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"]
        return argv, {"NGINX": "".join(f"{fd};" for fd in fds)}

    def logs(self):
        return self.access_log.read_text() + self.error_log.read_text()
