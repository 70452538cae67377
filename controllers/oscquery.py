"""OSCQuery: the OSC namespace served as a JSON tree over HTTP and advertised over zeroconf, so TouchDesigner
(its OSCQuery DAT and the OSC In CHOP's browser) and other OSCQuery clients list every parameter without
anyone typing an address.

By default on the OSC port's number, over TCP, on the interface OSC listens on. The tree follows the engine:
parameters a reloaded show declares appear, removed ones go, and ``VALUE`` is the value the newest frame
used. Every parameter node has ``TYPE`` ``f``, ``RANGE`` (``MIN``/``MAX``), ``VALUE``, ``ACCESS`` 3
(read and write) and ``DESCRIPTION``; the show commands are write-only nodes (``ACCESS`` 2).

* ``GET /`` the whole tree; ``GET /param/gen/psi`` one node; ``GET /param/gen/psi?VALUE`` one attribute;
* ``GET /?HOST_INFO`` the server: name, OSC port and transport, the extensions it supports;
* zeroconf: ``_oscjson._tcp`` (this server) and ``_osc._udp`` (the OSC port), named "Latent Stage".

The spec is at https://github.com/Vidvox/OSCQueryProposal. The python-oscquery package was considered: it
binds its HTTP server to every interface whatever the OSC interface is, and serves no ``RANGE``, so the tree
is served here with the standard library, and zeroconf (a maintained library) advertises it.
"""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from engine.feedback import FeedbackState
from engine.params import ParamSpec

log = logging.getLogger(__name__)

SERVICE_NAME = "Latent Stage"
READ_WRITE, WRITE_ONLY, READ_ONLY = 3, 2, 1
MAX_SOURCE_NODES = 512
COMMANDS = {"go": "GO: start the standby cue", "stop": "stop every running cue", "panic": "fade to rest "
            "(a second panic cuts)", "reset": "back to the opening"}
ATTRIBUTES = ("TYPE", "RANGE", "VALUE", "ACCESS", "DESCRIPTION", "CONTENTS", "FULL_PATH", "CLIPMODE", "UNIT",
              "CRITICAL", "EXTENDED_TYPE", "TAGS")    # the spec's; a node without one answers 204


def build_tree(specs: list[ParamSpec], values: dict[str, float],
               sources: dict[str, tuple[str, float | None]] | None = None) -> dict[str, Any]:
    """The OSCQuery tree of these parameters and the show commands.

    >>> tree = build_tree([ParamSpec("gen.psi", 0.7, -1.0, 2.0, doc="truncation")], {"gen.psi": 0.5})
    >>> node = tree["CONTENTS"]["param"]["CONTENTS"]["gen"]["CONTENTS"]["psi"]
    >>> node["FULL_PATH"], node["RANGE"], node["VALUE"]
    ('/param/gen/psi', [{'MIN': -1.0, 'MAX': 2.0}], [0.5])
    """
    params: dict[str, Any] = {}
    for spec in specs:
        group, name = spec.key.split(".", 1)
        groups = params.setdefault(group, {"FULL_PATH": f"/param/{group}", "CONTENTS": {}})
        groups["CONTENTS"][name] = {
            "FULL_PATH": f"/param/{group}/{name}", "TYPE": "f", "ACCESS": READ_WRITE,
            "RANGE": [{"MIN": spec.minimum, "MAX": spec.maximum}],
            "VALUE": [values.get(spec.key, spec.default)],
            "DESCRIPTION": spec.doc or f"{spec.key} ({spec.minimum:g}..{spec.maximum:g}, default {spec.default:g})"}
    show = {command: {"FULL_PATH": f"/show/{command}", "ACCESS": WRITE_ONLY, "DESCRIPTION": text}
            for command, text in COMMANDS.items()}
    contents: dict[str, Any] = {"param": {"FULL_PATH": "/param", "ACCESS": 0, "CONTENTS": params},
                                "show": {"FULL_PATH": "/show", "ACCESS": 0, "CONTENTS": show}}
    if sources:                                    # read-only: what the inputs measure (OSC out sends them)
        root: dict[str, Any] = {"FULL_PATH": "/source", "ACCESS": 0, "CONTENTS": {}}
        for key, (doc, value) in sorted(sources.items())[:MAX_SOURCE_NODES]:
            node, path = root, "/source"
            for part in key.split("."):
                path += "/" + part
                node = node["CONTENTS"].setdefault(part, {"FULL_PATH": path, "ACCESS": 0, "CONTENTS": {}})
            node.update({"TYPE": "f", "ACCESS": READ_ONLY, "DESCRIPTION": doc})
            if value is not None:
                node["VALUE"] = [value]
            if not node["CONTENTS"]:
                del node["CONTENTS"]
        contents["source"] = root
    return {"FULL_PATH": "/", "ACCESS": 0, "CONTENTS": contents}


def find(tree: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The node at ``path`` (``/param/gen/psi``), or None."""
    node = tree
    for part in [p for p in path.split("/") if p]:
        node = node.get("CONTENTS", {}).get(part)
        if node is None:
            return None
    return node


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HttpServer
    timeout = 5                                   # an idle or trickling client is dropped
    server_version = "LatentStage-OSCQuery"

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if len(self.path) > 2048:
            self._send(414, {"error": "a path longer than 2048 characters"})
            return
        parsed = urllib.parse.urlsplit(self.path)
        query = parsed.query
        owner = self.server.owner
        if query == "HOST_INFO":
            self._send(200, owner.host_info())
            return
        node = find(owner.tree(), urllib.parse.unquote(parsed.path))
        if node is None:
            self._send(404, {"error": f"no such node: {parsed.path[:100]}"})
        elif query:
            if query not in ATTRIBUTES or query not in node:
                self._send(204 if query in ATTRIBUTES else 400, None if query in ATTRIBUTES else
                           {"error": f"unknown attribute {query[:40]}; expected one of {', '.join(ATTRIBUTES)}"})
            else:
                self._send(200, {query: node[query]})
        else:
            self._send(200, node)

    def _send(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:   # noqa: A002 (http.server's name)
        log.debug("OSCQuery %s: " + format, self.client_address[0], *args)


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: OscQueryServer


class OscQueryServer:
    """Serves and advertises the tree (see the module docstring). A feedback sink: the frame loop offers it
    the newest state, for ``VALUE``."""

    name = "oscquery"

    def __init__(self, specs: Callable[[], list[ParamSpec]], osc_port: Callable[[], int], host: str = "127.0.0.1",
                 port: int | None = None, advertise: bool = True, service_name: str = SERVICE_NAME,
                 sources: Callable[[], list[tuple[str, str]]] = lambda: []) -> None:
        """``sources``: the sources the show declares (key, what it is); those heard but not declared appear
        too, once they are."""
        self._specs, self._osc_port, self._declared = specs, osc_port, sources
        self._sources: dict[str, float] = {}
        self.host, self.port, self.advertise, self.service_name = host, port, advertise, service_name
        self.advertised = False
        self.problem = ""
        self._values: dict[str, float] = {}
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._zeroconf: Any = None

    def tree(self) -> dict[str, Any]:
        sources: dict[str, tuple[str, float | None]] = {key: ("measured by an input", value)
                                                         for key, value in self._sources.items()}
        for key, doc in self._declared():
            sources[key] = (doc, self._sources.get(key))
        return build_tree(self._specs(), self._values, sources)

    def host_info(self) -> dict[str, Any]:
        return {"NAME": self.service_name, "OSC_IP": self.host, "OSC_PORT": self._osc_port(),
                "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True, "TYPE": True,
                               "CLIPMODE": False, "LISTEN": False}}

    # ------------------------------------------------------------------------------------ feedback sink
    def start(self) -> None:
        """Serve over HTTP (OSError if the port cannot be had; the engine reports it), then advertise."""
        port = self._osc_port() if self.port is None else self.port
        self._http = _HttpServer((self.host, port), _Handler)
        self._http.owner = self
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="oscquery-http", daemon=True)
        self._thread.start()
        log.info("OSCQuery on http://%s:%d/", self.host, self.port)
        if self.advertise:
            self._advertise()

    def offer(self, state: FeedbackState) -> None:
        self._values = state.values
        self._sources = state.sources

    def stop(self) -> None:
        if self._zeroconf is not None:
            try:
                self._zeroconf.unregister_all_services()
                self._zeroconf.close()
            except Exception as exc:     # zeroconf's own threads may already be gone at exit
                log.debug("zeroconf: %s", exc)
            self._zeroconf = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def status(self) -> str:
        line = f"oscquery http://{self.host}:{self.port}/"
        return line + (" (advertised)" if self.advertised else f" ({self.problem})" if self.problem else "")

    def _advertise(self) -> None:
        """Register _oscjson._tcp and _osc._udp with zeroconf; a network without multicast is reported (the
        tree is still served, and clients can be given its address)."""
        try:
            from zeroconf import IPVersion, ServiceInfo, Zeroconf
            address = self.host if self.host not in ("0.0.0.0", "") else _primary_address()
            self._zeroconf = Zeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
            server = f"{socket.gethostname()[:40] or 'latentstage'}.local."
            for kind, port in (("_oscjson._tcp.local.", self.port), ("_osc._udp.local.", self._osc_port())):
                self._zeroconf.register_service(ServiceInfo(
                    kind, f"{self.service_name}.{kind}", port=port, properties={"txtvers": "1"}, server=server,
                    parsed_addresses=[address]), allow_name_change=True)   # a second engine: "Latent Stage (2)"
            self.advertised = True
        except Exception as exc:        # no multicast route, no interface: served, not advertised
            self.problem = f"not advertised: {str(exc).splitlines()[0][:60] if str(exc) else type(exc).__name__}"
            log.warning("OSCQuery: %s", self.problem)


def _primary_address() -> str:
    """This machine's address on its default route (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()
