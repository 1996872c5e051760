"""One model on several local hosts: the engine spreads calls by free slots, moves a failed
host's calls to the others, and tries it again after its rest."""

from __future__ import annotations

import asyncio

from rlm.config import Settings
from rlm.llm.factory import make_model
from rlm.llm.router import Deployment
from rlm.llm.scripted import ScriptedModel
from rlm.llm.spread import SpreadModel
from tests.servers import OllamaServer

ASK = [{"role": "user", "content": "hi"}]


def spread_over(*servers: OllamaServer, slots: tuple[int, ...], cooldown: float = 30.0):
    deployments = [Deployment("ollama/llama3", "ollama/llama3", server.url,
                              options={"max_parallel_requests": n})
                   for server, n in zip(servers, slots, strict=True)]
    return SpreadModel(deployments, fallback=ScriptedModel(["unused"]), env={},
                       cooldown=cooldown)


async def fan_out(model: SpreadModel, count: int) -> list:
    return await asyncio.gather(*(model.complete(ASK, model="ollama/llama3")
                                  for _ in range(count)))


def test_calls_go_to_the_hosts_in_proportion_to_their_slots(model_env):
    with OllamaServer(lambda r: "1", latency=0.05, num_parallel=1) as one, \
            OllamaServer(lambda r: "2", latency=0.05, num_parallel=2) as two, \
            OllamaServer(lambda r: "3", latency=0.05, num_parallel=3) as three:
        model = spread_over(one, two, three, slots=(1, 2, 3))
        replies = asyncio.run(fan_out(model, 60))
        counts = [len(s.chat_requests()) for s in (one, two, three)]
        peaks = [s.max_served for s in (one, two, three)]
        urls = [s.url for s in (one, two, three)]
    assert len(replies) == 60 and sum(counts) == 60
    assert peaks == [1, 2, 3]  # never more in flight on a host than its slots
    assert counts[0] < counts[1] < counts[2]  # 10, 20, 30 give or take the last wave
    assert {r.host for r in replies} == set(urls)
    assert {r.text for r in replies if r.host == urls[2]} == {"3"}


def test_a_host_that_goes_down_loses_no_call_and_is_used_again_after_its_rest(model_env):
    with OllamaServer(lambda r: "a", latency=0.02) as a, \
            OllamaServer(lambda r: "b", latency=0.02) as b:
        model = spread_over(a, b, slots=(2, 2), cooldown=0.3)
        b.fail_next(4, 0)  # b drops its next connections: down for a moment
        first = asyncio.run(fan_out(model, 20))
        assert [r.text for r in first].count("b") < 10 and model.status()[
            "ollama/llama3"][1]["last_error"]
        asyncio.run(asyncio.sleep(0.4))  # its rest is over
        served_before = len(b.chat_requests())
        second = asyncio.run(fan_out(model, 20))
        served_after = len(b.chat_requests())
    assert all(r.text in ("a", "b") for r in first + second)  # every call answered
    assert served_after > served_before and "b" in {r.text for r in second}


def test_other_models_go_to_the_fallback(model_env):
    with OllamaServer() as a:
        model = spread_over(a, slots=(1,))
        reply = asyncio.run(model.complete(ASK, model="ollama/other"))
    assert reply.text == "unused" and a.chat_requests() == []


def test_a_profiles_cooldown_time_is_the_rest_of_a_local_host(model_env):
    hosts = [Deployment("ollama/llama3", "ollama/llama3", f"http://127.0.0.1:{port}")
             for port in (1, 2)]
    settings = Settings.resolve(env={})
    rested = make_model(settings, deployments=hosts, router_options={"cooldown_time": 2.5},
                        env={})
    default = make_model(settings, deployments=hosts, env={})
    assert isinstance(rested, SpreadModel) and rested.cooldown == 2.5
    assert isinstance(default, SpreadModel) and default.cooldown == 30.0
