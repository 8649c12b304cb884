"""The emulator's aiohttp application: every provider route, plus `/_emulator/*` to steer and read it."""

from __future__ import annotations

from aiohttp import web

from tts_emulator.azure_voices import voices_list
from tts_emulator.config import ROUTES, EmulatorConfig, FaultRule, RouteConfig
from tts_emulator.guard import STATE
from tts_emulator.routes_maas_ele import ISSUED, ele_speech
from tts_emulator.routes_maas_nar import JOBS, nar_result, nar_status, text_to_speech
from tts_emulator.routes_openai import maas_speech, openai_speech
from tts_emulator.state import EmulatorState


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].snapshot())


def _limit(request: web.Request) -> int | None:
    value = request.query.get("limit")
    return int(value) if value and value.isdigit() else None


async def _requests(request: web.Request) -> web.Response:
    """The last requests (`?route=ele`: of one route), oldest first: headers without credentials, bodies."""
    journal = request.app[STATE].journal
    return web.json_response(journal.requests(request.query.get("route"), _limit(request)))


async def _timings(request: web.Request) -> web.Response:
    """The sentence spans of the last answers spoken with tone speech (`?route=…`, `?limit=…`), oldest first."""
    journal = request.app[STATE].journal
    return web.json_response(journal.timings(request.query.get("route"), _limit(request)))


async def _reset(request: web.Request) -> web.Response:
    """Clear counters, journal, jobs and faults; keep keys and speech engine.

    With the JSON body {"routes": true}, every route's latency and limits go back to their defaults too.
    """
    state = request.app[STATE]
    state.reset()
    for route in state.config.routes.values():
        route.faults.clear()
    if request.can_read_body and (await request.json()).get("routes"):
        state.config.routes = {route: RouteConfig() for route in ROUTES}
    request.app[JOBS].clear()
    return web.json_response({"ok": True})


async def _set_route(request: web.Request) -> web.Response:
    """PUT a whole RouteConfig (latency, limits, faults) for one route."""
    state = request.app[STATE]
    state.config.routes[request.match_info["route"]] = RouteConfig.model_validate(await request.json())
    return web.json_response(state.config.routes[request.match_info["route"]].model_dump())


async def _add_fault(request: web.Request) -> web.Response:
    state = request.app[STATE]
    rule = FaultRule.model_validate(await request.json())
    state.config.route(request.match_info["route"]).faults.append(rule)
    return web.json_response(rule.model_dump())


async def _set_config(request: web.Request) -> web.Response:
    """PATCH top-level settings (job_seconds, result_ttl_seconds, speech, limits)."""
    state = request.app[STATE]
    updates = await request.json()
    state.config = state.config.model_copy(
        update=EmulatorConfig.model_validate(state.config.model_dump() | updates).model_dump(exclude={"routes"})
    )
    return web.json_response(state.config.model_dump(exclude={"routes"}))


def create_app(config: EmulatorConfig | None = None) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[STATE] = EmulatorState(config or EmulatorConfig())
    app[JOBS] = {}
    app[ISSUED] = set()
    app.router.add_post("/v1/audio/speech", openai_speech)
    app.router.add_post("/audio/speech", maas_speech)
    app.router.add_get("/cognitiveservices/voices/list", voices_list)
    app.router.add_post("/tts-n/text-to-speech/{format}", text_to_speech)
    app.router.add_get("/tts-n/tasks/{task_id}", nar_status)
    app.router.add_get("/tts-n/results/{task_id}", nar_result)
    app.router.add_post("/tts-e/text-to-speech/{voice_id}", ele_speech)
    app.router.add_get("/_emulator/stats", _stats)
    app.router.add_get("/_emulator/requests", _requests)
    app.router.add_get("/_emulator/timings", _timings)
    app.router.add_post("/_emulator/reset", _reset)
    app.router.add_patch("/_emulator/config", _set_config)
    app.router.add_put("/_emulator/routes/{route}", _set_route)
    app.router.add_post("/_emulator/routes/{route}/faults", _add_fault)
    return app
