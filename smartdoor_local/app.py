"""`smartdoor local`: the local stack behind the local server, on one laptop.

    with LocalApp(LocalConfig(), port=8080) as app:
        app.url                      # http://127.0.0.1:8080: pages, the API, the local API
        app.stack                    # the LocalStack (moto, handlers, outbox, executions)

`LocalApp` binds the server first (so a port in use fails before anything else starts; until
everything below is mounted it answers 503 "starting", and `/local/health` says when it is
ready), then
starts the stack with that URL as the site (approval links, photo links, CORS origin), and
mounts on the server: the API routes (the real API handler, through the Lambda runtime), the
local API (`/local/...`) and the camera page. The console prints the outbox, the bus and each
workflow that ends.

`serve(...)` is the command: start, play the story (unless told not to), then wait for Ctrl-C
or SIGTERM, and shut everything down: the server, the moto server, the stream poller and every
running execution, so that nothing is left listening.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from smartdoor_local.camera import CameraFrames
from smartdoor_local.console import Console
from smartdoor_local.discovery import announce, withdraw
from smartdoor_local.http_server import LocalServer, smartdoor_api_routes, via_runtime
from smartdoor_local.local_api import FRAMES_PATH, MAX_FRAME_BYTES, LocalApi, camera_page
from smartdoor_local.stack import API_FUNCTION_NAME, LocalConfig, LocalStack

DEFAULT_PORT = 8080
WATCH_SECONDS = 0.5


class PortInUse(OSError):
    """The local server's port is taken (another `smartdoor local`?)."""


class ExecutionWatcher:
    """Prints each workflow execution once, when it stops."""

    def __init__(self, stack: LocalStack, console: Console) -> None:
        self._stack = stack
        self._console = console
        self._reported: set[str] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smartdoor-execution-watcher", daemon=True)

    def start(self) -> ExecutionWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.wait(WATCH_SECONDS):
            try:
                self.report_stopped()
            except Exception as error:  # never kill the watcher; say what went wrong
                self._console.note(f"(execution watcher: {type(error).__name__})")

    def report_stopped(self) -> None:
        for execution in self._stack.stopped_executions(self._reported):
            self._reported.add(execution["executionArn"])
            self._console.execution(execution)


class LocalApp:
    def __init__(
        self,
        config: LocalConfig | None = None,
        *,
        port: int = DEFAULT_PORT,
        console: Console | None = None,
        moto_port: int = 0,
    ) -> None:
        self.config = config or LocalConfig()
        self.console = console
        self._port = port
        self._moto_port = moto_port
        # Listening from the start, answering 503 "starting" until every route is mounted.
        self.server = LocalServer(
            port=port, site_config={"doorId": self.config.door_id, "localStack": True}, starting=True
        )
        self._stack: LocalStack | None = None
        self._exit: ExitStack | None = None

    @property
    def stack(self) -> LocalStack:
        if self._stack is None:
            raise RuntimeError("the local app is not running")
        return self._stack

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> LocalApp:
        exit_stack = ExitStack()
        try:
            try:
                self.server.start()
            except OSError as error:
                raise PortInUse(
                    f"cannot listen on 127.0.0.1:{self._port} ({error.strerror or error}); "
                    "is another smartdoor local running? Choose another port with --port."
                ) from error
            exit_stack.callback(self.server.stop)
            stack = LocalStack(self.config, site_url=self.server.url, moto_port=self._moto_port)
            if self.console is not None:
                stack.outbox.subscribe(self.console.message)
                stack.bus.subscribe(self.console.event)
            stack.start()
            self._stack = stack
            exit_stack.callback(stack.stop)
            camera = CameraFrames(
                doors={self.config.door_id},
                engine=stack.engine,
                photos=_photo_store(stack),
                put_record=stack.put_record,
                match_threshold=self.config.face_match_threshold,
                on_frame=stack.camera_feed.add,
            )
            for route in smartdoor_api_routes(via_runtime(stack.runtime, API_FUNCTION_NAME)):
                self.server.add_api_route(route)
            self.server.mount("/local/", LocalApi(stack, camera))
            self.server.allow_body(FRAMES_PATH, MAX_FRAME_BYTES)
            self.server.mount("/camera/", camera_page)
            if self.console is not None:
                watcher = ExecutionWatcher(stack, self.console).start()
                exit_stack.callback(watcher.stop)
            self.server.mark_ready()
        except BaseException:
            exit_stack.close()
            raise
        self._exit = exit_stack
        return self

    def stop(self) -> None:
        exit_stack, self._exit = self._exit, None
        self.server.mark_stopping()
        if exit_stack is not None:
            exit_stack.close()
        self._stack = None

    def __enter__(self) -> LocalApp:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _photo_store(stack: LocalStack) -> Any:
    from smartdoor.adapters.photo_store import S3PhotoStore

    return S3PhotoStore(stack.names["photos"])


@dataclass(frozen=True)
class DoorAgentOptions:
    """`--door-agent`: the door agent beside the stack (smartdoor_local.door_agent)."""

    video: Path | None = None
    camera_index: int | None = None


def serve(
    config: LocalConfig,
    *,
    port: int,
    story: bool,
    console: Console | None = None,
    door_agent: DoorAgentOptions | None = None,
) -> int:
    """Run until Ctrl-C or SIGTERM; 0 on a clean shutdown, 1 if the story failed."""
    console = console or Console()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        console.print("Starting the Smart Door local stack (moto, the real handlers, dlib's face model)...")
        with LocalApp(config, port=port, console=console) as app, _announced(app), ExitStack() as extras:
            _print_banner(app, console)
            if door_agent is not None:
                from smartdoor_local.door_agent import running_door_agent

                extras.enter_context(
                    running_door_agent(
                        app.url,
                        video=door_agent.video,
                        camera_index=door_agent.camera_index,
                        say=console.print,
                    )
                )
            story_ok = True
            if story and not stop.is_set():
                from smartdoor_local.story import play_story

                story_ok = play_story(app.url, config, console, stop=stop)
            if not stop.is_set():
                _print_ready(app, console)
            # Wake up now and then: a signal delivered to another thread runs its Python handler
            # only when the main thread executes bytecode again.
            while not stop.wait(0.5):
                pass
            console.print("Stopping: the server, moto, the stream poller and running executions...")
        console.print("Stopped. Nothing is listening any more.")
        return 0 if story_ok else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _announced(app: LocalApp) -> Iterator[None]:
    """While it serves, later `smartdoor` commands find this stack without --port."""
    path = announce(app.server.port, app.url)
    try:
        yield
    finally:
        withdraw(path)


def _print_banner(app: LocalApp, console: Console) -> None:
    stack = app.stack
    console.print("")
    console.print(f"Smart Door is running locally at {app.url}/  (every page is linked there)")
    console.print(f"  door keypad   {app.url}/door/?door={app.config.door_id}")
    console.print(f"  door camera   {app.url}/camera/")
    console.print(f"  outbox        {app.url}/outbox/      (every SMS and email)")
    console.print(f"  executions    {app.url}/executions/  (each workflow's path)")
    console.print(f"  AWS (moto)    {stack.aws_endpoint}  (the smartdoor command finds it via /local/stack)")
    if stack.broker is not None:
        console.print(
            f"  MQTT broker   {stack.broker.host}:{stack.broker.port}  (the lock: "
            "`smartdoor-door init --local`, then `smartdoor-door run`)"
        )
    elif stack.config.lock == "webhook":
        console.print(f"  lock webhook  {app.url}/local/lock-webhook  (the webhook lock's calls)")
    console.print("Other smartdoor commands (visitors, enrol, device) find this stack without --port.")
    console.print("")


def _print_ready(app: LocalApp, console: Console) -> None:
    console.print("")
    console.print("Your turn. Open the door camera, show your face (or pick a photo) and ring:")
    console.print(f"  {app.url}/camera/")
    console.print("The owner's SMS lands in the outbox; its link opens the owner page. Approve yourself,")
    console.print("then type the code from your SMS on the keypad. Step away for a few seconds, ring again:")
    console.print("this time you are known and get a code directly. Ctrl-C stops everything.")
    console.print("")
