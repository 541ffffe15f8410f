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

  const [tick, setTick] = useState(0);
  const settingsShown = can(session, 'admin');
  const current = view === 'settings' && !settingsShown ? 'workspace' : view;
  const address = (shown) => {
    const q = new URLSearchParams({ org: session.org, role: session.role, plan: session.plan, view: shown });
    if (contact) q.set('contact', contact);
    return `?${q}`;
  };
  useEffect(() => {
    history.replaceState(null, '', address(current));
  }, [session, current, contact]);

  useEffect(() => {
    // A reply for the caller picked before the last switch must not win.
    let switched = false;
    setToken(null);
    setTokenError(null);
    mintToken(session).then(
      (t) => switched || setToken(t),
      (e) => switched || setTokenError(e),
    );
    return () => {
      switched = true;
    };
  }, [session]);

  const api = useMemo(() => (token ? client(token) : null), [token]);
  const [defsError, setDefsError] = useState(null);
  const reloadDefs = async () => {
    setDefsError(null);
    if (!api || !can(session, 'read_settings')) return setDefs(null);
    try {
      setDefs((await api('GET', '/attributes')).items);
    } catch (e) {
      setDefs(null);
      setDefsError(e);
    }
  };
  useEffect(() => {
    reloadDefs();
  }, [api]);

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
            const org = orgDraft.trim() || 'demo';
            if (org === session.org) return;
            setContact(null);
            setSession({ ...session, org });
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
                  href={address(id)}
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
              <a href="/docs/">API reference</a>
            </li>
          </ul>
        </nav>
      </header>
      <div class="layout">
        <main id="main">
          <Problem error={tokenError || defsError} session={session} />
          {api &&
            (current === 'settings' ? (
              <Settings session={session} api={api} defs={defs} reloadDefs={reloadDefs} />
            ) : (
              <Workspace session={session} api={api} selected={contact} onSelect={setContact} defs={defs} tick={tick} />
            ))}
        </main>
        <EventsTail org={session.org} onNew={() => setTick((t) => t + 1)} />
      </div>
    </>
  );
}

// What automation clients receive from the bus, newest first, read again every second.
// `onNew` is called when an event arrives that was not there before.
function EventsTail({ org, onNew }) {
  const [events, setEvents] = useState([]);
  const [live, setLive] = useState(true);
  // Read by a poll already under way: once "Live" is off, nothing it brings refreshes the page.
  const liveNow = useRef(true);
  const timer = useRef(null);
  const seen = useRef(undefined);
  useEffect(() => {
    let stopped = false;
    seen.current = undefined;
    const poll = async () => {
      try {
        const response = await fetch(`/_local/events?org=${encodeURIComponent(org)}&limit=50`);
        if (response.ok && !stopped) {
          const items = (await response.json()).items.slice().reverse();
          const newest = items.length ? items[0].id : null;
          if (seen.current !== undefined && newest !== seen.current && liveNow.current) onNew();
          seen.current = newest;
          setEvents(items);
        }
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
          <input
            type="checkbox"
            checked={live}
            onChange={(e) => {
              liveNow.current = e.currentTarget.checked;
              setLive(e.currentTarget.checked);
            }}
          />{' '}
          Live
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
