// The demo contacts panel: a client of the public API only, with tokens from /_local/token.
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import './style.css';
import { can, client, mintToken } from './api.js';
import { Settings } from './settings.jsx';
import { Problem, Time } from './ui.jsx';
import { Workspace } from './workspace.jsx';

const ROLES = ['admin', 'agent', 'automation'];
const PLANS = ['team', 'business', 'enterprise'];

// The org, role, plan, view and contact live in the address, so a view can be linked to.
function fromAddress() {
  const q = new URLSearchParams(location.search);
  return {
    org: q.get('org') || 'demo',
    role: ROLES.includes(q.get('role')) ? q.get('role') : 'agent',
    plan: PLANS.includes(q.get('plan')) ? q.get('plan') : 'enterprise',
    view: q.get('view') || 'workspace',
    contact: q.get('contact'),
  };
}

function App() {
  const initial = fromAddress();
  const [session, setSession] = useState({ org: initial.org, role: initial.role, plan: initial.plan });
  const [orgDraft, setOrgDraft] = useState(initial.org);
  const [view, setView] = useState(initial.view);
  const [contact, setContact] = useState(initial.contact);
  const [token, setToken] = useState(null);
  const [tokenError, setTokenError] = useState(null);
  const [defs, setDefs] = useState(null);

  useEffect(() => {
    const q = new URLSearchParams({ org: session.org, role: session.role, plan: session.plan, view });
    if (contact) q.set('contact', contact);
    history.replaceState(null, '', `?${q}`);
  }, [session, view, contact]);

  useEffect(() => {
    setToken(null);
    setTokenError(null);
    mintToken(session).then(setToken, setTokenError);
  }, [session]);

  const api = useMemo(() => (token ? client(token) : null), [token]);
  const reloadDefs = async () => {
    if (!api || !can(session, 'read_settings')) return setDefs(null);
    try {
      setDefs((await api('GET', '/attributes')).items);
    } catch {
      setDefs(null);
    }
  };
  useEffect(() => {
    reloadDefs();
  }, [api]);

  const settingsShown = can(session, 'admin');
  const current = view === 'settings' && !settingsShown ? 'workspace' : view;
  const tabs = [['workspace', 'Agent workspace'], ...(settingsShown ? [['settings', 'Admin settings']] : [])];

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <h1>Inbox Contacts</h1>
        <form
          class="switcher"
          aria-label="Who you are"
          onSubmit={(e) => {
            e.preventDefault();
            setContact(null);
            setSession({ ...session, org: orgDraft.trim() || 'demo' });
          }}
        >
          <label for="org">Org</label>
          <input id="org" value={orgDraft} size="10" onInput={(e) => setOrgDraft(e.currentTarget.value)} onBlur={(e) => e.currentTarget.form.requestSubmit()} />
          <label for="role">Role</label>
          <select id="role" value={session.role} onChange={(e) => setSession({ ...session, role: e.currentTarget.value })}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          <label for="plan">Plan</label>
          <select id="plan" value={session.plan} onChange={(e) => setSession({ ...session, plan: e.currentTarget.value })}>
            {PLANS.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </form>
        <nav aria-label="Views">
          <ul class="tabs">
            {tabs.map(([id, label]) => (
              <li key={id}>
                <a
                  href={`?view=${id}`}
                  aria-current={current === id ? 'page' : undefined}
                  onClick={(e) => {
                    e.preventDefault();
                    setView(id);
                  }}
                >
                  {label}
                </a>
              </li>
            ))}
            <li>
              <a href="/docs">API reference</a>
            </li>
          </ul>
        </nav>
      </header>
      <div class="layout">
        <main id="main">
          <Problem error={tokenError} session={session} />
          {api &&
            (current === 'settings' ? (
              <Settings session={session} api={api} defs={defs} reloadDefs={reloadDefs} />
            ) : (
              <Workspace session={session} api={api} selected={contact} onSelect={setContact} defs={defs} />
            ))}
        </main>
        <EventsTail org={session.org} />
      </div>
    </>
  );
}

// What automation clients receive from the bus, newest first, read again every second.
function EventsTail({ org }) {
  const [events, setEvents] = useState([]);
  const [live, setLive] = useState(true);
  const timer = useRef(null);
  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      try {
        const response = await fetch(`/_local/events?org=${encodeURIComponent(org)}&limit=50`);
        if (response.ok && !stopped) setEvents((await response.json()).items.slice().reverse());
      } catch {
        // the runtime is restarting; the next poll tells
      }
      if (!stopped && live) timer.current = setTimeout(poll, 1000);
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer.current);
    };
  }, [org, live]);
  return (
    <aside class="events" aria-labelledby="events-title">
      <div class="section-head">
        <h2 id="events-title">Events</h2>
        <label class="inline">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.currentTarget.checked)} /> Live
        </label>
      </div>
      <p class="muted">What bots and routing receive for org {org}.</p>
      <ol class="event-list" tabIndex="0" aria-label="Events, newest first">
        {events.map((e) => (
          <li key={e.id} class="event">
            <span class="event-type">{e.type}</span> <Time iso={e.time} />
            <pre>{JSON.stringify(e.data, null, 1)}</pre>
          </li>
        ))}
      </ol>
      {events.length === 0 && <p class="muted">No events yet.</p>}
    </aside>
  );
}

render(<App />, document.getElementById('app'));
