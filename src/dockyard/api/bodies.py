"""The JSON request bodies of the Engine API, typed as dockerd's Go structs (API 1.47).

Only the fields' JSON types are described (see gojson): enough to refuse a body dockerd
could not decode, with the sentence dockerd gives, before any handler runs.
"""

from __future__ import annotations

from dockyard.api.gojson import (BOOL, INT, INT64, LABELS, STRING, STRINGS, UINT, UINT16, UINT64, Int, Map,
                                 Slice, String, StrSlice, Struct)


DURATION = Int("time.Duration")
HEALTH = Struct("container.HealthConfig", {"Test": STRINGS, "Interval": DURATION, "Timeout": DURATION,
                                           "StartPeriod": DURATION, "StartInterval": DURATION, "Retries": INT})
CONFIG = Struct("container.Config", {
    "Hostname": STRING, "Domainname": STRING, "User": STRING, "AttachStdin": BOOL, "AttachStdout": BOOL,
    "AttachStderr": BOOL, "ExposedPorts": Map(Struct("struct {}"), "nat.PortSet"), "Tty": BOOL, "OpenStdin": BOOL,
    "StdinOnce": BOOL, "Env": STRINGS, "Cmd": StrSlice(), "Healthcheck": HEALTH, "ArgsEscaped": BOOL,
    "Image": STRING, "Volumes": Map(Struct("struct {}")), "WorkingDir": STRING, "Entrypoint": StrSlice(),
    "NetworkDisabled": BOOL, "MacAddress": STRING, "OnBuild": STRINGS, "Labels": LABELS, "StopSignal": STRING,
    "StopTimeout": INT, "Shell": StrSlice(),
})
_THROTTLE = Slice(Struct("blkiodev.ThrottleDevice", {"Path": STRING, "Rate": UINT64}))
RESOURCES = Struct("container.Resources", {
    "CpuShares": INT64, "Memory": INT64, "NanoCpus": INT64, "CgroupParent": STRING, "BlkioWeight": UINT16,
    "BlkioWeightDevice": Slice(Struct("blkiodev.WeightDevice", {"Path": STRING, "Weight": UINT16})),
    "BlkioDeviceReadBps": _THROTTLE, "BlkioDeviceWriteBps": _THROTTLE, "BlkioDeviceReadIOps": _THROTTLE,
    "BlkioDeviceWriteIOps": _THROTTLE, "CpuPeriod": INT64, "CpuQuota": INT64, "CpuRealtimePeriod": INT64,
    "CpuRealtimeRuntime": INT64, "CpusetCpus": STRING, "CpusetMems": STRING,
    "Devices": Slice(Struct("container.DeviceMapping", {"PathOnHost": STRING, "PathInContainer": STRING,
                                                        "CgroupPermissions": STRING})),
    "DeviceCgroupRules": STRINGS,
    "DeviceRequests": Slice(Struct("container.DeviceRequest", {"Driver": STRING, "Count": INT, "DeviceIDs": STRINGS,
                                                               "Capabilities": Slice(STRINGS), "Options": LABELS})),
    "KernelMemory": INT64, "KernelMemoryTCP": INT64, "MemoryReservation": INT64, "MemorySwap": INT64,
    "MemorySwappiness": INT64, "OomKillDisable": BOOL, "PidsLimit": INT64,
    "Ulimits": Slice(Struct("units.Ulimit", {"Name": STRING, "Hard": INT64, "Soft": INT64})),
    "CpuCount": INT64, "CpuPercent": INT64, "IOMaximumIOps": UINT64, "IOMaximumBandwidth": UINT64,
})
RESTART_POLICY = Struct("container.RestartPolicy", {"Name": String("container.RestartPolicyMode"),
                                                    "MaximumRetryCount": INT})
MOUNT = Struct("mount.Mount", {
    "Type": String("mount.Type"), "Source": STRING, "Target": STRING, "ReadOnly": BOOL,
    "Consistency": String("mount.Consistency"),
    "BindOptions": Struct("mount.BindOptions", {"Propagation": String("mount.Propagation"),
                                                "NonRecursive": BOOL, "CreateMountpoint": BOOL,
                                                "ReadOnlyNonRecursive": BOOL, "ReadOnlyForceRecursive": BOOL}),
    "VolumeOptions": Struct("mount.VolumeOptions", {
        "NoCopy": BOOL, "Labels": LABELS, "Subpath": STRING,
        "DriverConfig": Struct("mount.Driver", {"Name": STRING, "Options": LABELS})}),
    "TmpfsOptions": Struct("mount.TmpfsOptions", {"SizeBytes": INT64, "Mode": Int("fs.FileMode", 32, True),
                                                  "Options": Slice(STRINGS)}),
    "ClusterOptions": Struct("mount.ClusterOptions"),
})
HOST_CONFIG = RESOURCES.extended(
    "container.HostConfig",
    Binds=STRINGS, ContainerIDFile=STRING,
    LogConfig=Struct("container.LogConfig", {"Type": STRING, "Config": LABELS}),
    NetworkMode=String("container.NetworkMode"),
    PortBindings=Map(Slice(Struct("nat.PortBinding", {"HostIp": STRING, "HostPort": STRING})), "nat.PortMap"),
    RestartPolicy=RESTART_POLICY, AutoRemove=BOOL, VolumeDriver=STRING, VolumesFrom=STRINGS,
    ConsoleSize=Slice(UINT, length=2), Annotations=LABELS, CapAdd=StrSlice(), CapDrop=StrSlice(),
    CgroupnsMode=String("container.CgroupnsMode"), Dns=STRINGS, DnsOptions=STRINGS, DnsSearch=STRINGS,
    ExtraHosts=STRINGS, GroupAdd=STRINGS, IpcMode=String("container.IpcMode"),
    Cgroup=String("container.CgroupSpec"), Links=STRINGS, OomScoreAdj=INT,
    PidMode=String("container.PidMode"), Privileged=BOOL, PublishAllPorts=BOOL, ReadonlyRootfs=BOOL,
    SecurityOpt=STRINGS, StorageOpt=LABELS, Tmpfs=LABELS, UTSMode=String("container.UTSMode"),
    UsernsMode=String("container.UsernsMode"), ShmSize=INT64, Sysctls=LABELS, Runtime=STRING,
    Isolation=String("container.Isolation"), Mounts=Slice(MOUNT), MaskedPaths=STRINGS,
    ReadonlyPaths=STRINGS, Init=BOOL,
)
ENDPOINT = Struct("network.EndpointSettings", {
    "IPAMConfig": Struct("network.EndpointIPAMConfig", {"IPv4Address": STRING, "IPv6Address": STRING,
                                                        "LinkLocalIPs": STRINGS}),
    "Links": STRINGS, "Aliases": STRINGS, "MacAddress": STRING, "DriverOpts": LABELS, "NetworkID": STRING,
    "EndpointID": STRING, "Gateway": STRING, "IPAddress": STRING, "IPPrefixLen": INT, "IPv6Gateway": STRING,
    "GlobalIPv6Address": STRING, "GlobalIPv6PrefixLen": INT, "DNSNames": STRINGS,
})
CREATE_REQUEST = CONFIG.extended(
    "container.CreateRequest", HostConfig=HOST_CONFIG,
    NetworkingConfig=Struct("network.NetworkingConfig", {"EndpointsConfig": Map(ENDPOINT)}))
CONSOLE_SIZE = Slice(UINT, length=2)
EXEC_OPTIONS = Struct("container.ExecOptions", {
    "User": STRING, "Privileged": BOOL, "Tty": BOOL, "ConsoleSize": CONSOLE_SIZE, "AttachStdin": BOOL,
    "AttachStderr": BOOL, "AttachStdout": BOOL, "Detach": BOOL, "DetachKeys": STRING, "Env": STRINGS,
    "WorkingDir": STRING, "Cmd": STRINGS,
})
NETWORK_CREATE = Struct("network.CreateRequest", {
    "Name": STRING, "CheckDuplicate": BOOL, "Driver": STRING, "Scope": STRING, "EnableIPv6": BOOL,
    "IPAM": Struct("network.IPAM", {
        "Driver": STRING, "Options": LABELS,
        "Config": Slice(Struct("network.IPAMConfig", {"Subnet": STRING, "IPRange": STRING, "Gateway": STRING,
                                                      "AuxiliaryAddresses": LABELS}))}),
    "Internal": BOOL, "Attachable": BOOL, "Ingress": BOOL, "ConfigOnly": BOOL,
    "ConfigFrom": Struct("network.ConfigReference", {"Network": STRING}), "Options": LABELS, "Labels": LABELS,
})

# (method, path as Docker's reference writes it) -> the Go type its body decodes into
BODIES = {
    ("POST", "/containers/create"): CREATE_REQUEST,
    ("POST", "/containers/{id}/update"): RESOURCES.extended("container.UpdateConfig", RestartPolicy=RESTART_POLICY),
    ("POST", "/containers/{id}/exec"): EXEC_OPTIONS,
    ("POST", "/exec/{id}/start"): Struct("container.ExecStartOptions", {"Detach": BOOL, "Tty": BOOL,
                                                                         "ConsoleSize": CONSOLE_SIZE}),
    ("POST", "/commit"): CONFIG,
    ("POST", "/networks/create"): NETWORK_CREATE,
    ("POST", "/networks/{id}/connect"): Struct("network.ConnectOptions", {"Container": STRING,
                                                                          "EndpointConfig": ENDPOINT}),
    ("POST", "/networks/{id}/disconnect"): Struct("network.DisconnectOptions", {"Container": STRING, "Force": BOOL}),
    ("POST", "/volumes/create"): Struct("volume.CreateOptions", {
        "ClusterVolumeSpec": Struct("volume.ClusterVolumeSpec"), "Driver": STRING, "DriverOpts": LABELS,
        "Labels": LABELS, "Name": STRING}),
    ("POST", "/auth"): Struct("registry.AuthConfig", {k: STRING for k in (
        "username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken")}),
}

