"""The hub's page templates (Jinja2, autoescaped), kept in Python so they ship with the package.

Everything from image data, git or build output goes through Jinja's autoescape; the only
markup passed through unescaped is the layer graph, which graph.svg builds with escaping of
its own. The script is plain JavaScript run as is: search filtering and copy buttons.
"""

from __future__ import annotations

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{% block head %}{% endblock %}
<title>{% block title %}dockyard hub{% endblock %}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{background:#0b3d5c;color:#fff;padding:10px 24px;display:flex;gap:20px;align-items:center}
header a{color:#fff;text-decoration:none}header .brand{font-weight:600;font-size:17px}
header .who{margin-left:auto;opacity:.85}header form{margin:0}header .search input{padding:3px 8px}
.readme{background:#fff;border:1px solid #e1e4e8;padding:4px 16px;border-radius:6px}.description{font-size:15px}
main{max-width:1200px;margin:0 auto;padding:16px 24px}
a{color:#0a62a8}h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:22px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e1e4e8;vertical-align:top}
th{background:#eef1f4;font-weight:600}code,pre{font:12.5px ui-monospace,monospace}
pre.log{background:#0d1117;color:#e6edf3;padding:12px;overflow:auto;max-height:70vh;white-space:pre-wrap}
.muted{color:#656d76}.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e1e4e8}
.queued{background:#ddf4ff}.running{background:#fff8c5}.succeeded{background:#dafbe1}.failed{background:#ffebe9}
.failing{background:#ffebe9;border-left:4px solid #cf222e;padding:8px 12px;font-family:ui-monospace,monospace}
.cmd{display:flex;gap:6px;align-items:center}.cmd code{background:#eef1f4;padding:2px 6px;border-radius:4px}
button.copy{font-size:11px;padding:1px 6px;cursor:pointer}
input#q{font-size:15px;padding:6px 10px;width:360px}
ul.repos{list-style:none;padding:0}ul.repos li{background:#fff;border:1px solid #e1e4e8;border-radius:6px;margin:6px 0;padding:10px 14px}
.graph{overflow:auto;background:#fff;border:1px solid #e1e4e8;max-height:80vh}
svg.layer-graph .edge{fill:none;stroke:#8c959f;stroke-width:1.3}
svg.layer-graph .layer rect{fill:#ddf4ff;stroke:#54aeff}svg.layer-graph .tag rect{fill:#dafbe1;stroke:#4ac26b}
svg.layer-graph text{font:11px ui-monospace,monospace;fill:#1b1f24}
</style></head>
<body><header><a class="brand" href="/">dockyard hub</a><a href="/">Repositories</a><a href="/builds">Builds</a>
<form class="search" method="get" action="/" role="search"><input name="q" placeholder="Search" aria-label="Search repositories"></form>
<span class="who">{% if visitor.user %}signed in as {{ visitor.user }}{% elif accounts %}<a href="/login">Sign in</a>{% if signup_open() %} · <a href="/signup">Sign up</a>{% endif %}{% endif %}</span>
{% if visitor.user and visitor.csrf %}<a href="/settings/tokens">Tokens</a><a href="/settings/security">Password</a><a href="/orgs">Organizations</a>
<form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="{{ visitor.csrf }}"><button type="submit">Sign out</button></form>{% endif %}</header>
<main>{% block main %}{% endblock %}</main>
<script>
document.addEventListener("click", function (e) {
  var b = e.target.closest("button.copy");
  if (!b) return;
  var text = b.getAttribute("data-copy");
  if (navigator.clipboard) navigator.clipboard.writeText(text);
  b.textContent = "copied";
  setTimeout(function () { b.textContent = "copy"; }, 1200);
});
</script>
{% block script %}{% endblock %}
</body></html>
"""

MACROS = """{% macro copy(cmd) %}<span class="cmd"><code>{{ cmd }}</code><button class="copy" type="button" data-copy="{{ cmd }}">copy</button></span>{% endmacro %}
{% macro status(s) %}<span class="pill {{ s }}">{{ s }}</span>{% endmacro %}
"""

REPOS = """{% extends "base.html" %}
{% block main %}
<h1>Repositories</h1>
<form method="get" action="/" role="search"><input id="q" name="q" value="{{ q }}" placeholder="Search repositories" autocomplete="off" autofocus></form>
<p class="muted"><span id="shown">{{ repos|length }}</span> of {{ repos|length }} repositories{% if q %} matching “{{ q }}”{% endif %}
· sorted by {% if sort == "stars" %}stars (<a href="/?q={{ q|urlencode }}" id="sort-name">name</a>){% else %}name (<a href="/?q={{ q|urlencode }}&amp;sort=stars" id="sort-stars">stars</a>){% endif %}</p>
<ul class="repos" id="repos">
{% for r in repos %}<li data-name="{{ r.name }}" data-description="{{ about.get(r.name, "") }}"><a href="/r/{{ r.name }}"><b>{{ r.name }}</b></a>
{% if r.name in private %} <span class="pill">private</span>{% endif %}
{% if about.get(r.name) %}<span class="description"> {{ about[r.name] }}</span>{% endif %}
<span class="muted"> · <span class="stars">★ {{ stars.get(r.name, 0) }}</span> · {{ r.tags }} tag{{ "s" if r.tags != 1 }}{% if r.pushed %} · pushed {{ ago(r.pushed) }}{% endif %}</span></li>
{% else %}<li class="muted">No repositories{% if q %} match “{{ q }}”{% endif %}.</li>{% endfor %}
</ul>
{% endblock %}
{% block script %}<script>
(function () {
  var input = document.getElementById("q"), items = document.querySelectorAll("#repos li[data-name]");
  var shown = document.getElementById("shown");
  input.addEventListener("input", function () {
    var q = input.value.trim().toLowerCase(), n = 0;
    items.forEach(function (li) {
      var text = (li.getAttribute("data-name") + " " + li.getAttribute("data-description")).toLowerCase();
      var hit = text.indexOf(q) >= 0;
      li.hidden = !hit; if (hit) n++;
    });
    shown.textContent = n;
  });
})();
</script>{% endblock %}
"""

REPO = """{% extends "base.html" %}{% from "macros.html" import copy, status %}
{% block title %}{{ repo }} · dockyard hub{% endblock %}
{% block main %}
<h1>{{ repo }}{% if is_private %} <span class="pill">private</span>{% endif %}
<span class="pill" title="stars">★ <span id="stars">{{ star_count }}</span></span>
{% if visitor.user %}<form method="post" action="/r/{{ repo }}/-/star" style="display:inline" id="star-form"><input type="hidden" name="csrf" value="{{ visitor.csrf }}">
<input type="hidden" name="star" value="{{ 0 if starred else 1 }}"><button type="submit" id="star">{{ "Unstar" if starred else "Star" }}</button></form>{% endif %}</h1>
{% if description %}<p class="description" id="description">{{ description }}</p>{% endif %}
{% if admin %}<p><a href="/r/{{ repo }}/-/settings" id="settings">Settings</a></p>{% endif %}
<p>{{ copy("docker pull " ~ host ~ "/" ~ repo) }}</p>
<p><a href="/r/{{ repo }}/-/tags">Manage tags</a> · <a href="/r/{{ repo }}/-/webhooks">Webhooks</a>{% if builds %} · <a href="/r/{{ repo }}/-/builds">Build rules and builds</a>{% endif %}</p>
<h2>Tags ({{ tags|length }})</h2>
<table id="tags"><thead><tr><th>Tag</th><th>Digest</th><th>Size</th><th>Created</th><th>Architecture</th><th>Pulls</th><th>Last pulled</th><th>Pull</th></tr></thead><tbody>
{% for t in tags %}<tr data-tag="{{ t.name }}"><td><a href="/r/{{ repo }}/-/image/{{ t.name }}">{{ t.name }}</a></td>
<td><code title="{{ t.image.digest }}">{{ t.image.digest[7:19] }}</code></td><td>{{ size(t.image.size) }}</td>
<td>{{ created(t.image.created) }}</td><td>{{ t.image.architecture }}</td>
<td class="pulls">{{ pulls[t.name].count if t.name in pulls else 0 }}</td><td class="last-pulled">{{ ago(pulls[t.name].last) if t.name in pulls else "never" }}</td>
<td>{{ copy("docker pull " ~ host ~ "/" ~ repo ~ ":" ~ t.name) }}</td></tr>
{% endfor %}</tbody></table>
{% if readme %}<h2>README</h2><div class="readme" id="readme">{{ readme }}</div>{% endif %}
{% if builds %}<h2>Recent builds</h2>
<table><tr><th>Build</th><th>Commit</th><th>Status</th><th>Tags</th></tr>
{% for b in builds %}<tr><td><a href="/builds/{{ b.id }}">#{{ b.id }}</a></td><td><code>{{ b.short_sha }}</code> {{ b.message }}</td>
<td>{{ status(b.status) }}</td><td>{{ b.tags }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Layer graph</h2>
{% if graph_note %}<p class="muted">{{ graph_note }}</p>{% endif %}
<div class="graph">{{ graph }}</div>
{% endblock %}
"""

IMAGE = """{% extends "base.html" %}{% from "macros.html" import copy %}
{% block title %}{{ repo }}:{{ reference }} · dockyard hub{% endblock %}
{% block main %}
<h1><a href="/r/{{ repo }}">{{ repo }}</a>:{{ reference }}</h1>
<p>{{ copy("docker pull " ~ host ~ "/" ~ repo ~ (("@" ~ reference) if ":" in reference else (":" ~ reference))) }}</p>
<table class="facts">
<tr><th>Digest</th><td><code id="digest">{{ image.digest }}</code></td></tr>
<tr><th>Media type</th><td>{{ image.media_type }}</td></tr>
{% if image.is_index %}<tr><th>Platforms</th><td>{% for p, d in image.children %}<a href="/r/{{ repo }}/-/image/{{ d }}">{{ p }}</a> {% endfor %}</td></tr>
{% else %}<tr><th>Platform</th><td id="platform">{{ image.os }}/{{ image.architecture }}</td></tr>
<tr><th>Created</th><td>{{ created(image.created) }}</td></tr>{% endif %}
<tr><th>Size</th><td>{{ size(image.size) }}</td></tr>
</table>
{% if inside %}
<h2>Contents</h2>
<p>Operating system: <b id="os">{{ inside.os.PRETTY_NAME or inside.os.ID or "unknown (no os-release)" }}</b> ·
{{ inside.packages|length }} package{{ "s" if inside.packages|length != 1 }} ·
<a href="/r/{{ repo }}/-/diff?from={{ reference|urlencode }}">compare with another tag</a></p>
<table id="packages"><tr><th>Package</th><th>Version</th><th>Kind</th></tr>
{% for p in inside.packages %}<tr data-package="{{ p.name }}"><td>{{ p.name }}</td><td>{{ p.version }}</td><td>{{ p.kind }}</td></tr>{% endfor %}
</table>
{% endif %}
{% if not image.is_index %}
<h2>Config</h2>
<table id="config">
{% for key in ["Cmd", "Entrypoint", "WorkingDir", "User"] %}{% if cfg[key] %}<tr><th>{{ key }}</th><td><code>{{ cfg[key]|tojson if cfg[key] is not string else cfg[key] }}</code></td></tr>{% endif %}{% endfor %}
{% if cfg.Env %}<tr><th>Env</th><td>{% for e in cfg.Env %}<code>{{ e }}</code><br>{% endfor %}</td></tr>{% endif %}
{% if cfg.ExposedPorts %}<tr><th>ExposedPorts</th><td>{{ cfg.ExposedPorts|join(", ") }}</td></tr>{% endif %}
{% if cfg.Volumes %}<tr><th>Volumes</th><td>{{ cfg.Volumes|join(", ") }}</td></tr>{% endif %}
{% if cfg.Labels %}<tr><th>Labels</th><td><table id="labels">{% for k, v in cfg.Labels|dictsort %}<tr><td><code>{{ k }}</code></td><td class="label-value">{{ v }}</td></tr>{% endfor %}</table></td></tr>{% endif %}
</table>
<h2>History</h2>
<table id="history"><tr><th>Created</th><th>Created by</th><th>Comment</th></tr>
{% for h in image.history %}<tr{% if h.empty_layer %} class="muted"{% endif %}><td>{{ created(h.created or "") }}</td><td><code>{{ h.created_by }}</code></td><td>{{ h.comment }}</td></tr>{% endfor %}
</table>
<h2>Layers ({{ image.layers|length }})</h2>
<table id="layers"><tr><th>#</th><th>Digest</th><th>Size</th><th>Media type</th></tr>
{% for l in image.layers %}<tr><td>{{ loop.index }}</td><td><code>{{ l.digest }}</code></td><td>{{ size(l.size) }}</td><td class="muted">{{ l.media_type }}</td></tr>{% endfor %}
</table>{% endif %}
{% endblock %}
"""

BUILDS = """{% extends "base.html" %}{% from "macros.html" import status %}
{% block head %}{% if active %}<meta http-equiv="refresh" content="3">{% endif %}{% endblock %}
{% block title %}Builds · dockyard hub{% endblock %}
{% block main %}
<h1>Builds</h1>
<table id="builds"><tr><th>Build</th><th>Repository</th><th>Commit</th><th>Status</th><th>Tags</th><th>Queued</th><th>Took</th></tr>
{% for b in builds %}<tr data-build="{{ b.id }}"><td><a href="/builds/{{ b.id }}">#{{ b.id }}</a></td><td><a href="/r/{{ b.source }}">{{ b.source }}</a></td>
<td><code>{{ b.short_sha }}</code> {{ b.message }}</td><td>{{ status(b.status) }}</td><td>{{ b.tags }}</td>
<td>{{ ago(b.created) }}</td><td>{{ duration(b) }}</td></tr>
{% else %}<tr><td colspan="7" class="muted">No builds yet.</td></tr>{% endfor %}
</table>
{% endblock %}
"""

MESSAGE = """{% extends "base.html" %}
{% block main %}<h1>{{ heading }}</h1><p>{{ text }}</p>{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "macros.html": MACROS,
    "repos.html": REPOS,
    "repo.html": REPO,
    "image.html": IMAGE,
    "builds.html": BUILDS,
    "message.html": MESSAGE,
}


def environment():
    """A Jinja2 environment over these templates, with autoescape on for every one of them."""
    import jinja2

    return jinja2.Environment(loader=jinja2.DictLoader(TEMPLATES), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)
