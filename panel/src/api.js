// The panel's one way to reach the public HTTP API: a bearer token from /_local/token, the
// contract's error body turned into an ApiError, ETags handed back for If-Match.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The server answered ${status}.`);
    this.status = status;
    this.code = error.code || 'internal';
    this.field = error.field || null;
  }
}

const NAMES = {
  admin: { name: 'Dana Admin', sub: 'demo-admin' },
  agent: { name: 'Alex Agent', sub: 'demo-agent' },
  automation: { name: 'Order bot', sub: 'demo-bot' },
};

export async function mintToken({ org, role, plan }) {
  const who = NAMES[role];
  const query = new URLSearchParams({ org, role, plan, name: who.name, sub: who.sub });
  const response = await fetch(`/_local/token?${query}`);
  const body = await response.json();
  if (!response.ok) throw new ApiError(response.status, body);
  return body.token;
}

export function client(token) {
  return async function call(method, path, { body, ifMatch } = {}) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (ifMatch !== undefined) headers['If-Match'] = `"${ifMatch}"`;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  };
}

const PLAN_NAMES = { team: 'Team', business: 'Business', enterprise: 'Enterprise' };

// What a person reads for an error: the contract's code put in the words of the screen.
export function explain(error, session) {
  if (!(error instanceof ApiError)) return 'The panel could not reach the API. Is ./scripts/dev running?';
  switch (error.code) {
    case 'plan_required':
      return `Your org is on the ${PLAN_NAMES[session.plan]} plan: ${error.message}`;
    case 'forbidden':
      return `Not allowed for you (${session.role}): ${error.message}`;
    case 'feature_disabled':
      return `An admin has switched this off: ${error.message}`;
    case 'precondition_failed':
      return 'Someone else changed this while you were looking at it. Reload to see their change, then try again.';
    case 'not_found':
      return 'It is gone: someone may have deleted it.';
    case 'rate_limited':
      return `Too many tries: ${error.message}`;
    case 'internal':
      return 'Something went wrong on our side. Try again in a moment.';
    default:
      return error.message;
  }
}

// Which plans and roles may do what, as the API's matrix says; the panel hides what a caller
// may not do and says why.
export function can(session, capability) {
  const { role, plan } = session;
  const people = role === 'admin' || role === 'agent';
  const paid = plan === 'business' || plan === 'enterprise';
  switch (capability) {
    case 'read_settings':
      return people;
    case 'admin':
      return role === 'admin';
    case 'fill_values':
      return paid;
    case 'notes':
      return people;
    case 'write_notes':
      return people && paid;
    case 'vip':
      return paid;
    case 'crm_lookup':
      return people && plan === 'enterprise';
    case 'crm_admin':
      return role === 'admin' && plan === 'enterprise';
    case 'exports':
      return role === 'admin' && plan === 'enterprise';
    case 'delete':
      return role === 'admin';
    default:
      return false;
  }
}

export const WHY = {
  fill_values: 'Filling in attributes needs the Business or Enterprise plan.',
  write_notes_plan: 'Adding and editing notes needs the Business or Enterprise plan.',
  notes_role: 'Notes are for people: an automation client cannot read or write them.',
  vip: 'VIP needs the Business or Enterprise plan.',
  crm: 'CRM lookups need the Enterprise plan.',
  crm_admin: 'Connecting a CRM needs the Enterprise plan.',
  crm_edit: 'Letting agents edit CRM-managed values needs the Enterprise plan.',
  crm_attributes: 'Marking attributes CRM-managed or lookup needs the Enterprise plan.',
  exports: 'Exports need the Enterprise plan.',
};
