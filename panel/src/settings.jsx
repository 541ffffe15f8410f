// Admin settings: attribute definitions, org switches, the CRM connection, exports, deletions.
import { useEffect, useRef, useState } from 'preact/hooks';
import { can, WHY } from './api.js';
import { ConfirmButton, Explain, FieldError, Problem, Time, submitting, useAction, usePages } from './ui.jsx';

export function Settings({ session, api, defs, reloadDefs }) {
  return (
    <div class="settings">
      <div class="settings-column">
        <AttributeDefinitions session={session} api={api} defs={defs} reloadDefs={reloadDefs} />
      </div>
      <div class="settings-column">
        <OrgSwitches session={session} api={api} defs={defs} reloadDefs={reloadDefs} />
        <CrmConnection session={session} api={api} />
        <Exports session={session} api={api} />
        <DeletedContacts session={session} api={api} />
      </div>
    </div>
  );
}

function AttributeDefinitions({ session, api, defs, reloadDefs }) {
  const [dragging, setDragging] = useState(null);
  const [announce, setAnnounce] = useState('');
  const reorder = useAction(async (keys, moved) => {
    await api('PUT', '/attributes/order', { body: { keys } });
    await reloadDefs();
    if (moved) setAnnounce(`${moved.label} is now number ${keys.indexOf(moved.key) + 1} of ${keys.length}.`);
  });
  const patch = useAction(async (key, body) => {
    await api('PATCH', `/attributes/${encodeURIComponent(key)}`, { body });
    await reloadDefs();
  });
  const remove = useAction(async (key) => {
    await api('DELETE', `/attributes/${encodeURIComponent(key)}`);
    await reloadDefs();
  });
  if (!defs) return null;
  const crm = can(session, 'crm_admin');
  const keys = defs.map((d) => d.key);
  const move = (def, to) => {
    if (to < 0 || to >= keys.length) return;
    const next = keys.filter((k) => k !== def.key);
    next.splice(to, 0, def.key);
    reorder.run(next, def);
  };
  return (
    <section class="card" aria-labelledby="defs-title">
      <h2 id="defs-title">Attributes</h2>
      <p class="muted">
        What agents see on a contact, in this order. Drag a row, or focus its handle and press Alt+↑ or Alt+↓.
      </p>
      {!crm && <Explain>{WHY.crm_attributes}</Explain>}
      <Problem error={reorder.error || patch.error || remove.error} session={session} />
      <p class="sr-only" aria-live="polite">
        {announce}
      </p>
      <ol class="definitions">
        {defs.map((d, i) => (
          <li
            key={d.key}
            class={`definition${dragging === d.key ? ' dragging' : ''}`}
            draggable
            onDragStart={(e) => {
              setDragging(d.key);
              e.dataTransfer.setData('text/plain', d.key);
              e.dataTransfer.effectAllowed = 'move';
            }}
            onDragEnd={() => setDragging(null)}
            onDragOver={(e) => e.preventDefault()}
            onDrop={(e) => {
              e.preventDefault();
              const key = e.dataTransfer.getData('text/plain');
              const moved = defs.find((x) => x.key === key);
              setDragging(null);
              if (moved && key !== d.key) move(moved, i);
            }}
          >
            <button
              type="button"
              class="handle"
              aria-label={`Reorder ${d.label}: position ${i + 1} of ${defs.length}`}
              onKeyDown={(e) => {
                if (e.altKey && e.key === 'ArrowUp') {
                  e.preventDefault();
                  move(d, i - 1);
                } else if (e.altKey && e.key === 'ArrowDown') {
                  e.preventDefault();
                  move(d, i + 1);
                }
              }}
            >
              ⠿
            </button>
            <span class="definition-label">
              <strong>{d.label}</strong> <code>{d.key}</code>
              <span class="muted">
                {' '}
                {d.kind} · {d.type}
                {d.options ? ` · ${d.options.join(', ')}` : ''}
              </span>
            </span>
            <span class="definition-switches">
              <label class="inline">
                <input
                  type="checkbox"
                  aria-label={`Show ${d.label} to agents`}
                  checked={d.enabled}
                  onChange={(e) => patch.run(d.key, { enabled: e.currentTarget.checked })}
                />{' '}
                Shown
              </label>
              {d.kind === 'custom' && crm && (
                <label class="inline">
                  <input
                    type="checkbox"
                    aria-label={`${d.label} is managed by the CRM`}
                    checked={d.crm_managed}
                    onChange={(e) => patch.run(d.key, { crm_managed: e.currentTarget.checked })}
                  />{' '}
                  CRM-managed
                </label>
              )}
              {d.kind !== 'builtin' && crm && (
                <label class="inline">
                  <input
                    type="checkbox"
                    aria-label={`Look contacts up in the CRM by ${d.label}`}
                    checked={d.lookup}
                    onChange={(e) => patch.run(d.key, { lookup: e.currentTarget.checked })}
                  />{' '}
                  Lookup
                </label>
              )}
            </span>
            <span class="definition-moves">
              <button type="button" aria-label={`Move ${d.label} up`} disabled={i === 0} onClick={() => move(d, i - 1)}>
                ↑
              </button>
              <button type="button" aria-label={`Move ${d.label} down`} disabled={i === defs.length - 1} onClick={() => move(d, i + 1)}>
                ↓
              </button>
              {d.kind === 'custom' && (
                <ConfirmButton
                  label="Delete"
                  name={`Delete ${d.label}`}
                  confirmLabel="Delete attribute"
                  question={`Delete ${d.label} and its values?`}
                  onConfirm={() => remove.run(d.key)}
                />
              )}
            </span>
          </li>
        ))}
      </ol>
      <NewAttribute session={session} api={api} reloadDefs={reloadDefs} />
    </section>
  );
}

function NewAttribute({ session, api, reloadDefs }) {
  const [label, setLabel] = useState('');
  const [key, setKey] = useState('');
  const [type, setType] = useState('text');
  const [options, setOptions] = useState('');
  const [crmManaged, setCrmManaged] = useState(false);
  const [lookup, setLookup] = useState(false);
  const create = useAction(async () => {
    const body = { label, type };
    if (key.trim()) body.key = key.trim();
    if (type === 'dropdown') body.options = options.split('\n').map((o) => o.trim()).filter(Boolean);
    if (crmManaged) body.crm_managed = true;
    if (lookup) body.lookup = true;
    await api('POST', '/attributes', { body });
    setLabel('');
    setKey('');
    setOptions('');
    setCrmManaged(false);
    setLookup(false);
    await reloadDefs();
  });
  const optionCount = options.split('\n').filter((o) => o.trim()).length;
  return (
    <form
      class="new-attribute"
      onSubmit={submitting(() => create.run())}
    >
      <h3>Add an attribute</h3>
      <div class="field">
        <label for="new-label">Label</label>
        <input id="new-label" value={label} onInput={(e) => setLabel(e.currentTarget.value)} />
        <FieldError id="new-label-error" error={create.error} field="label" session={session} />
      </div>
      <div class="field">
        <label for="new-key">Key (optional: made from the label)</label>
        <input id="new-key" value={key} onInput={(e) => setKey(e.currentTarget.value)} aria-describedby="new-key-help" />
        <span id="new-key-help" class="muted">
          a-z, 0-9 and _, starting with a letter; what automation and exports call it
        </span>
        <FieldError error={create.error} field="key" session={session} />
      </div>
      <div class="field">
        <label for="new-type">Type</label>
        <select id="new-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
          <option value="text">Text</option>
          <option value="dropdown">Dropdown</option>
        </select>
      </div>
      {type === 'dropdown' && (
        <div class="field">
          <label for="new-options">Options, one per line (at least 2)</label>
          <textarea id="new-options" rows="4" value={options} onInput={(e) => setOptions(e.currentTarget.value)} />
          <span class="muted">{optionCount} options</span>
          <FieldError id="new-options-error" error={create.error} field="options" session={session} />
        </div>
      )}
      {can(session, 'crm_admin') && (
        <div class="field">
          <label class="inline">
            <input type="checkbox" checked={crmManaged} onChange={(e) => setCrmManaged(e.currentTarget.checked)} /> CRM-managed
          </label>{' '}
          <label class="inline">
            <input type="checkbox" checked={lookup} onChange={(e) => setLookup(e.currentTarget.checked)} /> Lookup attribute
          </label>
        </div>
      )}
      {create.error && !['label', 'key', 'options'].includes(create.error.field) && <Problem error={create.error} session={session} />}
      <button type="submit" class="primary" disabled={create.busy}>
        Add attribute
      </button>
    </form>
  );
}

function OrgSwitches({ session, api, defs, reloadDefs }) {
  const [settings, setSettings] = useState(null);
  const [team, setTeam] = useState('');
  const load = useAction(async () => {
    const s = await api('GET', '/settings');
    setSettings(s);
    setTeam(s.vip_routing_team || '');
  });
  const save = useAction(async (body) => {
    const s = await api('PATCH', '/settings', { body });
    setSettings(s);
    setTeam(s.vip_routing_team || '');
  });
  const vip = useAction(async (enabled) => {
    await api('PATCH', '/attributes/vip', { body: { enabled } });
    await reloadDefs();
  });
  useEffect(() => {
    load.run();
  }, [api]);
  if (!settings || !defs) return <Problem error={load.error} session={session} />;
  const matchable = defs.filter((d) => d.type === 'text' && d.kind !== 'builtin');
  const vipDef = defs.find((d) => d.key === 'vip');
  return (
    <section class="card" aria-labelledby="switches-title">
      <h2 id="switches-title">Org switches</h2>
      <div class="field">
        <label for="matching">Matching attribute</label>
        <select
          id="matching"
          value={settings.matching_attribute || ''}
          onChange={(e) => save.run({ matching_attribute: e.currentTarget.value || null })}
          aria-describedby="matching-help"
        >
          <option value="">None (X and Instagram still match by user id)</option>
          {matchable.map((d) => (
            <option key={d.key} value={d.key}>
              {d.label}
            </option>
          ))}
        </select>
        <span id="matching-help" class="muted">
          Contacts with the same value are linked across channels.
        </span>
        <FieldError error={save.error} field="matching_attribute" session={session} />
      </div>
      <div class="field">
        <label class="inline">
          <input type="checkbox" checked={vipDef && vipDef.enabled} onChange={(e) => vip.run(e.currentTarget.checked)} /> VIP on
        </label>
        <Problem error={vip.error} session={session} />
      </div>
      <form
        class="field"
        onSubmit={submitting(() => save.run({ vip_routing_team: team.trim() || null }))}
      >
        <label for="vip-team">VIP routing team</label>
        <input id="vip-team" value={team} onInput={(e) => setTeam(e.currentTarget.value)} />
        <button type="submit">Save team</button>
        <FieldError error={save.error} field="vip_routing_team" session={session} />
      </form>
      <div class="field">
        <label class="inline">
          <input
            type="checkbox"
            checked={settings.crm_edit_enabled}
            disabled={!can(session, 'crm_admin')}
            onChange={(e) => save.run({ crm_edit_enabled: e.currentTarget.checked })}
          />{' '}
          Agents may edit CRM-managed values
        </label>
        {!can(session, 'crm_admin') && <Explain>{WHY.crm_edit}</Explain>}
      </div>
      {save.error && !['matching_attribute', 'vip_routing_team'].includes(save.error.field) && <Problem error={save.error} session={session} />}
    </section>
  );
}

function CrmConnection({ session, api }) {
  const [connection, setConnection] = useState(undefined);
  const [lookupUrl, setLookupUrl] = useState('');
  const [writebackUrl, setWritebackUrl] = useState('');
  const [ttl, setTtl] = useState('1440');
  const [secret, setSecret] = useState(null);
  const [handedOver, setHandedOver] = useState(false);
  const [test, setTest] = useState(null);
  const [demoUrl, setDemoUrl] = useState(null);
  const show = (c) => {
    setConnection(c);
    setLookupUrl(c.lookup_url);
    setWritebackUrl(c.writeback_url || '');
    setTtl(String(c.lookup_ttl_minutes));
  };
  const load = useAction(async () => {
    const demo = (await fetch('/_local/demo-crm').then((r) => r.json())).url;
    setDemoUrl(demo);
    try {
      show(await api('GET', '/crm'));
    } catch (e) {
      if (e.code !== 'not_found') throw e;
      setConnection(null);
      if (demo) {
        const tenant = `${demo}/t/${encodeURIComponent(session.org)}`;
        setLookupUrl(`${tenant}/lookup`);
        setWritebackUrl(`${tenant}/writeback`);
      }
    }
  });
  // After a test or a rotation only the health changes: fields being edited are kept.
  const refreshHealth = async () => {
    try {
      setConnection(await api('GET', '/crm'));
    } catch {
      // the next load says why
    }
  };
  const newSecret = (value) => {
    setSecret(value);
    setHandedOver(false);
  };
  // The demo CRM stands in for the customer's endpoint: this is the admin pasting the secret
  // into its configuration.
  const handOver = useAction(async () => {
    const response = await fetch(`${demoUrl}/t/${encodeURIComponent(session.org)}/_secrets`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secrets: [secret] }),
    });
    if (!response.ok) throw new Error(`the demo CRM answered ${response.status}`);
    setHandedOver(true);
  });
  const onDemo = demoUrl && lookupUrl.startsWith(`${demoUrl}/`);
  const save = useAction(async () => {
    const c = await api('PUT', '/crm', {
      body: { lookup_url: lookupUrl, writeback_url: writebackUrl.trim() || null, lookup_ttl_minutes: Number(ttl) },
    });
    if (c.signing_secret) newSecret(c.signing_secret);
    show(c);
  });
  const rotate = useAction(async () => {
    const r = await api('POST', '/crm/rotate-secret');
    newSecret(r.signing_secret);
    await refreshHealth();
  });
  const runTest = useAction(async () => {
    setTest(await api('POST', '/crm/test'));
    await refreshHealth();
  });
  const disconnect = useAction(async () => {
    await api('DELETE', '/crm');
    newSecret(null);
    setTest(null);
    await load.run();
  });
  useEffect(() => {
    if (can(session, 'crm_admin')) load.run();
  }, [api]);
  if (!can(session, 'crm_admin')) {
    return (
      <section class="card" aria-labelledby="crm-title">
        <h2 id="crm-title">CRM connection</h2>
        <Explain>{WHY.crm_admin}</Explain>
      </section>
    );
  }
  return (
    <section class="card" aria-labelledby="crm-title">
      <h2 id="crm-title">CRM connection</h2>
      <Problem error={load.error} session={session} />
      {connection && (
        <p class={`health health-${connection.state}`}>
          {connection.state === 'healthy' ? 'Healthy' : 'Failing: calls pause after 5 failures in a row'}
          {' · '}
          {connection.consecutive_failures} failures in a row · secret …{connection.secret_hint}
          {connection.last_error && (
            <>
              {' · last error '}
              <Time iso={connection.last_error.at} />: {connection.last_error.message}
            </>
          )}
        </p>
      )}
      {connection === null && <p class="muted">Not connected. The demo CRM beside the local runtime is filled in.</p>}
      <form
        onSubmit={submitting(() => save.run())}
      >
        <div class="field">
          <label for="crm-lookup">Lookup URL</label>
          <input id="crm-lookup" type="url" value={lookupUrl} onInput={(e) => setLookupUrl(e.currentTarget.value)} />
          <FieldError error={save.error} field="lookup_url" session={session} />
        </div>
        <div class="field">
          <label for="crm-writeback">Write-back URL (optional)</label>
          <input id="crm-writeback" type="url" value={writebackUrl} onInput={(e) => setWritebackUrl(e.currentTarget.value)} />
          <FieldError error={save.error} field="writeback_url" session={session} />
        </div>
        <div class="field">
          <label for="crm-ttl">Look up again after (minutes)</label>
          <input id="crm-ttl" type="number" min="1" max="10080" value={ttl} onInput={(e) => setTtl(e.currentTarget.value)} />
          <FieldError error={save.error} field="lookup_ttl_minutes" session={session} />
        </div>
        {save.error && !['lookup_url', 'writeback_url', 'lookup_ttl_minutes'].includes(save.error.field) && (
          <Problem error={save.error} session={session} />
        )}
        <button type="submit" class="primary" disabled={save.busy}>
          {connection ? 'Save connection' : 'Connect'}
        </button>
      </form>
      {secret && (
        <div class="secret" role="status">
          <p>
            <strong>Signing secret, shown once.</strong> Put it in your endpoint's configuration now: it verifies every call.
          </p>
          <label for="crm-secret">Signing secret</label>
          <input id="crm-secret" readOnly value={secret} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={() => navigator.clipboard && navigator.clipboard.writeText(secret)}>
            Copy
          </button>
          {onDemo && (
            <button type="button" onClick={() => handOver.run()} disabled={handOver.busy || handedOver}>
              Give it to the demo CRM
            </button>
          )}
          <button type="button" onClick={() => setSecret(null)}>
            I have saved it
          </button>
          {handedOver && <p>The demo CRM now verifies every call with it.</p>}
          {handOver.error && <p class="field-error">{handOver.error.message}</p>}
        </div>
      )}
      {connection && (
        <div class="crm-actions">
          <button type="button" onClick={() => runTest.run()} disabled={runTest.busy}>
            Test connection
          </button>
          <ConfirmButton
            label="Rotate secret"
            confirmLabel="Rotate"
            question="Make a new secret? Both are sent for 24 hours."
            onConfirm={() => rotate.run()}
            disabled={rotate.busy}
          />
          <ConfirmButton
            label="Disconnect"
            confirmLabel="Disconnect"
            question="Disconnect the CRM? Every contact becomes not validated."
            onConfirm={() => disconnect.run()}
            disabled={disconnect.busy}
          />
        </div>
      )}
      {test && (
        <p class={`test-result ${test.ok ? 'ok' : 'failed'}`} role="status">
          {test.ok ? 'Test passed' : 'Test failed'}
          {test.status !== null && ` · HTTP ${test.status}`} · {test.latency_ms} ms{test.error && ` · ${test.error}`}
        </p>
      )}
      <Problem error={runTest.error || rotate.error || disconnect.error} session={session} />
    </section>
  );
}

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function Exports({ session, api }) {
  const [jobs, setJobs] = useState([]);
  const [format, setFormat] = useState('csv');
  const [vipOnly, setVipOnly] = useState(false);
  const timer = useRef(null);
  const mounted = useRef(true);
  const load = useAction(async () => {
    const page = await api('GET', '/exports?limit=10');
    if (!mounted.current) return;
    setJobs(page.items);
    clearTimeout(timer.current);
    if (page.items.some((j) => j.status === 'queued' || j.status === 'running')) {
      timer.current = setTimeout(() => load.run(), 1000);
    }
  });
  const start = useAction(async () => {
    const body = { format };
    if (vipOnly) body.filter = { vip: true };
    await api('POST', '/exports', { body });
    await load.run();
  });
  useEffect(() => {
    mounted.current = true;
    if (can(session, 'exports')) load.run();
    return () => {
      mounted.current = false;
      clearTimeout(timer.current);
    };
  }, [api]);
  if (!can(session, 'exports')) {
    return (
      <section class="card" aria-labelledby="exports-title">
        <h2 id="exports-title">Exports</h2>
        <Explain>{WHY.exports}</Explain>
      </section>
    );
  }
  return (
    <section class="card" aria-labelledby="exports-title">
      <h2 id="exports-title">Exports</h2>
      <form
        class="export-start"
        onSubmit={submitting(() => start.run())}
      >
        <label for="export-format">Format</label>
        <select id="export-format" value={format} onChange={(e) => setFormat(e.currentTarget.value)}>
          <option value="csv">CSV</option>
          <option value="jsonl">JSON Lines</option>
        </select>
        <label class="inline">
          <input type="checkbox" checked={vipOnly} onChange={(e) => setVipOnly(e.currentTarget.checked)} /> VIPs only
        </label>
        <button type="submit" class="primary" disabled={start.busy}>
          Start export
        </button>
      </form>
      <Problem error={start.error || load.error} session={session} />
      <ul class="exports">
        {jobs.map((j) => (
          <li key={j.id} class={`export export-${j.status}`}>
            <span>
              {j.format === 'csv' ? 'CSV' : 'JSON Lines'} · {j.trigger} · <Time iso={j.created_at} />
            </span>
            {(j.status === 'queued' || j.status === 'running') && (
              <progress aria-label={`Export ${j.status}, ${j.rows} rows so far`} />
            )}
            <span class="export-status">
              {j.status} · {j.rows} rows
            </span>
            {j.status === 'succeeded' && j.download_url && (
              <a
                href={j.download_url}
                download
                onClick={async (e) => {
                  // A link lives 15 minutes: a click asks for a fresh one.
                  e.preventDefault();
                  const fresh = await api('GET', `/exports/${encodeURIComponent(j.id)}`);
                  location.assign(fresh.download_url);
                }}
              >
                Download {j.format === 'csv' ? 'CSV' : 'JSON Lines'}
              </a>
            )}
            {j.error && <span class="field-error">{j.error}</span>}
          </li>
        ))}
      </ul>
      <ExportSchedule session={session} api={api} />
    </section>
  );
}

function ExportSchedule({ session, api }) {
  const [schedule, setSchedule] = useState(null);
  const [draft, setDraft] = useState({ cadence: 'daily', hour_utc: 6, weekday: 'mon', format: 'csv' });
  const load = useAction(async () => {
    try {
      const s = await api('GET', '/export-schedule');
      setSchedule(s);
      setDraft({ ...s, weekday: s.weekday || 'mon' });
    } catch (e) {
      if (e.code !== 'not_found') throw e;
      setSchedule(null);
    }
  });
  const save = useAction(async () => {
    const body = { cadence: draft.cadence, hour_utc: Number(draft.hour_utc), format: draft.format };
    if (draft.cadence === 'weekly') body.weekday = draft.weekday;
    setSchedule(await api('PUT', '/export-schedule', { body }));
  });
  const remove = useAction(async () => {
    await api('DELETE', '/export-schedule');
    setSchedule(null);
  });
  useEffect(() => {
    load.run();
  }, [api]);
  const set = (field) => (e) => setDraft({ ...draft, [field]: e.currentTarget.value });
  return (
    <form
      class="schedule"
      onSubmit={submitting(() => save.run())}
    >
      <h3>Schedule</h3>
      <p class="muted">
        {schedule
          ? `Every ${schedule.cadence === 'weekly' ? schedule.weekday : 'day'} at ${String(schedule.hour_utc).padStart(2, '0')}:00 UTC, ${schedule.format}.`
          : 'No schedule.'}
      </p>
      <label for="schedule-cadence">Cadence</label>
      <select id="schedule-cadence" value={draft.cadence} onChange={set('cadence')}>
        <option value="daily">Daily</option>
        <option value="weekly">Weekly</option>
      </select>
      {draft.cadence === 'weekly' && (
        <>
          <label for="schedule-weekday">Weekday</label>
          <select id="schedule-weekday" value={draft.weekday} onChange={set('weekday')}>
            {WEEKDAYS.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </>
      )}
      <label for="schedule-hour">Hour (UTC)</label>
      <input id="schedule-hour" type="number" min="0" max="23" value={draft.hour_utc} onInput={set('hour_utc')} />
      <label for="schedule-format">Format</label>
      <select id="schedule-format" value={draft.format} onChange={set('format')}>
        <option value="csv">CSV</option>
        <option value="jsonl">JSON Lines</option>
      </select>
      <button type="submit" disabled={save.busy}>
        Save schedule
      </button>
      {schedule && <ConfirmButton label="Remove schedule" confirmLabel="Remove" question="Stop scheduled exports?" onConfirm={() => remove.run()} />}
      <Problem error={save.error || remove.error || load.error} session={session} />
    </form>
  );
}

function DeletedContacts({ session, api }) {
  const { items, setItems, cursor, load } = usePages(api, `/deleted-contacts`, 10);
  useEffect(() => {
    load.run(null);
  }, [api]);
  return (
    <section class="card" aria-labelledby="deleted-title">
      <h2 id="deleted-title">Deleted contacts</h2>
      <p class="muted">Delete a contact from its panel in the workspace. The log keeps a hint, never the person's details.</p>
      <Problem error={load.error} session={session} />
      <table class="deleted">
        <caption class="sr-only">Deleted contacts, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Contact</th>
            <th scope="col">Platform</th>
            <th scope="col">Deleted</th>
            <th scope="col">By</th>
          </tr>
        </thead>
        <tbody>
          {items.map((d) => (
            <tr key={d.id}>
              <td>{d.contact_hint}</td>
              <td>{d.platform}</td>
              <td>
                <Time iso={d.deleted_at} />
              </td>
              <td>{d.deleted_by.name}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {items.length === 0 && !load.busy && <p class="muted">Nobody deleted yet.</p>}
      <button type="button" onClick={() => load.run(null)}>
        Refresh
      </button>
      {cursor && (
        <button type="button" onClick={() => load.run(cursor)}>
          Older
        </button>
      )}
    </section>
  );
}
