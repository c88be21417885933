"""Measures a Streamlit server the way `cargo bench --bench web` measures
pagestate's: a WebSocket client (Streamlit's own protobuf messages) clicks
the page's button and waits for the rerun to finish.

usage: streamlit_client.py PORT SERVER_PID ROUNDS SESSIONS CONCURRENT CONCURRENT_ROUNDS
Prints one JSON object: round-trip times in ns with one session, and with
CONCURRENT sessions clicking at once (each CONCURRENT_ROUNDS times, again as
soon as its rerun finished), and the server's resident memory before and
after SESSIONS sessions each ran the page once and stayed open.
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


async def clicking(url, rounds):
    ws, seen = await open_session(url)
    times = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        await ws.send(rerun(seen[0]))
        await until_finished(ws)
        times.append(time.perf_counter_ns() - start)
    await ws.close()
    return times


async def main():
    port, server_pid, rounds, sessions, concurrent, concurrent_rounds = map(int, sys.argv[1:7])
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    # Memory first, on the fresh server: one session warms it up, then
    # SESSIONS more each run the page once and stay open.
    warm, _ = await open_session(url)
    await asyncio.sleep(1.0)
    before = rss_kib(server_pid)
    opened = []
    for _ in range(sessions):
        opened.append((await open_session(url))[0])
    await asyncio.sleep(1.0)
    after = rss_kib(server_pid)
    for ws in opened + [warm]:
        await ws.close()

    times = await clicking(url, rounds)
    concurrent_times = []
    for session_times in await asyncio.gather(
        *(clicking(url, concurrent_rounds) for _ in range(concurrent))
    ):
        concurrent_times.extend(session_times)
    print(json.dumps({"round_trip_ns": times,
                      "concurrent_round_trip_ns": concurrent_times,
                      "rss_before_kib": before,
                      "rss_after_kib": after, "sessions": sessions}))


asyncio.run(main())
