// Small pieces every screen uses.
import { useEffect, useRef, useState } from 'preact/hooks';
import { explain } from './api.js';

export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export function Time({ iso }) {
  return <time dateTime={iso}>{formatTime(iso)}</time>;
}

const NETWORK_LABELS = {
  x: 'X',
  instagram: 'Instagram',
  facebook: 'Facebook',
  whatsapp: 'WhatsApp',
  email: 'Email',
  sms: 'SMS',
  webchat: 'Web chat',
};

export function networkLabel(network) {
  return NETWORK_LABELS[network] || network;
}

// A network's mark: its initial on its colour, named for screen readers.
export function NetworkIcon({ network }) {
  return (
    <span class={`network network-${network}`} role="img" aria-label={networkLabel(network)} title={networkLabel(network)}>
      {networkLabel(network).slice(0, 2)}
    </span>
  );
}

export function CloudIcon() {
  return (
    <svg class="icon cloud" viewBox="0 0 24 24" role="img" aria-label="Managed by the CRM">
      <title>Managed by the CRM</title>
      <path d="M7 18h10a4 4 0 0 0 .6-7.95A6 6 0 0 0 6.1 9.2 4.5 4.5 0 0 0 7 18z" fill="currentColor" />
    </svg>
  );
}

export function PencilIcon() {
  return (
    <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d="M4 17.3V20h2.7l8-8-2.7-2.7-8 8zM19.7 7a1 1 0 0 0 0-1.4l-1.3-1.3a1 1 0 0 0-1.4 0l-1.3 1.3 2.7 2.7L19.7 7z" fill="currentColor" />
    </svg>
  );
}

// An error said in people's words, with a reload offer when someone else changed the thing.
export function Problem({ error, session, onReload }) {
  if (!error) return null;
  return (
    <div class={`problem problem-${error.code || 'network'}`} role="alert">
      <span>{explain(error, session)}</span>
      {error.code === 'precondition_failed' && onReload && (
        <button type="button" onClick={onReload}>
          Reload
        </button>
      )}
    </div>
  );
}

// The error a field's own input shows beside it (a 422 naming that field).
export function FieldError({ id, error, field, session }) {
  if (!error || error.field !== field) return null;
  return (
    <p id={id} class="field-error" role="alert">
      {explain(error, session)}
    </p>
  );
}

export function Explain({ children }) {
  return <p class="explain">{children}</p>;
}

// A destructive action asks once more, in place (no browser dialog). Focus moves to the
// question's answer and back to the button, so a keyboard user is never sent to the page's top.
export function ConfirmButton({ label, name, confirmLabel, question, onConfirm, disabled }) {
  const [asking, setAsking] = useState(false);
  const [answer, opener] = useFocusSwap(asking);
  if (!asking) {
    return (
      <button type="button" class="danger" ref={opener} aria-label={name} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={question}>
      <span>{question}</span>
      <button
        type="button"
        class="danger"
        ref={answer}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

// Gives focus to what `open` shows when it opens (the editor's field) and back to the control
// that opened it when it closes: `[fieldRef, openerRef]`.
export function useFocusSwap(open) {
  const field = useRef(null);
  const opener = useRef(null);
  const was = useRef(open);
  useEffect(() => {
    if (open && !was.current) field.current && field.current.focus();
    if (!open && was.current) opener.current && opener.current.focus();
    was.current = open;
  }, [open]);
  return [field, opener];
}

// Calls `fn` and keeps its error for display; `busy` while it runs.
export function useAction(fn) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (...args) => {
    setBusy(true);
    setError(null);
    try {
      return await fn(...args);
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, setError };
}

// A list of the API's, page by page: `load.run(null)` reads the first pages again (as many
// items as are shown, so a refresh keeps what "more" loaded), `load.run(cursor)` appends the
// next page. A reply to an older request, or to another list (`path` changed), is dropped.
export function usePages(api, path, limit) {
  const [items, setItems] = useState([]);
  const [cursor, setCursor] = useState(null);
  const latest = useRef(0);
  const shown = useRef(0);
  shown.current = items.length;
  useEffect(() => {
    setItems([]);
    setCursor(null);
  }, [path]);
  const load = useAction(async (from) => {
    const request = ++latest.current;
    const size = from ? limit : Math.min(100, Math.max(limit, shown.current));
    const query = new URLSearchParams({ limit: String(size) });
    if (from) query.set('cursor', from);
    const page = await api('GET', `${path}${path.includes('?') ? '&' : '?'}${query}`);
    if (request !== latest.current) return;
    setItems((old) => (from ? [...old, ...page.items] : page.items));
    setCursor(page.next_cursor);
  });
  return { items, setItems, cursor, load };
}

// A form's submit handler: the page stays, `run` does the work.
export const submitting = (run) => (event) => {
  event.preventDefault();
  run();
};
