"""docker-compose.yml, the Dockerfile and the nginx config describe a stack that can start.

Docker is not available where the tests run, so these tests read the files and
check what an operator would otherwise find out at `docker compose up`: a
command naming a management command, Celery app or WSGI/ASGI application that
does not exist, a health check that can never pass, a volume or mounted file
that is missing, a queue nobody consumes, a secret written into the repository.
"""

import fnmatch
import importlib
import json
import re
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from celery.utils.imports import symbol_by_name
from django.conf import settings
from django.core.management import get_commands
from django.http.request import validate_host
from django.urls import Resolver404, get_resolver, resolve
from gunicorn.util import load_class
from gunicorn.workers.sync import SyncWorker

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAKE_CERTS = ROOT / "deploy" / "make-certs.sh"

KIRBY_PROGRAMS = {"python", "celery", "gunicorn", "daphne"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|(^|_)KEY$", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<operator>:?[-?+])[^}]*)?\}")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def without_interpolation(value):
    """`value` with each `${VAR...}` replaced by a URL-safe `__env_VAR__`, as compose would fill it in."""
    return INTERPOLATION.sub(lambda match: f"__env_{match.group('name')}__", value)


def with_compose_defaults(value):
    """`value` as compose fills it in when the variables are unset: `${VAR:-default}` is default."""
    return INTERPOLATION.sub(
        lambda match: match.group(0).split("-", 1)[1][:-1] if match.group("operator") in ("-", ":-") else "",
        value,
    )


def load_compose():
    with COMPOSE_FILE.open() as handle:
        return yaml.safe_load(handle)


COMPOSE = load_compose()
SERVICES = COMPOSE["services"]


def as_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(item) for item in value]


def environment(service):
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: None if value is None else str(value) for key, value in env.items()}


def depends_on(service):
    deps = SERVICES[service].get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def one_shot_services():
    """Services others wait for to finish: jobs, not processes."""
    return {
        target
        for service in SERVICES
        for target, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }


def long_running_services():
    return [name for name in SERVICES if name not in one_shot_services()]


def dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_cmd():
    cmds = [rest for keyword, rest in dockerfile_instructions() if keyword == "CMD"]
    if not cmds:
        return []
    try:
        return json.loads(cmds[-1])
    except json.JSONDecodeError:
        return shlex.split(cmds[-1])


def command(service):
    """The argv the service runs: its `command:`, or the image's CMD for our image."""
    argv = as_list(SERVICES[service].get("command"))
    if not argv and "build" in SERVICES[service]:
        argv = dockerfile_cmd()
    return argv


def programs(argv):
    """Split `sh -c "a && b"` into its programs; anything else is one program."""
    if len(argv) >= 3 and argv[0] in ("sh", "bash") and argv[1] == "-c":
        return [shlex.split(part) for part in re.split(r"&&|;|\|\|", argv[2]) if part.strip()]
    return [argv]


def runs_kirby_code(service):
    return any(argv and argv[0] in KIRBY_PROGRAMS for argv in programs(command(service)))


def kirby_services():
    return [name for name in SERVICES if runs_kirby_code(name)]


def option(argv, *names):
    """The value of the first of `names` in argv (`-Q x`, `--queues=x`), or None."""
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                return argv[index + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def celery_workers():
    """{service: argv} for services running `celery ... worker`."""
    return {
        name: argv
        for name in SERVICES
        for argv in programs(command(name))
        if argv and argv[0] == "celery" and "worker" in argv
    }


def worker_queues(argv):
    raw = option(argv, "-Q", "--queues")
    return [] if raw is None else [queue.strip() for queue in raw.split(",")]


def bound_port(service):
    """The TCP port the service's HTTP server listens on, from its command."""
    for argv in programs(command(service)):
        if argv and argv[0] == "gunicorn":
            bind = option(argv, "-b", "--bind") or "127.0.0.1:8000"
            return int(bind.rsplit(":", 1)[1])
        if argv and argv[0] == "daphne":
            return int(option(argv, "-p", "--port") or 8000)
    return None


def healthcheck_argv(service):
    """(argv, raw text) of the service's health check command."""
    test = as_list((SERVICES[service].get("healthcheck") or {}).get("test"))
    if not test:
        return [], ""
    if test[0] == "CMD-SHELL":
        raw = " ".join(test[1:])
        return shlex.split(raw.replace("$$", "$")), raw
    if test[0] == "CMD":
        return test[1:], " ".join(test[1:])
    return test, " ".join(test)


def import_application(target):
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute or "application")


def gunicorn_worker_class(argv):
    """The worker class gunicorn would load: from argv, else from the ``--config python:module``, else sync."""
    name = option(argv, "-k", "--worker-class")
    config = option(argv, "-c", "--config")
    if name is None and config and config.startswith("python:"):
        name = getattr(importlib.import_module(config.removeprefix("python:")), "worker_class", None)
    return load_class(name or "sync", section="gunicorn.workers", default="sync")


def mounts(service):
    """(source, target) of every volume entry of the service."""
    result = []
    for entry in SERVICES[service].get("volumes") or []:
        if isinstance(entry, dict):
            result.append((str(entry.get("source", "")), str(entry.get("target", ""))))
        else:
            parts = str(entry).split(":")
            result.append((parts[0], parts[1] if len(parts) > 1 else parts[0]))
    return result


def is_path(source):
    return source.startswith((".", "/", "~"))


def nginx_conf_path():
    """The Kirby site template the nginx image renders at start (its templates directory is mounted)."""
    for source, target in mounts("nginx"):
        if is_path(source) and target == "/etc/nginx/templates":
            templates = sorted((ROOT / source).glob("*.conf.template"))
            return templates[0] if templates else None
    return None


def nginx_rendered():
    """The template as the nginx image renders it, from the nginx service's environment (compose defaults)."""
    env = {name: with_compose_defaults(value) for name, value in environment("nginx").items()}
    return re.sub(r"\$\{(KIRBY_\w+)\}", lambda match: env[match.group(1)], nginx_conf_path().read_text())


def nginx_servers():
    """{"http" | "https": text of that server block} of the rendered config."""
    text = re.sub(r"#[^\n]*", "", nginx_rendered())
    blocks = re.split(r"(?m)^server\s*\{", text)[1:]
    return {("https" if re.search(r"\blisten\s+\S+\s+ssl\b", block) else "http"): block for block in blocks}


def nginx_config(server="https"):
    """([(modifier, pattern, body)] in file order, {upstream: [host:port]}) of one server of the nginx config."""
    text = re.sub(r"#[^\n]*", "", nginx_rendered())
    upstreams = {
        name: re.findall(r"\bserver\s+(\S+?)[\s;]", body)
        for name, body in re.findall(r"\bupstream\s+(\w+)\s*\{([^{}]*)\}", text)
    }
    body = nginx_servers()[server]
    locations = re.findall(r"\blocation\s+(=|~\*|~|\^~)?\s*(\S+)\s*\{([^{}]*)\}", body, flags=re.DOTALL)
    return locations, upstreams


def nginx_route(path, server="https"):
    """The body of the location block nginx picks for a request to `path` (nginx's matching order)."""
    locations, _ = nginx_config(server)
    for modifier, pattern, body in locations:
        if modifier == "=" and pattern == path:
            return body
    prefixes = [(pattern, modifier, body) for modifier, pattern, body in locations if modifier in ("", "^~")]
    prefixes = sorted((entry for entry in prefixes if path.startswith(entry[0])), key=lambda entry: -len(entry[0]))
    if prefixes and prefixes[0][1] == "^~":
        return prefixes[0][2]
    for modifier, pattern, body in locations:
        if modifier in ("~", "~*") and re.search(pattern, path, flags=re.IGNORECASE if modifier == "~*" else 0):
            return body
    return prefixes[0][2] if prefixes else None


def nginx_upstream(path, server="https"):
    """(service, port) that nginx proxies a request for `path` to, or None."""
    body = nginx_route(path, server) or ""
    match = re.search(r"\bproxy_pass\s+(\S+?);", body)
    if match is None:
        return None
    parts = urlsplit(match.group(1))
    servers = nginx_config(server)[1].get(parts.hostname)
    if servers:
        assert len(servers) == 1, f"upstream {parts.hostname} lists several servers: scale with Docker instead"
        host, _, port = servers[0].rpartition(":")
        return host, int(port)
    return parts.hostname, parts.port or 80


def dockerignored(path):
    """Whether .dockerignore keeps `path` (relative, posix) out of the build context."""
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    ignored = False
    for pattern in patterns:
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        candidates = [path] + [path.rsplit("/", depth)[0] for depth in range(1, path.count("/") + 1)]
        globs = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        if any(
            fnmatch.fnmatch(candidate, glob) or candidate.endswith("/" + glob)
            for candidate in candidates
            for glob in globs
        ):
            ignored = not negate
    return ignored


def test_every_long_running_service_has_a_healthcheck():
    for name in long_running_services():
        healthcheck = SERVICES[name].get("healthcheck") or {}
        argv, _ = healthcheck_argv(name)
        assert argv and argv != ["NONE"] and not healthcheck.get("disable"), f"service {name!r} has no health check"


def test_one_shot_jobs_run_once_instead_of_restarting_forever():
    jobs = one_shot_services()
    assert "migrate" in jobs, "nothing waits for the migrate job to complete"
    for name in jobs:
        restart = str(SERVICES[name].get("restart", "no"))
        assert restart in ("no", "on-failure"), f"one-shot service {name!r} has restart: {restart}"


def test_every_process_using_the_database_waits_for_migrations():
    for name in kirby_services():
        if name in one_shot_services():
            continue
        assert depends_on(name).get("migrate") == "service_completed_successfully", (
            f"service {name!r} may start before `migrate` has finished"
        )
        for backing in ("postgres", "redis"):
            assert depends_on(name).get(backing) == "service_healthy", (
                f"service {name!r} does not wait for {backing} to be healthy"
            )


def test_every_depends_on_target_is_a_defined_service_in_a_state_it_can_reach():
    for name in SERVICES:
        for target, condition in depends_on(name).items():
            assert target in SERVICES, f"service {name!r} depends on undefined service {target!r}"
            if condition == "service_healthy":
                assert SERVICES[target].get("healthcheck"), (
                    f"service {name!r} waits for {target!r} to be healthy, but {target!r} has no health check"
                )
            assert condition in ("service_started", "service_healthy", "service_completed_successfully"), (
                f"service {name!r} depends on {target!r} with unknown condition {condition!r}"
            )


def test_every_service_running_kirby_code_uses_the_image_built_from_the_repo_dockerfile():
    assert DOCKERFILE.is_file(), "Dockerfile is missing"
    names = kirby_services()
    assert {"web", "ws", "worker", "collectors", "beat", "migrate"} <= set(names)
    images = set()
    for name in names:
        build = SERVICES[name].get("build")
        assert build, f"service {name!r} runs Kirby code but is not built from the repo"
        if isinstance(build, str):
            build = {"context": build}
        context = (ROOT / build.get("context", ".")).resolve()
        assert context == ROOT, f"service {name!r} builds from {context}, not the repo root"
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, (
            f"service {name!r} is built from another Dockerfile"
        )
        images.add(SERVICES[name].get("image"))
    assert len(images) == 1, f"Kirby services tag different images: {sorted(map(str, images))}"


def test_third_party_images_are_pinned_to_a_version():
    for name, service in SERVICES.items():
        if "build" in service:
            continue
        image = service.get("image", "")
        _, _, tag = image.rpartition(":")
        assert ":" in image and tag and tag != "latest", f"service {name!r} uses unpinned image {image!r}"


def test_the_dockerfile_copies_and_installs_files_that_exist():
    instructions = dockerfile_instructions()
    assert instructions[0][0] in ("FROM", "ARG"), "Dockerfile does not start with FROM"
    assert any(keyword == "FROM" and rest.startswith("python:3.11") for keyword, rest in instructions)
    copied = set()
    for keyword, rest in instructions:
        if keyword == "COPY":
            *sources, _ = [arg for arg in shlex.split(rest) if not arg.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies {source!r}, which does not exist"
                assert source == "." or not dockerignored(source), f".dockerignore hides {source!r} from COPY"
                copied.add(source)
        if keyword == "RUN":
            for requirement in re.findall(r"(?:-r|--requirement)\s+(\S+)", rest):
                assert (ROOT / requirement).is_file(), f"Dockerfile installs {requirement!r}, which does not exist"
                assert requirement in copied or "." in copied, f"{requirement!r} is installed before it is copied"


def test_the_image_runs_as_a_non_root_user_and_bakes_in_no_secret():
    instructions = dockerfile_instructions()
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image's processes run as root"
    for keyword, rest in instructions:
        if keyword in ("ENV", "ARG"):
            assert "SECRET_KEY" not in rest, f"Dockerfile {keyword} puts SECRET_KEY into the image: {rest}"
    collectstatic = [
        rest for keyword, rest in instructions if keyword == "RUN" and re.search(r"manage\.py\s+collectstatic", rest)
    ]
    assert collectstatic, "static files are not collected at build time"


def test_the_build_context_excludes_secrets_and_local_state_but_keeps_the_code():
    for path in (".env", ".venv", ".git", "deploy/certs/tls.key", "deploy/certs/ca.key"):
        assert dockerignored(path), f"{path} would be sent into the image"
    packages = [path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests"]
    starlistings = Path(settings.KIRBY_STARLISTINGS_FILE).resolve()
    needed = ["manage.py", "requirements.txt", *packages]
    if starlistings.is_relative_to(ROOT):
        needed.append(starlistings.relative_to(ROOT).as_posix())
    for path in needed:
        assert not dockerignored(path), f".dockerignore leaves {path} out of the image"


def test_every_management_command_in_the_stack_exists():
    known = get_commands()
    seen = 0
    for name in SERVICES:
        for argv in programs(command(name)):
            if argv[:2] == ["python", "manage.py"]:
                seen += 1
                assert len(argv) > 2 and argv[2] in known, f"service {name!r} runs unknown command {argv[2:3]}"
    assert seen, "no service runs a management command"


def test_every_python_snippet_in_the_stack_compiles():
    for name in SERVICES:
        snippets = [argv for argv in programs(command(name)) if argv[:2] == ["python", "-c"]]
        health, _ = healthcheck_argv(name)
        if health[:2] == ["python", "-c"]:
            snippets.append(health)
        for argv in snippets:
            try:
                compile(argv[2], f"<{name}>", "exec")
            except SyntaxError as error:
                pytest.fail(f"service {name!r} runs Python that does not compile: {error}")


def test_every_celery_command_loads_the_kirby_app_and_consumes_valid_queues():
    celery_programs = [
        (name, argv) for name in SERVICES for argv in programs(command(name)) if argv and argv[0] == "celery"
    ]
    assert {name for name, _ in celery_programs} >= {"worker", "collectors", "beat"}
    for name, argv in celery_programs:
        app_name = option(argv, "-A", "--app")
        assert app_name, f"service {name!r} runs celery without -A"
        assert isinstance(find_app(app_name), Celery), f"service {name!r}: -A {app_name} is not a Celery app"
        if "beat" in argv:
            app = find_app(app_name)
            scheduler = option(argv, "-S", "--scheduler") or app.conf.beat_scheduler
            assert symbol_by_name(scheduler), f"service {name!r}: beat scheduler {scheduler!r} does not import"
    consumers = {}
    for name, argv in celery_workers().items():
        queues = worker_queues(argv)
        assert queues, f"service {name!r} runs a worker without -Q: it would consume only Celery's default queue"
        declared = find_app(option(argv, "-A", "--app")).conf.task_queues
        for queue in queues:
            assert QUEUE_NAME.match(queue), f"service {name!r} consumes an invalid queue name {queue!r}"
            assert queue not in consumers, f"queue {queue!r} is consumed by both {consumers.get(queue)!r} and {name!r}"
            if declared:
                assert queue in {q.name for q in declared}, f"service {name!r} consumes undeclared queue {queue!r}"
            consumers[queue] = name


def test_every_queue_tasks_are_sent_to_is_consumed_by_a_worker():
    consumed = {queue for argv in celery_workers().values() for queue in worker_queues(argv)}
    app = find_app("kirby")
    app.loader.import_default_modules()
    destinations = {app.conf.task_default_queue: "unrouted tasks"}
    routes = app.conf.task_routes or {}
    for table in routes if isinstance(routes, list | tuple) else [routes]:
        if isinstance(table, dict):
            for pattern, route in table.items():
                if isinstance(route, dict) and route.get("queue"):
                    destinations[route["queue"]] = f"tasks matching {pattern!r}"
    for task_name, task in app.tasks.items():
        if getattr(task, "queue", None):
            destinations[task.queue] = f"task {task_name!r}"
    for queue, sender in destinations.items():
        assert queue in consumed, f"{sender} go to queue {queue!r}, which no worker consumes"


def test_the_wsgi_and_asgi_servers_point_at_importable_applications():
    servers = {}
    commands = [(f"service {name!r}", name, command(name)) for name in SERVICES]
    commands.append(("the image's default CMD", None, dockerfile_cmd()))
    for label, name, full_argv in commands:
        for argv in programs(full_argv):
            if not argv or argv[0] not in ("gunicorn", "daphne"):
                continue
            targets = [arg for arg in argv[1:] if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", arg)]
            assert targets, f"{label} runs {argv[0]} without an application"
            try:
                application = import_application(targets[-1])
            except (ImportError, AttributeError) as error:
                pytest.fail(f"{label} serves {targets[-1]}, which does not import: {error}")
            assert callable(application), f"{label}: {targets[-1]} is not callable"
            if argv[0] == "gunicorn":
                worker_class = gunicorn_worker_class(argv)
                assert issubclass(worker_class, SyncWorker), f"{label} runs gunicorn with {worker_class} workers"
                assert worker_class is not SyncWorker, f"{label}: an instance's death would cut answers in flight"
            servers[name] = (argv[0], targets[-1])
    assert servers.get("web") == ("gunicorn", "kirby.wsgi:application"), "web does not serve HTTP with gunicorn"
    assert servers.get("ws") == ("daphne", "kirby.asgi:application"), "ws does not serve WebSocket with Daphne"
    assert servers.get(None) == ("gunicorn", "kirby.wsgi:application"), "the image does not default to the web server"


def test_http_health_checks_probe_a_url_that_answers():
    not_found = get_resolver().resolve_error_handler(404)
    checked = 0
    for name in [*kirby_services(), "nginx"]:  # the monitoring services are checked below
        argv, raw = healthcheck_argv(name)
        match = re.search(r"https?://[^\s'\"]+", raw)
        if match is None:
            continue
        checked += 1
        url = urlsplit(match.group(0))
        target, port = name, url.port or 80
        if name == "nginx":
            target, port = nginx_upstream(url.path, url.scheme) or (None, None)
        assert bound_port(target) == port, f"service {name!r} probes port {port} but {target!r} listens elsewhere"
        try:
            view = resolve(url.path).func
        except Resolver404:
            view = not_found
        assert view is not not_found, f"service {name!r} probes {url.path}, which Kirby does not serve"
        allowed = environment(target).get("ALLOWED_HOSTS") or ""
        allowed = [host.strip() for host in INTERPOLATION.sub("", allowed).split(",") if host.strip()]
        assert validate_host(url.hostname, allowed), (
            f"service {name!r} probes host {url.hostname!r}, which ALLOWED_HOSTS of {target!r} rejects (400)"
        )
    assert checked >= 3, "web, ws and nginx should each be checked over HTTP"


def test_celery_health_checks_ping_their_own_worker():
    for name, argv in celery_workers().items():
        health, raw = healthcheck_argv(name)
        assert health[:1] == ["celery"] and "ping" in health, f"service {name!r} is not checked with a celery ping"
        assert option(health, "-A", "--app") == option(argv, "-A", "--app"), f"service {name!r} pings another app"
        node = (option(argv, "-n", "--hostname") or "celery@%h").split("@")[0]
        destination = option(health, "-d", "--destination") or ""
        assert destination == f"{node}@$HOSTNAME", (
            f"service {name!r} runs node {node}@%h but its health check pings {destination!r}"
        )
        assert "$$HOSTNAME" in raw or "CMD-SHELL" not in str(SERVICES[name]["healthcheck"]["test"]), (
            f"service {name!r}: write $$HOSTNAME so compose leaves it to the container's shell"
        )


def test_every_named_volume_is_declared():
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for name in SERVICES:
        for source, _ in mounts(name):
            if source and not is_path(source):
                used.add(source)
                assert source in declared, f"service {name!r} mounts undeclared volume {source!r}"
    assert "postgres-data" in used, "PostgreSQL data is not on a named volume"
    assert any(target == "/var/lib/postgresql/data" for _, target in mounts("postgres")), "postgres data not persisted"


def test_every_file_mounted_from_the_repo_exists():
    for name in SERVICES:
        for source, _ in mounts(name):
            if is_path(source):
                assert (ROOT / source).exists(), f"service {name!r} mounts {source}, which does not exist"


def test_nginx_routes_ws_to_daphne_and_everything_else_to_gunicorn():
    assert nginx_conf_path() is not None and nginx_conf_path().is_file(), "nginx mounts no Kirby config"
    routes = {"ws": ["/ws", "/ws/"], "web": ["/", "/health", "/api/v1/candles", "/admin/", "/docs", "/wsx"]}
    for service, paths in routes.items():
        for path in paths:
            upstream = nginx_upstream(path)
            assert upstream == (service, bound_port(service)), f"nginx sends {path} to {upstream}, not {service}"
            body = nginx_route(path)
            assert re.search(r"proxy_set_header\s+Host\s+\$host", body), f"nginx drops the Host header of {path}"
            if service == "ws":
                assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade", body), f"{path} drops Upgrade"
                assert re.search(r"proxy_set_header\s+Connection\s+", body), f"{path} drops Connection"
                assert re.search(r"proxy_http_version\s+1\.1", body), f"{path} needs HTTP/1.1 to upgrade"
    assert depends_on("nginx").get("web") == "service_healthy", "nginx may start before web answers"
    assert depends_on("nginx").get("ws") == "service_healthy", "nginx may start before ws answers"


def test_nginx_serves_the_static_files_the_image_collected():
    static_url = "/" + settings.STATIC_URL.strip("/") + "/"
    body = nginx_route(static_url + "admin/css/base.css") or ""
    alias = re.search(r"\balias\s+(\S+?);", body)
    assert alias, f"nginx does not serve {static_url} from disk; admin and API docs would lose their assets"
    directory = alias.group(1).rstrip("/")
    volume = next((source for source, target in mounts("nginx") if target.rstrip("/") == directory), None)
    assert volume and not is_path(volume), f"{directory} is not a volume in the nginx service"
    fillers = [name for name in kirby_services() if any(source == volume for source, _ in mounts(name))]
    assert fillers, f"no Kirby service writes the {volume!r} volume nginx serves"


def test_no_secret_is_written_into_the_compose_file():
    for name in SERVICES:
        for key, value in environment(name).items():
            if value is None:
                continue
            if SECRET_NAME.search(key):
                match = INTERPOLATION.fullmatch(value)
                assert match, f"service {name!r} sets {key} to a literal value"
                assert match.group("operator") not in ("-", ":-"), f"service {name!r} gives {key} a default value"
            password = urlsplit(without_interpolation(value)).password if "://" in value else None
            if password:
                assert re.fullmatch(r"__env_\w+__", password), f"service {name!r} writes a password into {key}"


def test_every_django_process_gets_its_secret_key_from_the_environment_with_debug_off():
    for name in kirby_services():
        env = environment(name)
        env_file = as_list(SERVICES[name].get("env_file"))
        assert "SECRET_KEY" in env or env_file, f"service {name!r} has no SECRET_KEY"
        if "SECRET_KEY" in env:
            assert INTERPOLATION.fullmatch(env["SECRET_KEY"] or ""), f"service {name!r} has a literal SECRET_KEY"
        assert str(env.get("DEBUG", "false")).lower() in ("0", "false", "no", "off"), f"{name!r} runs with DEBUG on"
        assert env.get("DATABASE_URL", "").startswith("postgres://"), f"service {name!r} has no DATABASE_URL"
        assert urlsplit(without_interpolation(env["DATABASE_URL"])).hostname in SERVICES, (
            f"service {name!r}: DATABASE_URL host unknown"
        )
        assert urlsplit(without_interpolation(env.get("REDIS_URL", ""))).hostname in SERVICES, (
            f"service {name!r}: REDIS_URL host unknown"
        )


def test_nginx_masks_api_keys_and_download_tokens_in_its_access_log():
    """The map that builds the logged request line hides ?api_key= and ?token= (the PCRE reads the same in Python)."""
    text = nginx_rendered()
    pattern, replacement = re.search(r'map \$request \$(\w+) \{\s*"~([^"]+)" "([^"]+)";', text).group(1, 2, 3)[1:]
    assert len(re.findall(r"access_log \S+ kirby;", text)) == 2 and "$kirby_masked_request" in text

    def logged(request):
        match = re.match(pattern.replace("(?<", "(?P<"), request)
        return re.sub(r"\$\{(\w+)\}", lambda name: match.group(name.group(1)), replacement) if match else request

    assert logged("GET /ws?api_key=kb_Ab3dEf9h.secretpart HTTP/1.1") == "GET /ws?api_key=*** HTTP/1.1"
    assert logged("GET /ws?x=1&api_key=kb_Ab3dEf9h.secret&y=2 HTTP/1.1") == "GET /ws?x=1&api_key=***&y=2 HTTP/1.1"
    assert logged("GET /exports/7/files/a.csv?token=7%2Fa.csv:1tX:sig HTTP/1.1") == (
        "GET /exports/7/files/a.csv?token=*** HTTP/1.1"
    )
    assert (
        logged("GET /candles/hyperliquid/BTC/USD/perps/1m HTTP/1.1")
        == "GET /candles/hyperliquid/BTC/USD/perps/1m HTTP/1.1"
    )


def test_nginx_terminates_tls_with_the_mounted_certificate_and_redirects_plain_http():
    https, http = nginx_servers()["https"], nginx_servers()["http"]
    env = {name: with_compose_defaults(value) for name, value in environment("nginx").items()}
    tls_dir = dict((target, source) for source, target in mounts("nginx"))["/etc/kirby/tls"]
    for directive, variable in (
        ("ssl_certificate", "KIRBY_TLS_CERT_FILE"),
        ("ssl_certificate_key", "KIRBY_TLS_KEY_FILE"),
    ):
        assert re.search(rf"\b{directive}\s+{re.escape(env[variable])};", https), f"{directive} is not {variable}"
        assert env[variable].startswith("/etc/kirby/tls/") and tls_dir == "./deploy/certs"
    assert (env["KIRBY_TLS_CERT_FILE"], env["KIRBY_TLS_KEY_FILE"]) == (
        "/etc/kirby/tls/tls.crt",
        "/etc/kirby/tls/tls.key",
    )
    assert "tls.crt" in MAKE_CERTS.read_text() and "tls.key" in MAKE_CERTS.read_text(), (
        "`make certs` writes other names"
    )
    # Rendered to conf.d/default.conf: it replaces the image's welcome server on port 80.
    assert nginx_conf_path().name == "default.conf.template"
    assert re.search(r"ssl_protocols\s+TLSv1\.2\s+TLSv1\.3;", https), "only TLS 1.2 and 1.3 (Mozilla intermediate)"
    assert re.search(r'add_header\s+Strict-Transport-Security\s+"max-age=\d{8,}"\s+always;', https)
    assert re.search(r"return\s+301\s+https://\$host:443\$request_uri;", http), "plain HTTP is not redirected"
    assert SERVICES["nginx"]["ports"] == ["${KIRBY_HTTP_PORT:-80}:80", "${KIRBY_HTTPS_PORT:-443}:443"]
    assert environment("nginx")["KIRBY_HTTPS_PORT"] == "${KIRBY_HTTPS_PORT:-443}"


def test_web_and_ws_scale_out_behind_nginx_through_dockers_dns():
    _, upstreams = nginx_config()
    text = nginx_rendered()
    for name, service in (("kirby_web", "web"), ("kirby_ws", "ws")):
        assert upstreams[name] == [f"{service}:{bound_port(service)}"]
        assert re.search(rf"upstream {name} \{{\s*zone ", text), f"{name} needs a zone to re-resolve"
        assert re.search(rf"server {service}:\d+ resolve;", text), f"nginx would resolve {service} only once"
        assert "container_name" not in SERVICES[service] and "ports" not in SERVICES[service], (
            f"{service} could not be scaled: a fixed name or host port"
        )
    assert re.search(r"resolver 127\.0\.0\.11\b", text), "nginx does not ask Docker's DNS"
    image_version = tuple(int(part) for part in SERVICES["nginx"]["image"].split(":")[1].split("-")[0].split("."))
    assert image_version >= (1, 27, 3), "`resolve` in an upstream needs nginx 1.27.3"
    web = nginx_route("/candles/hyperliquid/BTC/USD/perps/1m")
    assert re.search(r"proxy_next_upstream\s+error\s+timeout", web), "a GET on a dead instance is not retried"
    for path in ("/", "/ws"):
        assert re.search(r"proxy_http_version\s+1\.1;", nginx_route(path)), f"{path} is proxied over HTTP/1.0"


def test_django_trusts_the_proxys_https_and_sends_cookies_only_over_it():
    env = yaml.safe_load(COMPOSE_FILE.read_text())["x-app"]["environment"]
    assert env["KIRBY_BEHIND_TLS_PROXY"] == "true" and env["KIRBY_SECURE_COOKIES"] == "true"
    assert env["CSRF_TRUSTED_ORIGINS"].startswith("${CSRF_TRUSTED_ORIGINS")
    for path in ("/", "/ws"):
        assert re.search(r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;", nginx_route(path))


def test_the_app_reads_the_client_address_nginx_sends():
    text = nginx_conf_path().read_text()
    assert "proxy_set_header X-Real-IP $remote_addr;" in text
    assert yaml.safe_load(COMPOSE_FILE.read_text())["x-app"]["environment"]["KIRBY_CLIENT_IP_HEADER"] == "X-Real-IP"


MONITORING_PORTS = {"prometheus": 9090, "grafana": 3000, "node-exporter": 9100}


def test_prometheus_and_grafana_run_with_the_files_in_deploy_and_keep_their_data():
    assert MONITORING_PORTS.keys() <= SERVICES.keys()
    prometheus_mounts = dict(mounts("prometheus"))
    assert prometheus_mounts.get("./deploy/prometheus") == "/etc/prometheus"
    config = option(command("prometheus"), "--config.file") or ""
    assert config.startswith("/etc/prometheus/") and (ROOT / "deploy/prometheus" / config.split("/", 3)[3]).is_file()
    grafana_mounts = dict(mounts("grafana"))
    assert grafana_mounts.get("./deploy/grafana/provisioning") == "/etc/grafana/provisioning"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/kirby.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert grafana_mounts.get("./deploy/grafana/dashboards") == dashboards_path
    assert list((ROOT / "deploy/grafana/dashboards").glob("*.json"))
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    url = urlsplit(datasource["datasources"][0]["url"])
    assert (url.hostname, url.port) == ("prometheus", MONITORING_PORTS["prometheus"])
    assert {"prometheus-data", "grafana-data"} <= {source for name in MONITORING_PORTS for source, _ in mounts(name)}
    assert depends_on("grafana").get("prometheus") == "service_healthy"


def test_monitoring_health_checks_probe_their_own_port():
    for name, port in MONITORING_PORTS.items():
        _, raw = healthcheck_argv(name)
        url = urlsplit(re.search(r"https?://[^\s'\"]+", raw).group(0))
        assert (url.hostname, url.port) == ("127.0.0.1", port), f"service {name!r} probes {url.netloc}"


def test_prometheus_scrapes_every_kirby_process_on_the_port_it_serves_metrics_on():
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"]
    targets = {}
    for job in scrape:
        for sd in job.get("dns_sd_configs", []):
            for host in sd["names"]:
                targets[host] = (sd["port"], job.get("metrics_path", "/metrics"))
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                targets[host] = (int(port), job.get("metrics_path", "/metrics"))
    for service in ("web", "ws"):
        assert targets[service] == (bound_port(service), "/metrics"), f"{service} is not scraped where it serves"
        assert resolve("/metrics").func.access == "exempt"
    for service in ("collectors", "worker", "beat"):
        port = environment(service).get("KIRBY_METRICS_PORT")
        assert port and targets[service] == (int(port), "/metrics"), f"{service}'s metrics port is not scraped"
    assert targets["node-exporter"][0] == MONITORING_PORTS["node-exporter"]
    assert environment("web").get("PROMETHEUS_MULTIPROC_DIR"), "gunicorn's workers would each report alone"


def test_first_start_creates_and_migrates_both_databases_and_prints_the_first_admin_once():
    env = yaml.safe_load(COMPOSE_FILE.read_text())["x-app"]["environment"]
    training = urlsplit(without_interpolation(env["TRAINING_DATABASE_URL"]))
    assert training.hostname == "postgres" and training.path == "/kirby_training"
    initdb = dict((target, source) for source, target in mounts("postgres"))["/docker-entrypoint-initdb.d"]
    scripts = "".join(path.read_text() for path in (ROOT / initdb).glob("*.sh"))
    assert re.search(r'CREATE DATABASE kirby_training OWNER \\"\$POSTGRES_USER\\"', scripts)
    steps = [argv[2:] for argv in programs(command("migrate")) if argv[:2] == ["python", "manage.py"]]
    assert ["migrate", "--noinput"] in steps and ["migrate", "--noinput", "--database", "training"] in steps
    assert ["bootstrap_admin", "--if-none"] in steps, "the first admin is not made (or a second start would fail)"


def test_exports_share_one_volume_owned_by_the_process_user_between_writers_and_web():
    export_dir = environment("web")["KIRBY_EXPORT_DIR"]
    export_workers = [name for name, argv in celery_workers().items() if "export" in worker_queues(argv)]
    assert export_workers, "no worker consumes the export queue"
    for name in ["web", *export_workers]:
        assert environment(name)["KIRBY_EXPORT_DIR"] == export_dir
        assert ("exports", export_dir) in mounts(name), f"{name} does not mount the exports volume at {export_dir}"
    user = [rest for keyword, rest in dockerfile_instructions() if keyword == "USER"][-1]
    created = [rest for keyword, rest in dockerfile_instructions() if keyword == "RUN" and export_dir in rest]
    # A new named volume takes the ownership of the image's directory it is mounted on.
    assert any(re.search(rf"install -d -o {user} -g {user} .*{re.escape(export_dir)}", rest) for rest in created)


def test_alertmanager_runs_beside_prometheus_with_the_receiver_from_the_environment():
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = [t for am in scrape["alerting"]["alertmanagers"] for s in am["static_configs"] for t in s["targets"]]
    assert targets == ["alertmanager:9093"]
    assert depends_on("prometheus").get("alertmanager") == "service_healthy"
    template = (ROOT / "deploy/alertmanager/alertmanager.yml.template").read_text()
    config = yaml.safe_load(template.replace("__KIRBY_ALERT_WEBHOOK_URL__", "https://hooks.example.com/x"))
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    assert receivers[config["route"]["receiver"]]["webhook_configs"][0]["url"] == "https://hooks.example.com/x"
    started = " ".join(as_list(SERVICES["alertmanager"]["command"]))
    assert '"s|__KIRBY_ALERT_WEBHOOK_URL__|$${KIRBY_ALERT_WEBHOOK_URL}|"' in started
    assert "/etc/alertmanager/alertmanager.yml.template" in started and (
        "./deploy/alertmanager",
        "/etc/alertmanager",
    ) in mounts("alertmanager")
    assert environment("alertmanager")["KIRBY_ALERT_WEBHOOK_URL"].startswith("${KIRBY_ALERT_WEBHOOK_URL:?")


def test_every_container_has_bounded_logs_and_a_memory_limit():
    for name, service in SERVICES.items():
        logging = service.get("logging") or {}
        assert logging.get("driver") == "json-file" and logging["options"].get("max-size"), f"{name}: unbounded logs"
        assert service.get("mem_limit"), f"service {name!r} has no memory limit"


def test_the_deploy_script_migrates_collects_static_and_rolls_web_and_ws():
    script = (ROOT / "deploy/deploy.sh").read_text()
    update = script[script.index("update)") : script.index(";;", script.index("update)"))]
    order = [update.index(step) for step in ("run --rm migrate", "run --rm static", 'roll web "$web"', 'roll ws "$ws"')]
    assert order == sorted(order), "update must migrate and refresh static files before replacing web and ws"
    assert "--no-recreate --scale" in script and "wait_healthy $new" in script, "old instances stop before new ones"
    assert subprocess.run(["sh", "-n", str(ROOT / "deploy/deploy.sh")], capture_output=True).returncode == 0
