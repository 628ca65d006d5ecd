"""Templates of the sign-in, tokens, organizations, repository settings and audit pages.

They extend the hub's base template and are autoescaped like every other; each form carries
the visitor's CSRF token through the `csrf()` macro.
"""

from __future__ import annotations

FORMS = """{% macro csrf() %}<input type="hidden" name="csrf" value="{{ visitor.csrf }}">{% endmacro %}
{% macro error(text) %}{% if text %}<p class="failing" id="error">{{ text }}</p>{% endif %}{% endmacro %}
"""

LOGIN = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}
{% block title %}Sign in · dockyard hub{% endblock %}
{% block main %}
<h1>Sign in</h1>
{{ error(failure) }}{% if done %}<p class="succeeded" id="done" style="padding:8px">{{ done }}</p>{% endif %}
<form method="post" action="/login" id="login">{{ csrf() }}<input type="hidden" name="next" value="{{ next }}">
<p><label>User <input name="user" id="user" autocomplete="username" required></label></p>
<p><label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p></form>
<p class="muted">For <code>docker login</code>, create a personal access token after signing in.
{% if signup_open() %}No account yet? <a href="/signup" id="signup-link">Sign up</a>.{% endif %}
Forgot your password? Ask an administrator of this hub for a reset link.</p>
{% endblock %}
"""

SECOND_FACTOR = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}
{% block title %}Two-factor sign-in · dockyard hub{% endblock %}
{% block main %}
<h1>Two-factor sign-in</h1>
{{ error(failure) }}
<form method="post" action="/login/2fa" id="login-2fa">{{ csrf() }}<input type="hidden" name="next" value="{{ next }}">
<input type="hidden" name="ticket" value="{{ ticket }}">
<p><label>Code from your authenticator app <input name="code" id="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="8" autofocus></label></p>
<p><button type="submit">Verify</button></p></form>
{% endblock %}
"""

SIGNUP = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}
{% block title %}Sign up · dockyard hub{% endblock %}
{% block main %}
<h1>Sign up</h1>
{{ error(failure) }}
{% if open %}<form method="post" action="/signup" id="signup">{{ csrf() }}
<p><label>User name <input name="user" id="user" autocomplete="username" required maxlength="39" value="{{ user }}"></label>
<span class="muted">lowercase letters, digits, '-' and '_'; your repositories are NAME/...</span></p>
<p><label>Password <input name="password" id="password" type="password" autocomplete="new-password" required minlength="8"></label></p>
<p><label>Password again <input name="again" id="again" type="password" autocomplete="new-password" required minlength="8"></label></p>
<p><button type="submit">Create account</button></p></form>
{% else %}<p id="closed">Sign-up is closed on this hub: ask its administrator for an account.</p>{% endif %}
{% endblock %}
"""

SECURITY = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}
{% block title %}Password and sign-in · dockyard hub{% endblock %}
{% block main %}
<h1>Password and sign-in</h1>
{{ error(failure) }}{% if done %}<p class="succeeded" id="done" style="padding:8px">{{ done }}</p>{% endif %}
<h2>Change password</h2>
<form method="post" action="/settings/password" id="password-form">{{ csrf() }}
<p><label>Current password <input name="current" id="current" type="password" autocomplete="current-password" required></label></p>
<p><label>New password <input name="password" id="new-password" type="password" autocomplete="new-password" required minlength="8"></label></p>
<p><label>New password again <input name="again" id="new-again" type="password" autocomplete="new-password" required minlength="8"></label></p>
<p><button type="submit">Change password</button></p></form>
<h2>Two-factor sign-in</h2>
{% if totp_on %}<p id="totp-status">On: signing in on these pages asks for a code from your authenticator app, and
<code>docker login</code> takes personal access tokens only.</p>
<form method="post" action="/settings/2fa/off" id="totp-off">{{ csrf() }}
<label>Password <input name="current" id="off-current" type="password" autocomplete="current-password" required></label>
<label>Code <input name="code" id="off-code" inputmode="numeric" required maxlength="8"></label>
<button type="submit">Turn off</button></form>
{% else %}<p id="totp-status">Off.</p>
<p>Add this key to an authenticator app (or open the link on the phone that has it), then type the code it shows.</p>
<p>Key: <code id="totp-secret">{{ secret }}</code></p>
<p class="muted"><a id="totp-uri" href="{{ uri }}">{{ uri }}</a></p>
<form method="post" action="/settings/2fa" id="totp-on">{{ csrf() }}<input type="hidden" name="secret" value="{{ secret }}">
<label>Code <input name="code" id="totp-code" inputmode="numeric" autocomplete="one-time-code" required maxlength="8"></label>
<button type="submit">Turn on</button></form>{% endif %}
{% endblock %}
"""

RESET = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}
{% block title %}New password · dockyard hub{% endblock %}
{% block main %}
<h1>New password{% if user %} for {{ user }}{% endif %}</h1>
{{ error(failure) }}
{% if user %}<form method="post" action="/reset/{{ secret }}" id="reset">{{ csrf() }}
<p><label>New password <input name="password" id="password" type="password" autocomplete="new-password" required minlength="8"></label></p>
<p><label>New password again <input name="again" id="again" type="password" autocomplete="new-password" required minlength="8"></label></p>
<p><button type="submit">Set password</button></p></form>{% endif %}
{% endblock %}
"""

USERS = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}
{% block title %}Users · dockyard hub{% endblock %}
{% block main %}
<h1>Users</h1>
{{ error(failure) }}
{% if link %}<div class="succeeded" style="padding:10px"><p>Give this link to {{ link_user }} (it works once, for 24 hours; it is not shown again):</p>
<p><code id="reset-link">{{ link }}</code></p></div>{% endif %}
<p>Sign-up is <b id="signup-state">{{ "open" if signup_open else "closed" }}</b>
<form method="post" action="/admin/signup" style="display:inline">{{ csrf() }}<input type="hidden" name="state" value="{{ "closed" if signup_open else "open" }}">
<button type="submit" id="signup-toggle">{{ "Close" if signup_open else "Open" }} sign-up</button></form></p>
<table id="users"><tr><th>User</th><th>Site admin</th><th></th></tr>
{% for name, admin in users %}<tr data-user="{{ name }}"><td>{{ name }}</td><td>{{ "yes" if admin else "" }}</td>
<td><form method="post" action="/admin/users/{{ name }}/reset">{{ csrf() }}<button type="submit" class="reset">Password reset link</button></form></td></tr>{% endfor %}
</table>
{% endblock %}
"""

TOKENS = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}{% from "macros.html" import copy %}
{% block title %}Access tokens · dockyard hub{% endblock %}
{% block main %}
<h1>Personal access tokens</h1>
{{ error(failure) }}
{% if secret %}<div class="succeeded" style="padding:10px"><p>Copy the token now: it is not shown again.</p>
<p><code id="new-token">{{ secret }}</code></p>
<p>{{ copy("docker login " ~ host ~ " -u " ~ visitor.user) }} and paste it as the password.</p></div>{% endif %}
<form method="post" action="/settings/tokens" id="new-token-form">{{ csrf() }}
<label>Description <input name="name" id="token-name" required maxlength="100"></label>
<label>Access <select name="scope" id="token-scope">{% for s in scopes %}<option value="{{ s }}">{{ s }}</option>{% endfor %}</select></label>
<label>Expires <select name="days" id="token-days"><option value="">never</option><option value="30">in 30 days</option><option value="90">in 90 days</option><option value="365">in a year</option></select></label>
<button type="submit">Generate</button></form>
<table id="tokens"><tr><th>Description</th><th>Scope</th><th>Created</th><th>Last used</th><th>Expires</th><th>Status</th><th></th></tr>
{% for t in tokens %}<tr data-token="{{ t.id }}"><td class="token-name">{{ t.name }}</td><td>{{ t.scope }}</td><td>{{ ago(t.created) }}</td>
<td>{{ ago(t.last_used) if t.last_used else "never" }}</td><td>{{ day(t.expires) if t.expires else "never" }}</td><td class="status">{{ t.status }}</td>
<td>{% if not t.revoked %}<form method="post" action="/settings/tokens/{{ t.id }}/revoke">{{ csrf() }}<button type="submit" class="revoke">Revoke</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="7" class="muted">No tokens yet.</td></tr>{% endfor %}
</table>
{% endblock %}
"""

ORGS = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}
{% block title %}Organizations · dockyard hub{% endblock %}
{% block main %}
<h1>Organizations</h1>
{{ error(failure) }}
<ul id="orgs">{% for o in orgs %}<li><a href="/orgs/{{ o }}">{{ o }}</a></li>{% else %}<li class="muted">You belong to no organization.</li>{% endfor %}</ul>
<form method="post" action="/orgs">{{ csrf() }}<label>New organization <input name="name" id="org-name" required></label> <button type="submit">Create</button></form>
{% endblock %}
"""

ORG = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}
{% block title %}{{ org }} · dockyard hub{% endblock %}
{% block main %}
<h1>Organization {{ org }}</h1>
{{ error(failure) }}
<table id="teams"><tr><th>Team</th><th>Members</th></tr>
{% for team, members in teams.items() %}<tr data-team="{{ team }}"><td>{{ team }}</td><td>{{ members|join(", ") }}</td></tr>{% endfor %}
</table>
{% if owner %}
<h2>Manage</h2>
<form method="post" action="/orgs/{{ org }}/teams">{{ csrf() }}<label>New team <input name="team" required></label> <button type="submit">Add team</button></form>
<form method="post" action="/orgs/{{ org }}/members">{{ csrf() }}
<label>Team <select name="team">{% for team in teams %}<option>{{ team }}</option>{% endfor %}</select></label>
<label>User <input name="user" required></label>
<select name="action"><option value="add">add</option><option value="remove">remove</option></select>
<button type="submit">Apply</button></form>
{% endif %}
{% endblock %}
"""

SETTINGS = """{% extends "base.html" %}{% from "forms.html" import csrf, error with context %}{% from "audit_macro.html" import audit_table %}
{% block title %}Settings of {{ repo }} · dockyard hub{% endblock %}
{% block main %}
<h1>Settings of <a href="/r/{{ repo }}">{{ repo }}</a></h1>
{{ error(failure) }}
<h2>Description</h2>
<form method="post" action="/r/{{ repo }}/-/settings/texts" id="texts">{{ csrf() }}
<p><label>Short description<br><input name="description" id="description" maxlength="100" size="80" value="{{ texts.description }}"></label></p>
<p><label>README (Markdown; empty: the git source's README)<br><textarea name="readme" id="readme" rows="12" cols="100">{{ texts.readme }}</textarea></label></p>
<p><button type="submit">Save</button></p></form>
<h2>Visibility</h2>
<form method="post" action="/r/{{ repo }}/-/settings/visibility" id="visibility">{{ csrf() }}
<label><input type="radio" name="visibility" value="public"{% if not is_private %} checked{% endif %}> public</label>
<label><input type="radio" name="visibility" value="private"{% if is_private %} checked{% endif %}> private</label>
<button type="submit">Save</button></form>
<h2>Permissions</h2>
<table id="grants"><tr><th>Who</th><th>Permission</th></tr>
{% for who, level in grants %}<tr data-grantee="{{ who }}"><td>{{ who }}</td><td>{{ level_names[level] }}</td></tr>
{% else %}<tr><td colspan="2" class="muted">Only the owner{% if not is_private %} (and everyone, to pull){% endif %}.</td></tr>{% endfor %}
</table>
<form method="post" action="/r/{{ repo }}/-/settings/grants" id="grant">{{ csrf() }}
<label>Who <input name="grantee" id="grantee" placeholder="user:NAME or team:ORG/TEAM" required></label>
<label>Permission <select name="level" id="level"><option>read</option><option>write</option><option>admin</option><option value="none">none (remove)</option></select></label>
<button type="submit">Apply</button></form>
<h2>Audit log</h2>
{{ audit_table(audit) }}
{% endblock %}
"""

AUDIT_MACRO = """{% macro audit_table(entries) %}<table id="audit"><tr><th>When</th><th>Who</th><th>What</th><th>Repository</th><th>Detail</th></tr>
{% for e in entries %}<tr><td>{{ ago(e.at) }}</td><td>{{ e.actor or "anonymous" }}</td><td>{{ e.action }}</td><td>{{ e.repo }}</td><td><code>{{ e.detail }}</code></td></tr>
{% else %}<tr><td colspan="5" class="muted">Nothing recorded yet.</td></tr>{% endfor %}</table>{% endmacro %}
"""

AUDIT = """{% extends "base.html" %}{% from "audit_macro.html" import audit_table %}
{% block title %}Audit log · dockyard hub{% endblock %}
{% block main %}<h1>Audit log</h1>{{ audit_table(audit) }}{% endblock %}
"""

TEMPLATES = {
    "forms.html": FORMS,
    "login.html": LOGIN,
    "login-2fa.html": SECOND_FACTOR,
    "signup.html": SIGNUP,
    "security.html": SECURITY,
    "reset.html": RESET,
    "users.html": USERS,
    "tokens.html": TOKENS,
    "orgs.html": ORGS,
    "org.html": ORG,
    "settings.html": SETTINGS,
    "audit_macro.html": AUDIT_MACRO,
    "audit.html": AUDIT,
}
