"""daemon.toml validation and admission control, as pure synchronous logic."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.server.admission import ADMIT, DRAINING, OVERLOADED, RATE_LIMITED, Admission
from daemon.server.config import AdmissionConfig, HandlerConfig, RateLimit, load_config
from daemon.server.subscribers.inprocess import build_handler
from events import ConfigError
from events.config import CONFIG_DIR

SINK = 'factory = "daemon.server.subscribers.simulated:sink"\n'


def handler(service: str, pattern: str) -> str:
    return f'[[handlers]]\nservice = "{service}"\npattern = "{pattern}"\n' + SINK


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "d.toml"
    path.write_text(text)
    return path


def test_shipped_config_is_valid() -> None:
    """configs/daemon.toml loads, with the light profile's three simulated services."""
    loaded = load_config(CONFIG_DIR / "daemon.toml")
    assert [s.service for s in loaded.subscriptions()] == ["datastore", "inference", "audit"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nbogus = 1\n", "bogus"),
        ("[admission]\nhigh_water = 0\n", "admission.high_water"),
        (
            '[[handlers]]\nservice = "a"\npattern = "fs.>"\nfactory = "nowhere.mod:f"\n',
            "handlers[0] (a).factory",
        ),
        (handler("a", "fs..x"), "handlers[0] (a)"),
        (handler("a", "fs.>") + "policy = { concurrency = 0 }\n", "concurrency"),
        (
            '[[webhooks]]\nservice = "w"\npattern = "fs.>"\nurl = "ftp://x"\n',
            "url must be http(s)",
        ),
        (handler("a", "fs.>") + handler("a", "fs.>"), "configured twice"),
        ("[server]\nheader_timeout_s = 0\n", "server.header_timeout_s"),
        ("[server]\nbody_timeout_s = -1\n", "server.body_timeout_s"),
        ("[server]\nkeepalive_timeout_s = 0\n", "server.keepalive_timeout_s"),
        ("[server]\nmax_connections = 0\n", "server.max_connections"),
        ("[streams]\nsend_buffer_bytes = 10\n", "streams.send_buffer_bytes"),
        ("[router]\nmatch_cache_bytes = 10\n", "router.match_cache_bytes"),
    ],
)
def test_bad_configs_name_the_field(tmp_path: Path, text: str, named: str) -> None:
    """Each invalid config raises ConfigError whose message names the offending field."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert named in str(info.value)


def test_factory_that_raises_is_a_config_error() -> None:
    """A factory failing at build time becomes a ConfigError naming the entry."""
    cfg = HandlerConfig(
        service="x",
        pattern="fs.>",
        factory="daemon.server.subscribers.simulated:service",
        args={"name": "no-such-service"},
    )
    with pytest.raises(ConfigError) as info:
        build_handler(cfg, "handlers[0]")
    assert "no-such-service" in str(info.value)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_and_refuses_whole_requests() -> None:
    """Burst 2 at 1/s: two pass, a third is refused, one second later one more passes."""
    clock = Clock()
    limits = {"p": RateLimit(rate=1.0, burst=2.0)}
    admission = Admission(AdmissionConfig(principals=limits), clock)
    first = admission.check_nowait("p", 2)
    second = admission.check_nowait("p", 1)
    clock.now = 1.0
    third = admission.check_nowait("p", 1)
    assert (first, second, third) == (ADMIT, RATE_LIMITED, ADMIT)


def test_a_refused_request_takes_no_tokens_and_principals_are_apart() -> None:
    """All or nothing: a request over the bucket takes nothing; another principal (here
    under the default limit) has a bucket of its own."""
    clock = Clock()
    config = AdmissionConfig(
        principals={"a": RateLimit(rate=1.0, burst=2.0)},
        default_limit=RateLimit(rate=1.0, burst=1.0),
    )
    admission = Admission(config, clock)
    verdicts = [admission.check_nowait("a", 3), admission.check_nowait("a", 2)]
    verdicts += [admission.check_nowait("b", 1), admission.check_nowait("b", 1)]
    assert verdicts == [RATE_LIMITED, ADMIT, ADMIT, RATE_LIMITED]


def test_high_water_and_draining_refuse_everything() -> None:
    """Pending above the fraction of capacity is OVERLOADED; draining wins over it."""
    admission = Admission(AdmissionConfig(high_water=0.5))
    admission.observe_nowait(pending=6, capacity=10)
    overloaded = admission.check_nowait("x", 1)
    admission.draining = True
    assert (overloaded, admission.check_nowait("x", 1)) == (OVERLOADED, DRAINING)
