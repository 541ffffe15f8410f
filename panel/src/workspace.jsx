// The agent workspace: contacts list, the contact panel, notes and the conversation history.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { can, WHY } from './api.js';
import {
  CloudIcon,
  ConfirmButton,
  Explain,
  FieldError,
  NetworkIcon,
  PencilIcon,
  Problem,
  Time,
  networkLabel,
  useAction,
  useFocusSwap,
  usePages,
  submitting,
} from './ui.jsx';

const MAX_NOTE = 2000;

// `tick` changes whenever the org's events tail sees a new event: what is shown is read again,
// so a message, a background lookup or another person's change appears without a reload.
export function Workspace({ session, api, selected, onSelect, defs, tick }) {
  const [listVersion, setListVersion] = useState(0);
  const refreshList = useCallback(() => setListVersion((v) => v + 1), []);
  const vipDef = defs && defs.find((d) => d.key === 'vip');
  const vipOn = !vipDef || vipDef.enabled;
  return (
    <div class="workspace">
      <ContactsList session={session} api={api} selected={selected} onSelect={onSelect} version={listVersion + tick} vipOn={vipOn} />
      {selected ? (
        <ContactPanel
          key={selected}
          session={session}
          api={api}
          id={selected}
          vipOn={vipOn}
          tick={tick}
          onSelect={onSelect}
          onChanged={refreshList}
          onDeleted={() => {
            onSelect(null);
            refreshList();
            // The panel that had focus is gone: the list is where the agent goes on.
            document.getElementById('contacts-title').focus();
          }}
        />
      ) : (
        <section class="contact empty" aria-label="Contact">
          <p>Pick a contact to see who they are.</p>
        </section>
      )}
    </div>
  );
}

function ContactsList({ session, api, selected, onSelect, version, vipOn }) {
  const [vipOnly, setVipOnly] = useState(false);
  const { items, setItems, cursor, load } = usePages(api, `/contacts${vipOnly ? '?vip=true' : ''}`, 25);
  useEffect(() => {
    load.run(null);
  }, [api, vipOnly, version]);
  return (
    <section class="contacts" aria-labelledby="contacts-title">
      <div class="section-head">
        <h2 id="contacts-title" tabIndex="-1">
          Contacts
        </h2>
        {can(session, 'vip') && vipOn && (
          <label class="inline">
            <input type="checkbox" checked={vipOnly} onChange={(e) => setVipOnly(e.currentTarget.checked)} /> VIP group only
          </label>
        )}
      </div>
      <Problem error={load.error} session={session} />
      <ul class="contact-list">
        {items.map((c) => (
          <li key={c.id}>
            <button
              type="button"
              class={`contact-row${c.id === selected ? ' selected' : ''}`}
              aria-current={c.id === selected ? 'true' : undefined}
              onClick={() => onSelect(c.id)}
            >
              <NetworkIcon network={c.network} />
              <span class="who">
                <span class="name">{c.name || c.handle || 'Unknown'}</span>
                <span class="handle">{c.handle}</span>
              </span>
              {c.vip && vipOn && (
                <span class="vip-mark" title="VIP">
                  VIP
                </span>
              )}
              {c.validated && (
                <span class="validated-mark" role="img" aria-label="Validated" title="Validated">
                  ✓
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
      {!load.busy && items.length === 0 && !load.error && <p class="muted">No contacts yet.</p>}
      {cursor && (
        <button type="button" onClick={() => load.run(cursor)} disabled={load.busy}>
          Load more
        </button>
      )}
    </section>
  );
}

const SOURCE_TEXT = { channel: 'from the channel', agent: 'set by an agent', automation: 'set by automation', crm: 'from the CRM' };
const SYNC_TEXT = { pending: 'Sync pending', synced: 'Synced to the CRM', failed: 'Sync failed' };
const LOOKUP_TEXT = {
  never: 'Never looked up',
  pending: 'Lookup running…',
  found: 'Found in the CRM',
  not_found: 'Not found in the CRM',
  multiple: 'Several CRM records match',
  error: 'The last lookup failed',
};

function ContactPanel({ session, api, id, vipOn, tick, onSelect, onChanged, onDeleted }) {
  const [view, setView] = useState(null);
  const [avatarBroken, setAvatarBroken] = useState(false);
  // An automation client cannot read the definitions; the API tells it VIP is off.
  const [vipRefused, setVipRefused] = useState(false);
  // Reads overlap (a refresh on an event, a lookup settling, a reload): a view never goes back to
  // an older version than the one shown, so an edit is never sent with a stale If-Match.
  const showView = (next) => setView((shown) => (shown && shown.version > next.version ? shown : next));
  const load = useAction(async () => {
    const contact = await api('GET', `/contacts/${encodeURIComponent(id)}`);
    showView(contact);
    return contact;
  });
  const reload = () => load.run();
  useEffect(() => {
    reload().then((contact) => {
      // A message's lookup may still be running when the contact is opened.
      if (contact && contact.crm && contact.crm.status === 'pending') settle((c) => c.crm && c.crm.status === 'pending');
    });
  }, [api, id]);
  const firstTick = useRef(tick);
  useEffect(() => {
    if (tick !== firstTick.current) reload();
  }, [tick]);

  // A lookup or a write-back settles in the background: read the contact again until it has.
  const settle = async (unsettled) => {
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const contact = await load.run();
      if (!contact || !unsettled(contact)) break;
    }
    onChanged();
  };

  const vip = useAction(async () => {
    const method = view.vip ? 'DELETE' : 'PUT';
    try {
      showView(await api(method, `/contacts/${encodeURIComponent(id)}/vip`));
    } catch (e) {
      if (e.code === 'feature_disabled') setVipRefused(true);
      throw e;
    }
    onChanged();
  });
  const lookup = useAction(async () => {
    showView(await api('POST', `/contacts/${encodeURIComponent(id)}/crm-lookup`));
    await settle((c) => c.crm && c.crm.status === 'pending');
  });
  const remove = useAction(async () => {
    await api('DELETE', `/contacts/${encodeURIComponent(id)}`);
    onDeleted();
  });

  if (!view) {
    return (
      <section class="contact" aria-label="Contact">
        <Problem error={load.error} session={session} />
        {load.busy && <p class="muted">Loading…</p>}
      </section>
    );
  }
  const vipShown = vipOn && !vipRefused;
  const platform = view.attributes.filter((a) => a.kind === 'platform');
  const custom = view.attributes.filter((a) => a.kind !== 'platform');
  const name = view.name || view.handle || 'Unknown';
  return (
    <section class="contact" aria-labelledby="contact-name">
      <div class="contact-profile">
      <header class="contact-head">
        {view.avatar_url && !avatarBroken ? (
          <img class="avatar" src={view.avatar_url} alt="" width="56" height="56" onError={() => setAvatarBroken(true)} />
        ) : (
          <span class="avatar initials" aria-hidden="true">
            {name.slice(0, 1)}
          </span>
        )}
        <div class="who">
          <h2 id="contact-name">
            {view.profile_url ? (
              <a href={view.profile_url} target="_blank" rel="noopener noreferrer" title={`${name} on ${networkLabel(view.network)}`}>
                {name}
              </a>
            ) : (
              name
            )}
          </h2>
          <p class="handle">
            <NetworkIcon network={view.network} /> {view.handle} · {networkLabel(view.network)}
          </p>
        </div>
        {vipShown &&
          (can(session, 'vip') ? (
            <button
              type="button"
              class={`vip-toggle${view.vip ? ' on' : ''}`}
              aria-pressed={view.vip ? 'true' : 'false'}
              onClick={() => vip.run()}
              disabled={vip.busy}
            >
              ★ VIP
            </button>
          ) : (
            view.vip && <span class="vip-mark">VIP</span>
          ))}
      </header>
      <Problem error={vip.error || load.error} session={session} onReload={reload} />
      {!can(session, 'vip') && vipShown && <Explain>{WHY.vip}</Explain>}

      <div class="validation">
        <span class={`badge ${view.validated ? 'validated' : 'not-validated'}`}>
          {view.validated ? 'Validated' : 'Not validated'}
        </span>
        {view.crm ? (
          <span class="crm-state">
            {LOOKUP_TEXT[view.crm.status]}
            {view.crm.record_id && (
              <>
                {' · '}
                {view.crm.record_url ? (
                  <a href={view.crm.record_url} target="_blank" rel="noopener noreferrer">
                    CRM record {view.crm.record_id}
                  </a>
                ) : (
                  `CRM record ${view.crm.record_id}`
                )}
              </>
            )}
            {view.crm.last_lookup_at && (
              <>
                {' · last looked up '}
                <Time iso={view.crm.last_lookup_at} />
              </>
            )}
            {view.crm.error && <span class="muted"> · {view.crm.error}</span>}
          </span>
        ) : (
          <span class="muted">No CRM connected</span>
        )}
        {view.crm &&
          (can(session, 'crm_lookup') ? (
            <button type="button" onClick={() => lookup.run()} disabled={lookup.busy || view.crm.status === 'pending'}>
              Look up in CRM
            </button>
          ) : (
            session.role !== 'automation' && <Explain>{WHY.crm}</Explain>
          ))}
      </div>
      <Problem error={lookup.error} session={session} />

      {platform.length > 0 && (
        <div class="attributes">
          <h3>From {networkLabel(view.network)}</h3>
          <dl>
            {platform.map((a) => (
              <div class="attribute" key={a.key}>
                <dt>{a.label}</dt>
                <dd>{a.value === null ? <span class="muted">—</span> : a.type === 'boolean' ? (a.value === 'true' ? 'Yes' : 'No') : a.value}</dd>
              </div>
            ))}
          </dl>
        </div>
      )}

      <div class="attributes">
        <h3>Attributes</h3>
        {!can(session, 'fill_values') && <Explain>{WHY.fill_values}</Explain>}
        <ul class="attribute-list">
          {custom.map((a) => (
            <AttributeRow
              key={a.key}
              attribute={a}
              session={session}
              onReload={reload}
              onSave={async (value) => {
                try {
                  const next = await api('PATCH', `/contacts/${encodeURIComponent(id)}`, {
                    body: { attributes: { [a.key]: value } },
                    ifMatch: view.version,
                  });
                  showView(next);
                  onChanged();
                  return null;
                } catch (e) {
                  return e;
                }
              }}
            />
          ))}
        </ul>
      </div>

      {view.linked_count > 0 && <Linked api={api} session={session} id={id} count={view.linked_count} onSelect={onSelect} />}

      <Notes api={api} session={session} base={`/contacts/${encodeURIComponent(id)}`} title="Notes" />

      {can(session, 'delete') && (
        <div class="danger-zone">
          <h3>Delete</h3>
          <p class="muted">Deleting removes the contact, their values, notes, conversations and files. It cannot be undone.</p>
          <ConfirmButton
            label="Delete contact"
            confirmLabel="Delete for good"
            question={`Delete ${name}?`}
            onConfirm={() => remove.run()}
            disabled={remove.busy}
          />
          <Problem error={remove.error} session={session} />
        </div>
      )}
      </div>
      <History
        api={api}
        session={session}
        contactId={id}
        tick={tick}
        onStatusChanged={() => settle((c) => c.attributes.some((a) => a.sync === 'pending'))}
      />
    </section>
  );
}

function AttributeRow({ attribute: a, session, onSave, onReload }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(a.value ?? '');
  const [error, setError] = useState(null);
  // Someone else changed the contact first: this row says so and offers to reload.
  const [stale, setStale] = useState(null);
  const [field, opener] = useFocusSwap(editing);
  const inputId = `attr-${a.key}`;
  const errorId = `attr-${a.key}-error`;
  const save = async (value) => {
    const e = await onSave(value);
    const lost = e && e.code === 'precondition_failed';
    setError(lost ? null : e);
    setStale(lost ? e : null);
    if (!e || lost) setEditing(false);
  };
  return (
    <li class="attribute">
      <div class="attribute-head">
        <span class="label" id={`${inputId}-label`}>
          {a.label}
        </span>
        {a.crm_managed && <CloudIcon />}
        {a.source && <span class="source">{SOURCE_TEXT[a.source]}</span>}
        {a.sync && <span class={`sync sync-${a.sync}`}>{SYNC_TEXT[a.sync]}</span>}
      </div>
      {editing ? (
        <form
          class="attribute-edit"
          onSubmit={submitting(() => save(draft === '' ? null : draft))}
        >
          {a.type === 'dropdown' ? (
            <select
              id={inputId}
              ref={field}
              aria-labelledby={`${inputId}-label`}
              value={draft}
              onChange={(e) => setDraft(e.currentTarget.value)}
              aria-describedby={error ? errorId : undefined}
            >
              <option value="">(none)</option>
              {a.options.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          ) : (
            <input
              id={inputId}
              ref={field}
              aria-labelledby={`${inputId}-label`}
              value={draft}
              onInput={(e) => setDraft(e.currentTarget.value)}
              aria-invalid={error ? 'true' : undefined}
              aria-describedby={error ? errorId : undefined}
            />
          )}
          <button type="submit">Save</button>
          <button
            type="button"
            onClick={() => {
              setEditing(false);
              setError(null);
              setDraft(a.value ?? '');
            }}
          >
            Cancel
          </button>
          <FieldError id={errorId} error={error} field={`attributes.${a.key}`} session={session} />
          {error && error.field !== `attributes.${a.key}` && <Problem error={error} session={session} />}
        </form>
      ) : (
        <div class="attribute-value">
          {a.value !== null ? (
            <span class="value">{a.value}</span>
          ) : a.editable ? (
            <button
              type="button"
              class="link"
              ref={opener}
              aria-label={`Add ${a.label}`}
              onClick={() => {
                setDraft('');
                setEditing(true);
              }}
            >
              Add
            </button>
          ) : (
            <span class="muted">—</span>
          )}
          {a.value !== null && a.editable && (
            <button
              type="button"
              class="icon-button"
              ref={opener}
              aria-label={`Edit ${a.label}`}
              title={`Edit ${a.label}`}
              onClick={() => {
                setDraft(a.value ?? '');
                setEditing(true);
              }}
            >
              <PencilIcon />
            </button>
          )}
        </div>
      )}
      <Problem
        error={stale}
        session={session}
        onReload={async () => {
          await onReload();
          setStale(null);
        }}
      />
    </li>
  );
}

function Linked({ api, session, id, count, onSelect }) {
  const { items, cursor, load } = usePages(api, `/contacts/${encodeURIComponent(id)}/linked`, 10);
  useEffect(() => {
    load.run(null);
  }, [api, id, count]);
  return (
    <div class="linked">
      <h3>Linked contacts ({count})</h3>
      <Problem error={load.error} session={session} />
      <ul>
        {items.map((c) => (
          <li key={c.id}>
            <button type="button" class="link" onClick={() => onSelect(c.id)}>
              <NetworkIcon network={c.network} /> {c.name || c.id}
            </button>
          </li>
        ))}
      </ul>
      {cursor && (
        <button type="button" onClick={() => load.run(cursor)} disabled={load.busy}>
          More linked contacts
        </button>
      )}
    </div>
  );
}

function History({ api, session, contactId, tick, onStatusChanged }) {
  const { items, setItems, cursor, load } = usePages(api, `/contacts/${encodeURIComponent(contactId)}/conversations`, 10);
  useEffect(() => {
    load.run(null);
  }, [api, contactId, tick]);
  return (
    <div class="history">
      <h3 class="first">Conversations across linked channels</h3>
      <Problem error={load.error} session={session} />
      {items.map((c, i) => (
        <Conversation
          key={c.id}
          api={api}
          session={session}
          conversation={c}
          linked={c.contact_id !== contactId}
          tick={tick}
          open={i === 0}
          onChanged={(next) => {
            setItems((old) => old.map((o) => (o.id === next.id ? next : o)));
            onStatusChanged();
          }}
        />
      ))}
      {!load.busy && items.length === 0 && !load.error && <p class="muted">No conversations.</p>}
      {cursor && (
        <button type="button" onClick={() => load.run(cursor)}>
          Older conversations
        </button>
      )}
    </div>
  );
}

function Conversation({ api, session, conversation: c, linked, tick, open, onChanged }) {
  const [expanded, setExpanded] = useState(open);
  const path = `/conversations/${encodeURIComponent(c.id)}`;
  const status = useAction(async (to) => {
    onChanged(await api('PATCH', path, { body: { status: to } }));
  });
  const statusId = `status-${c.id}`;
  return (
    <details class="conversation" open={expanded} onToggle={(e) => setExpanded(e.currentTarget.open)}>
      <summary>
        <NetworkIcon network={channelNetwork(c.channel)} /> {c.channel.replace('_', ' ')} · <Time iso={c.last_message_at} />
        {linked && <span class="muted">· a linked contact's</span>}
        <span class={`status status-${c.status}`}>{c.status}</span>
      </summary>
      <div class="conversation-body">
        <label for={statusId}>Status</label>{' '}
        <select
          id={statusId}
          aria-label={`Status of the ${c.channel.replace('_', ' ')} conversation`}
          value={c.status} disabled={status.busy} onChange={(e) => status.run(e.currentTarget.value)}>
          <option value="open">Open</option>
          <option value="pending">Pending</option>
          <option value="closed">Closed</option>
        </select>
        <Problem error={status.error} session={session} />
        {expanded && <Messages api={api} session={session} path={path} tick={tick} />}
        {expanded && <Notes api={api} session={session} base={path} title="Conversation notes" />}
      </div>
    </details>
  );
}

function channelNetwork(channel) {
  if (channel.startsWith('x_')) return 'x';
  if (channel.startsWith('instagram')) return 'instagram';
  if (channel.startsWith('facebook')) return 'facebook';
  return channel;
}

function Messages({ api, session, path, tick }) {
  const { items, cursor, load } = usePages(api, `${path}/messages`, 20);
  useEffect(() => {
    load.run(null);
  }, [api, path, tick]);
  return (
    <div class="messages">
      <Problem error={load.error} session={session} />
      <ol class="message-list" aria-label="Messages, newest first">
        {items.map((m) => (
          <li key={m.id} class="message">
            <p>{m.text}</p>
            {m.attachments.length > 0 && (
              <ul class="attachments">
                {m.attachments.map((f) => (
                  <li key={f.id}>
                    <a href={f.download_url} target="_blank" rel="noopener noreferrer">
                      Download {f.content_type} ({Math.ceil(f.size / 1024)} KiB)
                    </a>
                  </li>
                ))}
              </ul>
            )}
            <Time iso={m.sent_at} />
          </li>
        ))}
      </ol>
      {cursor && (
        <button type="button" onClick={() => load.run(cursor)}>
          Older messages
        </button>
      )}
    </div>
  );
}

function Notes({ api, session, base, title }) {
  const [text, setText] = useState('');
  const headingId = `notes-${base.replace(/[^a-z0-9]/gi, '-')}`;
  const { items, setItems, cursor, load } = usePages(api, `${base}/notes`, 10);
  const add = useAction(async () => {
    const note = await api('POST', `${base}/notes`, { body: { text } });
    setItems((old) => [note, ...old]);
    setText('');
  });
  useEffect(() => {
    if (can(session, 'notes')) load.run(null);
  }, [api, base]);
  if (!can(session, 'notes')) {
    return (
      <div class="notes">
        <h3>{title}</h3>
        <Explain>{WHY.notes_role}</Explain>
      </div>
    );
  }
  const length = [...text.trim()].length;
  const inputId = `${headingId}-new`;
  const newLabel = base.startsWith('/conversations/') ? 'New conversation note' : 'New note';
  return (
    <div class="notes">
      <h3 id={headingId} tabIndex="-1">
        {title}
      </h3>
      {can(session, 'write_notes') ? (
        <form
          class="note-form"
          onSubmit={submitting(() => add.run())}
        >
          <label for={inputId}>{newLabel}</label>
          <textarea id={inputId} rows="3" value={text} onInput={(e) => setText(e.currentTarget.value)} aria-describedby={`${inputId}-count`} />
          <div class="note-actions">
            <span id={`${inputId}-count`} class={`counter${length > MAX_NOTE ? ' over' : ''}`}>
              {length} / {MAX_NOTE}
            </span>
            <span class="sr-only" aria-live="polite">
              {length > MAX_NOTE - 100 ? `${MAX_NOTE - length} characters left` : ''}
            </span>
            <button type="submit" disabled={add.busy || length === 0 || length > MAX_NOTE}>
              Add note
            </button>
          </div>
          <FieldError id={`${inputId}-error`} error={add.error} field="text" session={session} />
          {add.error && add.error.field !== 'text' && <Problem error={add.error} session={session} />}
        </form>
      ) : (
        <Explain>{WHY.write_notes_plan}</Explain>
      )}
      <Problem error={load.error} session={session} />
      <ul class="note-list" aria-labelledby={headingId}>
        {items.map((n) => (
          <Note
            key={n.id}
            note={n}
            api={api}
            session={session}
            base={base}
            onChanged={(next) => setItems((old) => old.map((o) => (o.id === n.id ? next : o)))}
            onDeleted={() => {
              setItems((old) => old.filter((o) => o.id !== n.id));
              // The note that had focus is gone: the notes' heading is where the agent goes on.
              document.getElementById(headingId).focus();
            }}
          />
        ))}
      </ul>
      {cursor && (
        <button type="button" onClick={() => load.run(cursor)}>
          Older notes
        </button>
      )}
    </div>
  );
}

function Note({ note, api, session, base, onChanged, onDeleted }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(note.text);
  const path = `${base}/notes/${encodeURIComponent(note.id)}`;
  const save = useAction(async () => {
    onChanged(await api('PATCH', path, { body: { text: draft }, ifMatch: note.version }));
    setEditing(false);
  });
  const remove = useAction(async () => {
    await api('DELETE', path);
    onDeleted();
  });
  // Someone else edited the note first: show their text in the editor, to write over knowingly.
  const reload = useAction(async () => {
    const page = await api('GET', `${base}/notes?limit=100`);
    const current = page.items.find((n) => n.id === note.id);
    if (!current) return onDeleted();
    onChanged(current);
    setDraft(current.text);
    save.setError(null);
  });
  const [field, opener] = useFocusSwap(editing);
  const editId = `edit-${note.id}`;
  const length = [...draft.trim()].length;
  return (
    <li class="note">
      {editing ? (
        <form
          onSubmit={submitting(() => save.run())}
        >
          <label for={editId}>Edit note</label>
          <textarea id={editId} ref={field} rows="3" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
          <div class="note-actions">
            <span class={`counter${length > MAX_NOTE ? ' over' : ''}`}>
              {length} / {MAX_NOTE}
            </span>
            <button type="submit" disabled={save.busy || length === 0 || length > MAX_NOTE}>
              Save
            </button>
            <button
              type="button"
              onClick={() => {
                setEditing(false);
                save.setError(null);
              }}
            >
              Cancel
            </button>
          </div>
          <Problem error={save.error || reload.error} session={session} onReload={() => reload.run()} />
        </form>
      ) : (
        <>
          <p class="note-text">{note.text}</p>
          <p class="note-meta">
            {note.author.name} · <Time iso={note.created_at} />
            {note.updated_by && (
              <>
                {' · edited by '}
                {note.updated_by.name} <Time iso={note.updated_at} />
              </>
            )}
          </p>
          {can(session, 'write_notes') && (
            <div class="note-actions">
              <button
                type="button"
                ref={opener}
                aria-label={`Edit the note by ${note.author.name}`}
                onClick={() => {
                  setDraft(note.text);
                  setEditing(true);
                }}
              >
                Edit
              </button>
              <ConfirmButton
                label="Delete"
                name={`Delete the note by ${note.author.name}`}
                confirmLabel="Delete note"
                question="Delete this note?"
                onConfirm={() => remove.run()}
              />
            </div>
          )}
          <Problem error={remove.error} session={session} />
        </>
      )}
    </li>
  );
}
