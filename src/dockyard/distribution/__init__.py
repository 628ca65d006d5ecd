"""Registry client: pull, push, login, search, with token and basic auth, mounts and resumable transfers.

The image service and the CLI call these; they deal only in blobs in a `ContentStore`
(registering and tagging images is the image service's job).
"""

from dockyard.distribution.login import login, logout
from dockyard.distribution.progress import Progress, QuietProgress, RichProgress
from dockyard.distribution.pull import PullResult, pull, resolve
from dockyard.distribution.push import PushResult, push
from dockyard.distribution.search import search

__all__ = ["Progress", "PullResult", "PushResult", "QuietProgress", "RichProgress",
           "login", "logout", "pull", "push", "resolve", "search"]
