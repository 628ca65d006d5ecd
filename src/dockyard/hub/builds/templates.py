"""The build pages' templates: one build with its live log, and a repository's build rules.

They extend the hub's base template and are autoescaped like every other page. The build
page follows a running build through Server-Sent Events (`/builds/ID/log`): each event
appends the new lines, and the end event reloads the page, which then shows the result with
the failing step's line marked in the log.
"""

from __future__ import annotations

BUILD = """{% extends "base.html" %}{% from "macros.html" import status %}
{% block title %}Build #{{ b.id }} · dockyard hub{% endblock %}
{% block main %}
<h1>Build #{{ b.id }} of <a href="/r/{{ b.source }}">{{ b.source }}</a> <span id="status">{{ status(b.status) }}</span></h1>
<table class="facts">
<tr><th>Commit</th><td><code>{{ b.sha }}</code> on {{ meta.ref_type }} <b>{{ b.branch }}</b></td></tr>
<tr><th>Message</th><td id="message">{{ b.message }}</td></tr>
<tr><th>Rule</th><td id="rule">{{ rule.label }}</td></tr>
<tr><th>Trigger</th><td>{{ meta.trigger }}</td></tr>
{% if b.tags %}<tr><th>Tags</th><td>{% for t in b.tags.split(",") %}<a href="/r/{{ b.source }}/-/image/{{ t }}">{{ t }}</a> {% endfor %}</td></tr>{% endif %}
{% if b.digest %}<tr><th>Digest</th><td><code>{{ b.digest }}</code></td></tr>{% endif %}
<tr><th>Queued</th><td>{{ ago(b.created) }}</td></tr><tr><th>Took</th><td>{{ duration(b) }}</td></tr>
{% if b.reason %}<tr><th>Reason</th><td id="reason">{{ b.reason }}</td></tr>{% endif %}
</table>
{% if active and maintainer %}<form method="post" action="/builds/{{ b.id }}/cancel"><button id="cancel" type="submit">Cancel build</button></form>{% endif %}
{% if b.failing_line %}<h2>Failed at</h2><div class="failing" id="failing-line">{{ b.failing_line }}</div>{% endif %}
<h2>Log</h2>
<pre class="log" id="log" data-follow="{{ follow }}">{{ log_before }}{% if log_failing is not none %}<mark class="failing-log" id="failing-log-line">{{ log_failing }}</mark>{% endif %}{{ log_after }}</pre>
{% endblock %}
{% block script %}{% if follow %}<script>
(function () {
  var log = document.getElementById("log");
  var events = new EventSource(log.getAttribute("data-follow"));
  events.addEventListener("log", function (e) {
    var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.appendChild(document.createTextNode(e.data + "\\n"));
    if (atEnd) log.scrollTop = log.scrollHeight;
  });
  events.addEventListener("end", function () { events.close(); location.reload(); });
})();
</script>{% endif %}{% endblock %}
"""

RULES = """{% extends "base.html" %}{% from "macros.html" import status %}
{% block title %}Builds of {{ repo }} · dockyard hub{% endblock %}
{% block main %}
<h1><a href="/r/{{ repo }}">{{ repo }}</a> · builds</h1>
<p class="muted">From <code>{{ source.git_url }}</code>.</p>
<h2>Build rules</h2>
<table id="rules"><tr><th>#</th><th>Type</th><th>Source</th><th>Dockerfile</th><th>Context</th><th>Tags</th><th></th></tr>
{% for r in rules %}<tr data-rule="{{ r.id }}"><td>{{ r.id }}</td><td>{{ r.source_type }}</td><td><code>{{ r.source }}</code></td>
<td><code>{{ r.dockerfile }}</code></td><td><code>{{ r.context }}</code></td><td><code>{{ r.tags }}</code></td>
<td>{% if maintainer %}<form method="post" action="/r/{{ repo }}/-/builds/trigger"><input type="hidden" name="rule" value="{{ r.id }}">
<button class="build-now" type="submit">Build now</button></form>{% endif %}</td></tr>{% endfor %}
</table>
{% if vars %}<h2>Build arguments and secrets</h2>
<table id="vars"><tr><th>Name</th><th>Kind</th><th>Value</th></tr>
{% for v in vars %}<tr><td><code>{{ v.name }}</code></td><td>{{ "secret" if v.secret else "argument" }}</td><td><code>{{ v.shown }}</code></td></tr>{% endfor %}
</table>{% endif %}
{% for r in rules %}<h2>Builds of rule {{ r.id }}: {{ r.source_type }} <code>{{ r.source }}</code></h2>
<table class="rule-builds" data-rule="{{ r.id }}"><tr><th>Build</th><th>Ref</th><th>Commit</th><th>Status</th><th>Tags</th><th>Queued</th><th>Took</th></tr>
{% for b in builds.get(r.id, []) %}<tr data-build="{{ b.id }}"><td><a href="/builds/{{ b.id }}">#{{ b.id }}</a></td><td>{{ b.branch }}</td>
<td><code>{{ b.short_sha }}</code> {{ b.message }}</td><td>{{ status(b.status) }}</td><td>{{ b.tags }}</td><td>{{ ago(b.created) }}</td><td>{{ duration(b) }}</td></tr>
{% else %}<tr><td colspan="7" class="muted">No builds yet.</td></tr>{% endfor %}</table>
{% endfor %}
{% endblock %}
"""

TEMPLATES = {"build.html": BUILD, "build-rules.html": RULES}
