"""`proxy.trusted_proxies`: the spec key, its errors with the entry's path, and
`changeover.networks` (an entry's parsing, a peer's membership), by examples and by
Hypothesis over every address and prefix length."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.agent.serve import proxy_config
from changeover.networks import parse_network, parse_networks, peer_in
from changeover.proxy.config import ProxyConfig
from changeover.spec.load import SpecError, load_spec_text

APP = '[app]\nname = "a"\ncommand = "x"\n'


def problems(value: str) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_spec_text(f"{APP}[proxy]\ntrusted_proxies = {value}\n", "svc.toml")
    return raised.value.lines()


def test_empty_by_default() -> None:
    assert load_spec_text(APP, "svc.toml").proxy.trusted_proxies == []


def test_addresses_and_networks_of_both_families_are_kept_as_written() -> None:
    spec = load_spec_text(
        f'{APP}[proxy]\ntrusted_proxies = ["10.0.0.0/8", " 127.0.0.1", "::1", "fd00::/8"]\n',
        "svc.toml",
    )
    assert spec.proxy.trusted_proxies == ["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"]


def test_each_bad_entry_is_named_by_its_index_and_says_what_is_expected() -> None:
    lines = problems('["10.0.0.0/8", "10.0.0.1/8", "nope", 5, "fe80::1%eth0", "::1/129"]')
    expected = 'expected an IP address or network such as "10.0.0.0/8", "127.0.0.1", "::1"'
    assert lines[0] == (
        "svc.toml: proxy.trusted_proxies[1]: '10.0.0.1/8' has host bits set: write the "
        "network '10.0.0.0/8', or the single address '10.0.0.1'"
    )
    assert lines[1].startswith(f"svc.toml: proxy.trusted_proxies[2]: {expected}")
    assert lines[1].endswith("got 'nope'")
    assert lines[2].startswith(f"svc.toml: proxy.trusted_proxies[3]: {expected}")
    assert lines[3] == (
        "svc.toml: proxy.trusted_proxies[4]: expected an address without a %scope, "
        "got 'fe80::1%eth0'"
    )
    assert lines[4].startswith(f"svc.toml: proxy.trusted_proxies[5]: {expected}")
    assert len(lines) == 5  # the good entry at [0] is no problem


def test_a_single_string_is_not_a_list() -> None:
    assert problems('"10.0.0.0/8"') == [
        "svc.toml: proxy.trusted_proxies: expected a list such as "
        '["10.0.0.0/8", "::1"], got \'10.0.0.0/8\''
    ]


def test_the_builtin_proxy_gets_them_and_refuses_a_bad_one_by_index() -> None:
    spec = load_spec_text(f'{APP}[proxy]\ntrusted_proxies = ["10.0.0.0/8", "::1"]\n', "svc.toml")
    assert proxy_config(spec.proxy).trusted_proxies == ("10.0.0.0/8", "::1")
    assert proxy_config(load_spec_text(APP, "svc.toml").proxy).trusted_proxies == ()
    with pytest.raises(ValueError, match=r"^trusted_proxies\[1\]: expected an IP address"):
        ProxyConfig(trusted_proxies=("::1", "localhost"))


def test_parse_networks_names_the_first_bad_index() -> None:
    with pytest.raises(ValueError, match=r"^\[1\]: '10.1.2.3/16' has host bits set"):
        parse_networks(["::1", "10.1.2.3/16"])
    assert parse_networks(["127.0.0.1"]) == (ipaddress.ip_network("127.0.0.1/32"),)


networks = st.one_of(
    st.builds(
        lambda a, n: ipaddress.IPv4Network((a, n), strict=False),
        st.ip_addresses(v=4),
        st.integers(0, 32),
    ),
    st.builds(
        lambda a, n: ipaddress.IPv6Network((a, n), strict=False),
        st.ip_addresses(v=6),
        st.integers(0, 128),
    ),
)


@given(networks)
def test_a_network_parses_as_itself(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
    assert parse_network(str(network)) == network
    assert parse_network(str(network.network_address)).prefixlen == network.max_prefixlen


@given(networks, st.data())
def test_a_network_with_host_bits_is_refused(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network, data: st.DataObject
) -> None:
    if network.num_addresses == 1:
        return  # a single address has no host bits
    offset = data.draw(st.integers(1, network.num_addresses - 1))
    host = network.network_address + offset
    with pytest.raises(ValueError, match="has host bits set") as raised:
        parse_network(f"{host}/{network.prefixlen}")
    assert f"'{network}'" in str(raised.value)


@given(networks, st.ip_addresses())
def test_a_peer_is_in_exactly_the_networks_holding_its_address(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
    peer: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    # an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 client (a dual-stack
    # listener's peer), matched against IPv4 networks only
    mapped = peer.ipv4_mapped if isinstance(peer, ipaddress.IPv6Address) else None
    seen = peer if mapped is None else mapped
    inside = seen.version == network.version and seen in network
    assert peer_in(str(peer), (network,)) is inside
    if peer.version == 4:  # as a dual-stack listener reports an IPv4 client
        assert peer_in(f"::ffff:{peer}", (network,)) is inside


def test_peers_that_are_no_ip_address_are_in_no_network() -> None:
    everything = parse_networks(["0.0.0.0/0", "::/0"])
    for peer in ("", "unknown", "/run/app.sock", "localhost"):
        assert not peer_in(peer, everything)
    assert peer_in("fe80::1%eth0", everything)  # a scoped peer: its address counts
    assert not peer_in("10.0.0.1", ())
