"""nginx with the shipped template and TLS, on ephemeral ports: for the deployment tests and the bench.

The config is rendered from deploy/nginx/templates/default.conf.template the way
the nginx image does it (every ``${KIRBY_...}`` replaced from the environment),
so what is tested and measured is the file docker-compose ships. No Django here:
bench/ imports this module too.
"""

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


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def wait_for_port(port, process, log, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{Path(log).read_text()[-5000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout} s:\n{Path(log).read_text()[-5000:]}")


class Process:
    """A server in its own process group: ``kill()`` ends it and its workers at once, as a dying container."""

    def __init__(self, argv, port, log_path, env=None):
        self.argv, self.port, self.env = argv, port, env
        self.log_path = Path(log_path)
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self._start()

    def _start(self):
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def restart(self):
        """After ``kill()``: the same server on the same port again."""
        self.kill()
        self._start()
        return self.ready()

    def ready(self, timeout=30):
        wait_for_port(self.port, self.process, self.log_path, timeout)
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
    """nginx with the shipped template, on ephemeral ports, its logs and state under ``root``."""

    def __init__(self, root, web_ports, ws_ports, cert_dir):
        root = Path(root)
        self.root = root
        self.http_port, self.https_port = free_port(), free_port()
        self.access_log, self.error_log = root / "access.log", root / "error.log"
        (root / "static").mkdir(exist_ok=True)
        site = render_template(
            {
                "KIRBY_NGINX_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
                "KIRBY_NGINX_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
                "KIRBY_HTTPS_PORT": self.https_port,
                "KIRBY_TLS_CERT_FILE": Path(cert_dir) / "tls.crt",
                "KIRBY_TLS_KEY_FILE": Path(cert_dir) / "tls.key",
                "KIRBY_NGINX_WEB_SERVERS": "".join(f"server 127.0.0.1:{port};" for port in web_ports),
                "KIRBY_NGINX_WS_SERVERS": "".join(f"server 127.0.0.1:{port};" for port in ws_ports),
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
        super().__init__(argv, self.https_port, root / "nginx.out")

    def logs(self):
        return self.access_log.read_text() + self.error_log.read_text()
