"""The Kubernetes Container Runtime Interface (CRI v1) in front of dockyard's engine.

`dockyard cri serve` answers the kubelet's RuntimeService and ImageService over gRPC on a
unix socket. A pod sandbox is a dockyard container running a pause process that holds the
pod's network, IPC and UTS namespaces; the pod's containers are dockyard containers joining
them. Images are dockyard's images, so a pod's image shows in `dockyard images`.
"""
