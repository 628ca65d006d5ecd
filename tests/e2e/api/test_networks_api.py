"""Networks through the docker CLI 28 and docker-py against `dockyard serve`: what
NetworkSettings.Networks shows for created, running and stopped containers, several networks at
create, IPAM pools (IPRange, AuxiliaryAddresses, Gateway), connect and disconnect with their
endpoint settings, network names as moby takes them."""

from __future__ import annotations

import json
import random
import time
from ipaddress import IPv4Network

import pytest

from dockyard.network.ipam import host_routes

pytestmark = pytest.mark.root


def free_subnet() -> IPv4Network:
    """A /24 of 10.217.0.0/16 (used by no other test) that no host route touches."""
    routes = host_routes()
    for i in random.sample(range(1, 255), 60):
        net = IPv4Network(f"10.217.{i}.0/24")
        if not any(net.overlaps(r) for r in routes):
            return net
    raise AssertionError("no free /24 in 10.217.0.0/16")


def networks_of(api, name: str) -> dict:
    return json.loads(api.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name).out)


def wait_stopped(api, name: str) -> None:
    deadline = time.monotonic() + 30
    while api.docker("inspect", "-f", "{{.State.Running}}", name).out.strip() == "true":
        assert time.monotonic() < deadline, f"{name} did not stop"
        time.sleep(0.05)


def test_networks_of_created_running_and_stopped_containers(api, busybox):
    net = free_subnet()
    ip = str(net.network_address + 9)
    net_id = api.docker("network", "create", "--subnet", str(net), "front").out.strip()
    api.docker("create", "--name", "web", "--network", "front", "--ip", ip, "--network-alias", "www",
               "busybox", "sleep", "300")

    created = networks_of(api, "web")
    assert list(created) == ["front"]
    assert created["front"]["IPAMConfig"] == {"IPv4Address": ip}
    assert created["front"]["Aliases"] == ["www"]
    assert (created["front"]["IPAddress"], created["front"]["EndpointID"], created["front"]["NetworkID"]) == ("", "", "")

    api.docker("start", "web")
    running = networks_of(api, "web")["front"]
    cid = api.docker("inspect", "-f", "{{.Id}}", "web").out.strip()
    assert (running["IPAddress"], running["IPPrefixLen"], running["Gateway"]) == (ip, 24, str(net.network_address + 1))
    assert running["NetworkID"] == net_id and len(running["EndpointID"]) == 64
    assert running["IPAMConfig"] == {"IPv4Address": ip} and running["Aliases"] == ["www"]
    assert running["DNSNames"] == ["web", cid[:12], "www"]
    assert running["MacAddress"] and running["Links"] is None and running["DriverOpts"] is None
    # the top-level fields are the default bridge's endpoint (none here), as moby shows them before API 1.52
    assert api.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}|{{.NetworkSettings.Gateway}}", "web").out == "|\n"
    import docker
    old = docker.APIClient(base_url=api.url, version="1.44").inspect_container("web")  # before DNSNames (1.45)
    assert old["NetworkSettings"]["Networks"]["front"]["Aliases"] == ["www", cid[:12]]

    api.docker("kill", "web")
    wait_stopped(api, "web")
    stopped = networks_of(api, "web")["front"]
    assert {k: stopped[k] for k in ("IPAddress", "IPPrefixLen", "Gateway", "EndpointID", "MacAddress")} == {
        "IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "EndpointID": "", "MacAddress": ""}
    assert stopped["NetworkID"] == net_id and stopped["IPAMConfig"] == {"IPv4Address": ip}
    assert stopped["Aliases"] == ["www"] and stopped["DNSNames"] == ["web", cid[:12], "www"]

    api.docker("start", "web")  # the same address again, from the kept IPAMConfig
    assert networks_of(api, "web")["front"]["IPAddress"] == ip


def test_several_networks_at_create(api, busybox):
    a, b = free_subnet(), free_subnet()
    api.docker("network", "create", "--subnet", str(a), "neta")
    api.docker("network", "create", "--subnet", str(b), "netb")
    # the docker CLI 28 (API 1.47) names both networks in NetworkingConfig
    api.docker("run", "-d", "--name", "two", "--network", "neta", "--network", "netb", "busybox", "sleep", "300")
    nets = networks_of(api, "two")
    assert sorted(nets) == ["neta", "netb"]
    assert nets["neta"]["IPAddress"] == str(a.network_address + 2)
    assert nets["netb"]["IPAddress"] == str(b.network_address + 2)
    addrs = api.docker("exec", "two", "ip", "-o", "-4", "addr").out
    assert str(a.network_address + 2) in addrs and str(b.network_address + 2) in addrs

    # before 1.44 a create may name one network only, as dockerd answers
    import docker
    old = docker.APIClient(base_url=api.url, version="1.43")
    config = old.create_networking_config({"neta": old.create_endpoint_config(), "netb": old.create_endpoint_config()})
    with pytest.raises(docker.errors.APIError) as e:
        old.create_container("busybox", "true", networking_config=config)
    assert e.value.status_code == 400
    assert e.value.explanation.startswith("Container cannot be connected to network endpoints: ")
    assert sorted(e.value.explanation.split(": ", 1)[1].split(", ")) == ["neta", "netb"]

    # as in moby, the network is looked up when the container starts (it may be made in between)
    api.docker("create", "--name", "early", "--network", "nosuch", "busybox", "true")
    r = api.docker("start", "early", check=False)
    assert r.code != 0 and "failed to set up container networking: network nosuch not found" in r.err
    with pytest.raises(docker.errors.NotFound, match="network nosuch not found"):
        api.client().containers.run("busybox", "true", network="nosuch")
    api.docker("network", "create", "--subnet", str(free_subnet()), "nosuch")
    api.docker("start", "early")


def test_ipam_pool_ip_range_aux_addresses_and_options(api, busybox):
    net = free_subnet()
    base = net.network_address
    ip_range = f"{base + 16}/30"  # .16 - .19
    api.docker("network", "create", "--subnet", str(net), "--gateway", str(base + 254), "--ip-range", ip_range,
               "--aux-address", f"router={base + 17}", "-o", "com.docker.network.driver.mtu=1400", "pool")
    doc = json.loads(api.docker("network", "inspect", "pool").out)[0]
    assert doc["IPAM"]["Config"] == [{"Subnet": str(net), "IPRange": ip_range, "Gateway": str(base + 254),
                                      "AuxiliaryAddresses": {"router": str(base + 17)}}]
    assert doc["Options"] == {"com.docker.network.driver.mtu": "1400"}

    for name in ("p1", "p2"):
        api.docker("run", "-d", "--name", name, "--network", "pool", "busybox", "sleep", "300")
    # .16 is the range's network address but a host of the subnet; .17 is auxiliary
    assert [networks_of(api, n)["pool"]["IPAddress"] for n in ("p1", "p2")] == [str(base + 16), str(base + 18)]
    assert networks_of(api, "p1")["pool"]["Gateway"] == str(base + 254)
    # an address of the subnet outside the range may still be asked for; the auxiliary one not
    api.docker("run", "-d", "--name", "p3", "--network", "pool", "--ip", str(base + 100), "busybox", "sleep", "300")
    assert networks_of(api, "p3")["pool"]["IPAddress"] == str(base + 100)
    r = api.docker("run", "-d", "--network", "pool", "--ip", str(base + 17), "busybox", "true", check=False)
    assert r.code != 0 and "Address already in use" in r.err

    import docker
    from docker.types import IPAMConfig, IPAMPool
    for pool, message in (
            (IPAMPool(subnet=str(net), iprange="10.0.0.0/30"),
             f"invalid network config:\ninvalid ip-range 10.0.0.0/30: parent subnet {net} doesn't contain ip-range"),
            (IPAMPool(subnet=str(net), aux_addresses={"a": "10.0.0.1"}),
             f"invalid network config:\ninvalid auxiliary address a: parent subnet {net} doesn't contain this address")):
        with pytest.raises(docker.errors.APIError) as e:
            api.client().networks.create("bad", ipam=IPAMConfig(pool_configs=[pool]))
        assert e.value.status_code == 400 and e.value.explanation == message
    assert "bad" not in api.docker("network", "ls", "--format", "{{.Name}}").out.split()


def test_connect_and_disconnect_with_endpoint_settings(api, busybox):
    net = free_subnet()
    api.docker("network", "create", "--subnet", str(net), "back")
    api.docker("run", "-d", "--name", "db", "busybox", "sleep", "300")
    api.docker("run", "-d", "--name", "app", "--network", "back", "busybox", "sleep", "300")
    ip = str(net.network_address + 50)
    api.docker("network", "connect", "--alias", "database", "--ip", ip, "--link", "app:application",
               "--link-local-ip", "169.254.8.8", "back", "db")
    es = networks_of(api, "db")["back"]
    assert es["IPAddress"] == ip and es["Aliases"] == ["database"]
    assert es["IPAMConfig"] == {"IPv4Address": ip, "LinkLocalIPs": ["169.254.8.8"]}
    assert es["Links"] == ["app:application"]
    assert sorted(networks_of(api, "db")) == ["back", "bridge"]
    assert "169.254.8.8" in api.docker("exec", "db", "ip", "-o", "addr").out
    assert ip in api.docker("exec", "app", "nslookup", "database").out
    # db started on the default bridge: connected to a user-defined network, it resolves names there
    # too (its resolv.conf is rewritten in place, as Docker rewrites it)
    assert networks_of(api, "app")["back"]["IPAddress"] in api.docker("exec", "db", "nslookup", "app").out
    # a legacy link names its target for the linking container alone, as Docker's embedded DNS scopes it
    api.docker("run", "-d", "--name", "linked", "--network", "back", "--link", "app:application", "busybox",
               "sleep", "300")
    assert networks_of(api, "linked")["back"]["Links"] == ["app:application"]
    app_ip = networks_of(api, "app")["back"]["IPAddress"]
    assert app_ip in api.docker("exec", "linked", "nslookup", "application").out
    assert api.docker("exec", "app", "nslookup", "application", check=False).code != 0
    py = api.client().containers.run("busybox", "sleep 300", detach=True, network="back", links={"app": "apl"})
    assert app_ip in py.exec_run("nslookup apl").output.decode()

    api.docker("network", "disconnect", "back", "db")
    assert list(networks_of(api, "db")) == ["bridge"]

    # a stopped container: joined at its next start, shown meanwhile; --force tolerates absence
    api.docker("create", "--name", "later", "busybox", "sleep", "300")
    api.docker("network", "connect", "--alias", "l8r", "back", "later")
    planned = networks_of(api, "later")
    assert sorted(planned) == ["back", "bridge"] and planned["back"]["Aliases"] == ["l8r"]
    api.docker("start", "later")
    assert networks_of(api, "later")["back"]["IPAddress"].startswith(str(net.network_address)[:-1])
    api.docker("kill", "later")
    wait_stopped(api, "later")
    api.docker("network", "disconnect", "back", "later")
    assert list(networks_of(api, "later")) == ["bridge"]
    r = api.docker("network", "disconnect", "back", "later", check=False)
    assert r.code != 0 and "is not connected to network back" in r.err
    api.docker("network", "disconnect", "--force", "back", "later")

    client = api.client()
    client.networks.get("back").connect("later", aliases=["again"], links=[("app", "application")])
    assert networks_of(api, "later")["back"]["Aliases"] == ["again"]


def test_network_names_as_moby_takes_them(api, busybox):
    api.docker("network", "create", "my net")
    assert "my net" in api.docker("network", "ls", "--format", "{{.Name}}").out.splitlines()
    api.docker("run", "--rm", "--network", "my net", "busybox", "true")
    api.docker("network", "rm", "my net")

    import docker
    client = api.client()
    with pytest.raises(docker.errors.APIError) as e:
        client.networks.create("   ")
    assert e.value.status_code == 400 and e.value.explanation == "invalid name: name is empty"
    with pytest.raises(docker.errors.APIError) as e:
        client.networks.create("host")
    assert e.value.status_code == 403 and e.value.explanation == "operation is not permitted on predefined host network"


def free_subnet6() -> str:
    """A /64 of the documentation prefix 2001:db8::/32 (used by no other test)."""
    return f"2001:db8:{random.randrange(0x100, 0xffff):x}::/64"


def host_ipv6_address() -> str | None:
    """A global IPv6 address of the host (not loopback, not link-local), if it has one."""
    from ipaddress import IPv6Address
    for line in open("/proc/net/if_inet6"):
        hexaddr, _, _, scope, _, dev = line.split()
        if scope == "00" and dev != "lo":
            return str(IPv6Address(int(hexaddr, 16)))
    return None


def test_dual_stack_network(api, busybox):
    net, net6 = free_subnet(), free_subnet6()
    gw6 = net6.replace("::/64", "::1")
    api.docker("network", "create", "--ipv6", "--subnet", str(net), "--subnet", net6, "dual")
    doc = json.loads(api.docker("network", "inspect", "dual").out)[0]
    assert doc["EnableIPv6"] is True
    assert doc["IPAM"]["Config"] == [{"Subnet": str(net), "Gateway": str(net.network_address + 1)},
                                     {"Subnet": net6, "Gateway": gw6}]

    api.docker("run", "-d", "--name", "cli", "--network", "dual", "busybox", "sleep", "300")
    api.docker("run", "-d", "--name", "web", "--network", "dual", "-p", "80", "busybox", "httpd", "-f", "-p", "80",
               "-h", "/etc")
    web = networks_of(api, "web")["dual"]
    web6 = net6.replace("::/64", "::3")
    assert (web["GlobalIPv6Address"], web["GlobalIPv6PrefixLen"], web["IPv6Gateway"]) == (web6, 64, gw6)
    assert web["IPAddress"] == str(net.network_address + 3)
    members = json.loads(api.docker("network", "inspect", "dual").out)[0]["Containers"]
    assert sorted(m["IPv6Address"] for m in members.values()) == [net6.replace("::/64", "::2/64"), web6 + "/64"]

    # by name over IPv6: the embedded DNS answers AAAA, and the neighbour answers on its v6 address
    out = api.docker("exec", "cli", "nslookup", "-type=aaaa", "web").out
    assert web6 in out
    api.docker("exec", "cli", "ping", "-6", "-c", "1", "-W", "5", "web")
    api.docker("exec", "cli", "wget", "-q", "-O", "/dev/null", f"http://[{web6}]/hostname")

    # published on every host address of both families
    port = json.loads(api.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", "web").out)["80/tcp"]
    host_port = port[0]["HostPort"]
    assert port == [{"HostIp": "0.0.0.0", "HostPort": host_port}, {"HostIp": "::", "HostPort": host_port}]
    assert api.docker("port", "web").out.splitlines() == [f"80/tcp -> 0.0.0.0:{host_port}", f"80/tcp -> [::]:{host_port}"]
    ps = api.docker("ps", "--filter", "name=web", "--format", "{{.Ports}}").out.strip()
    assert ps == f"0.0.0.0:{host_port}->80/tcp, [::]:{host_port}->80/tcp"
    import urllib.request
    addr6 = host_ipv6_address()
    for host in ["::1"] + ([addr6] if addr6 else []):
        deadline = time.monotonic() + 20  # [::1] is served by the network's helper, which follows the DB
        while True:
            try:
                with urllib.request.urlopen(f"http://[{host}]:{host_port}/hostname", timeout=10) as r:
                    assert r.status == 200 and r.read()
                break
            except OSError:
                assert time.monotonic() < deadline, f"[{host}]:{host_port} never answered"
                time.sleep(0.1)
    api.docker("rm", "-f", "web")  # the port goes with it, on [::1] too
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://[::1]:{host_port}/hostname", timeout=2).close()
        except OSError:
            break
        assert time.monotonic() < deadline, f"[::1]:{host_port} still answers"
        time.sleep(0.1)


def test_ipv6_network_without_subnet_takes_a_ula_one(api, busybox):
    import docker
    from docker.types import IPAMConfig, IPAMPool
    client = api.client()
    ula = client.networks.create("ula", enable_ipv6=True)
    pools = ula.attrs["IPAM"]["Config"]
    assert ula.attrs["EnableIPv6"] is True and len(pools) == 2
    from ipaddress import IPv6Network
    v6 = IPv6Network(pools[1]["Subnet"])
    assert v6.prefixlen == 64 and v6.subnet_of(IPv6Network("fd00::/8"))
    # an IPv6 pool without EnableIPv6 is ignored, as moby ignores it
    plain = client.networks.create("plain", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=free_subnet6())]))
    assert plain.attrs["EnableIPv6"] is False and all(":" not in p["Subnet"] for p in plain.attrs["IPAM"]["Config"])
    c = client.containers.run("busybox", "sleep 300", detach=True, network="ula")
    c.reload()
    assert IPv6Network(c.attrs["NetworkSettings"]["Networks"]["ula"]["GlobalIPv6Address"] + "/64", strict=False) == v6
    with pytest.raises(docker.errors.APIError):
        client.networks.create("dup", enable_ipv6=True, ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(v6))]))


def test_ipv6_pool_range_and_auxiliary_addresses(api, busybox):
    from docker.types import IPAMConfig, IPAMPool
    v6 = free_subnet6()
    base = v6.removesuffix("/64")
    pool6 = IPAMPool(subnet=v6, iprange=base + "100/126", aux_addresses={"r": base + "100"})
    client = api.client()
    net = client.networks.create("r6", enable_ipv6=True,
                                 ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(free_subnet())), pool6]))
    assert net.attrs["IPAM"]["Config"][1] == {"Subnet": v6, "IPRange": base + "100/126", "Gateway": base + "1",
                                              "AuxiliaryAddresses": {"r": base + "100"}}
    c = client.containers.run("busybox", "sleep 300", detach=True, network="r6")
    c.reload()
    assert c.attrs["NetworkSettings"]["Networks"]["r6"]["GlobalIPv6Address"] == base + "101"
