"""Measures a Streamlit server the way `cargo bench --bench web` measures
pagestate's: a WebSocket client (Streamlit's own protobuf messages) clicks
the page's button and waits for the rerun to finish.

usage: streamlit_client.py PORT SERVER_PID ROUNDS SESSIONS
Prints one JSON object: round-trip times in ns (one session), and the
server's resident memory before and after SESSIONS sessions each ran the
page once and stayed open.
"""

import asyncio
import json
import sys
import time

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rerun(button_id=None):
    msg = BackMsg()
    msg.rerun_script.query_string = ""
    msg.rerun_script.page_script_hash = ""
    if button_id is not None:
        widget = msg.rerun_script.widget_states.widgets.add()
        widget.id = button_id
        widget.trigger_value = True
    return msg.SerializeToString()


async def until_finished(ws, seen=None):
    """Reads ForwardMsgs until script_finished; collects widget ids."""
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await ws.recv())
        kind = msg.WhichOneof("type")
        if kind == "delta" and seen is not None:
            element = msg.delta.new_element
            if element.WhichOneof("type") == "button":
                seen.append(element.button.id)
        if kind == "script_finished":
            return


async def open_session(url):
    ws = await websockets.connect(url, max_size=None, open_timeout=60)
    seen = []
    await ws.send(rerun())
    await until_finished(ws, seen)
    return ws, seen


async def main():
    port, server_pid, rounds, sessions = map(int, sys.argv[1:5])
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    ws, seen = await open_session(url)
    button = seen[0]
    times = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        await ws.send(rerun(button))
        await until_finished(ws)
        times.append(time.perf_counter_ns() - start)
    await ws.close()

    before = rss_kib(server_pid)
    opened = []
    for _ in range(sessions):
        opened.append((await open_session(url))[0])
    await asyncio.sleep(1.0)
    after = rss_kib(server_pid)
    for ws in opened:
        await ws.close()
    print(json.dumps({"round_trip_ns": times, "rss_before_kib": before,
                      "rss_after_kib": after, "sessions": sessions}))


asyncio.run(main())
